"""The platform feed's periodic chores as Celery tasks, sent by ``marketguard beat``.

- ``marketguard.notify.deliver_webhooks``: send due webhook deliveries (``notify`` queue);
- ``marketguard.notify.mark_overdue``: stamp notices past their deadline (``notify``);
- ``marketguard.recheck.run``: takedown re-checks (回头看) that are due (``recheck``);
- ``marketguard.recheck.requested``: officers' re-check requests (复查申请) into urgent checks
  (``recheck``; api/checks/rechecks.py).

Where they run: the ``notify`` and ``recheck`` workers open the workspace database
(``<home>/workspace.db``, SQLite) of ``MARKETGUARD_HOME``, so they must run on the machine
where ``marketguard serve`` runs, with the same home. A re-check also reads the evidence store
(SQLite in the home, or Elasticsearch when configured). With a broker configured, ``serve``
leaves this work to these workers instead of its own in-process feed thread.

Running a task twice is harmless; each function works from row state, not from the message:

- deliveries are claimed in one immediate transaction that pushes their next attempt a lease
  ahead, so a second run (or a concurrent one) finds nothing due; a worker killed after a send
  and before the row's update sends once more after the lease (receivers deduplicate by the
  ``X-MarketGuard-Delivery`` header, docs/platform-feed.md);
- overdue marks select and stamp ``overdue_at IS NULL`` rows in one immediate transaction;
- a re-check's verdict moves a notice only while it is still ``removed``; two overlapping runs
  may fetch the same listing page twice, but only one moves the notice.

Transient failures (the database locked by ``serve``, a file or network error, the
Elasticsearch cluster out of reach) are retried with exponential backoff; the next beat tick
would pick the work up anyway, so retries stay few.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from celery import Task

from marketguard.distributed import retry
from marketguard.distributed.app import app
from marketguard.distributed.retry import is_transient
from marketguard.settings import Settings

if TYPE_CHECKING:
    from api.workspace_db import WorkspaceDb
    from evidence.archive.base import Archive

logger = logging.getLogger(__name__)

MAX_RETRIES = 4
BACKOFF_MAX = 60.0  # the next beat tick would pick the work up anyway


def backoff(retries: int) -> float:
    return retry.backoff(retries, longest=BACKOFF_MAX)


def current_home() -> Path:
    return Path(Settings.from_env().home)


# One workspace and one store per worker process (and home): opening them per task would
# repeat the schema check and, for Elasticsearch, the client's connection setup. Both are
# safe across the threads pool's threads (a connection per thread); the lock keeps two
# threads from opening a second copy at once.
_open_lock = threading.Lock()


@functools.cache
def _workspace_unlocked(home: Path) -> WorkspaceDb:
    from api.workspace_db import open_workspace

    return open_workspace(home)


@functools.cache
def _archive_unlocked(home: Path) -> Archive:
    from evidence.archive import open_archive

    return open_archive(home)


def workspace(home: Path) -> WorkspaceDb:
    with _open_lock:
        return _workspace_unlocked(home)


def _archive(home: Path) -> Archive:
    with _open_lock:
        return _archive_unlocked(home)


def _run(task: Task, work: str) -> dict[str, Any]:
    from api.feed import notices, recheck, webhooks
    from api.feed.config import FeedConfig

    home = current_home()
    try:
        if work == "webhooks":
            return asdict(webhooks.deliver_due(workspace(home), FeedConfig()))
        if work == "overdue":
            return {"overdue": notices.mark_overdue(workspace(home))}
        return asdict(recheck.run_rechecks(workspace(home), _archive(home), FeedConfig()))
    except Exception as exc:
        if not is_transient(exc):
            raise
        retries = int(task.request.retries)
        logger.warning(
            "feed %s: %s; retry %d in %.0f s",
            work,
            exc,
            retries + 1,
            backoff(retries),
        )
        raise task.retry(exc=exc, countdown=backoff(retries), max_retries=MAX_RETRIES) from exc


@app.task(bind=True, name="marketguard.notify.deliver_webhooks")
def deliver_webhooks(self: Task) -> dict[str, Any]:
    """Send the due webhook deliveries; returns delivered/failed/dead counts."""
    return _run(self, "webhooks")


@app.task(bind=True, name="marketguard.notify.mark_overdue")
def mark_overdue(self: Task) -> dict[str, Any]:
    """Stamp notices past their deadline; returns the ids newly marked."""
    return _run(self, "overdue")


@app.task(bind=True, name="marketguard.recheck.requested")
def start_requested_rechecks(self: Task) -> dict[str, Any]:
    """Officers' open re-check requests become urgent checks on the workers."""
    from api.checks.rechecks import start_requested_rechecks as start

    home = current_home()
    try:
        return asdict(start(workspace(home), _archive(home), celery_app=app))
    except Exception as exc:
        if not is_transient(exc):
            raise
        retries = int(self.request.retries)
        raise self.retry(exc=exc, countdown=backoff(retries), max_retries=MAX_RETRIES) from exc


@app.task(bind=True, name="marketguard.recheck.run")
def run_rechecks(self: Task) -> dict[str, Any]:
    """Re-check the removed notices whose re-check is due; returns closed/reopened/undecided."""
    return _run(self, "rechecks")
