"""Text helpers shared by the rules: width folding, word patterns, snippets.

Folding is length-preserving (one code point in, one out), so an offset found in the folded text
is the same offset in the original: snippets always show the seller's text exactly as written.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")

# Full-width ASCII (！..～, U+FF01-FF5E) to ASCII, and the ideographic space to a plain space.
_FOLD_TABLE = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FOLD_TABLE[0x3000] = 0x20
# Folding is needed only when a text holds full-width digits, Latin letters or the colon: those
# change what the rules read (１：１, Ａ货, ２０２３…). Nearly every Chinese text holds ，（）！,
# which would make translate() run on everything; instead the rules' punctuation classes list
# both widths (see PUNCT), so a text with only full-width punctuation is left as it is.
_NEEDS_FOLD = re.compile("[\uff10-\uff1a\uff21-\uff3a\uff41-\uff5a]")


def both_widths(chars: str) -> str:
    """``chars`` plus the full-width form of each ASCII one, escaped for a regex [class]."""
    wide = "".join(chr(ord(c) + 0xFEE0) for c in chars if "!" <= c <= "~")
    space = "\u3000" if " " in chars else ""
    return re.escape(chars + wide + space)


_WHITESPACE = re.compile(r"\s+")


def needs_folding(text: str) -> bool:
    return _NEEDS_FOLD.search(text) is not None


def fold_width(text: str) -> str:
    """Full-width letters, digits and punctuation as ASCII (１：１ -> 1:1, Ａ货 -> A货), when the
    text holds any full-width letter, digit or colon; otherwise the text unchanged."""
    return text.translate(_FOLD_TABLE) if _NEEDS_FOLD.search(text) else text


_MAX_CASED_LETTERS = 8


def _edge_class(char: str) -> str:
    """What an ASCII word edge must not run into: "1:1" not inside "21:10" or the toy scale
    "1:16", "3C" not inside "13C" or "3cm", "A货" not inside "DATA货". Only the same class is
    guarded, so "3C2023..." (a mention followed straight by a number) still matches."""
    if char.isascii() and char.isdigit():
        return "digit"
    if char.isascii() and char.isalpha():
        return "alpha"
    return ""


def _same_class(char: str, cls: str) -> bool:
    return char.isascii() and (char.isdigit() if cls == "digit" else char.isalpha())


def _case_variants(word: str) -> set[str]:
    """Every upper/lower spelling of the ASCII letters ("无3C" -> 无3C, 无3c)."""
    letters = sum(1 for c in word if c.isascii() and c.isalpha())
    if letters > _MAX_CASED_LETTERS:  # 2**n spellings; long ASCII words: as written, UPPER, lower
        return {word, word.upper(), word.lower()}
    options = [(c.upper(), c.lower()) if c.isascii() and c.isalpha() else (c,) for c in word]
    return {"".join(p) for p in itertools.product(*options)}


def word_pattern(word: str) -> str:
    """Regex source for one word in width-folded text, with the same edge guards as WordFinder.

    For small anchored patterns; scanning whole texts is WordFinder's job.
    """
    folded = fold_width(word)
    guards = {"digit": "0-9", "alpha": "A-Za-z"}
    left, right = _edge_class(folded[0]), _edge_class(folded[-1])
    return (
        (f"(?<![{guards[left]}])" if left else "")
        + re.escape(folded)
        + (f"(?![{guards[right]}])" if right else "")
    )


def alternation(words: Iterable[str]) -> str:
    """Regex alternatives for the words, longest first so the longest wins at a position."""
    unique = sorted({fold_width(w) for w in words if w}, key=lambda w: (-len(w), w))
    return "|".join(word_pattern(w) for w in unique) or "(?!)"


def word_key(text: str) -> str:
    """The lookup key of a word or a match: width-folded and lower-cased."""
    return fold_width(text).lower()


class WordFinder(Generic[T]):
    """Finds vocabulary words in width-folded text, case-insensitively, fast.

    The pattern is a bare alternation of literals (case spellings written out, no IGNORECASE,
    no lookarounds) so the regex engine can skip every position whose character cannot start a
    word. The word-edge guards run in Python, only on the few hits. Longest word wins at a
    position, so a longer false friend ("高仿真") shadows the word it contains ("高仿").
    """

    __slots__ = ("_edges", "_key_of", "_pattern", "_spellings", "_values")

    def __init__(self, words: Mapping[str, T]) -> None:
        self._values: dict[str, T] = {}
        self._edges: dict[str, tuple[str, str]] = {}
        self._key_of: dict[str, str] = {}
        for word, value in words.items():
            folded = fold_width(word)
            if not folded:
                continue
            key = folded.lower()
            self._values[key] = value
            self._edges[key] = (_edge_class(folded[0]), _edge_class(folded[-1]))
            for spelling in _case_variants(folded):
                self._key_of[spelling] = key
        # One look-up per hit: spelling -> (key, left edge, right edge, value).
        self._spellings: dict[str, tuple[str, str, str, T]] = {
            spelling: (key, *self._edges[key], self._values[key])
            for spelling, key in self._key_of.items()
        }
        spellings = sorted(self._key_of, key=lambda w: (-len(w), w))
        # An empty vocabulary must match nothing ("(?!)"), not everything ("").
        self._pattern = re.compile("|".join(map(re.escape, spellings)) or "(?!)")

    def __bool__(self) -> bool:
        return bool(self._values)

    def finditer(self, text: str, pos: int = 0, endpos: int | None = None) -> Iterable[Hit[T]]:
        end_limit = len(text) if endpos is None else endpos
        first = self._pattern.search(text, pos, end_limit)
        if first is None:  # the usual case: no generator is built at all
            return ()
        return self._hits(text, first, end_limit)

    def _hits(self, text: str, m: re.Match[str] | None, end_limit: int) -> Iterator[Hit[T]]:
        search = self._pattern.search
        spellings = self._spellings
        size = len(text)
        while m is not None:
            start, end = m.span()
            key, left, right, value = spellings[m.group()]
            if (left and start > 0 and _same_class(text[start - 1], left)) or (
                right and end < size and _same_class(text[end], right)
            ):
                m = search(text, start + 1, end_limit)  # inside a longer ASCII run
                continue
            yield Hit(start, end, key, value)
            m = search(text, end, end_limit)

    def search(self, text: str, pos: int = 0, endpos: int | None = None) -> Hit[T] | None:
        return next(iter(self.finditer(text, pos, endpos)), None)


class Hit(NamedTuple, Generic[T]):  # a tuple: cheap to make, and one is made per hit
    start: int
    end: int
    key: str  # the word as listed, width-folded and lower-cased
    value: T


def snippet_around(original: str, start: int, end: int, context: int) -> str:
    """The match with ``context`` characters either side, whitespace squeezed, … where cut."""
    lo = max(0, start - context)
    hi = min(len(original), end + context)
    text = _WHITESPACE.sub(" ", original[lo:hi]).strip()
    return ("…" if lo > 0 else "") + text + ("…" if hi < len(original) else "")


def shorten(text: str, limit: int) -> str:
    text = _WHITESPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
