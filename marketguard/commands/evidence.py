"""``marketguard evidence ...``: capture, verify, checkpoint, record, export, verify-export.

    marketguard evidence capture URL [--case ID] [--investigator NAME]... [--image URL]...
    marketguard evidence verify [--capture ID] [--json]
    marketguard evidence checkpoint
    marketguard evidence record (--capture ID | --case ID) OUT.pdf [--json OUT.json]
    marketguard evidence export (--capture ID | --case ID) OUT.zip [--investigator NAME]...
    marketguard evidence verify-export OUT.zip

Exit status: 0 fine, 1 problems found (verify, verify-export) or the command failed,
2 bad usage. Cases are the case numbers given at capture time (``--case`` or
``MARKETGUARD_CASE_ID``) until the workspace manages cases.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("evidence", help="capture, verify, extraction records, export")
    commands = parser.add_subparsers(dest="evidence_command", required=True)

    capture = commands.add_parser("capture", help="capture one web page as evidence now")
    capture.add_argument("url")
    capture.add_argument("--case", default=None, help="case number (default MARKETGUARD_CASE_ID)")
    capture.add_argument(
        "--investigator",
        action="append",
        default=None,
        help="investigator's name; give it twice (default MARKETGUARD_INVESTIGATORS)",
    )
    capture.add_argument("--platform", default="web")
    capture.add_argument("--listing-id", default=None, help="default: from the URL's hash")
    capture.add_argument("--image", action="append", default=[], help="listing image URL")
    capture.add_argument("--json", action="store_true", help="print the Evidence as JSON")
    capture.set_defaults(func=_capture)

    verify = commands.add_parser("verify", help="recompute every hash and ledger link")
    verify.add_argument("--capture", default=None, help="one capture (and the chain) only")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=_verify)

    checkpoint = commands.add_parser("checkpoint", help="add a ledger checkpoint now")
    checkpoint.set_defaults(func=_checkpoint)

    record = commands.add_parser("record", help="extraction record (电子数据提取笔录) as PDF")
    _selection(record)
    record.add_argument("out", type=Path, help="the PDF to write")
    record.add_argument("--json", type=Path, default=None, help="also write the record as JSON")
    record.add_argument("--investigator", action="append", default=None)
    record.set_defaults(func=_record)

    export = commands.add_parser("export", help="a capture or a case as a verifiable zip")
    _selection(export)
    export.add_argument("out", type=Path, help="the zip to write")
    export.add_argument("--investigator", action="append", default=None)
    export.add_argument("--no-pdf", action="store_true", help="skip the PDF records (faster)")
    export.set_defaults(func=_export)

    check = commands.add_parser(
        "verify-export", help="check an export zip (stdlib only; also runs from the zip)"
    )
    check.add_argument("zip", type=Path)
    check.set_defaults(func=_verify_export)


def _selection(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--capture", default=None)
    group.add_argument("--case", default=None)


def _settings() -> Any:
    from marketguard.settings import Settings

    return Settings.from_env()


def _archive(settings: Any) -> Any:
    from evidence.archive import open_archive

    return open_archive(settings.home)


def _tsa_ca(settings: Any) -> bytes | None:
    path = settings.tsa_ca_file
    return Path(path).read_bytes() if path and Path(path).is_file() else None


def _capture(args: argparse.Namespace) -> int:
    from evidence.capture import CaptureError, capture_sync
    from evidence.ledger import ledger_for
    from marketguard.models import Listing

    settings = _settings()
    investigators = args.investigator or settings.investigators
    case_id = settings.case_id if args.case is None else args.case
    archive = _archive(settings)
    try:
        evidence = capture_sync(
            settings,
            archive.put_blob,
            url=args.url,
            platform=args.platform,
            # A page captured by hand is kept as a listing of its own (the workspace shows it),
            # named after its URL so that two captures of one page share a listing.
            listing_id=args.listing_id or hashlib.sha256(args.url.encode()).hexdigest()[:16],
            image_urls=args.image,
            investigators=investigators,
            case_id=case_id,
            ledger=ledger_for(archive, settings),
        )
        listing = Listing(
            platform=evidence.platform,
            listing_id=evidence.listing_id,
            url=args.url,
            title=evidence.final_url,
            image_urls=list(args.image),
        )
        archive.save_listing(listing, [], evidence)
    except CaptureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        archive.close()
    if args.json:
        print(json.dumps(evidence.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(f"captured {evidence.capture_id} ({evidence.url}, HTTP {evidence.http_status})")
        for artifact in evidence.artifacts:
            print(f"  {artifact.sha256}  {artifact.kind} {artifact.media_type} {artifact.size}")
        for error in evidence.errors:
            print(f"  note: {error}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from evidence.verify import verify_archive

    settings = _settings()
    archive = _archive(settings)
    try:
        report = verify_archive(archive, capture_id=args.capture, tsa_ca=_tsa_ca(settings))
    finally:
        archive.close()
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        for note in report.notes:
            print(f"note  {note}")
        for problem in report.problems:
            print(f"FAIL  {problem}")
        mb = report.bytes_hashed / 1e6
        print(
            f"{'OK' if report.ok else 'PROBLEMS'}: {report.captures} captures,"
            f" {report.files} files, {report.ledger_entries} ledger entries;"
            f" {mb:.1f} MB hashed in {report.seconds:.2f} s"
            + (f"; {len(report.problems)} problem(s)" if report.problems else "")
        )
    return 0 if report.ok else 1


def _checkpoint(args: argparse.Namespace) -> int:
    from evidence.ledger import ledger_for

    settings = _settings()
    archive = _archive(settings)
    try:
        entry = ledger_for(archive, settings).checkpoint()
    finally:
        archive.close()
    if entry is None:
        print("nothing new since the last checkpoint")
    else:
        covered = f"{entry.payload['covers_from']}..{entry.payload['covers_to']}"
        print(f"checkpoint {entry.seq} covers entries {covered}: {entry.payload['head_hash']}")
    return 0


def _selected_ids(archive: Any, args: argparse.Namespace) -> list[str]:
    if args.capture:
        return [args.capture]
    ids = archive.capture_ids(args.case)
    return ids or [e.capture_id for e in archive.ledger_entries_for(case_id=args.case)]


def _record(args: argparse.Namespace) -> int:
    from evidence.export import _print_all
    from evidence.extraction_record import RecordError, build_record, record_json

    settings = _settings()
    archive = _archive(settings)
    try:
        ids = _selected_ids(archive, args)
        if not ids:
            print(f"error: no captures for case {args.case!r}", file=sys.stderr)
            return 1
        record = build_record(
            archive, ids, case_id=args.case or "", investigators=args.investigator or ()
        )
    except RecordError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        archive.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(_print_all(settings, [record])[0])
    if args.json:
        args.json.write_bytes(record_json(record))
    print(f"wrote {args.out} ({len(ids)} capture(s))")
    return 0


def _export(args: argparse.Namespace) -> int:
    from evidence.export import ExportError, export
    from evidence.extraction_record import RecordError

    settings = _settings()
    archive = _archive(settings)
    try:
        result = export(
            archive,
            args.out,
            capture_ids=[args.capture] if args.capture else [],
            case_id=args.case or "",
            investigators=args.investigator or (),
            settings=settings,
            with_pdf=not args.no_pdf,
        )
    except (ExportError, RecordError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        archive.close()
    print(
        f"wrote {result.path}: {len(result.captures)} capture(s), {result.files} files,"
        f" ledger entries {result.ledger_from}..{result.ledger_to}; sha256 {result.sha256}"
    )
    return 0


def _verify_export(args: argparse.Namespace) -> int:
    from evidence import verify_export

    return verify_export.main([str(args.zip)])
