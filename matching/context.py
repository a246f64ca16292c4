"""What rules need beyond the listing itself, gathered outside ``matching/`` and passed in.

``Matcher.match(listing, context)`` takes a ``MatchContext``: plain, immutable data. Loading it
is someone else's job (the certificate registry from ``home/registry.db``, peer prices from the
pass or the store, repeat offenders from confirmed reviews, seller links from the shops seen,
image signals from the image side), so the engine stays pure and every rule testable with
hand-made data. A missing piece means "not known", never "bad": a rule whose data is absent
stays silent.

Per-pass data is shared by every listing of a pass; image signals are per listing, so the usual
use is ``pass_context.for_listing(images=signals)`` (a cheap copy).
"""

from __future__ import annotations

import dataclasses
import math
import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Literal

from matching.image_signals import ImageSignal, ReferenceMatch

__all__ = [
    "CertificateRecord",
    "CertificateRegistry",
    "ImageSignal",
    "MatchContext",
    "PeerPrices",
    "PeerStats",
    "ReferenceMatch",
    "SellerLink",
    "brand_key",
    "seller_key",
]

CertificateStatus = Literal["valid", "suspended", "revoked", "cancelled", "expired"]
CERTIFICATE_STATUSES: tuple[str, ...] = ("valid", "suspended", "revoked", "cancelled", "expired")

_SPACE = re.compile(r"\s+")


# Attribute keys that carry the brand when Listing.brand is empty (as crawled pages show it).
BRAND_KEYS = ("品牌", "品牌名称", "牌子", "品牌名", "brand", "Brand", "BRAND")


def listing_brand(listing: Any) -> str:
    """Listing.brand, else the first non-empty 品牌-like attribute, else ""."""
    brand = getattr(listing, "brand", "")
    if isinstance(brand, str) and brand.strip():
        return brand.strip()
    attributes = getattr(listing, "attributes", None)
    if isinstance(attributes, dict):
        for key in BRAND_KEYS:
            value = attributes.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return ""


def seller_key(platform: str, seller_id: str) -> str:
    """How sellers are named across the context: the same shop id on two platforms is two shops."""
    return f"{platform}:{seller_id}"


@lru_cache(maxsize=4096)  # a pass sees few brands, and every listing's peer lookup asks
def brand_key(brand: str) -> str:
    """Brands compared case- and space-insensitively ("Anker " = "anker")."""
    return _SPACE.sub("", brand).casefold()


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    """One CCC certificate as the registry knows it."""

    number: str  # 16 digits
    holder: str  # 持证人 / 委托人
    product: str  # product name and scope as written on the certificate
    models: tuple[str, ...] = ()  # covered models / 型号
    status: CertificateStatus = "valid"
    issued: date | None = None
    expires: date | None = None
    maker: str = ""  # 生产者 / 生产企业 when it differs from the holder

    def status_on(self, day: date) -> str:
        """The status on ``day``: a valid certificate past its expiry date is expired."""
        if self.status == "valid" and self.expires is not None and day > self.expires:
            return "expired"
        return self.status


class CertificateRegistry:
    """Certificates by number: an in-memory lookup built once, read by the CCC registry rules."""

    __slots__ = ("_by_number",)

    def __init__(self, records: Iterable[CertificateRecord] = ()) -> None:
        self._by_number: dict[str, CertificateRecord] = {r.number: r for r in records}

    def get(self, number: str) -> CertificateRecord | None:
        return self._by_number.get(number)

    def __len__(self) -> int:
        return len(self._by_number)

    def __bool__(self) -> bool:
        # An empty registry is "no registry": CCC_CERT_NOT_FOUND must not fire on every number.
        return bool(self._by_number)


@dataclass(frozen=True, slots=True)
class PeerStats:
    """Robust price statistics of one peer group (same category and brand)."""

    median: float
    mad: float  # median absolute deviation (raw, not scaled)
    count: int

    @classmethod
    def of(cls, prices: Iterable[float]) -> PeerStats | None:
        values = [p for p in prices if math.isfinite(p) and p > 0]
        if not values:
            return None
        median = statistics.median(values)
        mad = statistics.median(abs(p - median) for p in values)
        return cls(median=median, mad=mad, count=len(values))


class PeerPrices:
    """Peer statistics by (category id, brand key); brand "" is the whole category."""

    __slots__ = ("_stats",)

    def __init__(self, stats: Mapping[tuple[str, str], PeerStats] | None = None) -> None:
        self._stats = dict(stats or {})

    @classmethod
    def from_prices(cls, rows: Iterable[tuple[str, str, float]]) -> PeerPrices:
        """From (category id, brand, price) rows, e.g. a pass's matched listings or the store.

        Each row counts in its brand group and in the category-wide group (brand "").
        """
        groups: dict[tuple[str, str], list[float]] = {}
        for category, brand, price in rows:
            if not category:
                continue
            groups.setdefault((category, brand_key(brand)), []).append(price)
            if brand_key(brand):
                groups.setdefault((category, ""), []).append(price)
        stats = {key: s for key, values in groups.items() if (s := PeerStats.of(values))}
        return cls(stats)

    def get(self, category: str, brand: str) -> PeerStats | None:
        return self._stats.get((category, brand_key(brand)))

    def __len__(self) -> int:
        return len(self._stats)


@dataclass(frozen=True, slots=True)
class SellerLink:
    """Another shop sharing an identifying fact with this one."""

    kind: Literal["phone", "address", "licence", "image"]
    value: str  # the shared phone / address / licence number / image hash, as seen
    other_sellers: frozenset[str]  # seller keys of the other shops


_EMPTY_LINKS: Mapping[str, tuple[SellerLink, ...]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class MatchContext:
    """Everything rules may consult beyond the listing. All parts optional."""

    registry: CertificateRegistry | None = None
    peer_prices: PeerPrices | None = None
    # Seller keys with an earlier review decision "confirmed" (回头看: re-inspect them).
    repeat_offenders: frozenset[str] = frozenset()
    # Seller key -> links to other shops (see marketguard.seller_network for how they are built).
    seller_links: Mapping[str, tuple[SellerLink, ...]] = field(default_factory=lambda: _EMPTY_LINKS)
    # This listing's images, as the image side saw them (per listing: use for_listing()).
    images: tuple[ImageSignal, ...] = ()

    def for_listing(self, *, images: Iterable[ImageSignal] = ()) -> MatchContext:
        """This pass-wide context with one listing's image signals."""
        return dataclasses.replace(self, images=tuple(images))


EMPTY_CONTEXT = MatchContext()
