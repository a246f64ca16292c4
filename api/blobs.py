"""Serves evidence files from the content-addressed store at /blobs/{sha256}.

The bytes are re-hashed on every read (``Archive.read_blob``), so the workspace never shows a
file that differs from what was captured. The media type comes from the bytes themselves and
only raster images are shown inline; anything else (a captured HTML page, which would run as
this origin's page) is sent as a download.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Response, status

from api.accounts.auth import ReviewerUser
from api.dependencies import ArchiveDep
from evidence.archive.base import BlobCorruptedError

logger = logging.getLogger(__name__)
router = APIRouter()

_IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def image_media_type(data: bytes) -> str | None:
    """The media type of a PNG, JPEG, GIF or WebP file, judged by its signature; else None."""
    for signature, media_type in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@router.get("/blobs/{sha256}", tags=["evidence"], response_class=Response)
def blob(sha256: str, user: ReviewerUser, archive: ArchiveDep) -> Response:
    try:
        data = archive.read_blob(sha256)
    except BlobCorruptedError as exc:
        logger.error("evidence file failed its hash check: %s", exc)
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            "证据文件校验失败：文件内容与其 SHA-256 不符 (evidence file fails its hash check)",
        ) from exc
    except (FileNotFoundError, ValueError) as exc:  # unknown, or not a SHA-256 name at all
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such evidence file") from exc
    # The name is the content's hash, so the response never changes.
    headers = {"Cache-Control": "private, max-age=31536000, immutable", "ETag": f'"{sha256}"'}
    media_type = image_media_type(data)
    if media_type is None:
        media_type = "application/octet-stream"
        headers["Content-Disposition"] = f'attachment; filename="{sha256}"'
    return Response(content=data, media_type=media_type, headers=headers)
