"""The extraction record (电子数据提取笔录) of one capture or one case, as JSON and as PDF.

Everything in it is read back from what was sealed: each capture's manifest (the metadata
JSON whose hash the ledger holds) and its ledger entry. The PDF is the HTML template
``templates/extraction_record.html`` printed by Chromium (``page.pdf``) with the Noto CJK fonts
that ``make system-deps`` installs. Two investigators are named (the rules ask for at least
two signatures); missing names leave blank lines to sign by hand.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

import marketguard
from evidence.archive.base import Archive
from evidence.ledger import LedgerEntry
from marketguard.models import utcnow
from marketguard.settings import Settings

RECORD_FORMAT = "marketguard-extraction-record/1"
METHOD = (
    "在线提取：以真实浏览器（Chromium，经 Playwright 驱动）打开网页，保存截图、网页源代码、"
    "脚本执行后的页面结构、商品图片及全部网络响应（WARC/WACZ），逐一计算 SHA-256 校验值，"
    "并将清单校验值登记于哈希链账本。Online extraction with a real browser."
)
_TEMPLATES = Path(__file__).parent / "templates"

# Export file names by artifact kind (images are numbered).
FILE_NAMES = {
    "html": "page-as-served.html",
    "screenshot": "screenshot-full-page.png",
    "first_screen": "screenshot-first-screen.png",
    "dom": "dom-after-scripts.html",
    "wacz": "web-archive.wacz",
    "metadata": "manifest.json",
}


class RecordError(Exception):
    """A capture named for a record is not in the archive (or its manifest is gone)."""


def artifact_file_names(artifacts: Sequence[dict[str, Any]]) -> list[str]:
    """A file name for each artifact, in order (used by the record and the export alike)."""
    names: list[str] = []
    images = 0
    for artifact in artifacts:
        kind = artifact["kind"]
        if kind == "image":
            images += 1
            media = artifact["media_type"].split(";")[0]
            ext = {"image/jpeg": ".jpg"}.get(media) or mimetypes.guess_extension(media) or ".bin"
            names.append(f"images/{images:02d}{ext}")
        else:
            names.append(FILE_NAMES.get(kind, f"{kind}.bin"))
    return names


def load_manifest(archive: Archive, capture_id: str) -> tuple[dict[str, Any], str, bytes]:
    """(manifest, its sha256, its bytes) of a capture, from the Evidence record."""
    evidence = archive.get_evidence(capture_id)
    sealed = archive.ledger_entries_for(capture_id=capture_id)
    if evidence is not None and evidence.artifact("metadata") is not None:
        manifest_sha = evidence.artifact("metadata").sha256  # type: ignore[union-attr]
    elif sealed:
        manifest_sha = str(sealed[0].payload.get("manifest_sha256", ""))
    else:
        raise RecordError(f"no capture {capture_id} in the archive")
    try:
        raw = archive.read_blob(manifest_sha)
    except (FileNotFoundError, ValueError) as exc:
        raise RecordError(f"manifest of capture {capture_id} unreadable: {exc}") from exc
    return json.loads(raw), manifest_sha, raw


def capture_record(archive: Archive, capture_id: str) -> dict[str, Any]:
    manifest, manifest_sha, raw = load_manifest(archive, capture_id)
    entries = archive.ledger_entries_for(capture_id=capture_id)
    entry: LedgerEntry | None = entries[0] if entries else None
    artifacts = manifest.get("artifacts", [])
    names = artifact_file_names(artifacts)
    files = [
        {
            "name": name,
            "kind": a["kind"],
            "format": a["media_type"],
            "size": a["size"],
            "sha256": a["sha256"],
            **({"source_url": a["source_url"]} if a.get("source_url") else {}),
        }
        for name, a in zip(names, artifacts, strict=True)
    ]
    files.append(
        {
            "name": FILE_NAMES["metadata"],
            "kind": "metadata",
            "format": "application/json",
            "size": len(raw),
            "sha256": manifest_sha,
        }
    )
    stamp = entry.payload.get("timestamp") if entry else None
    env = dict(manifest.get("environment") or {})
    env.setdefault("clock_source", manifest.get("clock_source", ""))
    env.setdefault("browser", " ".join(manifest.get("browser", {}).values()))
    env.setdefault("user_agent", manifest.get("user_agent", ""))
    env.setdefault("viewport", manifest.get("viewport", ""))
    env.setdefault("browser_timezone", manifest.get("timezone", ""))
    env.setdefault("browser_locale", manifest.get("locale", ""))
    env.setdefault("os", manifest.get("os", ""))
    env.setdefault("host", manifest.get("host", ""))
    return {
        "capture_id": capture_id,
        "case_id": manifest.get("case_id", ""),
        "title": manifest.get("title", ""),
        "url": manifest.get("url", ""),
        "final_url": manifest.get("final_url", ""),
        "redirects": manifest.get("redirects", []),
        "platform": manifest.get("platform", ""),
        "listing_id": manifest.get("listing_id", ""),
        "http_status": manifest.get("http_status"),
        "server_address": manifest.get("server_address", ""),
        "started_at": manifest.get("started_at", ""),
        "finished_at": manifest.get("finished_at", ""),
        "operator": manifest.get("operator", ""),
        "investigators": manifest.get("investigators", []),
        "environment": env,
        "procedure": manifest.get("procedure", []),
        "errors": manifest.get("errors", []),
        "files": files,
        "manifest_sha256": manifest_sha,
        "ledger": None
        if entry is None
        else {"seq": entry.seq, "entry_hash": entry.entry_hash, "prev_hash": entry.prev_hash},
        "timestamp": None
        if not stamp
        else {"time": stamp.get("time", ""), "tsa_url": stamp.get("tsa_url", "")},
    }


def build_record(
    archive: Archive,
    capture_ids: Sequence[str],
    *,
    case_id: str = "",
    investigators: Sequence[str] = (),
) -> dict[str, Any]:
    """The record of these captures (one capture, or every capture of a case)."""
    if not capture_ids:
        raise RecordError("no captures to put in the record")
    captures = [capture_record(archive, cid) for cid in capture_ids]
    names = list(investigators)
    for capture in captures:  # the people recorded at capture time, when none are given
        for name in capture["investigators"] or [capture["operator"]]:
            if name and name not in names and not investigators:
                names.append(name)
    return {
        "format": RECORD_FORMAT,
        "title": "电子数据提取笔录",
        "case_id": case_id or captures[0]["case_id"],
        "investigators": names[:2] if not investigators else names,
        "generated_at": utcnow().isoformat(),
        "tool": f"marketguard {marketguard.__version__}",
        "method": METHOD,
        "hash_algorithm": "SHA-256",
        "captures": captures,
    }


def record_json(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def render_html(record: dict[str, Any]) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True, undefined=jinja2.Undefined
    )
    return env.get_template("extraction_record.html").render(record=record)


class RecordPrinter:
    """Prints records to PDF with one Chromium (async context manager)."""

    def __init__(self, settings: Settings) -> None:
        from evidence.browser import BrowserSession

        self._session = BrowserSession(settings)

    async def __aenter__(self) -> RecordPrinter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()

    async def pdf(self, record: dict[str, Any]) -> bytes:
        context = await self._session.new_context()
        try:
            page = await context.new_page()
            # No network: the record is self-contained, and set_content must not wait for any.
            await page.route("**/*", lambda route: route.abort())
            await page.set_content(render_html(record), wait_until="load")
            await page.evaluate("document.fonts.ready")
            return await page.pdf(
                format="A4",
                print_background=True,
                display_header_footer=True,
                header_template="<span></span>",
                footer_template=(
                    '<div style="font-size:8px;width:100%;text-align:center">'
                    '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
                ),
                margin={"top": "18mm", "bottom": "20mm", "left": "16mm", "right": "16mm"},
            )
        finally:
            await context.close()
