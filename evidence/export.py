"""``marketguard evidence export``: one capture or one case as a self-checking zip.

Layout::

    README.md                      how to check it (sha256sum, verify_export.py)
    SHA256SUMS                     every other file, `sha256sum -c` format
    verify_export.py               the stdlib-only checker (this repository's file, copied)
    export.json                    what is inside and which file is which artifact
    ledger.jsonl                   the ledger segment linking the captures (see below)
    case-record.pdf / .json        the case's extraction record (--case only)
    tsa/ca.pem                     the timestamp authority's CA certificate, when configured
    captures/<capture id>/
        manifest.json              the sealed manifest (its hash is in the ledger entry)
        screenshot-full-page.png, screenshot-first-screen.png, page-as-served.html,
        dom-after-scripts.html, web-archive.wacz, images/NN.jpg
        extraction-record.pdf / .json

The ledger segment runs from the first exported capture's entry to the first checkpoint after
the last one (or to the ledger head when no checkpoint follows yet), every entry in between
included: each entry's ``prev_hash`` is the previous one's hash, so the captures are linked to
each other and to a checkpoint (RFC 3161-stamped when a TSA is configured). Entries hold ids and
hashes only, never page content.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import marketguard
from evidence import verify_export
from evidence.archive.base import Archive
from evidence.extraction_record import (
    RecordError,
    RecordPrinter,
    artifact_file_names,
    build_record,
    load_manifest,
    record_json,
)
from evidence.ledger import LedgerEntry, iter_ledger
from marketguard.models import utcnow
from marketguard.settings import Settings

README = """# MarketGuard evidence export / 电子数据导出包

Created {created} by {tool}. Case: {case}. Captures: {count}.

## Check it with standard tools (sha256sum)

    unzip {name} -d export && cd export
    sha256sum -c SHA256SUMS

Every line must say OK. Then check that each capture's `manifest.json` lists the same SHA-256
for each of its files (the manifest's own hash is sealed in `ledger.jsonl`):

    sha256sum captures/*/manifest.json
    grep -h manifest_sha256 ledger.jsonl

## Check it with the bundled checker (Python 3.11+, nothing else needed)

    python3 verify_export.py {name}
    # or, where MarketGuard is installed:
    marketguard evidence verify-export {name}

It recomputes every file's SHA-256, compares each capture's files with its sealed manifest,
re-hashes the ledger entries and their links (a deleted, reordered or edited entry is named),
and checks RFC 3161 timestamp tokens (with `openssl ts -verify` when openssl is installed and
`tsa/ca.pem` is present). Exit status 0 means intact.

## What is inside

- `captures/<id>/`: screenshots (full page, first screen), the page exactly as served, the DOM
  after scripts ran, the listing's images at full resolution, the web archive (WACZ: WARC
  records of every HTTP response; open it in https://replayweb.page), the manifest, and the
  extraction record (电子数据提取笔录) as PDF and JSON.
- `ledger.jsonl`: the ledger entries that seal these captures, with every entry between them
  and up to the next checkpoint, so their links can be re-computed.
- `export.json`: which file is which artifact of which capture.
"""


class ExportError(Exception):
    pass


@dataclass(slots=True)
class ExportResult:
    path: Path
    captures: list[str]
    files: int
    ledger_from: int
    ledger_to: int
    sha256: str  # of the zip itself


def ledger_segment(
    archive: Archive, capture_ids: Sequence[str]
) -> tuple[list[LedgerEntry], list[str]]:
    """The contiguous entries linking these captures to the next checkpoint; missing ids."""
    entries = list(iter_ledger(archive))
    wanted = set(capture_ids)
    positions = [i for i, e in enumerate(entries) if e.kind == "capture" and e.capture_id in wanted]
    found = {entries[i].capture_id for i in positions}
    missing = [cid for cid in capture_ids if cid not in found]
    if not positions:
        return [], missing
    start, end = min(positions), max(positions)
    stop = next(
        (i for i in range(end + 1, len(entries)) if entries[i].kind == "checkpoint"),
        len(entries) - 1,
    )
    return entries[start : stop + 1], missing


def export(
    archive: Archive,
    out: Path,
    *,
    capture_ids: Sequence[str] = (),
    case_id: str = "",
    investigators: Sequence[str] = (),
    settings: Settings | None = None,
    with_pdf: bool = True,
) -> ExportResult:
    """Write the export zip. ExportError when there is nothing (or nothing sealed) to export."""
    settings = settings or Settings.from_env()
    ids = list(capture_ids)
    if case_id and not ids:
        # Evidence records first; the ledger also knows captures whose listing save failed.
        ids = archive.capture_ids(case_id) or [
            e.capture_id for e in archive.ledger_entries_for(case_id=case_id) if e.capture_id
        ]
    if not ids:
        raise ExportError(f"no captures for case {case_id!r}" if case_id else "no capture given")
    segment, unsealed = ledger_segment(archive, ids)
    if unsealed:
        raise ExportError(
            "not sealed in the ledger, cannot be exported verifiably: " + ", ".join(unsealed)
        )
    files: dict[str, bytes] = {}
    index: dict[str, Any] = {
        "format": verify_export.EXPORT_FORMAT,
        "created_at": utcnow().isoformat(),
        "tool": f"marketguard {marketguard.__version__}",
        "case_id": case_id,
        "captures": [],
        "ledger": {"from_seq": segment[0].seq, "to_seq": segment[-1].seq},
    }
    records: list[tuple[str, dict[str, Any]]] = []
    for cid in ids:
        folder = f"captures/{cid}"
        manifest, _manifest_sha, raw = load_manifest(archive, cid)
        artifacts = manifest.get("artifacts", [])
        names = artifact_file_names(artifacts)
        mapping: dict[str, str] = {}
        for name, artifact in zip(names, artifacts, strict=True):
            path = f"{folder}/{name}"
            try:
                files[path] = archive.read_blob(artifact["sha256"])
            except (FileNotFoundError, ValueError) as exc:
                raise ExportError(f"{artifact['kind']} of capture {cid}: {exc}") from exc
            mapping[artifact["sha256"]] = path
        files[f"{folder}/manifest.json"] = raw
        record = build_record(archive, [cid], investigators=investigators)
        files[f"{folder}/extraction-record.json"] = record_json(record)
        records.append((f"{folder}/extraction-record.pdf", record))
        index["captures"].append({"capture_id": cid, "folder": folder, "files": mapping})
    if case_id:
        case = build_record(archive, ids, case_id=case_id, investigators=investigators)
        files["case-record.json"] = record_json(case)
        records.append(("case-record.pdf", case))
    if with_pdf:
        for path, pdf in zip(
            [p for p, _ in records], _print_all(settings, [r for _, r in records]), strict=True
        ):
            files[path] = pdf
    files["ledger.jsonl"] = "".join(
        json.dumps(e.to_dict(), ensure_ascii=False, sort_keys=True) + "\n" for e in segment
    ).encode("utf-8")
    if settings.tsa_ca_file and Path(settings.tsa_ca_file).is_file():
        files["tsa/ca.pem"] = Path(settings.tsa_ca_file).read_bytes()
    files["verify_export.py"] = Path(verify_export.__file__).read_bytes()
    files["export.json"] = (json.dumps(index, ensure_ascii=False, indent=2) + "\n").encode()
    files["README.md"] = README.format(
        created=index["created_at"],
        tool=index["tool"],
        case=case_id or "(none)",
        count=len(ids),
        name=out.name,
    ).encode("utf-8")
    sums = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {path}\n" for path, data in sorted(files.items())
    )
    files["SHA256SUMS"] = sums.encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w") as zf:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=utcnow().timetuple()[:6])
            already_compressed = path.endswith((".png", ".wacz", ".jpg", ".pdf", ".gz"))
            info.compress_type = zipfile.ZIP_STORED if already_compressed else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, files[path])
    tmp.replace(out)
    return ExportResult(
        path=out,
        captures=ids,
        files=len(files),
        ledger_from=segment[0].seq,
        ledger_to=segment[-1].seq,
        sha256=hashlib.sha256(out.read_bytes()).hexdigest(),
    )


def _print_all(settings: Settings, records: list[dict[str, Any]]) -> list[bytes]:
    async def run() -> list[bytes]:
        # A few pages print at once: most of a print is Chromium layout, and a case can hold
        # many captures.
        slots = asyncio.Semaphore(3)

        async def one(printer: RecordPrinter, record: dict[str, Any]) -> bytes:
            async with slots:
                return await printer.pdf(record)

        async with RecordPrinter(settings) as printer:
            return list(await asyncio.gather(*(one(printer, r) for r in records)))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run())
    raise RuntimeError("export() runs its own event loop; call it from a thread")


__all__ = ["ExportError", "ExportResult", "RecordError", "export", "ledger_segment"]
