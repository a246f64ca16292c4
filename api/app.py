"""The review workspace: ``create_app(archive)`` gives the FastAPI app serving pages and JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api import admin_status, blobs, json_api, pages, review_api, review_pages
from api.accounts import routes as account_routes
from api.accounts.auth import LoginRequired
from api.cases import ReviewConfig
from api.categories import category_names as catalogue_category_names
from api.checks import routes as check_routes
from api.feed import routes as feed_routes
from api.feed.config import FeedConfig
from api.feed.worker import FeedWorker
from api.security import SecurityHeadersMiddleware
from api.templating import make_templates, query_string
from api.workspace_db import WorkspaceDb, open_workspace
from evidence.archive.base import Archive
from marketguard.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(
    archive: Archive,
    *,
    workspace: WorkspaceDb | None = None,
    feed_config: FeedConfig | None = None,
    feed_worker: bool = False,
    category_names: Mapping[str, str] | None = None,
    timezone: str | None = None,
    review_config: ReviewConfig | None = None,
) -> FastAPI:
    """The workspace over ``archive``; the caller keeps ownership of it (and closes it).

    ``workspace`` holds accounts, sessions, tokens, the audit log and the platform feed; it
    defaults to ``workspace.db`` in the settings' home. ``feed_worker`` runs webhook
    deliveries, re-checks and overdue marks in a background thread while the app runs.

    ``category_names`` (id -> name) defaults to the catalogue named by the settings;
    ``timezone`` (for times shown on pages) defaults to the settings' one.
    ``review_config`` (referral threshold, priority target) defaults to the environment's.
    """
    settings = Settings.from_env()
    if category_names is None:
        category_names = catalogue_category_names(settings.catalogue)
    feed_config = feed_config or FeedConfig()
    db = workspace or open_workspace(settings.home)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = FeedWorker(db, archive, feed_config, settings.home) if feed_worker else None
        if worker:
            worker.start()
        try:
            yield
        finally:
            if worker:
                worker.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="MarketGuard 审查工作台 API",
        version="0.1.0",
        # The interactive docs load scripts from a CDN: unreachable here and barred by the
        # Content-Security-Policy. The contract stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.archive = archive
    app.state.workspace = db
    app.state.feed_config = feed_config
    app.state.templates = make_templates(category_names, timezone or settings.timezone)
    app.state.timezone = timezone or settings.timezone
    app.state.category_names = dict(category_names)
    # Every catalogue category is one of the work plan's priority products (catalogue.yaml).
    app.state.priority_categories = frozenset(category_names)
    app.state.review_config = review_config or ReviewConfig.from_env()
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(LoginRequired, _login_required)
    app.include_router(account_routes.pages)
    app.include_router(account_routes.router)
    app.include_router(pages.router)
    app.include_router(review_pages.router)
    app.include_router(feed_routes.platform_router)
    app.include_router(feed_routes.officer_router)
    app.include_router(json_api.router)
    app.include_router(review_api.router)
    app.include_router(blobs.router)
    app.include_router(admin_status.pages)
    app.include_router(admin_status.router)
    app.include_router(check_routes.pages)
    app.include_router(check_routes.router)
    return app


def _login_required(request: Request, exc: Exception) -> Response:
    """Pages send the browser to the login form (and back afterwards); the API answers 401."""
    path = request.url.path
    if path.startswith(("/api/", "/feed/", "/blobs/")):
        return JSONResponse(
            {"detail": "login required: sign in or send Authorization: Bearer <token>"},
            status_code=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": "Bearer"},
        )
    target = path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(
        f"/login{query_string({'next': target})}", status_code=status.HTTP_303_SEE_OTHER
    )
