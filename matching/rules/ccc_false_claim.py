"""CCC_FALSE_CLAIM: a certification claim that cannot be true.

Three forms, each from data: (1) a product in a compulsory category said to be exempt
("免3C", "无需3C认证", "不属于3C目录"): CCC has no exemption for sale; (2) a CCC claim (words, a
number or the mark in a photo) on a product the catalogue lists as outside CCC (fertilizer,
diapers, baby bottles ...), for which no CCC certificate is issued; (3) a claim made for a
category before its CCC start date is not checked (the claim is merely early, not false).
"""

from __future__ import annotations

import re

from marketguard.models import Flag
from matching.catalogue import Category
from matching.rules.base import ListingView, RuleText, Shared
from matching.rules.ccc_certificate import CccScanner
from matching.text import WordFinder, alternation, both_widths, snippet_around
from matching.yaml_schema import Node

RULE_ID = "CCC_FALSE_CLAIM"
PARAMS_REQUIRED = ("exemption_before", "exemption_after", "mention_words", "kinds")
PARAMS_OPTIONAL = ("context_chars",)
PLACEHOLDERS = ("claim", "category_name", "kind")


class CccFalseClaimRule:
    rule_id = RULE_ID

    def __init__(
        self,
        text: RuleText,
        scanner: CccScanner,
        *,
        exemption_before: tuple[str, ...],
        exemption_after: tuple[str, ...],
        mention_words: tuple[str, ...],
        kinds: dict[str, tuple[str, str]],
        context_chars: int,
    ) -> None:
        self.text = text
        self.scanner = scanner
        self.kinds = kinds
        self.context_chars = context_chars
        # A literal scan finds the CCC words; small anchored patterns then look just before
        # ("免3C") and just after ("3C认证：不需要") each one.
        self._mention = WordFinder(dict.fromkeys(mention_words, True))
        gap = f"[\\s{both_widths(':-')}认证办理强制性产品目录范围]{{0,6}}"
        self._before = re.compile(f"(?:{alternation(exemption_before)}){gap}$", re.IGNORECASE)
        self._after = re.compile(f"{gap}(?:{alternation(exemption_after)})", re.IGNORECASE)
        self._reach = max(len(w) for w in exemption_before) + 6

    def applies_to(self, category: Category | None) -> bool:
        return category is not None

    def check(self, ctx: ListingView) -> Flag | None:
        category = ctx.category
        if category is None:
            return None
        if category.ccc_required_on(ctx.crawl_date):
            fields = ctx.text_fields
            # The CCC scanner already found every CCC word in the texts: look around those.
            for index, start, end, _ in self.scanner.facts(ctx).mentions:
                field, text, text_f = fields[index]
                span = self._around(text_f, start, end)
                if span is not None:
                    return self._flag(
                        "exempt",
                        field,
                        snippet_around(text, *span, self.context_chars),
                        text[span[0] : span[1]],
                        category.name,
                    )
            # One look at all pairs; the loop below only says which attribute it was.
            joined = "\0".join(f"{a[1]}:{a[3]}" for a in ctx.attributes)
            if not joined or self._exemption(joined) is None:
                return None
            for key, key_f, value, value_f in ctx.attributes:
                pair = f"{key_f}:{value_f}"
                span = self._exemption(pair)
                if span is not None:
                    claim = pair[span[0] : span[1]]
                    return self._flag(
                        "exempt", f"attributes.{key}", f"{key}: {value}", claim, category.name
                    )
            return None
        if category.ccc_required:
            return None  # a compulsory category before its start date: an early claim is fine
        for image in ctx.context.images:
            if image.ccc_mark:
                return self._flag("mark", f"image:{image.url}", image.url, "CCC", category.name)
        facts = self.scanner.facts(ctx)
        if facts.numbers:
            number = facts.numbers[0]
            return self._flag("claim", number.field, number.text, number.text, category.name)
        if facts.mentioned:
            for field, text, text_f in ctx.text_fields:
                if self.scanner.mentions(text_f):
                    return self._flag("claim", field, text[:60], "3C/CCC", category.name)
            return self._flag("claim", "attributes", "3C/CCC", "3C/CCC", category.name)
        return None

    def _exemption(self, text_f: str) -> tuple[int, int] | None:
        """The span of an exemption claim around a CCC word, or None."""
        for hit in self._mention.finditer(text_f):
            span = self._around(text_f, hit.start, hit.end)
            if span is not None:
                return span
        return None

    def _around(self, text_f: str, start: int, end: int) -> tuple[int, int] | None:
        m = self._before.search(text_f, max(0, start - self._reach), start)
        if m is not None:
            return m.start(), end
        m = self._after.match(text_f, end)
        if m is not None:
            return start, m.end()
        return None

    def _flag(self, kind: str, field: str, snippet: str, claim: str, name: str) -> Flag:
        zh, en = self.kinds[kind]
        return self.text.flag(
            snippet=snippet,
            field=field,
            claim=claim,
            category_name=name,
            kind=zh,
            en={"kind": en},
        )


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> CccFalseClaimRule:
    kinds_node = fields["kinds"].fields(required=("exempt", "claim", "mark"))
    kinds = {}
    for kind in ("exempt", "claim", "mark"):
        pair = kinds_node[kind].fields(required=("zh", "en"))
        kinds[kind] = (pair["zh"].text(), pair["en"].text())
    return CccFalseClaimRule(
        text,
        shared.scanner,
        exemption_before=fields["exemption_before"].texts(non_empty=True),
        exemption_after=fields["exemption_after"].texts(non_empty=True),
        mention_words=fields["mention_words"].texts(non_empty=True),
        kinds=kinds,
        context_chars=fields["context_chars"].integer(minimum=0)
        if "context_chars" in fields
        else 12,
    )
