"""The JSON API's contract: request and response models (they generate /openapi.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, computed_field, model_validator

SeverityName = Literal["high", "medium", "low"]
DecisionName = Literal["confirmed", "dismissed"]
DecisionFilter = Literal["confirmed", "dismissed", "unreviewed"]

REVIEWER_MAX = 100
REASON_MAX = 2000


class FlagOut(BaseModel):
    rule_id: str
    severity: SeverityName
    reason: str
    legal_basis: str
    snippet: str
    field: str
    reason_en: str


class SellerOut(BaseModel):
    seller_id: str
    name: str
    url: str
    location: str
    rating: float | None
    shop_age_days: int | None


class ListingOut(BaseModel):
    platform: str
    listing_id: str
    url: str
    title: str
    price: str | None
    currency: str
    seller: SellerOut | None
    image_urls: list[str]
    attributes: dict[str, str]
    description: str
    crawled_at: datetime
    search_keyword: str
    category: str
    sales: int | None
    rendered_with: str


class ArtifactOut(BaseModel):
    kind: str
    media_type: str
    sha256: str
    size: int
    source_url: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def blob_url(self) -> str:
        return f"/blobs/{self.sha256}"


class EvidenceOut(BaseModel):
    capture_id: str
    url: str
    final_url: str
    http_status: int | None
    started_at: datetime
    finished_at: datetime | None
    browser_version: str
    user_agent: str
    viewport: str
    tool_version: str
    artifacts: list[ArtifactOut]
    errors: list[str]


class ReviewOut(BaseModel):
    decision: DecisionName
    reviewer: str
    reason: str
    decided_at: datetime


class ListingDetailOut(BaseModel):
    listing: ListingOut
    version: int
    first_seen: datetime
    last_seen: datetime
    flags: list[FlagOut]
    evidence: list[EvidenceOut]  # newest first
    reviews: list[ReviewOut]  # newest first


class FlaggedItemOut(BaseModel):
    platform: str
    listing_id: str
    title: str
    url: str
    price: str | None
    currency: str
    category: str
    seller_name: str
    seller_location: str
    rule_ids: list[str]
    max_severity: SeverityName
    flag_count: int
    first_seen: datetime
    last_seen: datetime
    decision: DecisionName | None
    screenshot_sha256: str | None
    detail_url: str
    risk_score: int = 0
    seller_id: str = ""
    cursor: str = ""


class FlaggedPageOut(BaseModel):
    total: int | None  # None when asked not to count (total=false)
    # true when more than ``total`` listings match: the count stops at 1 000 (the whole set
    # is counted by /api/stats)
    total_capped: bool = False
    limit: int
    offset: int
    next: str | None = None  # pass as ?after= for the next page; None on the last page
    items: list[FlaggedItemOut]


class FacetsOut(BaseModel):
    category: dict[str, int]
    rule: dict[str, int]


class PassOut(BaseModel):
    pass_id: int
    started_at: datetime
    finished_at: datetime | None
    summary: dict[str, Any]


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReviewIn(BaseModel):
    """An officer's decision. Dismissing drops a lead, so it must say why. The reviewer is the
    signed-in account, never a name typed into the request."""

    model_config = ConfigDict(extra="forbid")

    decision: DecisionName
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=REASON_MAX)] = ""

    @model_validator(mode="after")
    def dismissal_gives_a_reason(self) -> ReviewIn:
        if self.decision == "dismissed" and not self.reason:
            raise ValueError("a dismissal needs a reason")
        return self
