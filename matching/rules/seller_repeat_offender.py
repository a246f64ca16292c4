"""SELLER_REPEAT_OFFENDER: see matching.rules.seller_signals.SellerRepeatOffenderRule."""

from __future__ import annotations

from matching.rules.base import RuleText, Shared
from matching.rules.seller_signals import SellerRepeatOffenderRule
from matching.yaml_schema import Node

RULE_ID = "SELLER_REPEAT_OFFENDER"
PARAMS_REQUIRED: tuple[str, ...] = ()
PARAMS_OPTIONAL: tuple[str, ...] = ()
PLACEHOLDERS = ("seller_name",)


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> SellerRepeatOffenderRule:
    return SellerRepeatOffenderRule(text)
