"""Hand work to the workers, and wait for them (demo, tests, benchmarks).

``submit_crawl`` queues a crawl job (the crawl task's keyword arguments are its message);
``wait_idle`` returns when every queue is empty and no task is held unacknowledged, which, as
each task sends its next step before it is acknowledged, means the whole fan-out has ended.
"""

from __future__ import annotations

import time
from typing import Any

from celery import Celery

from marketguard.distributed.app import QUEUES, ROUTINE, URGENT, is_redis, priority


def submit_crawl(
    app: Celery,
    spider: str,
    spider_args: dict[str, Any],
    *,
    capture: bool = True,
    incremental: bool = True,
    origin: str = "",
    check_id: int | None = None,
    urgent: bool = False,
    job: dict[str, Any] | None = None,
    slice_seconds: float | None = None,
) -> str:
    """Queue one crawl job; returns the task id (the job is named ``crawl-<task id>``).
    ``job`` (a ``crawlers.jobs.Job`` as a dict) continues that job instead of starting one, with
    ``slice_seconds`` for its next slice."""
    kwargs: dict[str, Any] = {
        "spider": spider,
        "spider_args": spider_args,
        "capture": capture,
        "incremental": incremental,
        "origin": origin,
        "check_id": check_id,
        "urgent": urgent,
    }
    if job is not None:
        kwargs["job"] = job
    if slice_seconds is not None:
        kwargs["slice_seconds"] = slice_seconds
    result = app.send_task(
        "marketguard.crawl",
        kwargs=kwargs,
        priority=priority(app, URGENT if urgent or check_id is not None else ROUTINE),
    )
    return str(result.id)


def pending(app: Celery) -> int:
    """Tasks waiting in any queue plus tasks delivered but not yet acknowledged."""
    url = str(app.conf.broker_url)
    if is_redis(url):
        import redis

        client = redis.Redis.from_url(url)
        try:
            keys = [f"{q}{suffix}" for q in QUEUES for suffix in ("", ":3", ":6", ":9")]
            with client.pipeline() as pipe:
                for key in keys:
                    pipe.llen(key)
                pipe.hlen("unacked")
                return int(sum(pipe.execute()))
        finally:
            client.close()
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        waiting = sum(channel.queue_declare(q, passive=True).message_count for q in QUEUES)
    inspect = app.control.inspect(timeout=1.0)
    busy = sum(len(v) for v in (inspect.active() or {}).values())
    busy += sum(len(v) for v in (inspect.reserved() or {}).values())
    return int(waiting + busy)


def wait_idle(app: Celery, timeout: float = 600.0, settle: float = 1.0) -> None:
    """Wait until nothing is pending, twice ``settle`` seconds apart. TimeoutError after
    ``timeout`` seconds, naming what is still pending."""
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while True:
        left = pending(app)
        now = time.monotonic()
        if left == 0:
            quiet_since = quiet_since or now
            if now - quiet_since >= settle:
                return
        else:
            quiet_since = None
        if now > deadline:
            raise TimeoutError(f"workers still have {left} tasks after {timeout:g} s")
        time.sleep(0.2)


def answering_workers(app: Celery, timeout: float = 2.0) -> list[str]:
    return sorted(name for reply in app.control.ping(timeout=timeout) or [] for name in reply)


def run_summary(archive: Any, job: str, pass_ids: list[int] | None = None) -> dict[str, Any]:
    """The pass summary of a crawl job done by workers, read back from the store: what the
    store steps recorded (``work_results``) and the job's pass records and errors."""
    results = archive.work_results(f"store:{job}:")
    passes = sorted({*(pass_ids or []), *(r["pass_id"] for r in results if r.get("pass_id"))})
    by_rule: dict[str, int] = {}
    for result in results:
        for rule in result.get("rules", []):
            by_rule[rule] = by_rule.get(rule, 0) + 1
    unchanged = errors = 0
    errors_by_kind: dict[str, int] = {}
    for pass_id in passes:
        record = archive.get_pass(pass_id)
        if record is not None:
            unchanged += int(record.summary.get("unchanged", 0))
        for error in archive.errors(pass_id, limit=1_000_000):
            errors += 1
            errors_by_kind[error.kind] = errors_by_kind.get(error.kind, 0) + 1
    return {
        "listings": len(results) + unchanged,
        "flagged": sum(1 for r in results if r.get("rules")),
        "evidence": sum(1 for r in results if r.get("evidence")),
        "errors": errors,
        "by_rule": dict(sorted(by_rule.items())),
        "errors_by_kind": dict(sorted(errors_by_kind.items())),
        "store": archive.location,
        "unchanged": unchanged,
        "passes": passes,
        "job": job,
    }


def crawl_on_workers(
    app: Celery,
    archive: Any,
    spider: str,
    spider_args: dict[str, Any],
    *,
    capture: bool = True,
    incremental: bool = True,
    origin: str = "cli",
    timeout: float = 3600.0,
) -> dict[str, Any]:
    """Queue a crawl job, wait for the workers to finish all of it, return its summary."""
    if not answering_workers(app):
        raise RuntimeError(
            "no worker answers on the broker; start one with `marketguard worker`"
            " (same MARKETGUARD_HOME or the same Elasticsearch store)"
        )
    task_id = submit_crawl(
        app, spider, spider_args, capture=capture, incremental=incremental, origin=origin
    )
    wait_idle(app, timeout=timeout)
    return run_summary(archive, f"crawl-{task_id}")
