"""Read a price as Chinese marketplaces show it: ``¥1,299.00``, ``￥99``, ``22000.00元/台``,
``1.2万``, ``到手价 ¥59``, ranges ``¥89-129`` and whatever ``price-parser`` reads elsewhere.

A range keeps its low end as the price (what a buyer pays at least, and what price rules compare
with the catalogue band) and its high end as ``price_max``. A price that cannot be a real offer
(empty, zero or negative, absurdly large) becomes ``None`` with the reason, so the listing is still
kept and an officer can see why its price is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from price_parser import Price

# Far above any consumer product; a figure beyond it is a placeholder (9999999) or a misread.
MAX_PRICE = Decimal("10000000")

_CURRENCY_MARKS: tuple[tuple[str, str], ...] = (
    ("US$", "USD"),
    ("HK$", "HKD"),
    ("人民币", "CNY"),
    ("RMB", "CNY"),
    ("CNY", "CNY"),
    ("¥", "CNY"),
    ("￥", "CNY"),
    ("元", "CNY"),
    ("USD", "USD"),
    ("$", "USD"),
    ("€", "EUR"),
    ("EUR", "EUR"),
    ("HKD", "HKD"),
)
# A number, optionally with thousands commas, optionally followed by 万 (10 000) or 千 (1 000).
_AMOUNT = r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*([万千]?)"
_RANGE = re.compile(_AMOUNT + r"\s*(?:[-~～至—–]|到)\s*[¥￥$]?\s*" + _AMOUNT)
_SINGLE = re.compile(_AMOUNT)
_MULTIPLIERS = {"万": Decimal(10000), "千": Decimal(1000), "": Decimal(1)}
_NEGATIVE = re.compile(r"(?:^|[\s¥￥:：])[-−]\s*\d")
# "1.299,00 €": a European decimal comma, left to price-parser.
_DECIMAL_COMMA = re.compile(r"\d\.\d{3},\d{1,2}(?!\d)|\d,\d{1,2}(?![\d,])")


@dataclass(slots=True, frozen=True)
class PriceReading:
    price: Decimal | None
    price_max: Decimal | None = None
    currency: str = ""  # "" when the text names none (callers default to CNY)
    problem: str = ""  # why price is None, when it is

    @property
    def ok(self) -> bool:
        return self.price is not None


def parse_price(text: object, *, default_currency: str = "") -> PriceReading:
    """Read one price (or a price range) from ``text``: a string, a number or None."""
    if text is None:
        return PriceReading(None, problem="no price on the page")
    if isinstance(text, int | float | Decimal) and not isinstance(text, bool):
        return _checked(Decimal(str(text)), None, default_currency)
    raw = " ".join(str(text).split())
    if not raw:
        return PriceReading(None, problem="empty price text")
    currency = _currency(raw) or default_currency
    if (match := _RANGE.search(raw)) and not _NEGATIVE.match(raw):
        low = _amount(match.group(1), match.group(2))
        high = _amount(match.group(3), match.group(4))
        if low is not None and high is not None:
            if high < low:
                low, high = high, low
            return _checked(low, high if high != low else None, currency, raw)
    if _NEGATIVE.search(raw):
        return PriceReading(None, currency=currency, problem=f"negative price {raw!r}")
    if not _DECIMAL_COMMA.search(raw) and (match := _SINGLE.search(raw)):
        return _checked(_amount(match.group(1), match.group(2)), None, currency, raw)
    # Anything else (other locales' separators, "1 299,00 €") is price-parser's job.
    parsed = Price.fromstring(raw)
    if parsed.amount is None:
        return PriceReading(None, currency=currency, problem=f"no number in price {raw!r}")
    return _checked(parsed.amount, None, currency or _currency(parsed.currency or ""), raw)


def _amount(number: str, unit: str) -> Decimal | None:
    try:
        value = Decimal(number.replace(",", ""))
    except InvalidOperation:
        return None
    if not unit:
        return value
    # 1.2万 -> 12000 (not 1.20000E+4); cents survive (1.23456万 -> 12345.6).
    scaled = (value * _MULTIPLIERS[unit]).normalize()
    return scaled.quantize(Decimal(1)) if scaled == scaled.to_integral_value() else scaled


def _checked(
    price: Decimal | None, high: Decimal | None, currency: str, raw: str = ""
) -> PriceReading:
    shown = f" {raw!r}" if raw else ""
    if price is None or not price.is_finite():
        return PriceReading(None, currency=currency, problem=f"unreadable price{shown}")
    if price < 0:
        return PriceReading(None, currency=currency, problem=f"negative price{shown}")
    if price == 0:
        return PriceReading(None, currency=currency, problem=f"zero price{shown}")
    if price >= MAX_PRICE or (high is not None and high >= MAX_PRICE):
        return PriceReading(None, currency=currency, problem=f"absurd price{shown}")
    return PriceReading(price, high, currency)


def _currency(text: str) -> str:
    upper = text.upper()
    for mark, code in _CURRENCY_MARKS:
        if mark in upper:
            return code
    return ""
