"""FERTILIZER_NUTRIENT_MISMATCH: nutrient claims that do not add up (GB/T 15063-2020).

Compound fertilizer grades: total N+P2O5+K2O at least 40% (high), 30% (medium), 25% (low
concentration). Fires when (in this order):
- ``secondary``: the total is said to include secondary or trace elements (含中微量元素), which
  GB/T 15063 does not count;
- ``total_exceeds``: a claimed total is above the grade's N+P2O5+K2O (beyond ``tolerance``);
- ``concentration``: 高浓度/中浓度 claimed for a grade below that class's minimum;
- ``below_minimum``: the grade's total is below the lowest class (25%);
- ``absurd``: the grade or a claim adds up to more than 100%.
"""

from __future__ import annotations

import re

from marketguard.models import Flag
from matching.catalogue import Category
from matching.rules.base import ListingView, RuleText, Shared
from matching.rules.fertilizer import grade, total_claims
from matching.text import WordFinder, snippet_around
from matching.yaml_schema import Node

RULE_ID = "FERTILIZER_NUTRIENT_MISMATCH"
PARAMS_REQUIRED = (
    "categories",
    "problems",
    "concentration_minimum",
    "secondary_words",
    "secondary_window",
    "tolerance",
)
PARAMS_OPTIONAL = ("secondary_false_friends", "separate_words")
PLACEHOLDERS = ("problem", "claim")
PROBLEMS = ("secondary", "total_exceeds", "concentration", "below_minimum", "absurd")
PROBLEM_PLACEHOLDERS = ("claimed", "grade", "total", "minimum", "level")
# A clause break between a total claim and a secondary element: they are separate statements.
_BREAK = re.compile("[，,。；;！!？?\n]")


class FertilizerNutrientRule:
    rule_id = RULE_ID

    def __init__(
        self,
        text: RuleText,
        *,
        categories: frozenset[str],
        problems: dict[str, tuple[str, str]],
        concentration_minimum: dict[str, float],
        secondary_words: tuple[str, ...],
        secondary_window: int,
        tolerance: float,
        secondary_false_friends: tuple[str, ...] = (),
        separate_words: tuple[str, ...] = (),
    ) -> None:
        self.text = text
        self.categories = categories
        self.problems = problems
        self.concentration_minimum = concentration_minimum
        self._secondary = WordFinder(
            dict.fromkeys(secondary_false_friends, None) | dict.fromkeys(secondary_words, True)
        )
        self._separate = WordFinder(dict.fromkeys(separate_words, True)) if separate_words else None
        self._levels = WordFinder({w: w for w in concentration_minimum})
        self.secondary_window = secondary_window
        self.tolerance = tolerance
        self.lowest = min(concentration_minimum.values()) if concentration_minimum else 0.0

    def applies_to(self, category: Category | None) -> bool:
        return category is not None and category.id in self.categories

    def check(self, ctx: ListingView) -> Flag | None:
        category = ctx.category
        if category is None or category.id not in self.categories:
            return None
        npk = grade(ctx)
        claims = total_claims(ctx)
        for claim in claims:
            # Inside the claim ("总养分(含微量元素)≥55%") or right after it ("≥45%（含钙镁）"), up
            # to a clause break or a word that sets them apart ("另含", "不计入总养分").
            end = min(len(claim.text_f), claim.end + self.secondary_window)
            for hit in self._secondary.finditer(claim.text_f, claim.start, end):
                if hit.value is None:
                    continue  # a false friend: 硫酸钾 names the potash, not a nutrient
                between = claim.text_f[claim.end : hit.start] if hit.start > claim.end else ""
                if _BREAK.search(between) or (
                    self._separate is not None
                    and self._separate.search(claim.text_f, claim.start, end) is not None
                ):
                    break
                snippet = snippet_around(claim.text_f, claim.start, end, 4)
                return self._flag("secondary", claim.field, snippet, claimed=claim.value)
        if npk is not None:
            for claim in claims:
                if claim.value > npk.total + self.tolerance:
                    return self._flag(
                        "total_exceeds", claim.field, claim.text, claimed=claim.value, npk=npk
                    )
        known = npk.total if npk is not None else max((c.value for c in claims), default=None)
        if known is not None and known > 100:
            field = npk.field if npk is not None else claims[0].field
            return self._flag(
                "absurd", field, npk.text if npk else claims[0].text, npk=npk, claimed=known
            )
        if npk is not None:
            for field, text, text_f in ctx.text_fields:
                for hit in self._levels.finditer(text_f):
                    minimum = self.concentration_minimum[hit.value]
                    if npk.total < minimum:
                        return self._flag(
                            "concentration",
                            field,
                            snippet_around(text, hit.start, hit.end, 8),
                            npk=npk,
                            minimum=minimum,
                            level=hit.value,
                        )
            if npk.total < self.lowest:
                return self._flag(
                    "below_minimum", npk.field, npk.text, npk=npk, minimum=self.lowest
                )
        return None

    def _flag(
        self,
        problem: str,
        field: str,
        snippet: str,
        *,
        claimed: float | None = None,
        npk: object = None,
        minimum: float | None = None,
        level: str = "",
    ) -> Flag:
        values = {
            "claimed": f"{claimed:g}" if claimed is not None else "",
            "grade": getattr(npk, "text", ""),
            "total": f"{getattr(npk, 'total', 0):g}" if npk is not None else "",
            "minimum": f"{minimum:g}" if minimum is not None else "",
            "level": level,
        }
        zh, en = self.problems[problem]
        return self.text.flag(
            snippet=snippet,
            field=field,
            problem=zh.format(**values),
            claim=snippet,
            en={"problem": en.format(**values)},
        )


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> FertilizerNutrientRule:
    problems: dict[str, tuple[str, str]] = {}
    for name, node in fields["problems"].fields(required=PROBLEMS).items():
        pair = node.fields(required=("zh", "en"))
        problems[name] = (
            pair["zh"].template(PROBLEM_PLACEHOLDERS),
            pair["en"].template(PROBLEM_PLACEHOLDERS),
        )
    minimum = {
        word: float(node.number())
        for word, node in fields["concentration_minimum"]
        .fields(optional=tuple(fields["concentration_minimum"].value or ()))
        .items()
    }
    return FertilizerNutrientRule(
        text,
        categories=frozenset(fields["categories"].texts(non_empty=True)),
        problems=problems,
        concentration_minimum=minimum,
        secondary_words=fields["secondary_words"].texts(non_empty=True),
        secondary_window=fields["secondary_window"].integer(minimum=0),
        tolerance=float(fields["tolerance"].number()),
        secondary_false_friends=fields["secondary_false_friends"].texts()
        if "secondary_false_friends" in fields
        else (),
        separate_words=fields["separate_words"].texts() if "separate_words" in fields else (),
    )
