"""SELLER_HOTSPOT_REGION: see matching.rules.seller_signals.SellerHotspotRule."""

from __future__ import annotations

from matching.rules.base import RuleText, Shared
from matching.rules.seller_signals import SellerHotspotRule
from matching.yaml_schema import Node

RULE_ID = "SELLER_HOTSPOT_REGION"
PARAMS_REQUIRED = ("regions",)
PARAMS_OPTIONAL: tuple[str, ...] = ()
PLACEHOLDERS = ("region", "location")


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> SellerHotspotRule:
    regions: dict[str, frozenset[str]] = {}
    for item in fields["regions"].items():
        f = item.fields(required=("region",), optional=("categories", "note"))
        categories = f["categories"].texts() if "categories" in f else ()
        regions[f["region"].text()] = frozenset(categories)
    return SellerHotspotRule(text, regions)
