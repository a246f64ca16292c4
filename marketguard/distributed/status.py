"""How the workers are doing: messages waiting per queue, messages taken but not yet acknowledged,
and which workers answer, for ``marketguard status`` and the workspace's admin page.

Everything here asks the broker directly and gives up fast: a broker that is down makes a
``Status`` with ``reachable=False`` and the reason, never an exception or a long wait.

Where the counts come from:

- Redis: a queue is one list per priority step (``match``, ``match:3``, ``match:6``,
  ``match:9`` with the steps of ``app.py``); the lengths are summed. A message a worker has
  taken (running, or prefetched) sits in the ``unacked`` hash until the worker acknowledges it;
  each entry names its queue (routing key), so it is counted per queue.
- RabbitMQ: a passive ``queue.declare`` gives the ready messages; unacknowledged messages are
  not told over AMQP (the management API has them), so ``unacked`` is None there.
- Workers: a ``ping`` broadcast finds them (it waits the whole ``timeout`` since nobody knows how
  many will answer); ``active_queues`` and ``active`` then go to exactly those workers and return
  as soon as all have replied.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from celery import Celery
from kombu import Connection
from kombu.utils.url import maybe_sanitize_url

from marketguard.distributed.app import QUEUES, is_redis
from marketguard.distributed.config import WorkerConfig

# Past this many unacknowledged entries only the total is read: decoding each would cost more
# than a status line is worth (normally there are a few per worker process).
UNACKED_DECODE_MAX = 10_000
UNACKED_KEY = "unacked"

QUEUE_LABELS = {
    "crawl": "抓取",
    "capture": "取证",
    "match": "规则匹配",
    "store": "入库",
    "notify": "平台通知",
    "recheck": "下架复查",
}


@dataclass(slots=True)
class QueueDepth:
    queue: str
    waiting: int  # in the queue, not yet handed to a worker
    unacked: int | None = None  # handed to a worker, not acknowledged; None: the broker won't say
    consumers: int | None = None  # RabbitMQ tells; Redis does not


@dataclass(slots=True)
class WorkerInfo:
    name: str  # celery@host or the -n given to the worker
    queues: list[str] = field(default_factory=list)
    active: int = 0  # tasks running right now


@dataclass(slots=True)
class Status:
    configured: bool  # False: no broker, everything runs in-process
    broker: str = ""  # URL with the password masked
    reachable: bool = False
    error: str = ""
    queues: dict[str, QueueDepth] = field(default_factory=dict)
    # Other queues' unacknowledged messages, and the total when entries were not decoded.
    unacked_total: int | None = None
    workers: list[WorkerInfo] = field(default_factory=list)
    seconds: float = 0.0  # how long asking took

    def workers_per_queue(self) -> dict[str, int]:
        counts = dict.fromkeys(self.queues or QUEUES, 0)
        for worker in self.workers:
            for queue in worker.queues:
                counts[queue] = counts.get(queue, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["queues"] = [asdict(depth) for depth in self.queues.values()]
        data["workers_per_queue"] = self.workers_per_queue()
        return data


def mask_url(url: str) -> str:
    return str(maybe_sanitize_url(url)) if url else ""


def broker_connection(app: Celery, timeout: float) -> Connection:
    """A connection to ``app``'s broker that fails within about ``timeout`` seconds when the
    broker is down (the app's own connections retry for a long time, as workers should)."""
    options: dict[str, Any] = {"max_retries": 0}
    if is_redis(str(app.conf.broker_url or "")):
        options.update(socket_connect_timeout=timeout, socket_timeout=max(timeout, 2.0))
    return app.connection_for_write(connect_timeout=timeout, transport_options=options)


def queue_depths(app: Celery, connection: Connection | None = None) -> dict[str, QueueDepth]:
    """Messages per queue of ``QUEUES`` (see the module docstring for what is counted)."""
    depths, _ = _depths(app, connection)
    return depths


def _depths(
    app: Celery, connection: Connection | None = None, timeout: float = 1.0
) -> tuple[dict[str, QueueDepth], int | None]:
    own = connection is None
    conn = connection or broker_connection(app, timeout)
    try:
        if is_redis(str(app.conf.broker_url or "")):
            return _redis_depths(conn)
        return _amqp_depths(conn), None
    finally:
        if own:
            conn.release()


def _redis_depths(conn: Connection) -> tuple[dict[str, QueueDepth], int | None]:
    channel = conn.default_channel
    client = channel.client  # applies the transport's global key prefix, if any
    steps = sorted(set(getattr(channel, "priority_steps", [0])))
    pipe = client.pipeline(transaction=False)
    for queue in QUEUES:
        # The same key names kombu writes to (list per priority step, the queue name for 0).
        for key in dict.fromkeys(channel._q_for_pri(queue, step) for step in steps):
            pipe.llen(key)
    unacked_key = getattr(channel, "unacked_key", UNACKED_KEY)
    pipe.hlen(unacked_key)
    lengths = pipe.execute()
    total = int(lengths.pop())
    per_queue = len(lengths) // len(QUEUES)
    depths = {
        queue: QueueDepth(queue, sum(lengths[i * per_queue : (i + 1) * per_queue]), 0)
        for i, queue in enumerate(QUEUES)
    }
    if total > UNACKED_DECODE_MAX:
        for depth in depths.values():
            depth.unacked = None
        return depths, total
    other = 0
    for _tag, raw in client.hscan_iter(unacked_key, count=500):
        queue = _unacked_queue(raw)
        if queue in depths:
            depths[queue].unacked = (depths[queue].unacked or 0) + 1
        else:
            other += 1
    return depths, total if other else sum(d.unacked or 0 for d in depths.values())


def _unacked_queue(raw: bytes | str) -> str:
    """The queue an ``unacked`` entry came from: kombu stores ``[message, exchange, routing
    key]`` and Celery routes each queue by its own name."""
    try:
        _message, _exchange, routing_key = json.loads(raw)
        return str(routing_key)
    except (ValueError, TypeError):
        return ""


def _amqp_depths(conn: Connection) -> dict[str, QueueDepth]:
    depths: dict[str, QueueDepth] = {}
    channel = conn.channel()
    try:
        for queue in QUEUES:
            try:
                _name, waiting, consumers = channel.queue_declare(queue=queue, passive=True)
            except conn.channel_errors:
                # Not declared yet (no worker or sender has used it): nothing waits in it. The
                # failed passive declare closes the channel, so take a new one.
                depths[queue] = QueueDepth(queue, 0, None, 0)
                channel = conn.channel()
                continue
            depths[queue] = QueueDepth(queue, int(waiting), None, int(consumers))
    finally:
        channel.close()
    return depths


def workers(
    app: Celery, timeout: float = 1.0, connection: Connection | None = None
) -> list[WorkerInfo]:
    """The workers answering within ``timeout`` seconds, with their queues and running tasks."""
    own = connection is None
    conn = connection or broker_connection(app, timeout)
    try:
        replies = app.control.ping(timeout=timeout, connection=conn) or []
        names = sorted({name for reply in replies for name in reply})
        if not names:
            return []
        inspect = app.control.inspect(
            destination=names, timeout=timeout, connection=conn, limit=len(names)
        )
        queues = inspect.active_queues() or {}
        active = inspect.active() or {}
    finally:
        if own:
            conn.release()
    return [
        WorkerInfo(
            name,
            sorted(q["name"] for q in queues.get(name) or [] if isinstance(q, dict)),
            len(active.get(name) or []),
        )
        for name in names
    ]


def status(app: Celery, timeout: float = 1.0) -> Status:
    """Queues and workers of ``app``'s broker; ``reachable=False`` with the reason when the
    broker does not answer within about ``timeout`` seconds."""
    started = time.monotonic()
    result = Status(configured=True, broker=mask_url(str(app.conf.broker_url or "")))
    conn = broker_connection(app, timeout)
    try:
        conn.ensure_connection(max_retries=0, timeout=timeout)
        result.reachable = True
        result.queues, result.unacked_total = _depths(app, conn, timeout)
        result.workers = workers(app, timeout, conn)
    except Exception as exc:  # any broker failure is a status, not a crash
        result.reachable = result.reachable and not _is_connection_error(conn, exc)
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        conn.release()
        result.seconds = round(time.monotonic() - started, 3)
    return result


def _is_connection_error(conn: Connection, exc: Exception) -> bool:
    return isinstance(exc, (*conn.connection_errors, OSError, TimeoutError))


def status_for(config: WorkerConfig, timeout: float = 1.0) -> Status:
    """``status`` of the broker ``config`` names; ``configured=False`` when it names none."""
    if not config.distributed:
        return Status(configured=False)
    from marketguard.distributed.app import make_app

    return status(make_app(config), timeout)
