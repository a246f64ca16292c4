"""SHA-256 of evidence bytes and files, as lowercase hex (the same text `sha256sum` prints).

Every artifact is named by this hash in the archive, so anyone can re-check a stored file with
standard tools and no MarketGuard code.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ALGORITHM = "SHA-256"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hash a file in chunks, so a large video or screenshot never has to fit in memory."""
    if chunk <= 0:
        raise ValueError(f"chunk must be positive, got {chunk}")
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
