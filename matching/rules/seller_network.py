"""SELLER_NETWORK: see matching.rules.seller_signals.SellerNetworkRule."""

from __future__ import annotations

from matching.rules.base import RuleText, Shared
from matching.rules.seller_signals import SellerNetworkRule
from matching.yaml_schema import Node

RULE_ID = "SELLER_NETWORK"
PARAMS_REQUIRED = ("kinds", "min_other_shops")
PARAMS_OPTIONAL = ("min_shared_images",)
PLACEHOLDERS = ("kinds", "shops", "others")
KINDS = ("phone", "address", "licence", "image")


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> SellerNetworkRule:
    kinds: dict[str, tuple[str, str]] = {}
    for kind, item in fields["kinds"].fields(optional=KINDS).items():
        pair = item.fields(required=("zh", "en"))
        kinds[kind] = (pair["zh"].text(), pair["en"].text())
    images = fields.get("min_shared_images")
    return SellerNetworkRule(
        text,
        kinds,
        fields["min_other_shops"].integer(minimum=1),
        images.integer(minimum=1) if images is not None else 2,
    )
