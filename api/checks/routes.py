"""On-demand checks in the workspace: ``POST/GET /api/checks``, ``GET /api/checks/{id}`` and
the 投诉核查 page (``/checks``), for reviewers and above.

Handing a check to the broker is blocking network I/O, so it runs in the threadpool, never on
the event loop. Without a broker the check runs in a child process (``api/checks/submit.py``).
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from api.accounts.auth import ReviewerUser, WorkspaceDep
from api.checks import store
from api.checks.store import NOTE_MAX, ORIGIN_MAX, URL_MAX, Check, CheckError
from api.dependencies import TemplatesDep
from api.workspace_db import WorkspaceDb, from_text

pages = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)
router = APIRouter(prefix="/api/checks", tags=["checks"])

LISTED = 100


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The length limits are checked again by the store, with Chinese messages; these keep a
    # huge body from reaching it at all.
    url: str = Field(max_length=URL_MAX)
    origin: str = Field(default="", max_length=ORIGIN_MAX, description="e.g. 12365投诉 No.xxx")
    note: str = Field(default="", max_length=NOTE_MAX)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return store.validate_url(value)  # CheckError is a ValueError: a 422 naming the field


class _Broker:
    """The Celery app of the configured broker, made once per workspace app; None: in-process."""

    def __init__(self, state: Any) -> None:
        from marketguard.distributed.config import worker_config

        # create_app's caller may set app.state.worker_config (tests); else the environment's.
        config = getattr(state, "worker_config", None) or worker_config()
        self.app: Any = None
        if config.distributed:
            from marketguard.distributed.app import make_app

            self.app = make_app(config)


_broker_lock = threading.Lock()


def _broker(state: Any) -> _Broker:
    with _broker_lock:
        broker = getattr(state, "check_broker", None)
        if broker is None:
            broker = state.check_broker = _Broker(state)
        return broker  # type: ignore[no-any-return]


def _start(state: Any, db: WorkspaceDb, check: Check) -> Check:
    """Hand the check over (in the threadpool: broker I/O, or a child process's fork)."""
    from api.checks import submit

    broker = _broker(state)
    if broker.app is None:
        submit.start_child(db, check, db.path.parent)
        return check
    try:
        task_id = submit.queue_check(broker.app, check)
    except Exception as exc:  # the broker is down: say so on the row, not only in the log
        store.finish_check(db, check.id, state="failed", error=f"无法提交到消息代理: {exc}")
    else:
        store.set_task(db, check.id, task_id)
    return store.get_check(db, check.id) or check


async def submit_check(
    request: Request, db: WorkspaceDb, actor: str, url: str, origin: str, note: str
) -> Check:
    check = await run_in_threadpool(store.create_check, db, actor, url, origin, note)
    return await run_in_threadpool(_start, request.app.state, db, check)


# --- JSON API -----------------------------------------------------------------------------------
@router.post("", status_code=status.HTTP_201_CREATED)
async def create_check(
    request: Request, body: CheckIn, user: ReviewerUser, db: WorkspaceDep
) -> JSONResponse:
    """Check one URL now: crawl, match and capture it (captured even when nothing is flagged)."""
    try:
        check = await submit_check(request, db, user.name, body.url, body.origin, body.note)
    except CheckError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return JSONResponse(check.to_dict(), status_code=status.HTTP_201_CREATED)


@router.get("")
def list_checks(user: ReviewerUser, db: WorkspaceDep, limit: int = LISTED) -> list[dict[str, Any]]:
    """Newest first."""
    return [c.to_dict() for c in store.list_checks(db, max(1, min(limit, 1000)))]


@router.get("/{check_id}")
def get_check(check_id: int, user: ReviewerUser, db: WorkspaceDep) -> dict[str, Any]:
    check = store.get_check(db, check_id)
    if check is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no check {check_id}")
    return check.to_dict()


# --- page ---------------------------------------------------------------------------------------
def _page(
    request: Request,
    templates: Any,
    db: WorkspaceDb,
    *,
    form: dict[str, str] | None = None,
    error: str = "",
    submitted: int | None = None,
    status_code: int = 200,
) -> Response:
    checks = store.list_checks(db, LISTED)
    context = {
        "checks": checks,
        "times": {c.id: (from_text(c.requested_at), from_text(c.finished_at)) for c in checks},
        "form": form or {"url": "", "origin": "", "note": ""},
        "error": error,
        "submitted": submitted,
        "limits": {"url": URL_MAX, "origin": ORIGIN_MAX, "note": NOTE_MAX},
    }
    return templates.TemplateResponse(request, "checks.html", context, status_code=status_code)


@pages.get("/checks")
def checks_page(
    request: Request,
    user: ReviewerUser,
    db: WorkspaceDep,
    templates: TemplatesDep,
    submitted: int | None = None,
) -> Response:
    return _page(request, templates, db, submitted=submitted)


@pages.post("/checks")
async def checks_form(
    request: Request,
    user: ReviewerUser,
    db: WorkspaceDep,
    templates: TemplatesDep,
    url: Annotated[str, Form()] = "",
    origin: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    try:
        check = await submit_check(request, db, user.name, url, origin, note)
    except CheckError as exc:
        # Show the form again with what was typed, so nothing the officer wrote is lost.
        form = {"url": url[:URL_MAX], "origin": origin[:ORIGIN_MAX], "note": note[:NOTE_MAX]}
        return await run_in_threadpool(
            _page,
            request,
            templates,
            db,
            form=form,
            error=str(exc),
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    return RedirectResponse(f"/checks?submitted={check.id}", status_code=status.HTTP_303_SEE_OTHER)
