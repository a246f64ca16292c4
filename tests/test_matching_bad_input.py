"""Bad input never crashes the engine: a clear warning or a flag, and the other rules still run.
Also the risk score: bounded, explained, per-category thresholds."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from marketguard.models import Flag, Listing, Seller
from matching import Matcher
from matching.catalogue import load_catalogue
from matching.context import ImageSignal, MatchContext, PeerPrices
from matching.risk import RiskModel

CRAWLED = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.load()


def make(title: Any = "65W 充电器", **fields: Any) -> Listing:
    listing = Listing(platform="t", listing_id="1", url="u", title=title, crawled_at=CRAWLED)
    for name, value in fields.items():
        setattr(listing, name, value)
    return listing


@pytest.mark.parametrize(
    ("price", "warning"),
    [
        (Decimal("-3"), "negative price: -3"),
        (Decimal("0"), "price is zero"),
        (Decimal("99999999"), "absurd price: 99999999"),
        ("abc", "price is not a number: 'abc'"),
        (Decimal("NaN"), "price is not a number"),
        (float("inf"), "price is not a number"),
    ],
)
def test_bad_prices_are_warned_about_not_flagged(
    matcher: Matcher, price: Any, warning: str
) -> None:
    peers = PeerPrices.from_prices([("charger", "", p) for p in (60, 61, 62, 63, 64, 65, 66, 67)])
    result = matcher.match(make(price=price), MatchContext(peer_prices=peers))
    assert any(w.startswith(warning) for w in result.warnings), result.warnings
    assert not {f.rule_id for f in result.flags} & {"PRICE_TOO_LOW", "PRICE_OUTLIER_PEERS"}
    assert "CCC_MISSING" in {f.rule_id for f in result.flags}  # the other rules still ran


def test_a_price_range_upside_down_is_warned_about(matcher: Matcher) -> None:
    result = matcher.match(make(price=Decimal("30"), price_max=Decimal("20")))
    assert result.warnings == ("price range upside down: 30-20",)


@pytest.mark.parametrize(
    "fields",
    [
        {"title": None},
        {"title": ""},
        {"title": 12345},
        {"description": None, "attributes": None},
        {"attributes": {"3C": None, 5: 7, "品牌": ["华维"]}},
        {"seller": Seller("s1", rating=float("nan"), shop_age_days=-5, location=None)},  # type: ignore[arg-type]
        {"brand": None, "model": None},
        {"title": "\x00\ufffd\U0001f600 充电器 \u200b3C"},
        {"title": "充电器" * 5000},
    ],
)
def test_odd_fields_do_not_crash(matcher: Matcher, fields: dict[str, Any]) -> None:
    result = matcher.match(make(**fields), MatchContext(images=(ImageSignal("x", ocr_text=None),)))  # type: ignore[arg-type]
    assert 0 <= result.risk.score <= 100


def test_mixed_scripts_and_full_width(matcher: Matcher) -> None:
    wide = matcher.match(make("ＨＵＡＷＥＩ 充电器 ３Ｃ认证 ２０２３０１０９０７１２３４５６"))
    assert wide.category == "charger"
    assert not {f.rule_id for f in wide.flags} & {"CCC_MISSING", "BRAND_LOOKALIKE"}
    cyrillic = matcher.match(make("НUAWEI 充电器 3C"))  # Cyrillic Н
    assert "BRAND_LOOKALIKE" in {f.rule_id for f in cyrillic.flags}
    traditional = matcher.match(make("行動電源 充電寶 20000mAh"))
    assert traditional.category == "power_bank"
    assert "CCC_MISSING" in {f.rule_id for f in traditional.flags}


def flag(rule_id: str, severity: str = "high") -> Flag:
    return Flag(rule_id, severity, "r", "《法》")  # type: ignore[arg-type]


def test_risk_score_combines_and_explains() -> None:
    model = RiskModel(rule_points={"CCC_CERT_STATUS": 60})
    one = model.score([flag("CCC_MISSING")])
    assert one.score == 45 and one.contributions == (("CCC_MISSING", 45),)
    two = model.score([flag("CCC_MISSING"), flag("SELLER_RISK", "medium")])
    assert two.score == 59 and sum(p for _, p in two.contributions) == 59
    assert two.explain() == "CCC_MISSING +45, SELLER_RISK +14 = 59 (threshold 60)"
    many = model.score([flag(f"R{i}") for i in range(30)] + [flag("CCC_CERT_STATUS", "low")])
    assert many.score == 100 and many.contributions[0] == ("CCC_CERT_STATUS", 60)
    assert model.score([flag("X"), flag("X")]).score == 45  # one rule counts once
    assert model.score([]).score == 0 and not model.score([]).act


def test_risk_thresholds_come_from_the_catalogue(matcher: Matcher) -> None:
    seat = matcher.match(make("儿童安全座椅 ISOFIX"))  # CCC_MISSING alone: 45 points
    assert seat.risk.threshold == 40 and seat.risk.act
    appliance = matcher.match(make("电热水壶 1.7L"))
    assert appliance.risk.threshold == 55 and appliance.risk.score == 45
    assert not appliance.risk.act
    assert load_catalogue().get("child_car_seat").risk_threshold == 40  # type: ignore[union-attr]
