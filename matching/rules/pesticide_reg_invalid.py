"""PESTICIDE_REG_INVALID: a pesticide without a valid registration number.

农药管理条例 (2022): registration numbers are PD or WP plus 8 digits (PD20080005); the temporary
LS/WL numbers ended in 2017. Any registration-like token (two capital letters and digits) or a
number after 登记证号 is checked; a pesticide listing showing none is flagged as "missing" when
``flag_missing`` is on (unregistered pesticide counts as fake pesticide).
"""

from __future__ import annotations

import re

from marketguard.models import Flag
from matching.catalogue import Category
from matching.rules.base import ListingView, RuleText, Shared
from matching.rules.fertilizer import fertilizer_fields
from matching.text import shorten
from matching.yaml_schema import Node

RULE_ID = "PESTICIDE_REG_INVALID"
PARAMS_REQUIRED = ("categories", "valid", "expired_prefixes", "problems", "flag_missing")
PARAMS_OPTIONAL: tuple[str, ...] = ()
PLACEHOLDERS = ("number", "problem")
PROBLEMS = ("missing", "expired", "format")

# A prefix of letters then digits (dashes allowed), e.g. PD20080005, LS2013-0012, WP2010123.
_TOKEN = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2,3})\s?-?\s?(\d[\d\-]{3,14})(?![0-9])")
_AFTER_KEY = re.compile(
    r"(?:农药登记证号?|登记证号|登记号|登记证)[^0-9A-Za-z]{0,6}([0-9A-Za-z\-]{4,20})"
)


class PesticideRegRule:
    rule_id = RULE_ID

    def __init__(
        self,
        text: RuleText,
        *,
        categories: frozenset[str],
        valid: re.Pattern[str],
        expired_prefixes: frozenset[str],
        problems: dict[str, tuple[str, str]],
        flag_missing: bool,
    ) -> None:
        self.text = text
        self.categories = categories
        self.valid = valid
        self.prefixes = expired_prefixes | {"PD", "WP"}
        self.expired = expired_prefixes
        self.problems = problems
        self.flag_missing = flag_missing

    def applies_to(self, category: Category | None) -> bool:
        return category is not None and category.id in self.categories

    def check(self, ctx: ListingView) -> Flag | None:
        category = ctx.category
        if category is None or category.id not in self.categories:
            return None
        found: list[tuple[str, str]] = []  # (number, field)
        for field, _, text_f in fertilizer_fields(ctx):
            for m in _TOKEN.finditer(text_f):
                if m.group(1).upper() in self.prefixes:
                    found.append((m.group(1).upper() + m.group(2), field))
            for m in _AFTER_KEY.finditer(text_f):
                found.append((m.group(1).upper(), field))
        if not found:
            if not self.flag_missing:
                return None
            return self._flag("missing", "title", shorten(ctx.title, 60), "—")
        for number, _ in found:
            if self.valid.fullmatch(number):
                return None  # one valid registration shown: the others may be the licence etc.
        number, field = found[0]
        problem = "expired" if number[:2] in self.expired else "format"
        return self._flag(problem, field, number, number)

    def _flag(self, problem: str, field: str, snippet: str, number: str) -> Flag:
        zh, en = self.problems[problem]
        return self.text.flag(
            snippet=snippet, field=field, number=number, problem=zh, en={"problem": en}
        )


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> PesticideRegRule:
    try:
        valid = re.compile(fields["valid"].text())
    except re.error as exc:
        fields["valid"].fail(f"not a valid regular expression: {exc}")
    problems: dict[str, tuple[str, str]] = {}
    for name, node in fields["problems"].fields(required=PROBLEMS).items():
        pair = node.fields(required=("zh", "en"))
        problems[name] = (pair["zh"].text(), pair["en"].text())
    return PesticideRegRule(
        text,
        categories=frozenset(fields["categories"].texts(non_empty=True)),
        valid=valid,
        expired_prefixes=frozenset(p.upper() for p in fields["expired_prefixes"].texts()),
        problems=problems,
        flag_missing=fields["flag_missing"].boolean(),
    )
