"""``marketguard check URL``: an officer's on-demand check of one page (a 12365 complaint).

marketguard check URL [--origin TEXT] [--note TEXT] [--wait [--timeout S]] [--json]

The check is recorded in the workspace (``<home>/workspace.db``, shown on the 投诉核查 page and,
with its origin, in the queue). With a broker it is queued as an urgent crawl for the workers
and the command prints the check and task ids (``--wait`` follows it to the end). Without one
it is crawled, matched and captured here, captured even when no rule fires, and the result is
printed. ``--check-id N`` runs an existing check in this process: the workspace starts it so
when there is no broker.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.checks.store import Check
    from api.workspace_db import WorkspaceDb
    from marketguard.settings import Settings

EXIT_DONE, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
POLL_SECONDS = 0.5
STATE_LABELS = {"queued": "排队中", "running": "核查中", "done": "已完成", "failed": "失败"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = sub.add_parser(
        "check",
        help="check one URL now (a complaint): crawl, match, capture; shown in the queue",
    )
    check.add_argument("url", help="the product page, http(s)")
    check.add_argument("--origin", default="", help='where it came from, e.g. "12365投诉 No.123"')
    check.add_argument("--note", default="", help="a note for the reviewers")
    check.add_argument(
        "--wait", action="store_true", help="with a broker: wait until the workers finish it"
    )
    check.add_argument(
        "--timeout", type=float, default=600.0, help="seconds --wait waits (default 600)"
    )
    check.add_argument("--json", action="store_true", help="print the check as JSON")
    # The workspace's own use: run a check it has already recorded, here.
    check.add_argument("--check-id", type=int, default=None, help=argparse.SUPPRESS)
    check.set_defaults(func=cmd_check)


def _actor() -> str:
    return f"cli:{os.environ.get('USER') or os.environ.get('LOGNAME') or 'unknown'}"


def cmd_check(args: argparse.Namespace) -> int:
    from api.checks import store
    from api.workspace_db import open_workspace
    from marketguard.distributed.config import worker_config
    from marketguard.settings import Settings

    settings = Settings.from_env()
    db = open_workspace(settings.home)
    try:
        if args.check_id is not None:
            check = store.get_check(db, args.check_id)
            if check is None:
                print(f"check: no check #{args.check_id} in {db.path}", file=sys.stderr)
                return EXIT_USAGE
            return _report(run_here(db, check, settings), as_json=args.json)
        try:
            config = worker_config(settings.home)
            check = store.create_check(db, _actor(), args.url, args.origin, args.note)
        except ValueError as exc:  # CheckError too: a bad URL, origin or note
            print(f"check: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if not config.distributed:
            return _report(run_here(db, check, settings), as_json=args.json)
        return _queue(db, check, config, args)
    finally:
        db.close()


def _queue(db: WorkspaceDb, check: Check, config: Any, args: argparse.Namespace) -> int:
    from api.checks import store, submit
    from marketguard.distributed.app import make_app

    try:
        task_id = submit.queue_check(make_app(config), check)
    except Exception as exc:
        store.finish_check(db, check.id, state="failed", error=f"无法提交到消息代理: {exc}")
        print(f"check: the broker refused the check: {exc}", file=sys.stderr)
        return EXIT_FAILED
    store.set_task(db, check.id, task_id)
    if not args.wait:
        queued = store.get_check(db, check.id) or check
        if args.json:
            print(json.dumps(queued.to_dict(), ensure_ascii=False), flush=True)
        else:
            print(f"核查 #{check.id} 已排队 queued, task {task_id}", flush=True)
        return EXIT_DONE
    deadline = time.monotonic() + args.timeout
    while True:
        current = store.get_check(db, check.id) or check
        if current.state in store.FINISHED:
            return _report(current, as_json=args.json)
        if time.monotonic() > deadline:
            print(
                f"check: #{check.id} still {current.state} after {args.timeout:g} s"
                " (are crawl, match, capture, store and notify workers running?)",
                file=sys.stderr,
            )
            if args.json:
                print(json.dumps(current.to_dict(), ensure_ascii=False), flush=True)
            return EXIT_FAILED
        time.sleep(POLL_SECONDS)


def run_here(db: WorkspaceDb, check: Check, settings: Settings) -> Check:
    """Crawl, match, capture (always) and store the check's page in this process; fill in the
    row. A Scrapy pass runs once per process: call this once."""
    from api.checks import store
    from api.checks.submit import SPIDER, spider_args
    from crawlers.pipelines import check_result
    from crawlers.run import PIPELINES, run_pass
    from marketguard.cli import check_browser

    store.mark_running(db, check.id)
    if problem := check_browser(settings):
        store.finish_check(db, check.id, state="failed", error=problem)
        return store.get_check(db, check.id) or check
    check_result.RESULTS.clear()
    pipelines = {**PIPELINES, "crawlers.pipelines.check_result.CheckResultPipeline": 900}
    try:
        run_pass(
            SPIDER,
            spider_args(check.url),
            settings,
            capture=True,
            progress_interval=0,
            log_level="ERROR",
            overrides={"MARKETGUARD_CAPTURE_ALL": True, "ITEM_PIPELINES": pipelines},
            # Match and capture again even when the page has not changed since the last pass.
            incremental=False,
        )
    except Exception as exc:
        store.finish_check(db, check.id, state="failed", error=f"{type(exc).__name__}: {exc}")
        return store.get_check(db, check.id) or check
    results = check_result.RESULTS
    found = next((r for r in results if r.url == check.url), results[0] if results else None)
    if found is None:
        store.finish_check(
            db, check.id, state="failed", error=f"未找到商品 no listing found at {check.url}"
        )
    else:
        store.finish_check(
            db,
            check.id,
            state="done",
            platform=found.platform,
            listing_id=found.listing_id,
            flagged=bool(found.rule_ids),
            rule_ids=found.rule_ids,
            capture_id=found.capture_id,
            error="; ".join(found.errors),
        )
    return store.get_check(db, check.id) or check


def _report(check: Check, *, as_json: bool) -> int:
    if as_json:
        print(json.dumps(check.to_dict(), ensure_ascii=False), flush=True)
    else:
        lines = [f"核查 #{check.id} {STATE_LABELS[check.state]} {check.state}: {check.url}"]
        if check.origin:
            lines.append(f"  来源 origin   : {check.origin}")
        if check.listing_id:
            lines.append(f"  商品 listing  : {check.platform} {check.listing_id}")
            rules = ", ".join(check.rule_ids) if check.flagged else "未命中 none"
            lines.append(f"  规则 rules    : {rules}")
            lines.append(f"  证据 capture  : {check.capture_id or '—'}")
        if check.error:
            lines.append(f"  错误 error    : {check.error}")
        print("\n".join(lines), flush=True)
    return EXIT_DONE if check.state == "done" else EXIT_FAILED
