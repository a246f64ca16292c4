"""SELLER_NO_LICENCE, SELLER_HOTSPOT_REGION, SELLER_REPEAT_OFFENDER, SELLER_NETWORK: the shop.

Four small rules over the listing's Seller and the MatchContext; one module each re-exports its
rule from here so that the loader's one-module-per-rule contract holds.
"""

from __future__ import annotations

from collections import Counter

from marketguard.models import Flag
from matching.context import MatchContext, SellerLink, seller_key
from matching.rules.base import ListingView, RuleText
from matching.text import WordFinder


class SellerNoLicenceRule:
    """Fires when the shop page was checked and shows no business licence (licence_shown is
    False and no licence number was read). Unknown (None) is not evidence."""

    rule_id = "SELLER_NO_LICENCE"

    def __init__(self, text: RuleText) -> None:
        self.text = text

    def check(self, ctx: ListingView) -> Flag | None:
        seller = ctx.listing.seller
        if seller is None or seller.licence_shown is not False:
            return None
        if isinstance(seller.licence_number, str) and seller.licence_number.strip():
            return None
        return self.text.flag(
            snippet=seller.name or seller.seller_id,
            field="seller",
            seller_name=seller.name or seller.seller_id,
        )


class SellerHotspotRule:
    """Fires when the shop's location or address names a configured hot-spot region; a region
    may be limited to some categories (toys from 澄海)."""

    rule_id = "SELLER_HOTSPOT_REGION"

    def __init__(self, text: RuleText, regions: dict[str, frozenset[str]]) -> None:
        self.text = text
        self.regions = regions
        self._finder = WordFinder({r: r for r in regions})

    def check(self, ctx: ListingView) -> Flag | None:
        seller = ctx.listing.seller
        if seller is None:
            return None
        category = ctx.category.id if ctx.category else ""
        for value in (seller.location, seller.address):
            if not isinstance(value, str) or not value:
                continue
            for hit in self._finder.finditer(value):
                only = self.regions[hit.value]
                if not only or category in only:
                    return self.text.flag(
                        snippet=value, field="seller", region=hit.value, location=value
                    )
        return None


class SellerRepeatOffenderRule:
    """Fires when an officer confirmed an earlier violation by the same shop (回头看)."""

    rule_id = "SELLER_REPEAT_OFFENDER"

    def __init__(self, text: RuleText) -> None:
        self.text = text

    def applies_with(self, context: MatchContext) -> bool:
        return bool(context.repeat_offenders)

    def check(self, ctx: ListingView) -> Flag | None:
        seller = ctx.listing.seller
        offenders = ctx.context.repeat_offenders
        if seller is None or not offenders or not seller.seller_id:
            return None
        if seller_key(ctx.listing.platform, seller.seller_id) not in offenders:
            return None
        return self.text.flag(
            snippet=seller.name or seller.seller_id,
            field="seller",
            seller_name=seller.name or seller.seller_id,
        )


class SellerNetworkRule:
    """Fires when the shop shares a phone, address, licence number or pictures with at least
    ``min_other_shops`` other shops (links come in the MatchContext).

    A phone, address or licence number in common is one link. Pictures count only when a shop
    shares ``min_shared_images`` different ones with the other shop: one common picture is
    what a supplier's catalogue photo or a lifted product shot gives unrelated shops; several
    point to one operator behind several storefronts.
    """

    rule_id = "SELLER_NETWORK"

    def __init__(
        self,
        text: RuleText,
        kinds: dict[str, tuple[str, str]],
        min_other_shops: int,
        min_shared_images: int = 2,
    ) -> None:
        self.text = text
        self.kinds = kinds
        self.min_other_shops = min_other_shops
        self.min_shared_images = min_shared_images

    def applies_with(self, context: MatchContext) -> bool:
        return bool(context.seller_links)

    def check(self, ctx: ListingView) -> Flag | None:
        seller = ctx.listing.seller
        links = ctx.context.seller_links
        if seller is None or not links or not seller.seller_id:
            return None
        mine = links.get(seller_key(ctx.listing.platform, seller.seller_id), ())
        shared = [link for link in mine if link.kind in self.kinds and link.kind != "image"]
        pictures = [link for link in mine if link.kind == "image" and "image" in self.kinds]
        if pictures:
            per_shop = Counter(other for link in pictures for other in link.other_sellers)
            linked = {other for other, n in per_shop.items() if n >= self.min_shared_images}
            shared += [
                SellerLink("image", link.value, link.other_sellers & linked)
                for link in pictures
                if link.other_sellers & linked
            ]
        others = frozenset().union(*(link.other_sellers for link in shared)) if shared else ()
        if len(others) < self.min_other_shops:
            return None
        kinds_zh = "、".join(dict.fromkeys(self.kinds[link.kind][0] for link in shared))
        kinds_en = ", ".join(dict.fromkeys(self.kinds[link.kind][1] for link in shared))
        first = shared[0]
        return self.text.flag(
            snippet=f"{self.kinds[first.kind][0]}: {first.value}",
            field="seller",
            kinds=kinds_zh,
            shops=len(others),
            others="、".join(sorted(others)[:5]),
            en={"kinds": kinds_en},
        )
