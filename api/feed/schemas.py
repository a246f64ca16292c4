"""The feed's JSON contract (part of /openapi.json)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.feed.states import PlatformStatus

ActionName = Literal["下架", "删除链接", "暂停服务"]


class SellerRef(BaseModel):
    seller_id: str
    name: str
    url: str


class ListingRef(BaseModel):
    listing_id: str
    url: str
    title: str
    seller: SellerRef | None
    first_seen: str
    last_seen: str


class RuleOut(BaseModel):
    rule_id: str
    severity: str
    reason: str
    legal_basis: str
    snippet: str


class ScreenshotRef(BaseModel):
    sha256: str
    size: int
    url: str  # fetch with the same API key


class ArtifactRef(BaseModel):
    model_config = ConfigDict(extra="allow")
    kind: str
    media_type: str
    sha256: str
    size: int


class EvidenceRef(BaseModel):
    capture_id: str
    captured_at: str
    url: str
    final_url: str
    http_status: int | None
    screenshot: ScreenshotRef | None
    artifacts: list[ArtifactRef]


class NoticeOut(BaseModel):
    type: str
    spec_version: str
    id: str
    issuer: str
    platform: str
    listing: ListingRef
    rules: list[RuleOut]
    legal_basis: list[str]
    requested_action: ActionName
    note: str
    evidence: EvidenceRef | None
    created: str
    date_added: str  # when it entered the feed (again, after a reopen)
    modified: str
    deadline: str
    overdue: bool
    status: str
    status_label: str
    status_reason: str
    received_at: str | None
    removed_at: str | None
    closed_at: str | None
    reopen_count: int
    recheck_due_at: str | None
    recheck_result: str


class EnvelopeOut(BaseModel):
    """A page of the feed, shaped like a TAXII 2.1 envelope."""

    more: bool
    next: str | None = Field(description="pass as ?next= to get the following page")
    objects: list[NoticeOut]


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: PlatformStatus
    reason: str = Field(default="", max_length=2000)


class StatusOut(BaseModel):
    changed: bool
    notice: NoticeOut


class FeedErrorOut(BaseModel):
    error: str
    detail: str
    status: str | None = None
    allowed: list[str] = []


class ListingKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    platform: str
    listing_id: str


class NoticesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    listings: list[ListingKey] = Field(min_length=1, max_length=500)
    action: ActionName = "下架"
    note: str = Field(default="", max_length=2000)


class NoticesCreatedOut(BaseModel):
    notices: list[NoticeOut]


class NoticePageOut(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[NoticeOut]


class NoticeEventOut(BaseModel):
    at: str
    actor: str
    from_status: str
    to_status: str
    reason: str


class NoticeDetailOut(BaseModel):
    notice: NoticeOut
    events: list[NoticeEventOut]


class OfficerMoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class FiguresOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    platform: str
    notices: int
    ack_hours_median: float | None
    takedown_rate: float | None
    relisting_rate: float | None


class PlatformIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    platform: str = Field(min_length=1, max_length=100)
    webhook_url: str = ""


class PlatformCreatedOut(BaseModel):
    account_id: int
    name: str
    platform: str
    webhook_url: str
    api_key: str  # shown once
    webhook_secret: str


class PlatformOut(BaseModel):
    account_id: int
    name: str
    platform: str
    webhook_url: str


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delivery_ids: list[int] | None = None
    account_id: int | None = None
    include_delivered: bool = False


class ReplayOut(BaseModel):
    replayed: int


class NotificationOut(BaseModel):
    notification_id: int
    at: str
    kind: str
    notice_id: str | None
    message: str
    read_at: str | None


Json = dict[str, Any]
