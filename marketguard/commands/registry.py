"""``marketguard registry``: the CCC certificate registry (home/registry.db).

marketguard registry import FILE.csv [--store DIR]   number, holder, product, models, status, dates
marketguard registry show NUMBER [--store DIR]

The CCC_CERT_NOT_FOUND / CCC_CERT_STATUS / CCC_CERT_MISMATCH rules check claimed certificate
numbers against it; without an import they stay silent. Format: see marketguard/registry.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from marketguard.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    registry = sub.add_parser("registry", help="CCC certificate registry for the CCC_CERT_* rules")
    registry_sub = registry.add_subparsers(title="registry commands")

    imp = registry_sub.add_parser("import", help="import certificates from a CSV file")
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    _store(imp)
    imp.set_defaults(func=cmd_import)

    show = registry_sub.add_parser("show", help="show one certificate")
    show.add_argument("number")
    _store(show)
    show.set_defaults(func=cmd_show)


def _store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", type=Path, default=None, help="store folder (default $MARKETGUARD_HOME or ./var)"
    )


def _home(args: argparse.Namespace) -> Path:
    return args.store if args.store is not None else Settings.from_env().home


def cmd_import(args: argparse.Namespace) -> int:
    from marketguard.registry import RegistryImportError, import_csv

    try:
        report = import_csv(_home(args), args.file)
    except RegistryImportError as exc:
        print(f"registry import: {exc}", file=sys.stderr)
        return 2
    for problem in report.problems:
        print(f"skipped {problem}", file=sys.stderr)
    print(f"imported {report.imported} certificate(s), skipped {len(report.problems)} row(s)")
    return 1 if report.problems and not report.imported else 0


def cmd_show(args: argparse.Namespace) -> int:
    from marketguard.registry import records

    for record in records(_home(args)):
        if record.number == args.number.strip():
            print(f"{record.number}  {record.status}  {record.holder}")
            print(f"  product: {record.product}")
            print(f"  models:  {', '.join(record.models) or '—'}")
            print(f"  issued:  {record.issued or '—'}  expires: {record.expires or '—'}")
            return 0
    print(f"no certificate {args.number} in the registry", file=sys.stderr)
    return 1
