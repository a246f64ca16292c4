"""One module per rule. RULE_MODULES is also the order rules run in: COUNTERFEIT_WORDING comes
last because its weak words look at the flags the other rules raised."""

from __future__ import annotations

from types import ModuleType

from matching.rules import ccc_missing, ccc_number, counterfeit_wording, price_anomaly, seller_risk

RULE_MODULES: tuple[ModuleType, ...] = (
    ccc_missing,
    ccc_number,
    price_anomaly,
    seller_risk,
    counterfeit_wording,
)
RULE_IDS: tuple[str, ...] = tuple(module.RULE_ID for module in RULE_MODULES)
