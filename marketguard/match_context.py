"""Build the MatchContext a pass hands to the matching engine.

``matching/`` is pure; the facts its rules weigh beyond one listing are gathered here: peer
prices and seller links from the listings of a batch (or of a pass, as they arrive), repeat
offenders from the store's confirmed reviews, the certificate registry from home/registry.db.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from marketguard.models import Listing, Seller
from matching.context import (
    MatchContext,
    PeerPrices,
    PeerStats,
    SellerLink,
    brand_key,
    listing_brand,
    seller_key,
)
from matching.engine import Matcher

_NOT_DIGIT = re.compile(r"\D")
_ADDRESS_NOISE = re.compile(r"[\s,，.。、:：;；()（）#\-－—]")


def price_of(listing: Listing) -> float | None:
    value = listing.price
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value if isinstance(value, Decimal) else Decimal(str(value).strip()))
    except (InvalidOperation, ValueError, OverflowError):
        return None
    return number if number > 0 and number < 1e9 else None


def normalise_phone(phone: str) -> str:
    digits = _NOT_DIGIT.sub("", phone)
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]  # +86 138… is 138…
    return digits if len(digits) >= 7 else ""  # "400" or "-" links nobody


def normalise_address(address: str) -> str:
    text = unicodedata.normalize("NFKC", address)
    text = _ADDRESS_NOISE.sub("", text).lower()
    return text if len(text) >= 8 else ""  # "广东深圳" is a region, not an address


def normalise_licence(number: str) -> str:
    text = unicodedata.normalize("NFKC", number).strip().upper().replace(" ", "")
    return text if len(text) >= 10 else ""


class SellerNetwork:
    """Which shops share a phone, an address, a licence number or an image.

    Facts are added shop by shop (``add``); ``links()`` gives, per shop, the links to the others.
    """

    def __init__(self) -> None:
        self._owners: dict[tuple[str, str], dict[str, str]] = {}  # (kind, key) -> shop -> shown

    def add_seller(self, platform: str, seller: Seller | None) -> None:
        if seller is None or not seller.seller_id:
            return
        shop = seller_key(platform, seller.seller_id)
        for kind, raw, normalise in (
            ("phone", seller.phone, normalise_phone),
            ("address", seller.address, normalise_address),
            ("licence", seller.licence_number, normalise_licence),
        ):
            if isinstance(raw, str) and raw:
                self.add(kind, normalise(raw), shop, raw)

    def add(self, kind: str, key: str, shop: str, shown: str = "") -> None:
        if key:
            self._owners.setdefault((kind, key), {}).setdefault(shop, shown or key)

    def links(self) -> dict[str, tuple[SellerLink, ...]]:
        out: dict[str, list[SellerLink]] = {}
        for (kind, _key), owners in self._owners.items():
            if len(owners) < 2:
                continue
            for shop, shown in owners.items():
                others = frozenset(owners) - {shop}
                out.setdefault(shop, []).append(SellerLink(kind, shown, others))  # type: ignore[arg-type]
        return {shop: tuple(links) for shop, links in out.items()}


def peer_prices(matcher: Matcher, listings: Iterable[Listing]) -> PeerPrices:
    rows = []
    for listing in listings:
        price = price_of(listing)
        category = matcher.categorize(listing)
        if price is not None and category is not None:
            rows.append((category.id, listing_brand(listing), price))
    return PeerPrices.from_prices(rows)


def batch_context(
    matcher: Matcher,
    listings: list[Listing],
    *,
    base: MatchContext | None = None,
) -> tuple[MatchContext, Callable[[Listing, MatchContext], MatchContext]]:
    """A context for matching ``listings`` together: peers and seller links from the batch.

    Returns the shared context and a function giving one listing's context (image signals are
    attached by the image side; without them the shared context is used as it is).
    """
    network = SellerNetwork()
    for listing in listings:
        network.add_seller(listing.platform, listing.seller)
    shared = MatchContext(
        registry=base.registry if base else None,
        repeat_offenders=base.repeat_offenders if base else frozenset(),
        peer_prices=peer_prices(matcher, listings),
        seller_links=network.links(),
    )

    def per_listing(listing: Listing, context: MatchContext) -> MatchContext:
        return context

    return shared, per_listing


class RunningPeers:
    """Peer prices of a pass as listings arrive (a Scrapy pass never sees the batch whole).

    A group's statistics are recomputed when it has grown by a quarter since the last time, so
    the cost stays near O(n log n) over the pass.
    """

    def __init__(self) -> None:
        self._prices: dict[tuple[str, str], list[float]] = {}
        self._stats: dict[tuple[str, str], PeerStats] = {}
        self._computed_at: dict[tuple[str, str], int] = {}
        self._view = PeerPrices()

    def add(self, category: str, brand: str, price: float | None) -> None:
        if not category or price is None:
            return
        for key in ((category, brand_key(brand)), (category, "")):
            prices = self._prices.setdefault(key, [])
            prices.append(price)
            if len(prices) >= self._computed_at.get(key, 0) * 1.25 + 1:
                stats = PeerStats.of(prices)
                if stats is not None:
                    self._stats[key] = stats
                    self._computed_at[key] = len(prices)
                    self._view = PeerPrices(self._stats)
            if not key[1]:
                break

    @property
    def prices(self) -> PeerPrices:
        return self._view


def as_dict(context: MatchContext) -> dict[str, Any]:
    """A summary for logs and pass settings (sizes, not contents)."""
    return {
        "registry": len(context.registry) if context.registry else 0,
        "peer_groups": len(context.peer_prices) if context.peer_prices else 0,
        "repeat_offenders": len(context.repeat_offenders),
        "linked_sellers": len(context.seller_links),
    }
