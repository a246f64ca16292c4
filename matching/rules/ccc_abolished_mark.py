"""CCC_ABOLISHED_MARK: a CCC mark with a suffix abolished in 2018 (CCC+S, S&E, EMC, F).

Since 2018 the CCC mark carries no suffix; "CCC(S&E)" or "3C-EMC" on a listing shows an old
label reused, or a forger copying an outdated pattern. The suffixes come from rules.yaml.
"""

from __future__ import annotations

import re

from marketguard.models import Flag
from matching.rules.base import ListingView, RuleText, Shared
from matching.rules.ccc_certificate import CccScanner
from matching.text import WordFinder, both_widths, snippet_around, word_key
from matching.yaml_schema import Node

RULE_ID = "CCC_ABOLISHED_MARK"
PARAMS_REQUIRED = ("marks", "suffixes")
PARAMS_OPTIONAL = ("context_chars",)
PLACEHOLDERS = ("mark",)


class CccAbolishedMarkRule:
    rule_id = RULE_ID

    def __init__(
        self,
        text: RuleText,
        *,
        marks: tuple[str, ...],
        suffixes: tuple[str, ...],
        context: int,
        scanner: CccScanner | None = None,
    ) -> None:
        self.text = text
        self.context = context
        self.scanner = scanner
        self._mark_keys = frozenset(word_key(m) for m in marks)
        joiner = f"[\\s{both_widths('()[]+-_/')}（）【】]{{0,3}}"
        suffix = "|".join(re.escape(s) for s in sorted(suffixes, key=len, reverse=True))
        # A literal scan finds CCC/3C (with their edge guards); the suffix is matched right after.
        self._marks = WordFinder(dict.fromkeys(marks, True))
        self._suffix = re.compile(f"{joiner}(?:{suffix})(?![A-Za-z&+])", re.IGNORECASE)

    def _flag(self, field: str, text: str, start: int, end: int) -> Flag:
        return self.text.flag(
            snippet=snippet_around(text, start, end, self.context),
            field=field,
            mark=text[start:end],
        )

    def _find(self, text_f: str) -> tuple[int, int] | None:
        for hit in self._marks.finditer(text_f):
            m = self._suffix.match(text_f, hit.end)
            if m is not None:
                return hit.start, m.end()
        return None

    def check(self, ctx: ListingView) -> Flag | None:
        fields = ctx.text_fields
        if self.scanner is not None:
            # The CCC scanner already found every CCC word in the texts: look right after those.
            for index, start, end, key in self.scanner.facts(ctx).mentions:
                if key in self._mark_keys:
                    m = self._suffix.match(fields[index][2], end)
                    if m is not None:
                        field, text, _ = fields[index]
                        return self._flag(field, text, start, m.end())
        else:
            for field, text, text_f in fields:
                span = self._find(text_f)
                if span is not None:
                    return self._flag(field, text, *span)
        if not ctx.attributes or self._find(ctx.attribute_values_f) is None:
            return None  # the usual case, in one scan; the loop below says which attribute
        for key, _, value, value_f in ctx.attributes:
            span = self._find(value_f)
            if span is not None:
                return self.text.flag(
                    snippet=f"{key}: {value}",
                    field=f"attributes.{key}",
                    mark=value[span[0] : span[1]],
                )
        return None


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> CccAbolishedMarkRule:
    return CccAbolishedMarkRule(
        text,
        marks=fields["marks"].texts(non_empty=True),
        suffixes=fields["suffixes"].texts(non_empty=True),
        context=fields["context_chars"].integer(minimum=0) if "context_chars" in fields else 12,
        scanner=shared.scanner,
    )
