"""The JSON API under /api/: the queue, one listing, reviews, the latest pass; plus /healthz."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.accounts.auth import ReviewerUser, WorkspaceDep
from api.dependencies import ArchiveDep
from api.pages import audit_review
from api.schemas import (
    DecisionFilter,
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
from evidence.archive.base import ListingRecord, QueueFilter, UnknownListingError
from marketguard.models import Review

router = APIRouter()

MAX_OFFSET = 50_000_000  # beyond any real queue; keeps OFFSET inside SQLite's integers
NOT_FOUND = {404: {"description": "No such listing"}}


@router.get("/api/flagged", response_model=FlaggedPageOut, tags=["queue"])
def flagged(
    user: ReviewerUser,
    archive: ArchiveDep,
    category: str | None = None,
    rule: str | None = None,
    decision: DecisionFilter | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> FlaggedPageOut:
    """Flagged listings, highest severity first, then most recently seen."""
    query = QueueFilter(
        category=category or None,
        rule_id=rule or None,
        decision=decision,
        limit=limit,
        offset=offset,
    )
    rows = archive.flagged(query)
    return FlaggedPageOut(
        total=archive.count_flagged(query),
        limit=limit,
        offset=offset,
        items=[
            FlaggedItemOut(
                **dataclasses.asdict(row), detail_url=listing_path(row.platform, row.listing_id)
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
    record = archive.get_listing(platform, listing_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no listing {platform}:{listing_id}")
    return detail_out(record)


@router.post(
    "/api/listings/{platform}/{listing_id}/reviews",
    response_model=ReviewOut,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
    tags=["listings"],
)
def add_review(
    platform: str,
    listing_id: str,
    body: ReviewIn,
    user: ReviewerUser,
    archive: ArchiveDep,
    workspace: WorkspaceDep,
) -> ReviewOut:
    """Record a decision: ``confirmed`` (违法属实) or ``dismissed`` (驳回, reason required).
    The reviewer recorded is the signed-in account."""
    record = archive.get_listing(platform, listing_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no listing {platform}:{listing_id}")
    review = Review(
        platform=platform,
        listing_id=listing_id,
        decision=body.decision,
        reviewer=user.name,
        reason=body.reason,
    )
    try:
        archive.add_review(review)
    except UnknownListingError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    audit_review(workspace, user.name, record, review)
    return ReviewOut.model_validate(review.to_dict())


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
