"""FERTILIZER_BANNED_WORDING: words GB 18382-2021 keeps out of fertilizer names and labels
(高效, 高产, 全元素 ...): claims of effect a fertilizer label may not make.

Read in the title, the description, attribute values and text from images of listings in the
fertilizer categories. Negated mentions (不含"高效"字样) are rare enough on fertilizer pages not
to be modelled; the word list is in rules.yaml.
"""

from __future__ import annotations

from marketguard.models import Flag
from matching.catalogue import Category
from matching.rules.base import ListingView, RuleText, Shared
from matching.rules.fertilizer import fertilizer_fields
from matching.text import WordFinder, snippet_around
from matching.yaml_schema import Node

RULE_ID = "FERTILIZER_BANNED_WORDING"
PARAMS_REQUIRED = ("categories", "words")
PARAMS_OPTIONAL = ("false_friends", "context_chars")
PLACEHOLDERS = ("terms",)


class FertilizerBannedWordingRule:
    rule_id = RULE_ID

    def __init__(
        self,
        text: RuleText,
        *,
        categories: frozenset[str],
        words: tuple[str, ...],
        false_friends: tuple[str, ...],
        context_chars: int,
    ) -> None:
        self.text = text
        self.categories = categories
        self._words = WordFinder(dict.fromkeys(false_friends, None) | {w: w for w in words})
        self.context_chars = context_chars

    def applies_to(self, category: Category | None) -> bool:
        return category is not None and category.id in self.categories

    def check(self, ctx: ListingView) -> Flag | None:
        category = ctx.category
        if category is None or category.id not in self.categories:
            return None
        terms: dict[str, tuple[str, str]] = {}
        for field, text, text_f in fertilizer_fields(ctx):
            for hit in self._words.finditer(text_f):
                if hit.value is not None and hit.value not in terms:
                    snippet = snippet_around(text, hit.start, hit.end, self.context_chars)
                    terms[hit.value] = (field, snippet)
        if not terms:
            return None
        field, snippet = next(iter(terms.values()))
        return self.text.flag(snippet=snippet, field=field, terms="、".join(terms))


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> FertilizerBannedWordingRule:
    return FertilizerBannedWordingRule(
        text,
        categories=frozenset(fields["categories"].texts(non_empty=True)),
        words=fields["words"].texts(non_empty=True),
        false_friends=fields["false_friends"].texts() if "false_friends" in fields else (),
        context_chars=fields["context_chars"].integer(minimum=0)
        if "context_chars" in fields
        else 10,
    )
