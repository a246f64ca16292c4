"""The page's HTTP traffic as WARC records, packaged as WACZ (the Webrecorder format).

A capture hands over each exchange it saw (the main document with its bytes exactly as served,
every subresource the page loaded, the listing images fetched at full resolution), and this
module writes them as WARC/1.1 ``request`` + ``response`` record pairs after a ``warcinfo``
record describing the capture environment. warcio computes ``WARC-Block-Digest`` and
``WARC-Payload-Digest`` (SHA-256 here) for every record.

Bodies are what the browser received after undoing the transfer and content encodings (gzip,
br): Chromium hands out nothing earlier. So ``Content-Encoding`` / ``Transfer-Encoding`` are
renamed ``X-Archive-Orig-*`` (the convention replay tools understand) and ``Content-Length``
is set to the stored body, or replay would try to gunzip plain bytes.

The WACZ is built in-process (no temporary files, no subprocess): ``archive/data.warc.gz``,
a CDXJ index made with ``cdxj_indexer``, ``pages/pages.jsonl`` and ``datapackage.json`` with the
SHA-256 of each, plus ``datapackage-digest.json``. ``wacz validate`` accepts it and
ReplayWeb.page replays it.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cdxj_indexer import CDXJIndexer
from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from marketguard.models import utcnow

WACZ_MEDIA_TYPE = "application/wacz"
WACZ_VERSION = "1.1.1"
_RENAMED = ("content-encoding", "transfer-encoding")
_DROPPED = ("content-length",)
_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    304: "Not Modified",
    404: "Not Found",
    410: "Gone",
    500: "Internal Server Error",
}


@dataclass(slots=True)
class Exchange:
    """One HTTP request and its response, as the browser saw them."""

    url: str
    method: str
    request_headers: dict[str, str]
    status: int
    status_text: str
    response_headers: dict[str, str]
    body: bytes
    at: datetime = field(default_factory=utcnow)
    server_address: str = ""


class _Sha256WarcWriter(WARCWriter):
    """warcio digests with SHA-1 by default; evidence is hashed with SHA-256 throughout."""

    @staticmethod
    def _create_digester() -> Digester:
        return Digester("sha256")


def _warc_date(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _response_headers(exchange: Exchange) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for name, value in exchange.response_headers.items():
        lower = name.lower()
        # Playwright joins repeated headers with "\n"; WARC wants one line each.
        for part in value.split("\n"):
            if lower in _RENAMED:
                headers.append((f"X-Archive-Orig-{name}", part))
            elif lower not in _DROPPED:
                headers.append((name, part))
    headers.append(("Content-Length", str(len(exchange.body))))
    return headers


def build_warc(exchanges: Sequence[Exchange], info: dict[str, str]) -> bytes:
    """A gzipped WARC: warcinfo, then request/response pairs in the order given."""
    out = io.BytesIO()
    writer = _Sha256WarcWriter(out, gzip=True, warc_version="WARC/1.1")
    writer.write_record(writer.create_warcinfo_record("data.warc.gz", dict(info)))
    for ex in exchanges:
        date = _warc_date(ex.at)
        reason = ex.status_text or _REASONS.get(ex.status, "")
        response = writer.create_warc_record(
            ex.url,
            "response",
            payload=io.BytesIO(ex.body),
            length=len(ex.body),
            http_headers=StatusAndHeaders(
                f"{ex.status} {reason}".strip(), _response_headers(ex), protocol="HTTP/1.1"
            ),
            warc_headers_dict={"WARC-Date": date}
            | ({"WARC-IP-Address": ex.server_address} if ex.server_address else {}),
        )
        path = ex.url.split("://", 1)[-1]
        path = "/" + path.split("/", 1)[1] if "/" in path else "/"
        request = writer.create_warc_record(
            ex.url,
            "request",
            payload=io.BytesIO(b""),
            length=0,
            http_headers=StatusAndHeaders(
                f"{ex.method} {path} HTTP/1.1",
                [(k, v) for k, v in ex.request_headers.items() if not k.startswith(":")],
                is_http_request=True,
            ),
            warc_headers_dict={"WARC-Date": date},
        )
        writer.write_request_response_pair(request, response)
    return out.getvalue()


def _cdxj(warc: bytes) -> bytes:
    text = io.StringIO()
    indexer = CDXJIndexer(
        text, [io.BytesIO(warc)], sort=True, post_append=True, filename="data.warc.gz"
    )
    indexer.process_all()
    return text.getvalue().encode("utf-8")


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def build_wacz(
    warc: bytes,
    *,
    main_url: str,
    title: str,
    captured_at: datetime,
    software: str,
) -> bytes:
    """A WACZ holding one WARC, its CDXJ index and a one-page list."""
    ts = _warc_date(captured_at)
    pages = (
        json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "All Pages"})
        + "\n"
        + json.dumps({"id": "1", "url": main_url, "ts": ts, "title": title}, ensure_ascii=False)
        + "\n"
    ).encode("utf-8")
    files = {
        "archive/data.warc.gz": warc,
        "indexes/index.cdx": _cdxj(warc),
        "pages/pages.jsonl": pages,
    }
    package = {
        "profile": "data-package",
        "resources": [
            {
                "name": path.rsplit("/", 1)[1],
                "path": path,
                "hash": _sha256(data),
                "bytes": len(data),
            }
            for path, data in files.items()
        ],
        "wacz_version": WACZ_VERSION,
        "software": software,
        "created": ts,
        "title": title,
        "mainPageURL": main_url,
        "mainPageDate": ts,
    }
    package_bytes = json.dumps(package, ensure_ascii=False, indent=2).encode("utf-8")
    digest = json.dumps({"path": "datapackage.json", "hash": _sha256(package_bytes)}).encode()
    out = io.BytesIO()
    stamp = captured_at.timetuple()[:6]
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as wacz:
        for path, data in [
            *files.items(),
            ("datapackage.json", package_bytes),
            ("datapackage-digest.json", digest),
        ]:
            # Stored, not deflated: the WACZ spec wants random access into the WARC.
            info = zipfile.ZipInfo(path, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED
            wacz.writestr(info, data)
    return out.getvalue()


def read_warc_records(wacz_bytes: bytes) -> list[tuple[str, str, bytes]]:
    """(record type, target URI, HTTP payload) of each record, for tests and the record."""
    from warcio.archiveiterator import ArchiveIterator

    with zipfile.ZipFile(io.BytesIO(wacz_bytes)) as wacz:
        warc = wacz.read("archive/data.warc.gz")
    records = []
    for record in ArchiveIterator(io.BytesIO(warc)):
        records.append(
            (
                record.rec_type,
                record.rec_headers.get_header("WARC-Target-URI") or "",
                record.content_stream().read(),
            )
        )
    return records
