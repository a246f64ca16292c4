"""SELLER_RISK: a new shop with a poor rating.

Fires when the shop is younger than ``max_shop_age_days`` AND rated below ``min_rating`` (both
strict). Unknown age or rating means no flag: missing data is not evidence. Ratings are read on
the platform's 0-5 scale; a platform showing percentages never reaches the threshold, so it
cannot flag by accident.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from marketguard.models import Flag
from matching.rules.base import ListingView, RuleText, Shared
from matching.yaml_schema import Node

RULE_ID = "SELLER_RISK"
PARAMS_REQUIRED = ("max_shop_age_days", "min_rating", "snippet")
PARAMS_OPTIONAL: tuple[str, ...] = ()
PLACEHOLDERS = ("days", "rating", "max_shop_age_days", "min_rating", "seller_name")
SNIPPET_PLACEHOLDERS = ("days", "rating")


class SellerRiskRule:
    rule_id = RULE_ID

    def __init__(
        self, text: RuleText, *, max_shop_age_days: int, min_rating: float, snippet: str
    ) -> None:
        self.text = text
        self.max_shop_age_days = max_shop_age_days
        self.min_rating = min_rating
        self.snippet = snippet

    def check(self, ctx: ListingView) -> Flag | None:
        seller = ctx.listing.seller
        if seller is None:
            return None
        days = _number(seller.shop_age_days)
        rating = _number(seller.rating)
        if days is None or rating is None or days < 0:
            return None
        if not (days < self.max_shop_age_days and rating < self.min_rating):
            return None
        values = {"days": f"{days:g}", "rating": f"{rating:g}"}
        return self.text.flag(
            snippet=self.snippet.format(**values),
            field="seller",
            max_shop_age_days=self.max_shop_age_days,
            min_rating=f"{self.min_rating:g}",
            seller_name=seller.name or seller.seller_id,
            **values,
        )


# A tuple, not int | float | Decimal: the union would be built again on every call.
_NUMERIC = (int, float, Decimal)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, _NUMERIC):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> SellerRiskRule:
    return SellerRiskRule(
        text,
        max_shop_age_days=fields["max_shop_age_days"].integer(minimum=1),
        min_rating=float(fields["min_rating"].number(minimum=Decimal(0))),
        snippet=fields["snippet"].template(SNIPPET_PLACEHOLDERS),
    )
