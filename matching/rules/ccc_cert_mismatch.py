"""CCC_CERT_MISMATCH: a real certificate, but not for this product.

Checked against the registry record of a claimed number, in this order: the product scope
(the certificate's product text names none of the listing category's keywords, e.g. an adapter
certificate on a power bank), the model (the listing's 型号 is not among the certified models)
and the holder (the listing's maker resembles neither the holder nor the certified maker).
Each check runs only when both sides are known.
"""

from __future__ import annotations

from rapidfuzz import fuzz

from marketguard.models import Flag
from matching.context import MatchContext
from matching.rules.base import ListingView, RuleText, Shared
from matching.rules.ccc_certificate import CccScanner, CertNumber
from matching.rules.ccc_registry import (
    company_key,
    listing_maker,
    listing_model,
    model_key,
    registry_hits,
)
from matching.text import word_key
from matching.yaml_schema import Node

RULE_ID = "CCC_CERT_MISMATCH"
PARAMS_REQUIRED = ("checks", "holder_similarity")
PARAMS_OPTIONAL = ("min_model_chars",)
PLACEHOLDERS = ("number", "what", "listed", "certified")
CHECKS = ("scope", "model", "holder")


class CccCertMismatchRule:
    rule_id = RULE_ID

    def __init__(
        self,
        text: RuleText,
        scanner: CccScanner,
        *,
        checks: dict[str, tuple[str, str]],
        holder_similarity: float,
        min_model_chars: int,
    ) -> None:
        self.text = text
        self.scanner = scanner
        self.checks = checks
        self.holder_similarity = holder_similarity
        self.min_model_chars = min_model_chars

    def applies_with(self, context: MatchContext) -> bool:
        return bool(context.registry)

    def check(self, ctx: ListingView) -> Flag | None:
        for number, record in registry_hits(ctx, self.scanner):
            if record is None:
                continue
            category = ctx.category
            if "scope" in self.checks and category is not None and record.product:
                product = word_key(record.product)
                words = (*category.keywords, *category.ccc_product_names, category.name)
                if not any(word_key(w) in product for w in words):
                    return self._flag("scope", number, category.name, record.product)
            model = listing_model(ctx)
            if "model" in self.checks and record.models and len(model) >= self.min_model_chars:
                key = model_key(model)
                certified = [model_key(m) for m in record.models]
                if not any(
                    c == key or (len(c) >= self.min_model_chars and (c in key or key in c))
                    for c in certified
                ):
                    return self._flag("model", number, model, "、".join(record.models))
            maker = listing_maker(ctx)
            if "holder" in self.checks and maker:
                mine = company_key(maker)
                theirs = [company_key(n) for n in (record.holder, record.maker) if n]
                brand = ctx.brand.casefold()
                if (
                    theirs
                    # The brand in the holder's name ("安克" in 安克创新科技) ties them.
                    and not (len(brand) >= 2 and any(brand in t.casefold() for t in theirs))
                    and all(
                        fuzz.partial_ratio(mine, other) < self.holder_similarity for other in theirs
                    )
                ):
                    return self._flag("holder", number, maker, record.holder)
        return None

    def _flag(self, check: str, number: CertNumber, listed: str, certified: str) -> Flag:
        zh, en = self.checks[check]
        return self.text.flag(
            snippet=f"{number.text}: {listed} ≠ {certified}",
            field=number.field,
            number=number.text,
            what=zh,
            listed=listed,
            certified=certified,
            en={"what": en},
        )


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> CccCertMismatchRule:
    checks: dict[str, tuple[str, str]] = {}
    for check, item in fields["checks"].fields(optional=CHECKS).items():
        pair = item.fields(required=("zh", "en"))
        checks[check] = (pair["zh"].text(), pair["en"].text())
    return CccCertMismatchRule(
        text,
        shared.scanner,
        checks=checks,
        holder_similarity=float(fields["holder_similarity"].number()),
        min_model_chars=fields["min_model_chars"].integer(minimum=1)
        if "min_model_chars" in fields
        else 3,
    )
