"""The demo shop's categories, read from the same catalogue the matching engine uses.

Reading the YAML (rather than copying it) keeps the shop's search terms and price bands in step
with the watchlist: the spider searches the terms the catalogue names, and PRICE_TOO_LOW is
judged against the bands the catalogue gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml

BUNDLED_CATALOGUE = Path(__file__).resolve().parent.parent / "matching" / "data" / "catalogue.yaml"


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    name: str
    search_terms: tuple[str, ...]
    keywords: tuple[str, ...]
    ccc_required: bool
    ccc_since_year: int | None
    price_low: Decimal
    price_high: Decimal
    standards: tuple[str, ...]


class CatalogueError(ValueError):
    """The catalogue file is missing something the demo needs."""


def load_categories(path: Path | None = None) -> tuple[Category, ...]:
    source = path or BUNDLED_CATALOGUE
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        categories = tuple(_category(raw) for raw in data["categories"])
        if path is None:
            # The shop sells what it has words for; the bundled catalogue lists more priority
            # products than the demo's ground truth covers.
            from demo.vocabulary import CATEGORY_WORDS

            categories = tuple(c for c in categories if c.id in CATEGORY_WORDS)
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise CatalogueError(f"cannot read demo categories from {source}: {exc}") from exc
    if not categories:
        raise CatalogueError(f"{source} lists no categories")
    return categories


def _category(raw: dict) -> Category:
    since = raw.get("ccc_since")
    band = raw["price_band"]
    return Category(
        id=str(raw["id"]),
        name=str(raw["name"]),
        search_terms=tuple(str(t) for t in raw["search_terms"]),
        keywords=tuple(str(k) for k in raw.get("keywords", ())),
        ccc_required=bool(raw.get("ccc_required", False)),
        ccc_since_year=int(str(since)[:4]) if since else None,
        price_low=Decimal(str(band["low"])),
        price_high=Decimal(str(band["high"])),
        standards=tuple(str(s) for s in raw.get("standards", ())),
    )
