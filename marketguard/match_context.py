"""Build the MatchContext a pass hands to the matching engine.

``matching/`` is pure; the facts its rules weigh beyond one listing are gathered here: peer
prices and seller links from the listings of a batch (or of a pass, as they arrive), repeat
offenders from the store's confirmed reviews, the certificate registry from home/registry.db.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from marketguard.models import Listing, Seller
from matching.context import (
    CertificateRegistry,
    ImageSignal,
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
# A shop's own pictures this close (bits, as posted) are one picture re-posted: the radius the
# seen-image index searches (IMAGE_SHARED_ACROSS_SHOPS's max_distance, capped at 3).
_SAME_PICTURE_BITS = 3


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
        self._facts_of: dict[str, list[tuple[str, str]]] = {}  # shop -> its (kind, key)s
        # shop -> its pictures that other shops also posted: pHash -> (url, those shops)
        self._pictures: dict[str, dict[int, tuple[str, set[str]]]] = {}

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
        if not key:
            return
        owners = self._owners.setdefault((kind, key), {})
        if shop not in owners:
            owners[shop] = shown or key
            self._facts_of.setdefault(shop, []).append((kind, key))

    def add_shared_picture(self, shop: str, phash: int, url: str, others: Iterable[str]) -> None:
        """``shop`` posted a picture that ``others`` posted before (the image side's lookup:
        within the hash radius, colours agreeing). One ``SellerLink(kind="image")`` per picture,
        so the rule can count how many pictures two shops share.

        Exact pHash equality is not the test: certificates with different numbers and drawings of
        one layout in other colours share a pHash, and a re-encoded copy may not. The caller
        passes only pictures that can tell shops apart (not blank, not greyscale) and that are no
        brand's genuine photo (honest resellers all post those).
        """
        others = {other for other in others if other and other != shop}
        if not shop or not others:
            return
        pictures = self._pictures.setdefault(shop, {})
        # The shop's own re-posts of one picture (re-encoded, so a bit or two apart) are one
        # picture, not two shared ones.
        key = next((k for k in pictures if (k ^ phash).bit_count() <= _SAME_PICTURE_BITS), phash)
        pictures.setdefault(key, (url, set()))[1].update(others)

    def links_of(self, shop: str) -> tuple[SellerLink, ...]:
        """The links of one shop, worked out on demand (a pass asks per listing)."""
        facts = self._facts_of.get(shop, ())
        out = []
        for kind, key in facts:
            owners = self._owners[(kind, key)]
            if len(owners) > 1:
                others = frozenset(owners) - {shop}
                out.append(SellerLink(kind, owners[shop], others))  # type: ignore[arg-type]
        out.extend(self._picture_links(shop))
        return tuple(out)

    def _picture_links(self, shop: str) -> list[SellerLink]:
        return [
            SellerLink("image", url, frozenset(others))
            for url, others in self._pictures.get(shop, {}).values()
        ]

    def shops(self) -> set[str]:
        return set(self._facts_of) | set(self._pictures)

    def links(self) -> dict[str, tuple[SellerLink, ...]]:
        out: dict[str, list[SellerLink]] = {}
        for (kind, _key), owners in self._owners.items():
            if len(owners) < 2:
                continue
            for shop, shown in owners.items():
                others = frozenset(owners) - {shop}
                out.setdefault(shop, []).append(SellerLink(kind, shown, others))  # type: ignore[arg-type]
        for shop in self._pictures:
            out.setdefault(shop, []).extend(self._picture_links(shop))
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


class LiveLinks(Mapping[str, tuple[SellerLink, ...]]):
    """A read-only view of a SellerNetwork that grows during the pass: ``get`` works out one
    shop's links when a rule asks, so a pass never rebuilds the whole map per listing."""

    def __init__(self, network: SellerNetwork) -> None:
        self._network = network

    def __getitem__(self, shop: str) -> tuple[SellerLink, ...]:
        links = self._network.links_of(shop)
        if not links:
            raise KeyError(shop)
        return links

    def __iter__(self) -> Iterator[str]:
        return iter(self._network.links())

    def __len__(self) -> int:
        return len(self._network.shops())

    def __bool__(self) -> bool:
        return bool(self._network._facts_of or self._network._pictures)


class PassContext:
    """The MatchContext of one monitoring pass, grown listing by listing.

    Loaded once: the certificate registry (home/registry.db) and the repeat offenders (the
    store's confirmed reviews). Grown per listing: peer prices (a listing is compared with the
    peers seen before it, then joins them) and the seller network (shops sharing a phone,
    address or licence number with shops seen so far in the pass, or pictures the image side
    found in other shops' listings).
    """

    def __init__(
        self,
        matcher: Matcher,
        *,
        registry: CertificateRegistry | None = None,
        repeat_offenders: frozenset[str] = frozenset(),
    ) -> None:
        self.matcher = matcher
        self.peers = RunningPeers()
        self.network = SellerNetwork()
        self._links = LiveLinks(self.network)
        self.registry = registry
        self.repeat_offenders = repeat_offenders

    @classmethod
    def load(cls, matcher: Matcher, home: Path | None, archive: object = None) -> PassContext:
        """Registry and repeat offenders from ``home`` and ``archive``; a failure to read either
        is logged and leaves that part empty (the pass goes on without it)."""
        from marketguard.registry import load_registry

        registry = None
        if home is not None:
            try:
                registry = load_registry(home)
            except Exception:  # a damaged registry must not stop the pass
                logger.exception("certificate registry in %s could not be read", home)
        offenders: frozenset[str] = frozenset()
        confirmed = getattr(archive, "confirmed_seller_ids", None)
        if confirmed is not None:
            try:
                offenders = frozenset(confirmed())
            except Exception:
                logger.exception("repeat offenders could not be read from the store")
        return cls(matcher, registry=registry, repeat_offenders=offenders)

    def context_for(self, listing: Listing, images: Iterable[ImageSignal] = ()) -> MatchContext:
        """This listing's context; the listing then joins the pass's peers and network."""
        images = tuple(images)
        self.network.add_seller(listing.platform, listing.seller)
        seller = listing.seller
        if seller is not None and seller.seller_id:
            shop = seller_key(listing.platform, seller.seller_id)
            for image in images:
                # Only the image side's colour-checked matches of pictures that can tell shops
                # apart. A brand's genuine photo links nobody: honest resellers all post it
                # (IMAGE_OFFICIAL_REUSED's case). How many pictures make a link is the rule's
                # min_shared_images.
                if (
                    image.phash is not None
                    and image.linkable
                    and not image.reference_matches
                    and image.shared_with_sellers
                ):
                    self.network.add_shared_picture(
                        shop, image.phash, image.url, image.shared_with_sellers
                    )
        context = MatchContext(
            registry=self.registry,
            peer_prices=self.peers.prices,
            repeat_offenders=self.repeat_offenders,
            seller_links=self._links,
            images=images,
        )
        return context

    def seen(self, listing: Listing, category: str) -> None:
        """Add a matched listing's price to its peers (after it was compared with them)."""
        self.peers.add(category, listing_brand(listing), price_of(listing))


logger = logging.getLogger(__name__)
