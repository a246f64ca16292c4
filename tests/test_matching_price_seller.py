"""PRICE_TOO_LOW and SELLER_RISK: thresholds from rules.yaml, exact boundaries, unknown facts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from marketguard.models import Flag, Listing, Seller
from matching.engine import Matcher
from matching.rule_book import DEFAULT_RULES_PATH

CRAWLED = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.load()


def make(title: str = "星川 65W 快充充电器", **fields: Any) -> Listing:
    fields.setdefault("attributes", {"3C证书编号": "2023010907123456"})
    fields.setdefault("crawled_at", CRAWLED)
    return Listing(
        platform="demo", listing_id="1", url="http://127.0.0.1/item/1", title=title, **fields
    )


def only(matcher: Matcher, listing: Listing, rule_id: str) -> Flag | None:
    return next((f for f in matcher.match(listing).flags if f.rule_id == rule_id), None)


# -- PRICE_TOO_LOW (charger band 25-300, factor 0.4: threshold 10.00) ---------------------------


def test_price_far_below_the_band_fires(matcher: Matcher) -> None:
    found = only(matcher, make(price=Decimal("9.9")), "PRICE_TOO_LOW")
    assert found is not None
    assert found.severity == "medium"
    assert found.snippet == "¥9.90 (参考价 25–300 元)"
    assert found.field == "price"
    assert "9.90" in found.reason and "25" in found.reason and "40%" in found.reason
    assert found.legal_basis == "《产品质量法》第三十九条"


@pytest.mark.parametrize(
    ("price", "fires"),
    [
        (Decimal("9.99"), True),
        (Decimal("10.00"), False),  # exactly factor x low: not below
        (Decimal("10"), False),
        (Decimal("0.01"), True),
        (Decimal("25"), False),
        (9.5, True),  # a float from a sloppy parser still compares
        ("8.80", True),
    ],
)
def test_price_threshold_is_strict(matcher: Matcher, price: Any, fires: bool) -> None:
    assert (only(matcher, make(price=price), "PRICE_TOO_LOW") is not None) is fires


@pytest.mark.parametrize("price", [None, Decimal(0), Decimal("-5"), "面议", Decimal("NaN"), True])
def test_prices_that_cannot_be_compared_stay_silent(matcher: Matcher, price: Any) -> None:
    result = matcher.match(make(price=price))
    assert "PRICE_TOO_LOW" not in {f.rule_id for f in result.flags}
    assert result.category == "charger"


def test_price_needs_a_category_and_a_cny_price(matcher: Matcher) -> None:
    assert only(matcher, make("纯棉T恤", price=Decimal("1")), "PRICE_TOO_LOW") is None
    assert only(matcher, make(price=Decimal("1"), currency="USD"), "PRICE_TOO_LOW") is None
    assert only(matcher, make(price=Decimal("1"), currency="rmb"), "PRICE_TOO_LOW") is not None


def test_price_band_of_the_listing_category_is_used(matcher: Matcher) -> None:
    # Car seats start at 300: 119 is below 0.4 x 300 = 120, while 121 is not.
    seat = {"attributes": {"3C证书编号": "2023010907123456"}}
    assert only(matcher, make("儿童安全座椅", price=Decimal(119), **seat), "PRICE_TOO_LOW")
    assert not only(matcher, make("儿童安全座椅", price=Decimal(121), **seat), "PRICE_TOO_LOW")


def test_price_factor_is_data(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    next(r for r in data["rules"] if r["id"] == "PRICE_TOO_LOW")["factor"] = 0.8
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    tuned = Matcher.load(rules_path=path)
    assert only(tuned, make(price=Decimal("19.99")), "PRICE_TOO_LOW") is not None
    assert only(tuned, make(price=Decimal("20")), "PRICE_TOO_LOW") is None


# -- SELLER_RISK (< 90 days AND rating < 4.5) -----------------------------------------------------


def test_new_poorly_rated_shop_fires(matcher: Matcher) -> None:
    found = only(
        matcher, make(seller=Seller("s1", "小店", rating=3.9, shop_age_days=30)), "SELLER_RISK"
    )
    assert found is not None
    assert found.severity == "medium"
    assert found.snippet == "开店 30 天，评分 3.9"
    assert found.field == "seller"
    assert "30" in found.reason and "3.9" in found.reason and "4.5" in found.reason
    assert found.legal_basis


@pytest.mark.parametrize(
    ("age", "rating", "fires"),
    [
        (89, 4.49, True),
        (0, 0.0, True),
        (90, 3.9, False),  # exactly the age limit: not new
        (30, 4.5, False),  # exactly the rating limit: not low
        (400, 3.0, False),  # old shop, low rating
        (10, 4.9, False),  # new shop, good rating
        (None, 3.0, False),
        (10, None, False),
        (-3, 3.0, False),  # a nonsense age is unknown, not "new"
        (10, float("nan"), False),
    ],
)
def test_seller_thresholds(matcher: Matcher, age: Any, rating: Any, fires: bool) -> None:
    seller = Seller("s1", rating=rating, shop_age_days=age)
    assert (only(matcher, make(seller=seller), "SELLER_RISK") is not None) is fires


def test_no_seller_no_flag(matcher: Matcher) -> None:
    assert only(matcher, make(seller=None), "SELLER_RISK") is None


def test_seller_thresholds_are_data(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    rule = next(r for r in data["rules"] if r["id"] == "SELLER_RISK")
    rule["max_shop_age_days"] = 400
    rule["min_rating"] = 4.0
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    tuned = Matcher.load(rules_path=path)
    assert only(tuned, make(seller=Seller("s", rating=3.9, shop_age_days=300)), "SELLER_RISK")
    assert not only(tuned, make(seller=Seller("s", rating=4.2, shop_age_days=30)), "SELLER_RISK")
