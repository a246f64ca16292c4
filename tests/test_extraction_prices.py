"""Prices as Chinese marketplaces show them, and prices that cannot be real offers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crawlers.extraction.prices import parse_price


@pytest.mark.parametrize(
    ("text", "price", "price_max", "currency"),
    [
        ("¥1,299.00", "1299.00", None, "CNY"),
        ("￥99", "99", None, "CNY"),
        ("22000.00元/台", "22000.00", None, "CNY"),
        ("1.2万", "12000", None, ""),
        ("到手价 ¥59", "59", None, "CNY"),
        ("¥89-129", "89", "129", "CNY"),
        ("￥12.90 - ￥25.90", "12.90", "25.90", "CNY"),
        ("¥89~129", "89", "129", "CNY"),
        ("1.2万-1.5万", "12000", "15000", ""),
        ("券后 ¥ 25.9 起", "25.9", None, "CNY"),
        ("RMB 1,050", "1050", None, "CNY"),
        ("1.5元/个", "1.5", None, "CNY"),
        ("129-89", "89", "129", ""),  # written backwards: still low..high
        ("€ 1.299,00", "1299.00", None, "EUR"),  # other locales go through price-parser
        ("89.00-89.00", "89.00", None, ""),  # a "range" of one price is a price
    ],
)
def test_price_forms(text: str, price: str, price_max: str | None, currency: str) -> None:
    reading = parse_price(text)
    assert reading.ok, reading.problem
    assert reading.price == Decimal(price)
    assert reading.price_max == (Decimal(price_max) if price_max else None)
    assert reading.currency == currency


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "no price"),
        ("", "empty"),
        ("   ", "empty"),
        ("价格面议", "no number"),
        ("-5", "negative"),
        ("¥-12.00", "negative"),
        ("¥0.00", "zero"),
        ("99999999", "absurd"),
        ("¥1-99999999", "absurd"),
    ],
)
def test_impossible_prices_become_none_with_a_reason(text: str | None, reason: str) -> None:
    reading = parse_price(text)
    assert reading.price is None
    assert reading.price_max is None
    assert reason in reading.problem


def test_numbers_from_json_and_default_currency() -> None:
    assert parse_price(39.9, default_currency="CNY").price == Decimal("39.9")
    assert parse_price("39.90", default_currency="CNY").currency == "CNY"
    assert parse_price("US$ 12.50").currency == "USD"
