"""``marketguard worker``: a Celery worker for some or all of MarketGuard's queues.

marketguard worker [--queues crawl,capture,...] [--concurrency N] [--pool threads|prefork|solo]

Without a broker (MARKETGUARD_BROKER_URL or [workers] broker_url) there is nothing to work for:
``marketguard demo`` and ``marketguard crawl`` run everything in their own process.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = sub.add_parser("worker", help="work on queued crawls, matches, captures, stores")
    worker.add_argument(
        "--queues",
        default="",
        help="comma-separated queues (crawl, capture, match, store, notify, recheck); default all",
    )
    worker.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="tasks at once (default: capture concurrency + 2, so a crawl, a match or store and"
        " the captures run side by side)",
    )
    worker.add_argument(
        "--pool",
        choices=("threads", "prefork", "solo"),
        default="threads",
        help="threads (default) share one Chromium per worker process",
    )
    worker.add_argument("--name", default="", help="worker name (default marketguard-<pid>@host)")
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(func=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    from marketguard.distributed.app import QUEUES
    from marketguard.distributed.config import worker_config

    try:
        config = worker_config()
    except ValueError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    if not config.distributed:
        print(
            "worker: no broker configured (set MARKETGUARD_BROKER_URL, e.g."
            " redis://127.0.0.1:6379/0); without one, demo and crawl run everything in-process",
            file=sys.stderr,
        )
        return 2
    queues = [q.strip() for q in args.queues.split(",") if q.strip()] or list(QUEUES)
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown:
        print(
            f"worker: unknown queues {', '.join(unknown)}; known: {', '.join(QUEUES)}",
            file=sys.stderr,
        )
        return 2
    from marketguard.distributed.tasks import app, settings

    concurrency = args.concurrency or settings().capture_concurrency + 2

    name = args.name or f"marketguard-{os.getpid()}@{socket.gethostname()}"
    app.worker_main(
        [
            "worker",
            "--queues",
            ",".join(queues),
            "--pool",
            args.pool,
            "--concurrency",
            str(concurrency),
            "--hostname",
            name,
            "--loglevel",
            args.loglevel,
            "--without-gossip",
            "--without-mingle",
        ]
    )
    return 0
