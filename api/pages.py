"""The workspace's HTML pages: the queue, one listing with its evidence and review form, errors."""

from __future__ import annotations

import functools
import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from api import count_cache
from api.accounts.auth import ReviewerUser, WorkspaceDep
from api.cases import cases_of_listing
from api.checks.store import origins_of
from api.decisions import BULK_MAX, decide, latest_decision, rechecks
from api.dependencies import ArchiveDep, TemplatesDep, app_zone
from api.evidence_check import last_check
from api.queue_params import QueueParamsDep
from api.schemas import REASON_MAX, ReviewIn
from api.templating import listing_path
from api.workspace_db import WorkspaceDb
from evidence.archive.base import Archive, ListingRecord, QueueFilter, UnknownListingError
from marketguard.models import SEVERITY_ORDER
from matching.risk import RiskModel

router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)

PAGE_SIZE = 50
MAX_PAGE = 1_000_000  # beyond any real queue; keeps OFFSET inside SQLite's integers
ERRORS_SHOWN = 500
FACETS_TTL = 30.0
SELLER_HISTORY = 50


@router.get("/")
def queue(
    request: Request,
    user: ReviewerUser,
    archive: ArchiveDep,
    templates: TemplatesDep,
    params: QueueParamsDep,
    after: Annotated[str, Query(max_length=200)] = "",
    start: Annotated[int, Query(ge=0, le=MAX_PAGE * PAGE_SIZE)] = 0,
    bulk: str = "",
) -> Response:
    """The queue, ``PAGE_SIZE`` rows at a time after the keyset cursor ``after`` (``start``
    counts the rows before it, for the "rows x-y" line only)."""
    query = params.to_filter(zone=app_zone(request), limit=PAGE_SIZE)
    query.after = after or None
    try:
        rows = archive.flagged(query)
    except ValueError:  # a cursor from another store or hand-edited: back to the first page
        query.after, start = None, 0
        rows = archive.flagged(query)
    total = count_cache.count(request.app.state, archive, query)
    context = {
        "rows": rows,
        "total": str(total) if total.n else 0,  # "1 000+" past count_cache.CAP
        "start": start if query.after else 0,
        "next_after": rows[-1].cursor if len(rows) == PAGE_SIZE else "",
        "facets": cached_facets(request, archive),
        "filters": params.as_query(),
        "params": params,
        "bulk": bulk,
        "bulk_max": BULK_MAX,
        # Listings an officer's check brought in carry its origin (12365 complaint, ...).
        "origins": origins_of(
            request.app.state.workspace, [(r.platform, r.listing_id) for r in rows]
        ),
    }
    return templates.TemplateResponse(request, "queue.html", context)


def cached_facets(request: Request, archive: Archive) -> dict[str, dict[str, int]]:
    """Filter choices with counts: category and rule from ``facets()``, platform and region from
    ``queue_stats``. Counting the whole queue costs more than a page, so the counts are kept
    for FACETS_TTL seconds and then refreshed in a background thread while pages go on showing
    the previous counts; only the very first page waits for them."""
    state = request.app.state
    cached = getattr(state, "facets_cache", None)
    if cached is None:
        return _refresh_facets(state, archive)
    if time.monotonic() - cached[0] >= FACETS_TTL and _FACETS_LOCK.acquire(blocking=False):
        state.facets_cache = (time.monotonic(), cached[1])  # one refresh at a time

        def refresh() -> None:
            try:
                _refresh_facets(state, archive)
            finally:
                _FACETS_LOCK.release()

        threading.Thread(target=refresh, name="facets-refresh", daemon=True).start()
    return cached[1]  # type: ignore[no-any-return]


_FACETS_LOCK = threading.Lock()


def _refresh_facets(state: Any, archive: Archive) -> dict[str, dict[str, int]]:
    facets = dict(archive.facets())
    # A backend that does not implement queue_stats yet still serves the queue.
    stats = archive.queue_stats(QueueFilter()) if hasattr(archive, "queue_stats") else {}
    facets["platform"], facets["region"] = stats.get("platform", {}), stats.get("region", {})
    state.facets_cache = (time.monotonic(), facets)
    return facets


@router.get("/listings/{platform}/{listing_id}")
def listing_page(
    request: Request,
    platform: str,
    listing_id: str,
    user: ReviewerUser,
    archive: ArchiveDep,
    templates: TemplatesDep,
    reviewed: bool = False,
) -> Response:
    record = archive.get_listing(platform, listing_id)
    if record is None:
        return _not_found(request, templates, f"{platform}:{listing_id}")
    return _detail(request, templates, record, reviewed=reviewed)


@router.post("/listings/{platform}/{listing_id}/reviews")
def review_form(
    request: Request,
    platform: str,
    listing_id: str,
    user: ReviewerUser,
    archive: ArchiveDep,
    workspace: WorkspaceDep,
    templates: TemplatesDep,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    record = archive.get_listing(platform, listing_id)
    if record is None:
        return _not_found(request, templates, f"{platform}:{listing_id}")
    try:
        body = ReviewIn.model_validate({"decision": decision, "reason": reason})
    except ValidationError as exc:
        # Show the page again with what was typed, so nothing the officer wrote is lost.
        form = {"reason": reason}
        return _detail(
            request,
            templates,
            record,
            form=form,
            form_errors=_form_errors(exc),
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    try:
        decide(archive, workspace, user.name, record, body.decision, body.reason)
        count_cache.invalidate(request.app.state)
    except UnknownListingError:
        return _not_found(request, templates, f"{platform}:{listing_id}")
    return RedirectResponse(
        f"{listing_path(platform, listing_id)}?reviewed=1#review",
        status_code=status.HTTP_303_SEE_OTHER,
    )


@router.get("/errors")
def errors_page(
    request: Request,
    user: ReviewerUser,
    archive: ArchiveDep,
    templates: TemplatesDep,
    pass_id: int | None = None,
) -> Response:
    record = archive.latest_pass() if pass_id is None else archive.get_pass(pass_id)
    if record is None and pass_id is not None:
        return _not_found(request, templates, f"第 {pass_id} 轮监测")
    errors = archive.errors(record.pass_id, limit=ERRORS_SHOWN) if record else []
    context = {"pass": record, "errors": errors, "limit": ERRORS_SHOWN}
    return templates.TemplateResponse(request, "errors.html", context)


def _detail(
    request: Request,
    templates: Jinja2Templates,
    record: ListingRecord,
    *,
    reviewed: bool = False,
    form: dict[str, str] | None = None,
    form_errors: list[str] | None = None,
    status_code: int = status.HTTP_200_OK,
) -> Response:
    screenshot = next(
        ((e, a) for e in record.evidence if (a := e.artifact("screenshot")) is not None), None
    )
    archive: Archive = request.app.state.archive
    workspace: WorkspaceDb = request.app.state.workspace
    listing = record.listing
    seller_id = listing.seller.seller_id if listing.seller else ""
    history = [
        row
        for row in seller_listings(archive, listing.platform, seller_id, SELLER_HISTORY + 1)
        if row.listing_id != listing.listing_id
    ][:SELLER_HISTORY]
    context = {
        "last_verify": last_check(workspace, record.evidence[0].capture_id)
        if record.evidence
        else None,
        "seller_history": history,
        "seller_confirmed": sum(1 for row in history if row.decision == "confirmed"),
        "images": listing_images(record),
        "rechecks": rechecks(workspace, listing.platform, listing.listing_id, limit=20),
        "cases": cases_of_listing(workspace, listing.platform, listing.listing_id),
        "open_cases": open_case_ids(workspace),
        "decision": latest_decision(record),
        "record": record,
        "max_severity": max(
            (flag.severity for flag in record.flags), key=SEVERITY_ORDER.__getitem__, default=None
        ),
        "listing": record.listing,
        # What each flag adds, by today's points (rules.yaml); the stored score is the pass's.
        "risk_parts": _risk_model().score(record.flags).contributions,
        "screenshot": screenshot,
        "reviewed": reviewed,
        "form": form or {"reason": ""},
        "form_errors": form_errors or [],
        "reason_max": REASON_MAX,
    }
    return templates.TemplateResponse(request, "listing.html", context, status_code=status_code)


@functools.cache
def _risk_model() -> RiskModel:
    from matching.rule_book import load_rules

    try:
        return load_rules().risk
    except Exception:  # a broken rules file must not take the detail page down
        return RiskModel()


def _not_found(request: Request, templates: Jinja2Templates, what: str) -> Response:
    return templates.TemplateResponse(
        request, "not_found.html", {"what": what}, status_code=status.HTTP_404_NOT_FOUND
    )


def _form_errors(exc: ValidationError) -> list[str]:
    messages: dict[str, None] = {}
    for error in exc.errors():
        field = error["loc"][0] if error["loc"] else ""
        if field == "decision":
            messages["请选择“确认违法”或“驳回”。"] = None
        elif field == "reason":
            messages[f"理由不能超过 {REASON_MAX} 字。"] = None
        else:  # the model's own check: a dismissal without a reason
            messages["驳回时请填写理由。"] = None
    return list(messages)


def seller_listings(archive: Archive, platform: str, seller_id: str, limit: int) -> list[Any]:
    """The seller's listings; empty on a backend that does not implement the method yet."""
    if not hasattr(archive, "seller_listings"):
        return []
    rows: list[Any] = archive.seller_listings(platform, seller_id, limit)
    return rows


def listing_images(record: ListingRecord) -> list[dict[str, Any]]:
    """Each listing image with its captured copy (when the capture kept one) and the flags
    raised on it: image rules name their image as ``Flag.field = "image:<url>"`` (a genuine
    brand photo reused, the same photo in other shops, CCC marks read by OCR)."""
    captured: dict[str, str] = {}
    for capture in record.evidence[:1]:
        for artifact in capture.artifacts:
            if artifact.kind == "image" and artifact.source_url:
                captured.setdefault(artifact.source_url, artifact.sha256)
    urls = list(dict.fromkeys(record.listing.image_urls))
    urls += [
        f.field[6:]
        for f in record.flags
        if f.field.startswith("image:") and f.field[6:] not in urls
    ]
    return [
        {
            "url": url,
            "sha256": captured.get(url),
            "flags": [f for f in record.flags if f.field == f"image:{url}"],
        }
        for url in urls
    ]


def open_case_ids(workspace: WorkspaceDb) -> list[tuple[str, str]]:
    from api.cases import list_cases

    return [(case.case_id, case.title) for case in list_cases(workspace, status="open")]
