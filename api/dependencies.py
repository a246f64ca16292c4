"""What routes receive by injection: the store and the page renderer of the running app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from evidence.archive.base import Archive


def get_archive(request: Request) -> Archive:
    archive: Archive = request.app.state.archive
    return archive


def get_templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


ArchiveDep = Annotated[Archive, Depends(get_archive)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
