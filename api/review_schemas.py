"""JSON models of the review workspace's decisions, cases, statistics and verification."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from api.schemas import FlagOut, SeverityName

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
ActionName = Literal["confirmed", "dismissed", "recheck"]


class RecheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text = ""


class RecheckOut(BaseModel):
    request_id: int
    platform: str
    listing_id: str
    reason: str
    requested_by: str
    requested_at: datetime
    done_at: datetime | None


class BulkIn(BaseModel):
    """A decision over every listing the filters select (the queue's filters, same names)."""

    model_config = ConfigDict(extra="forbid")
    action: ActionName
    reason: Text = ""
    category: str = ""
    rule: str = ""
    decision: Literal["", "confirmed", "dismissed", "unreviewed"] = ""
    platform: str = ""
    region: str = ""
    date_from: str = Field("", pattern=r"^(\d{4}-\d{2}-\d{2})?$")
    date_to: str = Field("", pattern=r"^(\d{4}-\d{2}-\d{2})?$")
    q: str = Field("", max_length=100)

    @model_validator(mode="after")
    def dismissal_gives_a_reason(self) -> BulkIn:
        if self.action == "dismissed" and not self.reason:
            raise ValueError("a dismissal needs a reason")
        return self


class BulkOut(BaseModel):
    matched: int
    applied: int
    skipped: int
    truncated: bool  # more than the limit matched: nothing was applied
    limit: int


class SellerListingOut(BaseModel):
    platform: str
    listing_id: str
    title: str
    max_severity: SeverityName | Literal["none"]
    risk_score: int
    decision: str | None
    rule_ids: list[str]
    last_seen: datetime
    detail_url: str


class ImageOut(BaseModel):
    url: str
    sha256: str | None  # the captured copy, when the capture kept one
    flags: list[FlagOut]  # flags raised on this image (reuse, shared across shops, OCR)


class ListingContextOut(BaseModel):
    risk_score: int
    risk_contributions: list[tuple[str, int]]
    seller_history: list[SellerListingOut]
    seller_confirmed: int
    images: list[ImageOut]
    rechecks: list[RecheckOut]
    cases: list[str]


class VerifyOut(BaseModel):
    capture_id: str
    ok: bool
    files_ok: bool
    files: list[dict[str, Any]]
    ledger: dict[str, Any] | None
    ledger_error: str


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    investigators: tuple[str, str]
    note: Text = ""


class CaseListingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    platform: str
    listing_id: str


class CaseStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["open", "referred", "closed"]


class CaseListingOut(BaseModel):
    platform: str
    listing_id: str
    title: str
    url: str
    category: str
    seller: str
    price: Decimal | None
    sales: int | None
    value: Decimal | None  # price × sales shown
    capture_id: str
    added_by: str
    added_at: datetime


class CaseOut(BaseModel):
    case_id: str
    title: str
    investigators: tuple[str, str]
    status: Literal["open", "referred", "closed"]
    note: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    goods_value: Decimal
    value_incomplete: bool
    referral: bool  # goods value at or above the referral threshold (两法衔接)
    referral_threshold: Decimal
    listings: list[CaseListingOut]


class StatsOut(BaseModel):
    total: int
    counts: dict[str, dict[str, int]]
    cases: int
    priority_cases: int
    priority_share: float
    priority_target: float
    meets_target: bool
    referrals: int
