"""CCC_MISSING: a product in the compulsory-certification catalogue offered with no sign of CCC.

Fires when the listing's category needs CCC on the crawl day and neither the title, the
attributes (keys or values) nor the description mention CCC/3C or give a certificate number.
Any claimed number, valid or not, stops this rule: a wrong number is CCC_NUMBER_INVALID's case.
"""

from __future__ import annotations

from marketguard.models import Flag
from matching.catalogue import Category
from matching.rules.base import ListingView, RuleText, Shared
from matching.rules.ccc_certificate import CccScanner
from matching.text import shorten
from matching.yaml_schema import Node

RULE_ID = "CCC_MISSING"
PARAMS_REQUIRED: tuple[str, ...] = ()
PARAMS_OPTIONAL = ("snippet_chars",)
PLACEHOLDERS = ("category_id", "category_name", "ccc_since")


class CccMissingRule:
    rule_id = RULE_ID

    def __init__(self, text: RuleText, scanner: CccScanner, snippet_chars: int = 60) -> None:
        self.text = text
        self.scanner = scanner
        self.snippet_chars = snippet_chars

    def applies_to(self, category: Category | None) -> bool:
        return category is not None and category.ccc_required

    def check(self, ctx: ListingView) -> Flag | None:
        category = ctx.category
        if category is None or not category.ccc_required_on(ctx.crawl_date):
            return None
        facts = self.scanner.facts(ctx)
        if facts.mentioned or facts.numbers or self.scanner.has_bare_number(ctx):
            return None
        # Nothing "triggered" here but an absence; the title is what the officer compares.
        snippet = shorten(ctx.title, self.snippet_chars) or category.name
        since = category.ccc_since.isoformat() if category.ccc_since else "—"
        return self.text.flag(
            snippet=snippet,
            field="title",
            category_id=category.id,
            category_name=category.name,
            ccc_since=since,
        )


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> CccMissingRule:
    chars = fields["snippet_chars"].integer(minimum=10) if "snippet_chars" in fields else 60
    return CccMissingRule(text, shared.scanner, chars)
