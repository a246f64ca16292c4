"""``marketguard.notify.check_result``: how an officer's on-demand check ended, into its row.

The crawl, match, capture and store tasks (``tasks.py``, ``report_check``) send it when the
store step has saved the listing, or when the check failed for good. It runs on the ``notify``
workers, which open the workspace database of ``MARKETGUARD_HOME`` (so, like the feed's tasks in
``feed_tasks.py``, on the machine where ``marketguard serve`` runs, with the same home).

Idempotent: the row's outcome is written once (``api.checks.store.finish_check`` updates only a
check not yet done or failed), so a second delivery, or the store step reporting again after a
redelivery, changes nothing. A locked database is retried with backoff.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celery import Task

from marketguard.distributed.app import app
from marketguard.distributed.feed_tasks import backoff, current_home, workspace
from marketguard.distributed.retry import is_transient

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

MAX_RETRIES = 6


@app.task(bind=True, name="marketguard.notify.check_result")
def check_result(
    self: Task,
    *,
    check_id: int,
    state: str,
    platform: str = "",
    listing_id: str = "",
    flagged: bool = False,
    rule_ids: list[str] | None = None,
    capture_id: str | None = None,
    error: str = "",
) -> dict[str, Any]:
    """Fill in check ``check_id``; ``{"updated": False}`` when it had already ended. State
    "running" (sent when a crawl worker takes the check) only moves a queued check on."""
    from api.checks.store import finish_check, mark_running

    try:
        if state == "running":
            mark_running(workspace(current_home()), int(check_id))
            return {"check_id": check_id, "state": state, "updated": True}
        updated = finish_check(
            workspace(current_home()),
            int(check_id),
            state=state,
            platform=platform,
            listing_id=listing_id,
            flagged=flagged,
            rule_ids=rule_ids or [],
            capture_id=capture_id,
            error=error,
        )
    except Exception as exc:
        if not is_transient(exc):
            raise
        retries = int(self.request.retries)
        logger.warning("check %s: %s; retry %d", check_id, exc, retries + 1)
        raise self.retry(exc=exc, countdown=backoff(retries), max_retries=MAX_RETRIES) from exc
    return {"check_id": check_id, "state": state, "updated": updated}
