"""``marketguard store``: the archive backend (see docs/store.md).

marketguard store migrate --from sqlite --to es [--store DIR] [--es-url URL] [--prefix P]
                          [--verify-only] [--json]
marketguard store replay  [--store DIR]     send writes spooled while Elasticsearch was down

``migrate`` copies a SQLite archive into Elasticsearch, then compares both sides kind by kind
(counts and SHA-256 digests) and prints the report; exit code 0 only when everything matches.
Running it again rewrites every document with itself (deterministic ids).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from marketguard.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    store = sub.add_parser("store", help="archive backends: migrate SQLite to Elasticsearch")
    store_sub = store.add_subparsers(title="store commands")

    migrate = store_sub.add_parser("migrate", help="copy an archive to another backend, verified")
    migrate.add_argument("--from", dest="source", choices=["sqlite"], required=True)
    migrate.add_argument("--to", dest="target", choices=["es", "elasticsearch"], required=True)
    migrate.add_argument(
        "--es-url",
        default=None,
        help="cluster URL (default MARKETGUARD_ES_URL, or [store] url in marketguard.toml)",
    )
    migrate.add_argument("--prefix", default=None, help="index name prefix (default marketguard)")
    migrate.add_argument(
        "--verify-only", action="store_true", help="compare both sides without copying"
    )
    migrate.add_argument("--json", action="store_true", help="print the report as JSON")
    _store_option(migrate)
    migrate.set_defaults(func=cmd_migrate)

    replay = store_sub.add_parser("replay", help="send writes spooled while the cluster was down")
    _store_option(replay)
    replay.set_defaults(func=cmd_replay)


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", type=Path, default=None, help="store folder (default $MARKETGUARD_HOME or ./var)"
    )


def _home(args: argparse.Namespace) -> Path:
    return args.store if args.store is not None else Settings.from_env().home


def open_es_target(home: Path, url: str | None, prefix: str | None) -> Any:
    """The Elasticsearch archive to migrate into (the configured one unless overridden)."""
    from evidence.archive.config import store_config
    from evidence.archive.elasticsearch import ElasticsearchArchive, spool_dir_for

    config = store_config(home)
    url = url or config.url
    if not url:
        raise ValueError(
            "no Elasticsearch URL: give --es-url, set MARKETGUARD_ES_URL, or [store] url in"
            f" {home / 'marketguard.toml'}"
        )
    options: dict[str, Any] = {}
    if config.api_key:
        options["api_key"] = config.api_key
    if config.ca_certs:
        options["ca_certs"] = config.ca_certs
    return ElasticsearchArchive.from_url(
        url, spool_dir=spool_dir_for(home, url), prefix=prefix or config.prefix, **options
    )


def cmd_migrate(args: argparse.Namespace) -> int:
    from evidence.archive.elasticsearch import ArchiveUnavailableError
    from evidence.archive.migrate import migrate_sqlite_to_es

    home = _home(args)
    try:
        target = open_es_target(home, args.es_url, args.prefix)
    except ValueError as exc:
        print(f"marketguard store migrate: {exc}", file=sys.stderr)
        return 2
    try:
        report = migrate_sqlite_to_es(home, target, verify_only=args.verify_only)
    except FileNotFoundError as exc:
        print(f"marketguard store migrate: {exc}", file=sys.stderr)
        return 2
    except ArchiveUnavailableError as exc:
        print(f"marketguard store migrate: cluster unavailable: {exc}", file=sys.stderr)
        return 2
    finally:
        target.close()
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        if report.written:
            copied = ", ".join(f"{kind} {n}" for kind, n in report.written.items())
            print(f"copied: {copied}")
        print(report.text())
    return 0 if report.ok else 1


def cmd_replay(args: argparse.Namespace) -> int:
    from evidence.archive import open_archive
    from evidence.archive.elasticsearch import ArchiveUnavailableError, ElasticsearchArchive

    archive = open_archive(_home(args))
    try:
        if not isinstance(archive, ElasticsearchArchive):
            print("the store is SQLite: nothing is ever spooled")
            return 0
        try:
            count = archive.replay_spool()
        except ArchiveUnavailableError as exc:
            print(f"still unavailable, {archive.spooled()} writes wait: {exc}", file=sys.stderr)
            return 1
        rejected = archive.spool.rejected()
        print(f"replayed {count} writes; {len(rejected)} refused (see {archive.spool.folder})")
        return 0 if not rejected else 1
    finally:
        archive.close()
