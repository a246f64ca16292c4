"""Plain-language warnings about listing fields the rules cannot read as given.

A negative, zero or absurd price, a price range upside down, a title that is not text: the
rules skip such values (missing data is not evidence); the warnings say so, so the pass can
count and show them instead of silently ignoring them. Cheap checks only: this runs per listing.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from marketguard.models import Listing

# Above this, a consumer-product price is a parsing slip (a SKU or phone number read as price).
ABSURD_PRICE = Decimal(10_000_000)


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return Decimal("NaN")
    return result


def input_warnings(listing: Listing) -> tuple[str, ...]:
    warnings: list[str] = []
    title = listing.title
    if not isinstance(title, str):
        warnings.append(f"title is not text ({type(title).__name__})")
    elif not title.strip():
        warnings.append("empty title")
    price = _decimal(listing.price)
    if price is not None:
        if not price.is_finite():
            warnings.append(f"price is not a number: {listing.price!r}")
        elif price < 0:
            warnings.append(f"negative price: {price}")
        elif price == 0:
            warnings.append("price is zero")
        elif price >= ABSURD_PRICE:
            warnings.append(f"absurd price: {price}")
    top = _decimal(listing.price_max)
    finite = price is not None and price.is_finite()
    if finite and top is not None and top.is_finite() and top < price:  # type: ignore[operator]
        warnings.append(f"price range upside down: {price}-{top}")
    return tuple(warnings)
