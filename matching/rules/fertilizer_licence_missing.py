"""FERTILIZER_LICENCE_MISSING: a fertilizer offered without a production licence or registration
number.

Compound fertilizer needs an industrial production licence (XK13-xxx-xxxxx); other fertilizers a
registration (农肥(2019)准字xxxx号 and the like; formats UNCONFIRMED, so the patterns live in
rules.yaml). GB 18382-2021 puts the number on the label; a listing showing none is a lead.
"""

from __future__ import annotations

import re

from marketguard.models import Flag
from matching.catalogue import Category
from matching.rules.base import ListingView, RuleText, Shared
from matching.rules.fertilizer import fertilizer_fields
from matching.text import shorten
from matching.yaml_schema import Node

RULE_ID = "FERTILIZER_LICENCE_MISSING"
PARAMS_REQUIRED = ("categories", "patterns")
PARAMS_OPTIONAL: tuple[str, ...] = ()
PLACEHOLDERS = ("category_name",)


class FertilizerLicenceMissingRule:
    rule_id = RULE_ID

    def __init__(
        self, text: RuleText, *, categories: frozenset[str], patterns: tuple[re.Pattern[str], ...]
    ) -> None:
        self.text = text
        self.categories = categories
        self.patterns = patterns

    def applies_to(self, category: Category | None) -> bool:
        return category is not None and category.id in self.categories

    def check(self, ctx: ListingView) -> Flag | None:
        category = ctx.category
        if category is None or category.id not in self.categories:
            return None
        for _, _, text_f in fertilizer_fields(ctx):
            if any(p.search(text_f) for p in self.patterns):
                return None
        return self.text.flag(
            snippet=shorten(ctx.title, 60), field="title", category_name=category.name
        )


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> FertilizerLicenceMissingRule:
    patterns = []
    for node in fields["patterns"].items(non_empty=True):
        try:
            patterns.append(re.compile(node.text(), re.IGNORECASE))
        except re.error as exc:
            node.fail(f"not a valid regular expression: {exc}")
    return FertilizerLicenceMissingRule(
        text,
        categories=frozenset(fields["categories"].texts(non_empty=True)),
        patterns=tuple(patterns),
    )
