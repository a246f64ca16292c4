"""COUNTERFEIT_WORDING: trade slang for fakes (高仿, A货, 原单, 1:1 ...) in title or description.

Strong words flag on their own (severity from the rule). Weak words (同款, 平替, 尾货处理) are
everyday shop talk far more often than they are signals, so by default they only flag when
another rule has already flagged the listing: they add an explanation, never a new notice.

Negations are skipped: a seller writing 拒绝高仿 / 谨防高仿 / 非A货 is disowning the word. A
negation counts when it stands in the same clause within ``negation_window`` characters before
the word, with no other slang word in between.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from marketguard.models import Flag
from matching.rules.base import SEVERITIES, ListingView, RuleText, Shared
from matching.text import WordFinder, alternation, both_widths, snippet_around, word_key
from matching.yaml_schema import Node

RULE_ID = "COUNTERFEIT_WORDING"
PARAMS_REQUIRED = ("strong_words", "negations", "negation_window", "context_chars")
PARAMS_OPTIONAL = ("weak", "false_friends", "negation_false_friends", "negations_after")
PLACEHOLDERS = ("terms",)
WEAK_PLACEHOLDERS = ("terms", "signals")

# The last clause break in a window (width-folded text): a negation does not reach across it.
# 、 is not a break: it enumerates (拒绝高仿、A货).
_LAST_BREAK = re.compile(f".*[{both_widths(',.;:!?')}。\\n\\r]", re.DOTALL)
# What may stand between two slang words of one enumeration.
_JOINER = re.compile(f"[\\s{both_widths('/')}、和与及或]*")


@dataclass(frozen=True, slots=True)
class WeakWords:
    text: RuleText
    words: tuple[str, ...]
    flag_alone: bool
    corroborated_by: frozenset[str]


class CounterfeitWordingRule:
    rule_id = RULE_ID

    def __init__(
        self,
        text: RuleText,
        *,
        strong_words: tuple[str, ...],
        weak: WeakWords | None,
        false_friends: tuple[str, ...],
        negations: tuple[str, ...],
        negation_false_friends: tuple[str, ...],
        negations_after: tuple[str, ...],
        negation_window: int,
        context_chars: int,
    ) -> None:
        self.text = text
        self.weak = weak
        weak_words = weak.words if weak else ()
        # value: True strong, False weak, None a false friend ("高仿真" on a toy, "原单价"),
        # which is longer than the word inside it and so shadows it.
        vocabulary: dict[str, bool | None] = dict.fromkeys(false_friends, None)
        vocabulary |= dict.fromkeys(weak_words, False)
        vocabulary |= dict.fromkeys(strong_words, True)
        self._words = WordFinder(vocabulary)
        self._terms = {word_key(w): w for w in strong_words + weak_words}
        # "非常高仿" is no negation: 非常 shadows 非.
        self._negations = WordFinder(
            dict.fromkeys(negation_false_friends, False) | dict.fromkeys(negations, True)
        )
        self._after = (
            re.compile(f"\\s*(?:{alternation(negations_after)})", re.IGNORECASE)
            if negations_after
            else None
        )
        self.window = negation_window
        self.context_chars = context_chars

    def check(self, ctx: ListingView) -> Flag | None:
        strong: dict[str, tuple[str, str]] = {}  # term -> (field, snippet), first seen
        weak: dict[str, tuple[str, str]] = {}
        for field, text, text_f in (
            ("title", ctx.title, ctx.title_f),
            ("description", ctx.description, ctx.description_f),
        ):
            floor = 0
            negated = False
            for hit in self._words.finditer(text_f):
                start, end = hit.start, hit.end
                if hit.value is None:
                    negated = False
                elif negated and _JOINER.fullmatch(text_f, floor, start):
                    pass  # 拒绝高仿、A货: the negation covers the whole enumeration
                elif not (negated := self._negated(text_f, start, end, floor)):
                    hits = strong if hit.value else weak
                    term = self._terms[hit.key]
                    if term not in hits:
                        hits[term] = (field, snippet_around(text, start, end, self.context_chars))
                floor = end
        if strong:
            field, snippet = next(iter(strong.values()))
            return self.text.flag(snippet=snippet, field=field, terms="、".join(strong))
        if weak and self.weak is not None:
            signals = list(
                dict.fromkeys(
                    f.rule_id for f in ctx.flags if f.rule_id in self.weak.corroborated_by
                )
            )
            if signals or self.weak.flag_alone:
                field, snippet = next(iter(weak.values()))
                return self.weak.text.flag(
                    snippet=snippet, field=field, terms="、".join(weak), signals=", ".join(signals)
                )
        return None

    def _negated(self, text_f: str, start: int, end: int, floor: int) -> bool:
        lo = max(floor, start - self.window)
        cut = _LAST_BREAK.match(text_f, lo, start)
        if cut:
            lo = cut.end()
        if any(hit.value for hit in self._negations.finditer(text_f, lo, start)):
            return True
        return self._after is not None and self._after.match(text_f, end) is not None


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> CounterfeitWordingRule:
    strong_words = fields["strong_words"].texts(non_empty=True)
    weak = _weak(fields["weak"], text, shared) if "weak" in fields else None
    if weak is not None:
        strong_keys = {word_key(w) for w in strong_words}
        for word in weak.words:
            if word_key(word) in strong_keys:
                fields["weak"].child("words").fail(f"{word!r} is also a strong word")

    def optional(name: str) -> tuple[str, ...]:
        return fields[name].texts() if name in fields else ()

    return CounterfeitWordingRule(
        text,
        strong_words=strong_words,
        weak=weak,
        false_friends=optional("false_friends"),
        negations=fields["negations"].texts(non_empty=True),
        negation_false_friends=optional("negation_false_friends"),
        negations_after=optional("negations_after"),
        negation_window=fields["negation_window"].integer(minimum=1),
        context_chars=fields["context_chars"].integer(minimum=0),
    )


def _weak(node: Node, strong: RuleText, shared: Shared) -> WeakWords:
    f = node.fields(
        required=("severity", "words", "reason", "reason_en", "flag_alone"),
        optional=("corroborated_by",),
    )
    corroborated_by = f["corroborated_by"].texts() if "corroborated_by" in f else ()
    for index, rule_id in enumerate(corroborated_by):
        if rule_id not in shared.rule_ids or rule_id == RULE_ID:
            others = ", ".join(sorted(shared.rule_ids - {RULE_ID}))
            f["corroborated_by"].child(index).fail(f"unknown rule {rule_id!r} (one of: {others})")
    flag_alone = f["flag_alone"].boolean()
    if not flag_alone and not corroborated_by:
        node.fail("flag_alone is false but corroborated_by names no rule: weak words never flag")
    return WeakWords(
        text=RuleText(
            rule_id=RULE_ID,
            severity=f["severity"].choice(SEVERITIES),  # type: ignore[arg-type]
            reason=f["reason"].template(WEAK_PLACEHOLDERS),
            reason_en=f["reason_en"].template(WEAK_PLACEHOLDERS),
            legal_basis=strong.legal_basis,
        ),
        words=f["words"].texts(non_empty=True),
        flag_alone=flag_alone,
        corroborated_by=frozenset(corroborated_by),
    )
