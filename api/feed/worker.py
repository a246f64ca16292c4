"""A background thread for ``marketguard serve``: sends due webhooks, runs due re-checks and
marks overdue notices every few seconds, and stops with the app. (``marketguard feed run``
does one round from the command line, e.g. from cron.)"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from api.feed import notices, recheck, webhooks
from api.feed.config import FeedConfig
from api.workspace_db import WorkspaceDb
from evidence.archive.base import Archive

logger = logging.getLogger(__name__)


# Without workers each requested re-check is a child process with its own Chromium: a few per
# round, so that a bulk request does not start dozens of browsers at once.
REQUESTED_RECHECKS_PER_ROUND = 2


def run_once(
    db: WorkspaceDb, archive: Archive, config: FeedConfig, home: Path | None = None
) -> dict[str, Any]:
    delivered = webhooks.deliver_due(db, config)
    rechecked = recheck.run_rechecks(db, archive, config)
    overdue = notices.mark_overdue(db)
    out = {"webhooks": asdict(delivered), "rechecks": asdict(rechecked), "overdue": len(overdue)}
    if home is not None:  # officers' re-check requests, run here as checks
        from api.checks.rechecks import start_requested_rechecks

        started = start_requested_rechecks(
            db, archive, home=home, limit=REQUESTED_RECHECKS_PER_ROUND
        )
        out["requested_rechecks"] = asdict(started)
    return out


class FeedWorker:
    def __init__(
        self, db: WorkspaceDb, archive: Archive, config: FeedConfig, home: Path | None = None
    ) -> None:
        self.db, self.archive, self.config, self.home = db, archive, config, home
        self.interval = config.worker_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="feed-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                run_once(self.db, self.archive, self.config, self.home)
            except Exception:  # one bad round must not end the worker
                logger.exception("feed worker round failed")
            self._stop.wait(self.interval)
