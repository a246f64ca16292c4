"""The workspace's HTML pages: the queue, one listing with its evidence and review form, errors."""

from __future__ import annotations

import functools
import math
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from api.accounts import audit
from api.accounts.auth import ReviewerUser, WorkspaceDep
from api.dependencies import ArchiveDep, TemplatesDep
from api.schemas import REASON_MAX, DecisionFilter, ReviewIn
from api.templating import listing_path
from api.workspace_db import WorkspaceDb
from evidence.archive.base import ListingRecord, QueueFilter, UnknownListingError
from marketguard.models import SEVERITY_ORDER, Review
from matching.risk import RiskModel

router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)

PAGE_SIZE = 50
MAX_PAGE = 1_000_000  # beyond any real queue; keeps OFFSET inside SQLite's integers
ERRORS_SHOWN = 500


@router.get("/")
def queue(
    request: Request,
    user: ReviewerUser,
    archive: ArchiveDep,
    templates: TemplatesDep,
    category: str | None = None,
    rule: str | None = None,
    decision: DecisionFilter | None = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    query = QueueFilter(
        category=category or None,
        rule_id=rule or None,
        decision=decision,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    total = archive.count_flagged(query)
    context = {
        "rows": archive.flagged(query),
        "total": total,
        "page": page,
        "pages": max(1, math.ceil(total / PAGE_SIZE)),
        "facets": archive.facets(),
        "filters": {"category": category or "", "rule": rule or "", "decision": decision or ""},
    }
    return templates.TemplateResponse(request, "queue.html", context)


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
    review = Review(
        platform=platform,
        listing_id=listing_id,
        decision=body.decision,
        reviewer=user.name,
        reason=body.reason,
    )
    try:
        archive.add_review(review)
    except UnknownListingError:
        return _not_found(request, templates, f"{platform}:{listing_id}")
    audit_review(workspace, user.name, record, review)
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
    context = {
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


def audit_review(workspace: WorkspaceDb, actor: str, record: ListingRecord, review: Review) -> None:
    """The audit entry of a decision: the latest decision before it, and the new one."""
    before = record.reviews[0].to_dict() if record.reviews else None
    audit.record(
        workspace,
        actor,
        f"review.{review.decision}",
        f"listing:{review.platform}/{review.listing_id}",
        before=before,
        after=review.to_dict(),
    )
