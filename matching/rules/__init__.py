"""One module per rule. RULE_MODULES is also the order rules run in: COUNTERFEIT_WORDING comes
last because its weak words look at the flags the other rules raised.

A module offers RULE_ID, PARAMS_REQUIRED, PARAMS_OPTIONAL, PLACEHOLDERS and
``build(fields, text, shared) -> rule`` (a rule has ``rule_id`` and ``check(view) -> Flag|None``);
every RULE_ID needs its block in data/rules.yaml. Image rules (IMAGE_*) join the same way.
"""

from __future__ import annotations

from types import ModuleType

from matching.rules import (
    brand_lookalike,
    ccc_abolished_mark,
    ccc_cert_mismatch,
    ccc_cert_not_found,
    ccc_cert_status,
    ccc_false_claim,
    ccc_missing,
    ccc_number,
    child_seat_cushion,
    counterfeit_wording,
    fertilizer_banned_wording,
    fertilizer_licence_missing,
    fertilizer_nutrient_mismatch,
    image_official_reused,
    image_shared_across_shops,
    maker_info_missing,
    pesticide_reg_invalid,
    price_anomaly,
    price_outlier_peers,
    seller_hotspot_region,
    seller_network,
    seller_no_licence,
    seller_repeat_offender,
    seller_risk,
)

RULE_MODULES: tuple[ModuleType, ...] = (
    ccc_missing,
    ccc_number,
    ccc_false_claim,
    ccc_abolished_mark,
    ccc_cert_not_found,
    ccc_cert_status,
    ccc_cert_mismatch,
    brand_lookalike,
    maker_info_missing,
    fertilizer_licence_missing,
    fertilizer_nutrient_mismatch,
    fertilizer_banned_wording,
    pesticide_reg_invalid,
    child_seat_cushion,
    price_anomaly,
    price_outlier_peers,
    seller_risk,
    seller_no_licence,
    seller_hotspot_region,
    seller_repeat_offender,
    seller_network,
    image_official_reused,
    image_shared_across_shops,
    counterfeit_wording,
)
RULE_IDS: tuple[str, ...] = tuple(module.RULE_ID for module in RULE_MODULES)
