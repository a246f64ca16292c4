"""The review workspace: ``create_app(archive)`` gives the FastAPI app serving pages and JSON."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api import blobs, json_api, pages
from api.categories import category_names as catalogue_category_names
from api.security import SecurityHeadersMiddleware
from api.templating import make_templates
from evidence.archive.base import Archive
from marketguard.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(
    archive: Archive,
    *,
    category_names: Mapping[str, str] | None = None,
    timezone: str | None = None,
) -> FastAPI:
    """The workspace over ``archive``; the caller keeps ownership of it (and closes it).

    ``category_names`` (id -> name) defaults to the catalogue named by the settings;
    ``timezone`` (for times shown on pages) defaults to the settings' one.
    """
    settings = Settings.from_env()
    if category_names is None:
        category_names = catalogue_category_names(settings.catalogue)
    app = FastAPI(
        title="MarketGuard 审查工作台 API",
        version="0.1.0",
        # The interactive docs load scripts from a CDN: unreachable here and barred by the
        # Content-Security-Policy. The contract stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.archive = archive
    app.state.templates = make_templates(category_names, timezone or settings.timezone)
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(pages.router)
    app.include_router(json_api.router)
    app.include_router(blobs.router)
    return app
