"""MAKER_INFO_MISSING: no maker name, address or standard number where the label must show them.

For categories with ``maker_info_required`` (fertilizer, pesticides, food-contact products ...):
SAMR told platforms in 2024 to delist listings with no maker name/address or no standard. Each
item counts as shown when an attribute key names it (生产企业, 厂址, 执行标准 ...) with a value,
or the text (title, description, text read from images) shows it (a 有限公司 name, a street
address, a GB/Q standard number). The rule fires when at least ``min_missing`` items are missing
(rules.yaml): one missing item is often only a page layout choice.
"""

from __future__ import annotations

import re

from marketguard.models import Flag
from matching.catalogue import Category
from matching.rules.base import ListingView, RuleText, Shared
from matching.text import WordFinder, shorten
from matching.yaml_schema import Node

RULE_ID = "MAKER_INFO_MISSING"
PARAMS_REQUIRED = ("items", "min_missing")
PARAMS_OPTIONAL: tuple[str, ...] = ()
PLACEHOLDERS = ("missing", "category_name")
ITEMS = ("maker", "address", "standard")
# How far around an anchor word its pattern is tried; patterns must match within it.
_WINDOW = 24


class _Item:
    __slots__ = ("anchors", "keys", "name_en", "name_zh", "pattern")

    def __init__(
        self, keys: tuple[str, ...], pattern: str, zh: str, en: str, anchors: tuple[str, ...]
    ) -> None:
        self.keys = keys
        self.pattern = re.compile(pattern)
        # Literal words one of which every pattern match contains: a cheap scan first.
        self.anchors = WordFinder(dict.fromkeys(anchors, True)) if anchors else None
        self.name_zh = zh
        self.name_en = en


class MakerInfoMissingRule:
    rule_id = RULE_ID

    def __init__(self, text: RuleText, *, items: dict[str, _Item], min_missing: int) -> None:
        self.text = text
        self.items = items
        self.min_missing = min_missing
        # Attribute keys repeat across listings: which items each names is worked out once.
        self._key_items: dict[str, frozenset[_Item]] = {}

    def _items_named_by(self, key_f: str) -> frozenset[_Item]:
        found = self._key_items.get(key_f)
        if found is None:
            found = frozenset(
                item for item in self.items.values() if any(k in key_f for k in item.keys)
            )
            if len(self._key_items) >= 4096:
                self._key_items.clear()  # bounded against a flood of odd keys
            self._key_items[key_f] = found
        return found

    def applies_to(self, category: Category | None) -> bool:
        return category is not None and category.maker_info_required

    def check(self, ctx: ListingView) -> Flag | None:
        category = ctx.category
        if category is None or not category.maker_info_required:
            return None
        # Items named by an attribute key with a value, in one walk over the attributes.
        by_key: set[_Item] = set()
        for _, key_f, value, _ in ctx.attributes:
            named = self._items_named_by(key_f)
            if named and value.strip():
                by_key |= named
        missing: list[_Item] = []
        left = len(self.items)
        for item in self.items.values():
            left -= 1
            if item not in by_key and not self._in_text(ctx, item):
                missing.append(item)
            elif len(missing) + left < self.min_missing:
                return None  # too few can still be missing: the texts need no more searching
        if len(missing) < self.min_missing:
            return None
        return self.text.flag(
            snippet=shorten(ctx.title, 60),
            field="title",
            missing="、".join(m.name_zh for m in missing),
            category_name=category.name,
            en={"missing": ", ".join(m.name_en for m in missing)},
        )

    def _in_text(self, ctx: ListingView, item: _Item) -> bool:
        # One search over everything the page shows (values and texts, newline-separated).
        text = ctx.cache.get("maker_text")
        if text is None:
            parts = [a[3] for a in ctx.attributes]
            parts.extend(text_f for _, _, text_f in ctx.text_fields)
            text = ctx.cache["maker_text"] = "\n".join(parts)
        anchors = item.anchors
        if anchors is None:
            return item.pattern.search(text) is not None
        # The pattern is tried only around the literal anchors a cheap scan found.
        search = item.pattern.search
        return any(
            search(text, max(0, hit.start - _WINDOW), hit.end + _WINDOW) is not None
            for hit in anchors.finditer(text)
        )


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> MakerInfoMissingRule:
    items: dict[str, _Item] = {}
    for name, node in fields["items"].fields(required=ITEMS).items():
        f = node.fields(required=("keys", "pattern", "zh", "en"), optional=("anchors",))
        pattern = f["pattern"].text()
        try:
            re.compile(pattern)
        except re.error as exc:
            f["pattern"].fail(f"not a valid regular expression: {exc}")
        anchors = f["anchors"].texts() if "anchors" in f else ()
        keys = f["keys"].texts(non_empty=True)
        items[name] = _Item(keys, pattern, f["zh"].text(), f["en"].text(), anchors)
    min_missing = fields["min_missing"].integer(minimum=1)
    if min_missing > len(ITEMS):
        fields["min_missing"].fail(f"expected at most {len(ITEMS)}")
    return MakerInfoMissingRule(text, items=items, min_missing=min_missing)
