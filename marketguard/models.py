"""Shared vocabulary: the plain data that flows crawlers -> matching -> evidence -> store -> api.

These are plain dataclasses on purpose: Scrapy accepts dataclass items, matching stays free of
any framework, and every backend serialises them the same way (``to_dict``/``from_dict``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

Severity = Literal["high", "medium", "low"]
SEVERITY_ORDER: dict[str, int] = {"high": 3, "medium": 2, "low": 1}

Decision = Literal["confirmed", "dismissed"]

# Fields of a Listing that change between crawls of the same, unchanged listing.
_VOLATILE_LISTING_FIELDS = frozenset({"crawled_at", "category", "rendered_with", "search_keyword"})


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Seller:
    seller_id: str
    name: str = ""
    url: str = ""
    location: str = ""
    rating: float | None = None  # as the platform shows it, usually 0-5
    shop_age_days: int | None = None  # days since the shop opened, at crawl time
    # Shop facts that link shops into networks and show whether the seller is identifiable.
    licence_number: str = ""  # business licence (营业执照) number shown on the shop page
    licence_shown: bool | None = None  # None when the page was not checked
    phone: str = ""
    address: str = ""


@dataclass(slots=True)
class Listing:
    """One product listing as seen on a marketplace at one moment."""

    platform: str
    listing_id: str
    url: str
    title: str
    price: Decimal | None = None  # the low end when the page shows a range
    currency: str = "CNY"
    seller: Seller | None = None
    brand: str = ""
    model: str = ""  # model / 型号 as shown
    sku: str = ""
    gtin: str = ""
    price_max: Decimal | None = None  # the high end of a price range such as ¥89-129
    image_urls: list[str] = field(default_factory=list)
    # key/value pairs exactly as the page shows them (e.g. "3C认证": "2023011609123456")
    attributes: dict[str, str] = field(default_factory=dict)
    description: str = ""
    crawled_at: datetime = field(default_factory=utcnow)
    search_keyword: str = ""  # the watchlist keyword whose search found it
    category: str = ""  # catalogue category id, set by matching
    sales: int | None = None  # sales count shown by the platform, when shown
    rendered_with: Literal["http", "browser"] = "http"

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.listing_id}"

    def content_hash(self, data: dict[str, Any] | None = None) -> str:
        """SHA-256 over what the seller controls; crawl time and our own fields excluded.

        Two crawls of an unchanged listing give the same hash, so the store keeps one version.
        Pass ``to_dict()``'s result when you already have it: it is the costly part of a save.
        """
        data = self.to_dict() if data is None else data
        content = {k: v for k, v in data.items() if k not in _VOLATILE_LISTING_FIELDS}
        blob = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        # Written out instead of dataclasses.asdict: asdict deep-copies recursively and was
        # half the cost of storing a listing.
        seller = self.seller
        return {
            "platform": self.platform,
            "listing_id": self.listing_id,
            "url": self.url,
            "title": self.title,
            "price": None if self.price is None else str(self.price),
            "currency": self.currency,
            "seller": None
            if seller is None
            else {
                "seller_id": seller.seller_id,
                "name": seller.name,
                "url": seller.url,
                "location": seller.location,
                "rating": seller.rating,
                "shop_age_days": seller.shop_age_days,
                "licence_number": seller.licence_number,
                "licence_shown": seller.licence_shown,
                "phone": seller.phone,
                "address": seller.address,
            },
            "brand": self.brand,
            "model": self.model,
            "sku": self.sku,
            "gtin": self.gtin,
            "price_max": None if self.price_max is None else str(self.price_max),
            "image_urls": list(self.image_urls),
            "attributes": dict(self.attributes),
            "description": self.description,
            "crawled_at": self.crawled_at.isoformat(),
            "search_keyword": self.search_keyword,
            "category": self.category,
            "sales": self.sales,
            "rendered_with": self.rendered_with,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Listing:
        data = dict(data)
        seller = data.pop("seller", None)
        price = data.pop("price", None)
        price_max = data.pop("price_max", None)
        crawled_at = data.pop("crawled_at", None)
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(
            **{k: v for k, v in data.items() if k in names},
            seller=Seller(**seller) if seller else None,
            price=Decimal(price) if price is not None else None,
            price_max=Decimal(price_max) if price_max is not None else None,
            crawled_at=_parse_dt(crawled_at) if crawled_at else utcnow(),
        )


@dataclass(slots=True)
class Flag:
    """Why a listing looks non-compliant. Every flag explains itself."""

    rule_id: str  # e.g. "CCC_MISSING"
    severity: Severity
    reason: str  # Chinese, shown to officers
    legal_basis: str  # e.g. "《认证认可条例》第二十七条"
    snippet: str = ""  # the text that triggered the rule, as found
    field: str = (
        ""  # where the snippet was found: title, description, attributes.<key>, price, seller
    )
    reason_en: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Flag:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(slots=True)
class Artifact:
    """One preserved file. The bytes live in the archive's content-addressed blob store."""

    kind: str  # "screenshot", "html", "metadata", "image"
    media_type: str  # "image/png", "text/html", "application/json", ...
    sha256: str
    size: int
    source_url: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class Evidence:
    """A browser capture of one listing page."""

    capture_id: str
    platform: str
    listing_id: str
    url: str
    final_url: str = ""
    http_status: int | None = None
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    browser_version: str = ""
    user_agent: str = ""
    viewport: str = ""  # "1280x800"
    tool_version: str = ""
    artifacts: list[Artifact] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # partial failures, e.g. an unreadable image
    # The case number given at capture time (until the workspace builds cases); "" when none.
    case_id: str = ""
    operator: str = ""

    def artifact(self, kind: str) -> Artifact | None:
        return next((a for a in self.artifacts if a.kind == kind), None)

    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        data = dict(data)
        artifacts = [Artifact(**a) for a in data.pop("artifacts", [])]
        started = data.pop("started_at", None)
        finished = data.pop("finished_at", None)
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(
            **{k: v for k, v in data.items() if k in names},
            artifacts=artifacts,
            started_at=_parse_dt(started) if started else utcnow(),
            finished_at=_parse_dt(finished) if finished else None,
        )


@dataclass(slots=True)
class Review:
    """An officer's decision on a flagged listing."""

    platform: str
    listing_id: str
    decision: Decision
    reviewer: str
    reason: str = ""
    decided_at: datetime = field(default_factory=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(dataclasses.asdict(self))


@dataclass(slots=True)
class Notice:
    """A takedown notice to a platform about one of its listings (served by the platform feed)."""

    notice_id: str
    platform: str
    listing_id: str
    url: str
    rule_ids: list[str]
    legal_basis: list[str]
    action: str = "下架"
    status: str = "open"
    created_at: datetime = field(default_factory=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(dataclasses.asdict(self))


@dataclass(slots=True)
class PageError:
    """A page or resource that could not be read. Recorded and counted; the pass goes on."""

    url: str
    kind: str  # "http_status", "timeout", "parse", "image", "capture", ...
    message: str
    at: datetime = field(default_factory=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(dataclasses.asdict(self))


@dataclass(slots=True)
class Assessment:
    """A listing on its way through the pass: matched, maybe captured, then stored.

    Problems met on the way (an unreadable image, a failed capture) travel with it so the store
    records them next to the listing instead of losing them.
    """

    listing: Listing
    flags: list[Flag] = field(default_factory=list)
    evidence: Evidence | None = None
    errors: list[PageError] = field(default_factory=list)
    risk_score: int | None = None  # 0-100 from matching.risk; None when not scored


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _parse_dt(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
