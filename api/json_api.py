"""The JSON API under /api/: the queue, one listing, reviews, the latest pass; plus /healthz."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status

from api import count_cache
from api.accounts.auth import ReviewerUser, WorkspaceDep
from api.decisions import decide
from api.dependencies import ArchiveDep, app_zone, listing_or_404
from api.queue_params import QueueParamsDep
from api.schemas import (
    EvidenceOut,
    FacetsOut,
    FlaggedItemOut,
    FlaggedPageOut,
    FlagOut,
    HealthOut,
    ListingDetailOut,
    ListingOut,
    PassOut,
    ReviewIn,
    ReviewOut,
)
from api.templating import listing_path
from evidence.archive.base import FlaggedRow, ListingRecord, UnknownListingError

router = APIRouter()

MAX_OFFSET = 50_000_000  # beyond any real queue; keeps OFFSET inside SQLite's integers
NOT_FOUND = {404: {"description": "No such listing"}}
_ROW_FIELDS = tuple(field.name for field in dataclasses.fields(FlaggedRow))


@router.get("/api/flagged", response_model=FlaggedPageOut, tags=["queue"])
def flagged(
    request: Request,
    user: ReviewerUser,
    archive: ArchiveDep,
    params: QueueParamsDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    after: Annotated[
        str, Query(max_length=200, description="the `next` of the previous page (keyset)")
    ] = "",
    total: Annotated[
        bool, Query(description="count the filtered set (up to 1 000: see total_capped)")
    ] = True,
) -> FlaggedPageOut:
    """Flagged listings in queue order: risk score, then severity, then most recently seen.

    Page with ``after=<next>`` (keyset: as fast on page 2000 as on page 1); ``offset`` still
    works but walks every skipped row. ``total`` counts up to 1 000 (``total_capped`` when
    more match; /api/stats counts them all); ``total=false`` skips the count."""
    query = params.to_filter(zone=app_zone(request), limit=limit)
    query.offset, query.after = offset, after or None
    try:
        rows = archive.flagged(query)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    counted = count_cache.count(request.app.state, archive, query) if total else None
    return FlaggedPageOut(
        total=counted.n if counted else None,
        total_capped=bool(counted and counted.capped),
        limit=limit,
        offset=0 if after else offset,
        next=rows[-1].cursor if len(rows) == limit else None,
        items=[
            FlaggedItemOut(
                # shallow: asdict deep-copies every value (half the request's CPU) and the
                # model copies the one list (rule_ids) anyway
                **{name: getattr(row, name) for name in _ROW_FIELDS},
                detail_url=listing_path(row.platform, row.listing_id),
            )
            for row in rows
        ],
    )


@router.get("/api/facets", response_model=FacetsOut, tags=["queue"])
def facets(user: ReviewerUser, archive: ArchiveDep) -> FacetsOut:
    """Counts of flagged listings by category and by rule."""
    return FacetsOut(**archive.facets())


@router.get(
    "/api/listings/{platform}/{listing_id}",
    response_model=ListingDetailOut,
    responses=NOT_FOUND,
    tags=["listings"],
)
def listing_detail(
    platform: str, listing_id: str, user: ReviewerUser, archive: ArchiveDep
) -> ListingDetailOut:
    record = listing_or_404(archive, platform, listing_id)
    return detail_out(record)


@router.post(
    "/api/listings/{platform}/{listing_id}/reviews",
    response_model=ReviewOut,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
    tags=["listings"],
)
def add_review(
    request: Request,
    platform: str,
    listing_id: str,
    body: ReviewIn,
    user: ReviewerUser,
    archive: ArchiveDep,
    workspace: WorkspaceDep,
) -> ReviewOut:
    """Record a decision: ``confirmed`` (违法属实) or ``dismissed`` (驳回, reason required).
    The reviewer recorded is the signed-in account."""
    record = listing_or_404(archive, platform, listing_id)
    try:
        decide(archive, workspace, user.name, record, body.decision, body.reason)
        count_cache.invalidate(request.app.state)
    except UnknownListingError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    latest = archive.get_listing(platform, listing_id)
    assert latest is not None and latest.reviews
    return ReviewOut.model_validate(latest.reviews[0].to_dict())


@router.get(
    "/api/passes/latest",
    response_model=PassOut,
    responses={404: {"description": "No pass has run yet"}},
    tags=["passes"],
)
def latest_pass(user: ReviewerUser, archive: ArchiveDep) -> PassOut:
    record = archive.latest_pass()
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no monitoring pass has run yet")
    return PassOut(**dataclasses.asdict(record))


@router.get("/healthz", response_model=HealthOut, tags=["health"])
def healthz(archive: ArchiveDep) -> HealthOut:
    """Answers only when the store answers a query."""
    archive.latest_pass()
    return HealthOut(status="ok")


def detail_out(record: ListingRecord) -> ListingDetailOut:
    return ListingDetailOut(
        listing=ListingOut.model_validate(record.listing.to_dict()),
        version=record.version,
        first_seen=record.first_seen,
        last_seen=record.last_seen,
        flags=[FlagOut.model_validate(flag.to_dict()) for flag in record.flags],
        evidence=[EvidenceOut.model_validate(e.to_dict()) for e in record.evidence],
        reviews=[ReviewOut.model_validate(r.to_dict()) for r in record.reviews],
    )
