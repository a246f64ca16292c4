"""``marketguard feed``: the platform collaboration feed from the command line.

marketguard feed platform-add NAME --platform CODE [--webhook-url URL]   key and secret, once
marketguard feed platforms
marketguard feed run            send due webhooks, run due re-checks, mark overdue notices
marketguard feed replay [--delivery ID ...] [--account ID] [--include-delivered]
marketguard feed export --format csv|xlsx [--platform CODE] --output FILE
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from marketguard.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    feed = sub.add_parser("feed", help="platform collaboration feed (notices to platforms)")
    feed_sub = feed.add_subparsers(title="feed commands")

    add = feed_sub.add_parser("platform-add", help="create a platform account (key shown once)")
    add.add_argument("name")
    add.add_argument("--platform", required=True, help="the platform code listings carry")
    add.add_argument("--webhook-url", default="")
    _store(add)
    add.set_defaults(func=cmd_platform_add)

    platforms = feed_sub.add_parser("platforms", help="list platform accounts")
    _store(platforms)
    platforms.set_defaults(func=cmd_platforms)

    run = feed_sub.add_parser("run", help="one round: webhooks, re-checks, overdue marks")
    _store(run)
    run.set_defaults(func=cmd_run)

    replay = feed_sub.add_parser("replay", help="queue dead webhook deliveries again")
    replay.add_argument("--delivery", type=int, action="append", default=[])
    replay.add_argument("--account", type=int, default=None)
    replay.add_argument("--include-delivered", action="store_true")
    _store(replay)
    replay.set_defaults(func=cmd_replay)

    export = feed_sub.add_parser("export", help="notices as CSV or Excel")
    export.add_argument("--format", choices=("csv", "xlsx"), default="xlsx")
    export.add_argument("--platform", default=None)
    export.add_argument("--output", type=Path, required=True)
    _store(export)
    export.set_defaults(func=cmd_export)


def _store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", type=Path, default=None, help="store folder (default $MARKETGUARD_HOME or ./var)"
    )


def _home(args: argparse.Namespace) -> Path:
    return args.store if args.store is not None else Settings.from_env().home


def _workspace(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from api.workspace_db import open_workspace

    return open_workspace(_home(args))


def cmd_platform_add(args: argparse.Namespace) -> int:
    from api.accounts import audit
    from api.feed.platforms import PlatformExistsError, create_platform_account

    db = _workspace(args)
    try:
        made = create_platform_account(db, args.name, args.platform, args.webhook_url)
    except (PlatformExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    audit.record(
        db,
        "cli",
        "platform.create",
        f"platform_account:{args.name}",
        after={"platform": args.platform, "webhook_url": args.webhook_url},
    )
    print(f"account_id     {made.account.account_id}")
    print(f"api_key        {made.api_key}")
    print(f"webhook_secret {made.account.webhook_secret}")
    print("(the API key is shown only now; keep it safe)", file=sys.stderr)
    db.close()
    return 0


def cmd_platforms(args: argparse.Namespace) -> int:
    from api.feed.platforms import list_accounts

    db = _workspace(args)
    for account in list_accounts(db):
        print(f"{account.account_id}\t{account.name}\t{account.platform}\t{account.webhook_url}")
    db.close()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from api.feed.config import FeedConfig
    from api.feed.worker import run_once
    from evidence.archive import open_archive

    db = _workspace(args)
    archive = open_archive(_home(args))
    try:
        print(json.dumps(run_once(db, archive, FeedConfig()), ensure_ascii=False))
    finally:
        archive.close()
        db.close()
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from api.feed import webhooks

    db = _workspace(args)
    statuses = ("dead", "delivered") if args.include_delivered else ("dead",)
    count = webhooks.replay(
        db, "cli", delivery_ids=args.delivery or None, account_id=args.account, statuses=statuses
    )
    print(f"replayed {count} deliveries (sent by the next `marketguard feed run` or the server)")
    db.close()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from api.feed import notices
    from api.feed.export import export

    db = _workspace(args)
    _, items = notices.list_notices(db, platform=args.platform, limit=10_000_000)
    args.output.write_bytes(export(items, args.format))
    print(f"{len(items)} notices → {args.output}")
    db.close()
    return 0
