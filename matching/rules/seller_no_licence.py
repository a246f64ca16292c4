"""SELLER_NO_LICENCE: see matching.rules.seller_signals.SellerNoLicenceRule."""

from __future__ import annotations

from matching.rules.base import RuleText, Shared
from matching.rules.seller_signals import SellerNoLicenceRule
from matching.yaml_schema import Node

RULE_ID = "SELLER_NO_LICENCE"
PARAMS_REQUIRED: tuple[str, ...] = ()
PARAMS_OPTIONAL: tuple[str, ...] = ()
PLACEHOLDERS = ("seller_name",)


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> SellerNoLicenceRule:
    return SellerNoLicenceRule(text)
