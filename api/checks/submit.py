"""Start an officer's check: on the workers when a broker is configured, else in a child process.

With a broker, the check is one urgent crawl job (``submit_crawl``, priority ahead of the
scheduled passes); the workers report its end with ``marketguard.notify.check_result``
(``marketguard/distributed/check_tasks.py``), which fills in the row.

Without one, ``marketguard check URL --check-id N`` runs in a child process: a Scrapy pass can
run only once per process (Twisted's reactor), and the request must not wait for a browser. The
child fills in the row itself; a thread here reaps it and marks the row failed should the child
die before it could.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from api.checks.store import Check, finish_check
from api.workspace_db import WorkspaceDb

logger = logging.getLogger(__name__)

SPIDER = "site"
STDERR_KEPT = 1500


def spider_args(url: str) -> dict[str, Any]:
    """One product page: the adapter whose domain matches, else generic extraction."""
    return {"url": url, "sites_dir": ""}


def queue_check(celery_app: Any, check: Check) -> str:
    """Send the check's crawl to the broker (blocking network I/O: call it off the event loop)."""
    from marketguard.distributed.submit import submit_crawl

    return submit_crawl(
        celery_app,
        SPIDER,
        spider_args(check.url),
        origin=check.origin,
        check_id=check.id,
        urgent=True,
    )


def start_child(db: WorkspaceDb, check: Check, home: Path) -> subprocess.Popen[bytes]:
    """Run the check in ``marketguard check`` as a child process; returns at once."""
    child = subprocess.Popen(
        [sys.executable, "-m", "marketguard.cli", "check", check.url, "--check-id", str(check.id)],
        env={**os.environ, "MARKETGUARD_HOME": str(home)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a Ctrl+C meant for serve does not kill a capture half-way
    )
    threading.Thread(
        target=_reap, args=(db, check.id, child), name=f"check-{check.id}", daemon=True
    ).start()
    return child


def _reap(db: WorkspaceDb, check_id: int, child: subprocess.Popen[bytes]) -> None:
    _, stderr = child.communicate()
    if child.returncode == 0:
        return
    tail = stderr.decode("utf-8", "replace").strip()[-STDERR_KEPT:]
    # The child records its own failures; this only catches a child that died first.
    if finish_check(
        db, check_id, state="failed", error=f"核查进程退出码 {child.returncode}: {tail}"
    ):
        logger.warning("check %s: child exited with %s", check_id, child.returncode)
