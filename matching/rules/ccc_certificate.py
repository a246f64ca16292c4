"""Reading CCC (3C) facts out of a listing: is certification mentioned, which numbers are claimed.

Shared by CCC_MISSING and CCC_NUMBER_INVALID so both read a listing the same way. The vocabulary
is the ``ccc_text`` block of rules.yaml; every pattern is built once, here. Keywords are found
with WordFinder (fast literal scan); the few hits are then checked with small anchored regexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from matching.rules.base import ListingView
from matching.text import WordFinder, alternation, both_widths, fold_width, word_key
from matching.yaml_schema import Node

FIELDS_REQUIRED = (
    "mention_words",
    "mention_negations",
    "negative_values",
    "number_words",
    "number_words_ccc_category",
    "number_attribute_keys",
    "number_attribute_keys_ccc_category",
    "number_connectors",
    "min_digits",
)
FIELDS_OPTIONAL = ("mention_false_friends", "number_attribute_key_exclusions", "number_gap")

# Kinds of words the scanner looks for.
_MENTION, _FALSE_FRIEND = "mention", "false_friend"
_EXPLICIT, _GENERIC = "explicit", "generic"  # attribute keys
_KEY_CACHE_SIZE = 4096


class CertNumber(NamedTuple):
    """A certificate number a listing claims, as found."""

    text: str  # exactly as the page wrote it (full-width digits stay full-width)
    token: str  # width-folded, what the checks look at
    field: str  # "title", "description", "attributes.<key>" or "image:<url>" (OCR)


class CccFacts(NamedTuple):
    mentioned: bool  # CCC/3C claimed somewhere, not negated
    numbers: list[CertNumber]  # every certificate number claimed, valid or not
    # Every CCC mention word in ctx.text_fields, negated or not: (field index, start, end, word
    # as listed, lower-case). Other CCC rules read around these instead of scanning again.
    mentions: tuple[tuple[int, int, int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class _Role:
    mention: bool  # claims CCC
    number: bool  # a certificate number may follow, in any category
    ccc_number: bool  # a certificate number may follow, in CCC categories only


class CccScanner:
    def __init__(
        self,
        *,
        mention_words: tuple[str, ...],
        mention_false_friends: tuple[str, ...],
        mention_negations: tuple[str, ...],
        negative_values: tuple[str, ...],
        number_words: tuple[str, ...],
        number_words_ccc_category: tuple[str, ...],
        number_attribute_keys: tuple[str, ...],
        number_attribute_keys_ccc_category: tuple[str, ...],
        number_attribute_key_exclusions: tuple[str, ...],
        number_connectors: str,
        number_gap: int,
        min_digits: int,
    ) -> None:
        # One scan of a text finds mentions and number keywords together. A false friend
        # ("3C数码", role None) is longer than the mention it contains, so it wins there.
        roles: dict[str, list[bool]] = {}
        for words, slot in ((mention_words, 0), (number_words, 1), (number_words_ccc_category, 2)):
            for word in words:
                roles.setdefault(word_key(word), [False, False, False])[slot] = True
        vocabulary: dict[str, _Role | None] = dict.fromkeys(
            (word_key(w) for w in mention_false_friends), None
        )
        vocabulary |= {word: _Role(*flags) for word, flags in roles.items()}
        self._words = WordFinder(vocabulary)
        self._mentions = WordFinder(
            {w: _MENTION for w in mention_words} | {w: _FALSE_FRIEND for w in mention_false_friends}
        )
        # "无3C", "没有 CCC": the negation sits right before the mention.
        self._negations = tuple(fold_width(n) for n in sorted(mention_negations, key=len))
        self._negation_reach = max(len(n) for n in self._negations) + 2
        # "3C认证：无": a short label, a colon, a negative answer that ends there.
        self._negative_answer = re.compile(
            f"[^\\s{both_widths(':,.;!?')}、。]{{0,6}}?\\s*:\\s*(?:{alternation(negative_values)})"
            f"(?=$|[\\s{both_widths(',.;!?)]')}、。】])",
            re.IGNORECASE,
        )
        self._negative_values = frozenset(fold_width(v).strip().lower() for v in negative_values)

        connectors = both_widths(fold_width(number_connectors))
        # The number must follow its keyword across connector characters only (证书编号：, 号码为),
        # so "3C认证 型号A1234567" or "3C认证 电话13800138000" never yield a number.
        # ++ is possessive: "12345678.90" is not cut back to a shorter token to dodge the guard.
        self._number_after_word = re.compile(
            f"[{connectors}]{{0,{number_gap}}}([0-9A-Za-z]++)(?![.,]\\d)"
        )
        self._keys = WordFinder(
            {k: _GENERIC for k in number_attribute_keys_ccc_category}
            | {k: _EXPLICIT for k in number_attribute_keys}
        )
        self._key_exclusions = WordFinder(dict.fromkeys(number_attribute_key_exclusions, True))
        # The lookbehinds come after the first character so the regex engine can still skip
        # ahead to candidate characters instead of trying every position.
        self._token = re.compile(r"[0-9A-Za-z](?<![0-9A-Za-z].)[0-9A-Za-z]*+(?![.,]\d)")
        self._bare_number = re.compile(r"[0-9](?<![0-9].)[0-9]{15}(?![0-9])")
        self.min_digits = min_digits
        # Attribute keys repeat across listings (品牌, 型号, 3C证书编号 ...): classify each once.
        self._key_info: dict[str, tuple[bool, bool, bool]] = {}

    @classmethod
    def from_yaml(cls, node: Node) -> CccScanner:
        f = node.fields(required=FIELDS_REQUIRED, optional=FIELDS_OPTIONAL)

        def optional(name: str) -> tuple[str, ...]:
            return f[name].texts() if name in f else ()

        return cls(
            mention_words=f["mention_words"].texts(non_empty=True),
            mention_false_friends=optional("mention_false_friends"),
            mention_negations=f["mention_negations"].texts(non_empty=True),
            negative_values=f["negative_values"].texts(non_empty=True),
            number_words=f["number_words"].texts(non_empty=True),
            number_words_ccc_category=f["number_words_ccc_category"].texts(),
            number_attribute_keys=f["number_attribute_keys"].texts(non_empty=True),
            number_attribute_keys_ccc_category=f["number_attribute_keys_ccc_category"].texts(),
            number_attribute_key_exclusions=optional("number_attribute_key_exclusions"),
            number_connectors=f["number_connectors"].text(),
            number_gap=f["number_gap"].integer(minimum=0) if "number_gap" in f else 12,
            min_digits=f["min_digits"].integer(minimum=1),
        )

    # -- per listing ------------------------------------------------------------------------

    def facts(self, ctx: ListingView) -> CccFacts:
        """What the listing says about CCC, read in one pass and kept on the context.

        Numbers come in attributes, title, description order. Outside CCC categories only
        explicit CCC/3C wording introduces a number: a fertilizer's "证书编号" belongs to another
        certificate.
        """
        if ctx.ccc_facts is not None:
            return ctx.ccc_facts
        ccc = ctx.category is not None and ctx.category.ccc_required
        numbers: list[CertNumber] = []
        mentioned = False
        key_info = self._key_info
        for key, key_f, value, value_f in ctx.attributes:
            explicit, generic, key_mentions = key_info.get(key_f) or self._key(key_f)
            if explicit or (ccc and generic):
                for m in self._token.finditer(value_f):
                    if self._long_enough(m.group()):
                        numbers.append(
                            CertNumber(value[m.start() : m.end()], m.group(), f"attributes.{key}")
                        )
            if key_mentions and not mentioned:
                # A key such as "3C证书编号" counts unless its value is empty or says "无"/"否".
                answer = value_f.strip().lower()
                mentioned = bool(answer) and answer not in self._negative_values
        if not mentioned and ctx.attributes:
            # All values in one scan; NUL keeps one value's end from negating the next's start.
            mentioned = self.mentions(ctx.attribute_values_f)
        if not mentioned and any(image.ccc_mark for image in ctx.context.images):
            mentioned = True  # the CCC mark printed on the product photo
        mentions: list[tuple[int, int, int, str]] = []
        for index, (field, text, text_f) in enumerate(ctx.text_fields):
            pos = 0  # end of the last number claim: keywords inside it are not claims again
            for hit in self._words.finditer(text_f):
                role = hit.value
                if role is None:
                    continue
                if role.mention:
                    mentions.append((index, hit.start, hit.end, hit.key))
                if (role.number or (ccc and role.ccc_number)) and hit.start >= pos:
                    m = self._number_after_word.match(text_f, hit.end)
                    if m is not None:
                        pos = m.end()
                        token = m.group(1)
                        if self._long_enough(token):
                            numbers.append(CertNumber(text[m.start(1) : m.end(1)], token, field))
                if role.mention and not mentioned:
                    mentioned = not self._negated(text_f, hit.start, hit.end)
        facts = CccFacts(mentioned=mentioned, numbers=numbers, mentions=tuple(mentions))
        ctx.ccc_facts = facts
        return facts

    def mentions(self, text_f: str) -> bool:
        """``text_f`` (width-folded) claims CCC: a mention not negated and not a false friend."""
        return any(
            hit.value is _MENTION and not self._negated(text_f, hit.start, hit.end)
            for hit in self._mentions.finditer(text_f)
        )

    def _negated(self, text_f: str, start: int, end: int) -> bool:
        """ "无3C", "没有 CCC" (negation right before) or "3C认证：无" (a negative answer after)."""
        before = text_f[max(0, start - self._negation_reach) : start].rstrip()
        return before.endswith(self._negations) or bool(self._negative_answer.match(text_f, end))

    def has_bare_number(self, ctx: ListingView) -> bool:
        """A 16-digit number anywhere, even without a keyword: it may well be the certificate."""
        if any(self._bare_number.search(text_f) for _, _, text_f in ctx.text_fields):
            return True
        return any(self._bare_number.search(value_f) for _, _, _, value_f in ctx.attributes)

    def _key(self, key_f: str) -> tuple[bool, bool, bool]:
        """(explicit CCC number key, generic 证书 key, mentions CCC) for one attribute key."""
        info = self._key_info.get(key_f)
        if info is None:
            kinds = {hit.value for hit in self._keys.finditer(key_f)}
            excluded = bool(self._key_exclusions) and self._key_exclusions.search(key_f) is not None
            info = (
                not excluded and _EXPLICIT in kinds,
                not excluded and _GENERIC in kinds,
                self.mentions(key_f),
            )
            if len(self._key_info) >= _KEY_CACHE_SIZE:
                self._key_info.clear()  # bounded: a flood of odd keys cannot grow it forever
            self._key_info[key_f] = info
        return info

    def _long_enough(self, token: str) -> bool:
        # Short digit runs after "3C" are years, wattages or model numbers, not a certificate.
        if len(token) < self.min_digits:
            return False
        return token.isdigit() or sum(c.isdigit() for c in token) >= self.min_digits
