"""CCC_ABOLISHED_MARK: a CCC mark with a suffix abolished in 2018 (CCC+S, S&E, EMC, F).

Since 2018 the CCC mark carries no suffix; "CCC(S&E)" or "3C-EMC" on a listing shows an old
label reused, or a forger copying an outdated pattern. The suffixes come from rules.yaml.
"""

from __future__ import annotations

import re

from marketguard.models import Flag
from matching.rules.base import ListingView, RuleText, Shared
from matching.text import WordFinder, alternation, both_widths, snippet_around
from matching.yaml_schema import Node

RULE_ID = "CCC_ABOLISHED_MARK"
PARAMS_REQUIRED = ("marks", "suffixes")
PARAMS_OPTIONAL = ("context_chars",)
PLACEHOLDERS = ("mark",)


class CccAbolishedMarkRule:
    rule_id = RULE_ID

    def __init__(
        self, text: RuleText, *, marks: tuple[str, ...], suffixes: tuple[str, ...], context: int
    ) -> None:
        self.text = text
        self.context = context
        self._marks = WordFinder(dict.fromkeys(marks, True))
        joiner = f"[\\s{both_widths('()[]+-_/')}（）【】]{{0,3}}"
        suffix = "|".join(re.escape(s) for s in sorted(suffixes, key=len, reverse=True))
        self._mark = re.compile(
            f"(?<![0-9A-Za-z])(?:{alternation(marks)}){joiner}(?:{suffix})(?![A-Za-z&+])",
            re.IGNORECASE,
        )

    def check(self, ctx: ListingView) -> Flag | None:
        for field, text, text_f in ctx.text_fields:
            # The literal scan for CCC/3C is far cheaper than the pattern's lookbehind.
            m = self._mark.search(text_f) if self._marks.search(text_f) else None
            if m is not None:
                return self.text.flag(
                    snippet=snippet_around(text, *m.span(), self.context),
                    field=field,
                    mark=text[m.start() : m.end()],
                )
        joined = "\0".join(a[3] for a in ctx.attributes)
        if not (joined and self._marks.search(joined)):
            return None
        for key, _, value, value_f in ctx.attributes:
            m = self._mark.search(value_f)
            if m is not None:
                return self.text.flag(
                    snippet=f"{key}: {value}",
                    field=f"attributes.{key}",
                    mark=value[m.start() : m.end()],
                )
        return None


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> CccAbolishedMarkRule:
    return CccAbolishedMarkRule(
        text,
        marks=fields["marks"].texts(non_empty=True),
        suffixes=fields["suffixes"].texts(non_empty=True),
        context=fields["context_chars"].integer(minimum=0) if "context_chars" in fields else 12,
    )
