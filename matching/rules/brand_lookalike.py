"""BRAND_LOOKALIKE: a brand written to pass for a watched brand without being it.

Read from the brand field, 品牌-like attributes and the start of each title token (sellers write
"华为正品充电器" without spaces). A candidate that is a watched brand, an alias or one of their
traditional spellings is genuine and never flags. It flags when it
- sounds the same (same toneless pinyin, other characters: 小咪 for 小米), or
- differs in one character that rules.yaml lists as look-alike (华/化),
- or, for Latin names, normalises to the brand (HUAWEl with a lower-case L; Cyrillic а) or is
  one edit away from a brand of at least ``min_latin_length`` letters (Phillips); swapping two
  neighbouring letters counts as one edit (Baesus), the commonest typosquat.
``exceptions`` lists ordinary words that happen to sound like a brand (隔离 ~ 格力).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from pypinyin import Style, lazy_pinyin
from rapidfuzz.distance import OSA

from marketguard.models import Flag
from matching.rules.base import ListingView, RuleText, Shared
from matching.yaml_schema import Node

RULE_ID = "BRAND_LOOKALIKE"
PARAMS_REQUIRED = ("brands", "lookalike_chars", "kinds")
PARAMS_OPTIONAL = ("exceptions", "min_latin_length", "latin_max_distance", "homoglyphs")
PLACEHOLDERS = ("found", "brand", "kind")

_SPLIT = re.compile(r"[\s,，.。;；:：!！?？、/|()（）\[\]【】「」『』《》<>“”\"'+*#~-]+")
_LATIN = re.compile(r"[A-Za-z0-9\u0400-\u04ff]+")
_CJK = re.compile(r"[\u4e00-\u9fff]+")
_CACHE_SIZE = 50_000


@lru_cache(maxsize=8192)
def _pinyin(char: str) -> str:
    return lazy_pinyin(char, style=Style.NORMAL)[0]


def _is_cjk(text: str) -> bool:
    return bool(text) and all("\u4e00" <= c <= "\u9fff" for c in text)


@dataclass(frozen=True, slots=True)
class _Hit:
    found: str
    brand: str
    kind: str  # "sound", "shape", "latin"


class BrandLookalikeRule:
    rule_id = RULE_ID

    def __init__(
        self,
        text: RuleText,
        *,
        brands: dict[str, tuple[str, ...]],
        lookalike_chars: tuple[str, ...],
        kinds: dict[str, tuple[str, str]],
        exceptions: tuple[str, ...],
        min_latin_length: int,
        latin_max_distance: int,
        homoglyphs: dict[str, str],
    ) -> None:
        from opencc import OpenCC

        self.text = text
        self.kinds = kinds
        self.min_latin_length = min_latin_length
        self.latin_max_distance = latin_max_distance
        self._homoglyphs = str.maketrans(homoglyphs) if homoglyphs else {}
        convert = (OpenCC("s2t").convert, OpenCC("s2tw").convert)
        self._genuine: set[str] = set()
        self._cjk_lengths: set[int] = set()
        self._by_sound: dict[tuple[str, ...], str] = {}
        self._by_shape: dict[str, list[tuple[str, int]]] = {}
        self._latin: dict[str, str] = {}  # normalised latin name -> brand
        self._first_sounds: set[str] = set()
        for brand, aliases in brands.items():
            for name in (brand, *aliases):
                spellings = {name, *(c(name) for c in convert)}
                self._genuine |= {s.casefold() for s in spellings}
                if _is_cjk(name) and len(name) >= 2:
                    self._cjk_lengths.add(len(name))
                    sound = tuple(_pinyin(c) for c in name)
                    self._by_sound.setdefault(sound, brand)
                    self._first_sounds.add(sound[0])
                    for i in range(len(name)):
                        self._by_shape.setdefault(f"{name[:i]}?{name[i + 1 :]}", []).append(
                            (brand, i)
                        )
                elif name.isascii() and name.replace(" ", "").isalnum():
                    self._latin.setdefault(self._latin_key(name), brand)
        self._shape_group: dict[str, int] = {}
        for index, group in enumerate(lookalike_chars):
            for char in group:
                self._shape_group[char] = index
        self._exceptions = frozenset(e.casefold() for e in exceptions)
        # Names long enough for the edit-distance check, by length (only near lengths compared).
        self._latin_by_length: dict[int, list[tuple[str, str]]] = {}
        for name, brand in self._latin.items():
            if len(name) >= min_latin_length:
                self._latin_by_length.setdefault(len(name), []).append((name, brand))
        self._cache: dict[str, _Hit | None] = {}
        self._first_chars = {name[0] for name in self._genuine if name} | set(self._shape_group)

    def _latin_key(self, text: str) -> str:
        folded = unicodedata.normalize("NFKC", text).casefold().replace(" ", "")
        return folded.translate(self._homoglyphs) if self._homoglyphs else folded

    def check(self, ctx: ListingView) -> Flag | None:
        brand = ctx.brand
        if brand:
            hit = self._inspect(brand)
            if hit is not None:
                return self._flag(hit, brand, "brand")
        cache = self._cache
        for token in _SPLIT.split(ctx.title_f):
            if not token:
                continue
            # The cache answers nearly every title token: look it up here, not via _inspect.
            hit = cache[token] if token in cache else self._inspect(token)
            if hit is not None:
                return self._flag(hit, hit.found, "title")
        return None

    def _flag(self, hit: _Hit, snippet: str, field: str) -> Flag:
        zh, en = self.kinds[hit.kind]
        return self.text.flag(
            snippet=snippet,
            field=field,
            found=hit.found,
            brand=hit.brand,
            kind=zh,
            en={"kind": en},
        )

    def _inspect(self, token: str) -> _Hit | None:
        # Titles repeat their words (brands, product names) across listings: remember answers.
        cache = self._cache
        if token in cache:
            return cache[token]
        hit = self._inspect_uncached(token)
        if len(cache) >= _CACHE_SIZE:
            cache.clear()  # bounded: a flood of unique tokens cannot grow it forever
        cache[token] = hit
        return hit

    def _inspect_uncached(self, token: str) -> _Hit | None:
        if token.casefold() in self._genuine:
            return None
        for part in _CJK.findall(token)[:1]:
            if part is not None and part == token[: len(part)]:
                hit = self._cjk(part)
                if hit is not None:
                    return hit
        for part in _LATIN.findall(token):
            hit = self._latin_hit(part)
            if hit is not None:
                return hit
        return None

    def _cjk(self, run: str) -> _Hit | None:
        for length in sorted(self._cjk_lengths, reverse=True):
            if len(run) < length:
                continue
            head = run[:length]
            if head.casefold() in self._genuine or head in self._exceptions:
                return None  # the genuine brand (or a longer genuine one) starts the token
            if _pinyin(head[0]) in self._first_sounds:
                brand = self._by_sound.get(tuple(_pinyin(c) for c in head))
                if brand is not None:
                    return _Hit(head, brand, "sound")
            for i in range(length):
                group = self._shape_group.get(head[i])
                if group is None:
                    continue
                for brand, position in self._by_shape.get(f"{head[:i]}?{head[i + 1 :]}", ()):
                    if position == i:
                        original = self._original(brand, head, i)
                        if original is not None and self._shape_group.get(original) == group:
                            return _Hit(head, brand, "shape")
        return None

    def _original(self, brand: str, head: str, i: int) -> str | None:
        # The brand's own character at i (any of its spellings of this length).
        for name in self._genuine:
            if len(name) == len(head) and name[:i] == head[:i] and name[i + 1 :] == head[i + 1 :]:
                return name[i]
        return None

    def _latin_hit(self, part: str) -> _Hit | None:
        key = self._latin_key(part)
        if len(key) < 3 or part.casefold() in self._genuine or key in self._exceptions:
            return None
        brand = self._latin.get(key)
        if brand is not None:
            return _Hit(part, brand, "latin")  # same after homoglyph folding, not the same text
        # Digits left after folding (M123, 20000mAh) are models and capacities, not names.
        if len(key) < self.min_latin_length or any(c.isdigit() for c in key):
            return None
        for length in range(
            len(key) - self.latin_max_distance, len(key) + self.latin_max_distance + 1
        ):
            for name, brand in self._latin_by_length.get(length, ()):
                if (
                    OSA.distance(name, key, score_cutoff=self.latin_max_distance)
                    <= self.latin_max_distance
                ):
                    return _Hit(part, brand, "latin")
        return None


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> BrandLookalikeRule:
    brands: dict[str, tuple[str, ...]] = {}
    for item in fields["brands"].items(non_empty=True):
        f = item.fields(required=("name",), optional=("aliases",))
        brands[f["name"].text()] = f["aliases"].texts() if "aliases" in f else ()
    kinds: dict[str, tuple[str, str]] = {}
    for kind, item in fields["kinds"].fields(required=("sound", "shape", "latin")).items():
        pair = item.fields(required=("zh", "en"))
        kinds[kind] = (pair["zh"].text(), pair["en"].text())
    homoglyphs: dict[str, str] = {}
    if "homoglyphs" in fields:
        for key, value in (
            fields["homoglyphs"].fields(optional=tuple(fields["homoglyphs"].value or ())).items()
        ):
            homoglyphs[key] = value.text()
    return BrandLookalikeRule(
        text,
        brands=brands,
        lookalike_chars=fields["lookalike_chars"].texts(non_empty=True),
        kinds=kinds,
        exceptions=fields["exceptions"].texts() if "exceptions" in fields else (),
        min_latin_length=fields["min_latin_length"].integer(minimum=3)
        if "min_latin_length" in fields
        else 6,
        latin_max_distance=fields["latin_max_distance"].integer(minimum=0)
        if "latin_max_distance" in fields
        else 1,
        homoglyphs=homoglyphs,
    )
