"""What routes receive by injection: the store and the page renderer of the running app.

Dependencies that only read ``app.state`` are ``async def``: FastAPI runs a plain ``def``
dependency in the threadpool, one thread hop each per request for a dictionary lookup."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.templating import Jinja2Templates

from evidence.archive.base import Archive, ListingRecord


async def get_archive(request: Request) -> Archive:
    archive: Archive = request.app.state.archive
    return archive


async def get_templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


def app_zone(request: Request) -> str:
    """The time zone the workspace reads dates in (filters by day, weeks in statistics)."""
    return str(getattr(request.app.state, "timezone", "Asia/Shanghai"))


def listing_or_404(archive: Archive, platform: str, listing_id: str) -> ListingRecord:
    """The stored listing, or the JSON API's and the forms' 404 naming it."""
    record = archive.get_listing(platform, listing_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no listing {platform}:{listing_id}")
    return record


ArchiveDep = Annotated[Archive, Depends(get_archive)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
