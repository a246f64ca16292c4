"""``marketguard beat``: Celery beat, sending the scheduled crawls and feed jobs to the broker.

marketguard beat [--store DIR] [--loglevel INFO]
marketguard beat --dry-run        print the schedule as JSON and exit (checks the config)

The schedule comes from ``[workers]`` in ``<home>/marketguard.toml`` (docs/scheduling.md);
beat's own record of when each job last ran is ``<home>/celerybeat-schedule``. Run exactly one
beat per broker: two would send every job twice.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from marketguard.settings import Settings

STATE_FILE = "celerybeat-schedule"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    beat = sub.add_parser("beat", help="send scheduled crawls and feed jobs to the workers")
    beat.add_argument(
        "--dry-run",
        action="store_true",
        help="print the schedule built from marketguard.toml as JSON and exit",
    )
    beat.add_argument("--loglevel", default="INFO")
    beat.add_argument(
        "--store", type=Path, default=None, help="store folder (default $MARKETGUARD_HOME or ./var)"
    )
    beat.set_defaults(func=cmd_beat)


def cmd_beat(args: argparse.Namespace) -> int:
    from marketguard.distributed.app import make_app
    from marketguard.distributed.config import worker_config
    from marketguard.distributed.schedule import beat_schedule, describe

    settings = Settings.from_env()
    home = Path(args.store if args.store is not None else settings.home)
    try:
        config = worker_config(home)
        app = make_app(config)
        schedule = beat_schedule(app, config, settings.catalogue)
    except ValueError as exc:  # ScheduleError, a bad [workers] table, a broken catalogue
        print(f"beat: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(json.dumps(describe(schedule), ensure_ascii=False, indent=2))
        return 0
    if not config.distributed:
        print(
            "beat: no broker configured (set MARKETGUARD_BROKER_URL, e.g."
            " redis://127.0.0.1:6379/0, or broker_url in [workers] of"
            f" {home / 'marketguard.toml'}); without one, demo and crawl run everything"
            " in-process and `marketguard serve` does the feed's work itself",
            file=sys.stderr,
        )
        return 2
    from celery.apps.beat import Beat

    home.mkdir(parents=True, exist_ok=True)
    app.conf.beat_schedule = schedule
    crawls = sum(1 for entry in schedule.values() if entry["task"] == "marketguard.crawl")
    print(
        f"beat: {crawls} scheduled crawls and {len(schedule) - crawls} feed jobs;"
        f" state in {home / STATE_FILE}",
        file=sys.stderr,
        flush=True,
    )
    Beat(app=app, schedule=str(home / STATE_FILE), loglevel=args.loglevel, quiet=True).run()
    return 0
