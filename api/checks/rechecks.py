"""Officers' re-check requests (复查申请, api/decisions.py) carried out: each open request
becomes an on-demand check of the listing's page (origin "复查申请 #N"), crawled, matched and
captured again, on the workers when a broker is configured, else in a child process.

Run by the ``marketguard.recheck.requested`` task (beat, recheck queue) or, without a broker,
by ``serve``'s feed thread each round. A request becomes exactly one check: the request is
closed in the transaction that creates the check (``create_check(recheck_request=...)``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.checks.store import AlreadyStartedError, CheckError, create_check, finish_check, set_task
from api.checks.submit import queue_check, start_child
from api.decisions import rechecks
from api.workspace_db import WorkspaceDb
from evidence.archive.base import Archive

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Started:
    checks: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # listing unknown, or already started


def start_requested_rechecks(
    db: WorkspaceDb,
    archive: Archive,
    *,
    celery_app: Any = None,
    home: Path | None = None,
    limit: int = 20,
) -> Started:
    """Turn up to ``limit`` open re-check requests (oldest first) into checks: queued on
    ``celery_app`` when given, else run in child processes in ``home``."""
    started = Started()
    for request in sorted(rechecks(db, open_only=True, limit=limit), key=lambda r: r.request_id):
        record = archive.get_listing(request.platform, request.listing_id)
        if record is None:
            started.skipped.append(request.request_id)
            continue
        try:
            check = create_check(
                db,
                request.requested_by,
                record.listing.url,
                origin=f"复查申请 #{request.request_id}",
                note=request.reason,
                recheck_request=request.request_id,
            )
        except AlreadyStartedError:
            started.skipped.append(request.request_id)
            continue
        except CheckError as exc:  # a stored URL that is no longer acceptable
            logger.warning("re-check request %s: %s", request.request_id, exc)
            started.skipped.append(request.request_id)
            continue
        if celery_app is not None:
            try:
                set_task(db, check.id, queue_check(celery_app, check))
            except Exception as exc:  # the broker is away: the check says so, not silence
                finish_check(db, check.id, state="failed", error=f"无法提交到消息代理: {exc}")
        else:
            start_child(db, check, home or Path("var"))
        started.checks.append(check.id)
    return started
