"""Reading a fertilizer listing: its licence or registration number, its N-P2O5-K2O grade and the
total nutrient it claims. Shared by the three FERTILIZER_* rules."""

from __future__ import annotations

import re
from typing import NamedTuple

from matching.rules.base import ListingView

# 15-15-15, 15：15：15, 18-8-16 (the N-P2O5-K2O grade). Dates (2024-05-01) are not grades: each
# part has at most two digits and no fourth part follows.
# The guard against a longer number sits after the first digit, so the regex engine can skip
# to digits instead of trying the lookbehind at every position.
GRADE = re.compile(
    r"(\d(?<![0-9.\-]\d)\d?(?:\.\d)?)\s*[-－—–:：/]\s*(\d{1,2}(?:\.\d)?)\s*[-－—–:：/]\s*"
    r"(\d{1,2}(?:\.\d)?)(?![0-9.]|\s*[-－—–:：/]\s*\d)"
)
# 总养分≥45%, 养分含量：48%, 总养分含量大于等于51%
TOTAL = re.compile(
    r"(?:总养分|养分总量|总养分含量|养分含量|有效养分|总有效养分|N\+P2O5\+K2O)"
    r"[^0-9%]{0,8}?(\d{1,3}(?:\.\d+)?)\s*%"
)


class Grade(NamedTuple):
    n: float
    p: float
    k: float
    field: str
    text: str

    @property
    def total(self) -> float:
        return self.n + self.p + self.k


class Claim(NamedTuple):
    value: float
    field: str
    text: str
    start: int  # in the field's folded text
    end: int
    text_f: str  # the whole folded text of the field


def fertilizer_fields(ctx: ListingView) -> list[tuple[str, str, str]]:
    """(field, text, folded) for attributes ("key: value"), title, description, image text;
    worked out once per listing (three rules read them)."""
    fields = ctx.cache.get("fertilizer_fields")
    if fields is None:
        fields = [
            (f"attributes.{k}", f"{k}: {v}", f"{kf}: {vf}") for k, kf, v, vf in ctx.attributes
        ]
        fields.extend(ctx.text_fields)
        ctx.cache["fertilizer_fields"] = fields
    return fields


def grade(ctx: ListingView) -> Grade | None:
    for field, text, text_f in fertilizer_fields(ctx):
        m = GRADE.search(text_f)
        if m is not None:
            n, p, k = (float(g) for g in m.groups())
            return Grade(n, p, k, field, text[m.start() : m.end()])
    return None


def total_claims(ctx: ListingView) -> list[Claim]:
    claims = []
    for field, text, text_f in fertilizer_fields(ctx):
        if "%" not in text_f:  # every claim ends in %; most texts have none
            continue
        for m in TOTAL.finditer(text_f):
            claims.append(
                Claim(
                    float(m.group(1)), field, text[m.start() : m.end()], m.start(), m.end(), text_f
                )
            )
    return claims
