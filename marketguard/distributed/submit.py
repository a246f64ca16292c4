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
) -> str:
    """Queue one crawl job; returns the task id (the job is named ``crawl-<task id>``)."""
    result = app.send_task(
        "marketguard.crawl",
        kwargs={
            "spider": spider,
            "spider_args": spider_args,
            "capture": capture,
            "incremental": incremental,
            "origin": origin,
            "check_id": check_id,
            "urgent": urgent,
        },
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
