"""The admins' view of the workers: queue depths, the workers that answer, recent task errors.

``/admin/workers`` (page) and ``GET /api/admin/queues`` (JSON), for role admin only.

Asking the broker is blocking network I/O that waits about a second for worker replies, so it
runs in a worker thread, never on the event loop; a broker that is down answers "unreachable"
within about two seconds (``marketguard/distributed/status.py``). Answers are kept for
``STATUS_TTL`` seconds and concurrent requests share one ask, so a page left refreshing, or
several admins at once, do not multiply broadcasts.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api.accounts.auth import AdminUser
from api.dependencies import ArchiveDep, TemplatesDep
from evidence.archive.base import Archive
from marketguard.distributed.status import QUEUE_LABELS, Status
from marketguard.models import PageError

pages = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)
router = APIRouter(prefix="/api/admin", tags=["admin"])

STATUS_TTL = 2.0
BROKER_TIMEOUT = 1.0
TASK_ERRORS_SHOWN = 20
# Errors are read newest first across passes and the task ones kept: bounded, so cheap.
ERRORS_SCANNED = 500


class BrokerWatch:
    """The broker named by the workspace's configuration, asked at most every STATUS_TTL s."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config_error = ""
        self._app: Any = None
        self._configured: bool | None = None
        self._last: tuple[float, Status] | None = None

    def _load(self, request_state: Any) -> None:
        from marketguard.distributed.config import worker_config

        try:
            # create_app's caller may set app.state.worker_config; else the environment's.
            config = getattr(request_state, "worker_config", None) or worker_config()
        except ValueError as exc:
            self._configured, self._config_error = True, str(exc)
            return
        self._configured = config.distributed
        if config.distributed:
            from marketguard.distributed.app import make_app

            self._app = make_app(config)

    def status(self, request_state: Any) -> Status:
        with self._lock:
            if self._configured is None:
                self._load(request_state)
            if self._last and time.monotonic() - self._last[0] < STATUS_TTL:
                return self._last[1]
            if not self._configured:
                result = Status(configured=False)
            elif self._app is None:
                result = Status(configured=True, error=f"配置错误 {self._config_error}")
            else:
                from marketguard.distributed.status import status

                result = status(self._app, BROKER_TIMEOUT)
            self._last = (time.monotonic(), result)
            return result


def _watch(request: Request) -> BrokerWatch:
    state = request.app.state
    watch = getattr(state, "broker_watch", None)
    if watch is None:
        watch = state.broker_watch = BrokerWatch()
    return watch  # type: ignore[no-any-return]


def task_errors(archive: Archive, limit: int = TASK_ERRORS_SHOWN) -> list[PageError]:
    """Recent permanent task failures (PageError kind "task"), newest first."""
    try:
        recent = archive.errors(None, limit=ERRORS_SCANNED)
    except Exception:  # the store being down must not hide the queues
        return []
    return [error for error in recent if error.kind == "task"][:limit]


@pages.get("/admin/workers")
async def workers_page(
    request: Request, user: AdminUser, archive: ArchiveDep, templates: TemplatesDep
) -> Response:
    watch = _watch(request)
    result = await run_in_threadpool(watch.status, request.app.state)
    errors = await run_in_threadpool(task_errors, archive)
    context = {
        "status": result,
        "per_queue": result.workers_per_queue(),
        "task_errors": errors,
        "queue_labels": QUEUE_LABELS,
    }
    return templates.TemplateResponse(request, "workers.html", context)


@router.get("/queues")
async def queues_json(request: Request, user: AdminUser) -> JSONResponse:
    """Queue depths and workers as in ``marketguard status --json``; ``configured`` false in
    single-process mode, ``reachable`` false when the broker does not answer."""
    result = await run_in_threadpool(_watch(request).status, request.app.state)
    return JSONResponse(result.to_dict())
