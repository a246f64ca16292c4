"""The Celery app: six queues, late acknowledgement, no result backend.

Why these settings:

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a task is acknowledged when it has
  finished, so a worker killed mid-task (SIGKILL, power loss) leaves its task to be delivered
  again, to another worker; every task is idempotent (``marketguard/distributed/tasks.py``).
- ``visibility_timeout`` (Redis): how long before such an unacknowledged task is handed out
  again; longer than any task (``config.py``). The sweep that hands it out runs every
  ``unacked_restore_interval`` seconds.
- ``worker_prefetch_multiplier = 1``: a worker holds one task per process beyond the ones it
  runs, so a slow capture never sits on a queue of others.
- ``task_ignore_result``: results go to the store, not to a Celery result backend.
- Priorities: on-demand checks (an officer waiting) overtake scheduled crawls in the same queue.
"""

from __future__ import annotations

from celery import Celery
from kombu import Exchange, Queue

from marketguard.distributed.config import WorkerConfig, worker_config

QUEUES: tuple[str, ...] = ("crawl", "capture", "match", "store", "notify", "recheck")

# Redis orders by priority with one list per step, 0 first; RabbitMQ gives higher numbers first.
_REDIS_STEPS = [0, 3, 6, 9]
URGENT, ROUTINE = "urgent", "routine"


def is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "redis+socket://"))


def priority(app: Celery, level: str) -> int:
    """The broker's number for ``level`` (URGENT or ROUTINE)."""
    if is_redis(str(app.conf.broker_url or "")):
        return 0 if level == URGENT else 6
    return 9 if level == URGENT else 3


def make_app(config: WorkerConfig | None = None) -> Celery:
    config = config or worker_config()
    app = Celery(
        "marketguard",
        set_as_current=False,
        # Task modules; each helper module adds itself here.
        include=[
            "marketguard.distributed.tasks",
            "marketguard.distributed.feed_tasks",
            "marketguard.distributed.check_tasks",
        ],
    )
    url = config.broker_url or "redis://127.0.0.1:6379/0"
    redis = is_redis(url)
    app.conf.update(
        broker_url=url,
        result_backend=None,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        task_default_queue="match",
        # One direct exchange per queue, keyed by its name: a task goes to its queue only.
        task_queues=[
            Queue(
                name,
                Exchange(name, type="direct"),
                routing_key=name,
                queue_arguments={"x-max-priority": 10},
            )
            for name in QUEUES
        ],
        task_routes={
            "marketguard.crawl": {"queue": "crawl"},
            "marketguard.match": {"queue": "match"},
            "marketguard.capture": {"queue": "capture"},
            "marketguard.store": {"queue": "store"},
            "marketguard.notify.*": {"queue": "notify"},
            "marketguard.recheck.*": {"queue": "recheck"},
        },
        task_default_priority=priority_default(redis),
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_transport_options=(
            {
                "visibility_timeout": config.visibility_timeout,
                "queue_order_strategy": "priority",
                "priority_steps": _REDIS_STEPS,
                "sep": ":",
                # Sweep for orphaned tasks often enough to meet the visibility timeout.
                "unacked_restore_interval": max(1.0, min(30.0, config.visibility_timeout / 10)),
                "unacked_restore_throttle": 1,
            }
            if redis
            else {}
        ),
        beat_schedule={},  # filled by marketguard.distributed.schedule for `marketguard beat`
    )
    app.marketguard_config = config  # type: ignore[attr-defined]
    return app


def config_of(app: Celery) -> WorkerConfig:
    return app.marketguard_config  # type: ignore[attr-defined,no-any-return]


def priority_default(redis: bool) -> int:
    return 6 if redis else 3


app = make_app()
