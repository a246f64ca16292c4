"""The priority-product catalogue: which categories we watch, how to recognise them, CCC and prices.

The YAML is checked in full on load; a bad file raises ``CatalogueError`` naming the file, the
field and (where there is one) the category, e.g.
``catalogue.yaml: categories[2].price_band.low: expected a number, got 'cheap' (category 'x')``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from matching.text import fold_width
from matching.yaml_schema import CatalogueError, Node, load_yaml

DEFAULT_CATALOGUE_PATH = Path(__file__).resolve().parent / "data" / "catalogue.yaml"

_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class PriceBand:
    """Reference retail price of a genuine product, CNY."""

    low: Decimal
    high: Decimal

    def __str__(self) -> str:
        return f"{format_amount(self.low)}–{format_amount(self.high)}"


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    name: str
    watch: bool
    search_terms: tuple[str, ...]
    keywords: tuple[str, ...]
    ccc_required: bool
    ccc_since: date | None
    licence: str
    standards: tuple[str, ...]
    price_band: PriceBand
    # Title phrases naming an accessory rather than the product (充电宝保护套): they veto the
    # category, so a case for a power bank is not held to the power bank's CCC duty.
    exclude_keywords: tuple[str, ...] = ()
    # Product category codes (digits 7-10) of its certificates, whole ("0907") or by class
    # ("09"); () = unchecked.
    ccc_codes: tuple[str, ...] = ()
    maker_info_required: bool = False
    risk_threshold: int | None = None  # None: the risk block's default in rules.yaml
    # Product names as CCC certificates write them (机动车儿童乘员用约束系统), for the scope check.
    ccc_product_names: tuple[str, ...] = ()
    notes: str = ""

    def ccc_required_on(self, day: date) -> bool:
        """CCC applies on ``day`` (a product sold before its CCC start date was not in scope)."""
        return self.ccc_required and (self.ccc_since is None or day >= self.ccc_since)


@dataclass(frozen=True, slots=True)
class Catalogue:
    version: int
    categories: tuple[Category, ...]
    source: str = ""

    def get(self, category_id: str) -> Category | None:
        return next((c for c in self.categories if c.id == category_id), None)

    def watched(self) -> list[Category]:
        return [c for c in self.categories if c.watch]

    def watched_search_terms(self) -> list[str]:
        """Search terms of the watched categories, in catalogue order, each once."""
        seen: dict[str, None] = {}
        for category in self.watched():
            for term in category.search_terms:
                seen.setdefault(term, None)
        return list(seen)


def format_amount(value: Decimal) -> str:
    """25 -> "25", 25.50 -> "25.5": bands read as officers write them."""
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load and validate a catalogue file (default: the bundled matching/data/catalogue.yaml)."""
    source = path or DEFAULT_CATALOGUE_PATH
    root = load_yaml(source, CatalogueError)
    top = root.fields(required=("version", "categories"))
    version = top["version"].integer(minimum=1)
    convert = _converters()
    categories = tuple(_category(node, convert) for node in top["categories"].items(non_empty=True))
    _check_unique(categories, top["categories"])
    return Catalogue(version=version, categories=categories, source=str(source))


def watched_search_terms(path: Path | None = None) -> list[str]:
    """The crawl's search terms: every search term of every ``watch: true`` category."""
    return load_catalogue(path).watched_search_terms()


_REQUIRED = ("id", "name", "keywords", "ccc_required", "price_band")
_OPTIONAL = (
    "watch",
    "search_terms",
    "ccc_since",
    "licence",
    "standards",
    "exclude_keywords",
    "ccc_codes",
    "maker_info_required",
    "risk_threshold",
    "notes",
    "ccc_product_names",
)
_CCC_CODE = re.compile(r"^[0-9]{2}(?:[0-9]{2})?$")  # a class (09) or a whole code (0907)


def _converters() -> tuple[Callable[[str], str], ...]:
    """Simplified -> traditional (mainland and Taiwan usage). Sellers in Hong Kong and Taiwan,
    and some mainland sellers for style, write 充電寶; the YAML keeps one spelling."""
    from opencc import OpenCC  # the dictionaries load in ~50 ms; only catalogue loads pay it

    return tuple(OpenCC(config).convert for config in ("s2t", "s2tw"))


def with_traditional(
    words: tuple[str, ...], convert: tuple[Callable[[str], str], ...]
) -> tuple[str, ...]:
    """The words followed by their traditional spellings, each once, order kept."""
    seen = dict.fromkeys(words)
    for word in words:
        for to_traditional in convert:
            seen.setdefault(to_traditional(word))
    return tuple(seen)


def _category(node: Node, convert: tuple[Callable[[str], str], ...]) -> Category:
    raw_id = node.value.get("id") if isinstance(node.value, dict) else None
    if isinstance(raw_id, str) and raw_id:
        node = Node(node.value, node.file, node.path, node.error, f"category {raw_id!r}")
    f = node.fields(required=_REQUIRED, optional=_OPTIONAL)
    category_id = f["id"].text()
    if not _ID.match(category_id):
        f["id"].fail(f"expected lower-case letters, digits and _, got {category_id!r}")
    band = f["price_band"].fields(required=("low", "high"))
    low = band["low"].number(minimum=Decimal(0))
    high = band["high"].number(minimum=Decimal(0))
    if low > high:
        f["price_band"].fail(f"low ({low}) is greater than high ({high})")
    codes = f["ccc_codes"].texts() if "ccc_codes" in f else ()
    for code in codes:
        if not _CCC_CODE.match(code):
            f["ccc_codes"].fail(f'expected codes such as "09" or "0907", got {code!r}')
    if "risk_threshold" in f and f["risk_threshold"].integer(minimum=0) > 100:
        f["risk_threshold"].fail("expected a score between 0 and 100")
    return Category(
        id=category_id,
        name=f["name"].text(),
        watch=f["watch"].boolean() if "watch" in f else False,
        search_terms=f["search_terms"].texts() if "search_terms" in f else (),
        keywords=with_traditional(f["keywords"].texts(non_empty=True), convert),
        ccc_required=f["ccc_required"].boolean(),
        ccc_since=f["ccc_since"].day() if "ccc_since" in f else None,
        licence=f["licence"].text() if "licence" in f else "",
        standards=f["standards"].texts() if "standards" in f else (),
        price_band=PriceBand(low=low, high=high),
        exclude_keywords=with_traditional(f["exclude_keywords"].texts(), convert)
        if "exclude_keywords" in f
        else (),
        ccc_codes=codes,
        maker_info_required=f["maker_info_required"].boolean()
        if "maker_info_required" in f
        else False,
        risk_threshold=f["risk_threshold"].integer(minimum=0) if "risk_threshold" in f else None,
        notes=f["notes"].text() if "notes" in f else "",
        ccc_product_names=with_traditional(f["ccc_product_names"].texts(), convert)
        if "ccc_product_names" in f
        else (),
    )


def _check_unique(categories: tuple[Category, ...], node: Node) -> None:
    """Ids, title keywords and search terms must each point at one category, or the match is
    decided by file order without anyone noticing."""
    ids: dict[str, int] = {}
    keywords: dict[str, str] = {}
    terms: dict[str, str] = {}
    for index, category in enumerate(categories):
        item = node.child(index, context=f"category {category.id!r}")
        if category.id in ids:
            item.child("id").fail(
                f"duplicate id {category.id!r} (also categories[{ids[category.id]}])"
            )
        ids[category.id] = index
        for field, words, owners in (
            ("keywords", category.keywords, keywords),
            ("search_terms", category.search_terms, terms),
        ):
            for word in words:
                key = fold_width(word).lower()
                owner = owners.setdefault(key, category.id)
                if owner != category.id:
                    item.child(field).fail(f"{word!r} is already used by category {owner!r}")
