"""CHILD_SEAT_CUSHION: 儿童安全坐垫 and 便携/简易 "car seats", named by SAMR in 2024.

Products sold as child car seats that are cushions or strap harnesses: not a child restraint
under GB 27887 and without CCC. Fires on a cushion word anywhere in the title or description, or
on a 便携/简易 qualifier standing within ``window`` characters before a car-seat noun (so
"儿童安全座椅 车载便携" — portable said of a real seat, after the noun — does not fire).
"""

from __future__ import annotations

import re

from marketguard.models import Flag
from matching.catalogue import Category
from matching.rules.base import ListingView, RuleText, Shared
from matching.text import WordFinder, alternation, snippet_around
from matching.yaml_schema import Node

RULE_ID = "CHILD_SEAT_CUSHION"
PARAMS_REQUIRED = ("cushion_words", "qualifiers", "seat_nouns", "window")
PARAMS_OPTIONAL = ("false_friends", "context_chars", "categories")
PLACEHOLDERS = ("terms",)


class ChildSeatCushionRule:
    rule_id = RULE_ID

    def __init__(
        self,
        text: RuleText,
        *,
        cushion_words: tuple[str, ...],
        qualifiers: tuple[str, ...],
        seat_nouns: tuple[str, ...],
        window: int,
        false_friends: tuple[str, ...],
        context_chars: int,
        categories: frozenset[str] = frozenset(),
    ) -> None:
        self.text = text
        self.categories = categories
        self._cushion = WordFinder(
            dict.fromkeys(false_friends, None) | {w: w for w in cushion_words}
        )
        self._portable = re.compile(
            f"(?:{alternation(qualifiers)})[^，,。；;！!？?\\s]{{0,{window}}}?"
            f"(?:{alternation(seat_nouns)})"
        )
        self.context_chars = context_chars

    def applies_to(self, category: Category | None) -> bool:
        return not self.categories or (category is not None and category.id in self.categories)

    def check(self, ctx: ListingView) -> Flag | None:
        if self.categories and (ctx.category is None or ctx.category.id not in self.categories):
            return None
        for field, text, text_f in ctx.text_fields:
            for hit in self._cushion.finditer(text_f):
                if hit.value is not None:
                    return self.text.flag(
                        snippet=snippet_around(text, hit.start, hit.end, self.context_chars),
                        field=field,
                        terms=text[hit.start : hit.end],
                    )
            m = self._portable.search(text_f)
            if m is not None:
                return self.text.flag(
                    snippet=snippet_around(text, *m.span(), self.context_chars),
                    field=field,
                    terms=text[m.start() : m.end()],
                )
        return None


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> ChildSeatCushionRule:
    return ChildSeatCushionRule(
        text,
        cushion_words=fields["cushion_words"].texts(non_empty=True),
        qualifiers=fields["qualifiers"].texts(non_empty=True),
        seat_nouns=fields["seat_nouns"].texts(non_empty=True),
        window=fields["window"].integer(minimum=0),
        false_friends=fields["false_friends"].texts() if "false_friends" in fields else (),
        context_chars=fields["context_chars"].integer(minimum=0)
        if "context_chars" in fields
        else 10,
        categories=frozenset(fields["categories"].texts())
        if "categories" in fields
        else frozenset(),
    )
