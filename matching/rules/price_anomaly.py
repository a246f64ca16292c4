"""PRICE_TOO_LOW: offered far below what the genuine product costs.

Fires when price < factor x the category's price_band.low (factor from rules.yaml, 0.4 to start
with). No legal threshold exists; this is a lead, not a finding. Prices that cannot be compared
stay silent: none, zero or negative (a placeholder or a coupon artefact), not a number, or in a
currency the catalogue bands are not written in.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from marketguard.models import Flag
from matching.catalogue import Category, format_amount
from matching.rules.base import ListingView, RuleText, Shared
from matching.yaml_schema import Node

RULE_ID = "PRICE_TOO_LOW"
PARAMS_REQUIRED = ("factor", "currencies", "snippet")
PARAMS_OPTIONAL: tuple[str, ...] = ()
PLACEHOLDERS = ("price", "low", "high", "threshold", "factor_percent", "category_name")
SNIPPET_PLACEHOLDERS = ("price", "low", "high", "threshold")

_CENT = Decimal("0.01")


class PriceTooLowRule:
    rule_id = RULE_ID

    def __init__(
        self, text: RuleText, *, factor: Decimal, currencies: tuple[str, ...], snippet: str
    ) -> None:
        self.text = text
        self.factor = factor
        self.currencies = frozenset(c.strip().upper() for c in currencies)
        self.snippet = snippet
        self._factor_percent = format_amount(factor * 100)

    def applies_to(self, category: Category | None) -> bool:
        return category is not None

    def check(self, ctx: ListingView) -> Flag | None:
        category = ctx.category
        if category is None:
            return None
        price = ctx.price
        if price is None or price <= 0:
            return None
        currency = ctx.listing.currency
        if isinstance(currency, str) and currency.strip().upper() not in self.currencies:
            return None
        band = category.price_band
        threshold = self.factor * band.low
        if price >= threshold:
            return None
        values = {
            "price": str(price.quantize(_CENT, rounding=ROUND_HALF_UP)),
            "low": format_amount(band.low),
            "high": format_amount(band.high),
            "threshold": str(threshold.quantize(_CENT, rounding=ROUND_HALF_UP)),
        }
        return self.text.flag(
            snippet=self.snippet.format(**values),
            field="price",
            factor_percent=self._factor_percent,
            category_name=category.name,
            **values,
        )


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> PriceTooLowRule:
    factor = fields["factor"].number(minimum=Decimal(0))
    if factor <= 0 or factor > 1:
        fields["factor"].fail(f"expected a number above 0 and at most 1, got {factor}")
    return PriceTooLowRule(
        text,
        factor=factor,
        currencies=fields["currencies"].texts(non_empty=True),
        snippet=fields["snippet"].template(SNIPPET_PLACEHOLDERS),
    )
