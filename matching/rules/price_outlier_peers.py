"""PRICE_OUTLIER_PEERS: far below what peers of the same category and brand ask.

Peer statistics (median and MAD) come in the MatchContext, computed outside matching/ from the
pass or the store. Fires when the group has at least ``min_peers`` prices, the price is below
``max_ratio`` x the median, and its robust z-score 0.6745 (median - price) / MAD is at least
``min_z`` (Iglewicz-Hoaglin). With MAD 0 (most peers at one price) the ratio alone decides.
Only the low side: a high price is no counterfeit signal. Without a brand the category-wide
group is used when ``category_fallback`` is on.
"""

from __future__ import annotations

from decimal import Decimal

from marketguard.models import Flag
from matching.catalogue import Category
from matching.context import MatchContext
from matching.rules.base import ListingView, RuleText, Shared
from matching.yaml_schema import Node

RULE_ID = "PRICE_OUTLIER_PEERS"
PARAMS_REQUIRED = ("min_peers", "max_ratio", "min_z", "currencies")
PARAMS_OPTIONAL = ("category_fallback",)
PLACEHOLDERS = ("price", "median", "peers", "z", "group")


class PriceOutlierPeersRule:
    rule_id = RULE_ID

    def __init__(
        self,
        text: RuleText,
        *,
        min_peers: int,
        max_ratio: float,
        min_z: float,
        currencies: frozenset[str],
        category_fallback: bool,
    ) -> None:
        self.text = text
        self.min_peers = min_peers
        self.max_ratio = max_ratio
        self.min_z = min_z
        self.currencies = currencies
        self.category_fallback = category_fallback

    def applies_to(self, category: Category | None) -> bool:
        return category is not None

    def applies_with(self, context: MatchContext) -> bool:
        return context.peer_prices is not None

    def check(self, ctx: ListingView) -> Flag | None:
        peers = ctx.context.peer_prices
        category = ctx.category
        if peers is None or category is None:
            return None
        price = ctx.price
        if price is None or price <= 0:
            return None
        currency = ctx.listing.currency
        if isinstance(currency, str) and currency.strip().upper() not in self.currencies:
            return None
        brand = ctx.brand
        stats = peers.get(category.id, brand) if brand else None
        by_brand = True
        if (stats is None or stats.count < self.min_peers) and (
            self.category_fallback or not brand
        ):
            stats = peers.get(category.id, "")
            by_brand = False
        if stats is None or stats.count < self.min_peers or stats.median <= 0:
            return None
        value = float(price)
        if value >= self.max_ratio * stats.median:
            return None
        z = 0.6745 * (stats.median - value) / stats.mad if stats.mad > 0 else float("inf")
        if z < self.min_z:
            return None
        z_text = "∞" if z == float("inf") else f"{z:.1f}"
        return self.text.flag(
            snippet=f"¥{price} / 同类中位数 ¥{stats.median:.2f}（{stats.count}个）",
            field="price",
            price=str(price),
            median=f"{stats.median:.2f}",
            peers=stats.count,
            z=z_text,
            group=f"{category.name}/{brand}" if by_brand else category.name,
        )


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> PriceOutlierPeersRule:
    ratio = fields["max_ratio"].number(minimum=Decimal(0))
    if not 0 < ratio < 1:
        fields["max_ratio"].fail(f"expected a number between 0 and 1, got {ratio}")
    return PriceOutlierPeersRule(
        text,
        min_peers=fields["min_peers"].integer(minimum=3),
        max_ratio=float(ratio),
        min_z=float(fields["min_z"].number(minimum=Decimal(0))),
        currencies=frozenset(c.strip().upper() for c in fields["currencies"].texts()),
        category_fallback=fields["category_fallback"].boolean()
        if "category_fallback" in fields
        else False,
    )
