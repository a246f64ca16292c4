"""COUNTERFEIT_WORDING: slang fires, negations and look-alikes do not, weak words need company."""

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
# A listing that triggers nothing but the wording under test: certified, fairly priced.
CLEAN = {"attributes": {"3C证书编号": "2023010907123456"}, "price": Decimal("59.90")}

STRONG = [
    "高仿",
    "A货",
    "超A",
    "原单",
    "尾单",
    "跟单",
    "复刻",
    "1:1",
    "一比一",
    "莆田",
    "外贸货",
    "老鼠货",
]


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.load()


def make(title: str = "星川 65W 快充充电器", **fields: Any) -> Listing:
    for key, value in CLEAN.items():
        fields.setdefault(key, value)
    fields.setdefault("crawled_at", CRAWLED)
    return Listing(
        platform="demo", listing_id="1", url="http://127.0.0.1/item/1", title=title, **fields
    )


def wording(matcher: Matcher, listing: Listing) -> Flag | None:
    return next(
        (f for f in matcher.match(listing).flags if f.rule_id == "COUNTERFEIT_WORDING"), None
    )


@pytest.mark.parametrize("word", STRONG)
def test_each_strong_word_fires_in_the_description(matcher: Matcher, word: str) -> None:
    found = wording(matcher, make(description=f"工厂直发{word}，和专柜的放一起看不出区别。"))
    assert found is not None
    assert found.severity == "high"
    assert found.field == "description"
    assert word in found.snippet
    assert f"「{word}」" in found.reason
    assert "《产品质量法》" in found.legal_basis


def test_no_3c_is_strong_slang(matcher: Matcher) -> None:
    found = wording(matcher, make("无3C 充电器 便宜", attributes={}))
    assert found is not None and found.severity == "high" and found.field == "title"


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("a货 充电器", "A货"),
        ("Ａ货 充电器", "A货"),
        ("超a 充电器", "超A"),
        ("１：１ 充电器", "1:1"),
        ("1：1 充电器", "1:1"),
        ("非常高仿 充电器", "高仿"),  # 非常 is no negation
        ("不是高仿，是原单 充电器", "原单"),  # the negation ends at the comma
        ("谨防高仿，本店原单 充电器", "原单"),
        ("充电器 高仿真皮包装 A货", "A货"),
        ("1比1 充电器", "1比1"),
    ],
)
def test_variants_and_clauses(matcher: Matcher, text: str, term: str) -> None:
    found = wording(matcher, make(text))
    assert found is not None
    assert found.reason.count("「") == 1
    assert f"「{term}」" in found.reason


def test_snippet_shows_the_word_in_context(matcher: Matcher) -> None:
    description = (
        "支持PD/QC多协议快充，智能识别设备。本店只做原单，价格美丽。过压、过流、短路多重保护。"
    )
    found = wording(matcher, make(description=description))
    assert found is not None
    assert found.snippet.startswith("…") and found.snippet.endswith("…")
    assert "本店只做原单，价格美丽" in found.snippet
    assert len(found.snippet) < len(description)


def test_several_words_are_named_in_one_flag(matcher: Matcher) -> None:
    flags = [
        f
        for f in matcher.match(make("高仿 充电器", description="原单品质，1:1复刻")).flags
        if f.rule_id == "COUNTERFEIT_WORDING"
    ]
    assert len(flags) == 1
    assert "「高仿、原单、1:1、复刻」" in flags[0].reason
    assert flags[0].field == "title"


@pytest.mark.parametrize(
    "description",
    [
        "正品保障，拒绝高仿。",
        "谨防高仿，认准本店官方授权。",
        "非A货，假一赔十。",
        "非高仿",
        "不是高仿",
        "绝非A货",
        "杜绝原单",
        "本店拒绝一切高仿",
        "拒绝高仿、A货、超A，只做正品。",
        "正品行货，假一赔十。",
        "高仿勿扰",
        "高仿真遥控车，细节逼真",  # a realistic toy, not a fake
        "1:16 遥控车，比例精准",  # a model scale
        "营业时间 9:00-21:10",
        "原单价 99 元，现价 59 元",
        "ＤＡＴＡ货运",
        "DATA货运",
    ],
)
def test_negations_and_look_alikes_do_not_fire(matcher: Matcher, description: str) -> None:
    assert wording(matcher, make(description=description)) is None


# -- weak words ------------------------------------------------------------------------------


def test_weak_words_alone_do_not_fire(matcher: Matcher) -> None:
    for text in ("明星同款 充电器", "国货平替 充电器", "换季尾货处理 充电器"):
        result = matcher.match(make(text))
        assert result.flags == [], text


def test_weak_word_with_another_signal_adds_a_medium_flag(matcher: Matcher) -> None:
    result = matcher.match(make("大牌同款 充电器", price=Decimal("5.00")))
    found = next(f for f in result.flags if f.rule_id == "COUNTERFEIT_WORDING")
    assert found.severity == "medium"
    assert "「同款」" in found.reason
    assert "PRICE_TOO_LOW" in found.reason
    assert found.field == "title"
    assert "同款" in found.snippet


def test_weak_word_negated_stays_silent_even_with_signals(matcher: Matcher) -> None:
    risky = Seller("s1", rating=3.9, shop_age_days=30)
    result = matcher.match(make("充电器 不是平替", price=Decimal("5.00"), seller=risky))
    assert "COUNTERFEIT_WORDING" not in {f.rule_id for f in result.flags}


def test_strong_word_wins_over_weak(matcher: Matcher) -> None:
    found = wording(matcher, make("同款 高仿 充电器", price=Decimal("5.00")))
    assert found is not None and found.severity == "high"
    assert "同款" not in found.reason


def test_weak_words_can_be_tuned_to_flag_alone(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    rule = next(r for r in data["rules"] if r["id"] == "COUNTERFEIT_WORDING")
    rule["weak"]["flag_alone"] = True
    rule["weak"]["corroborated_by"] = []
    rule["weak"]["severity"] = "low"
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    found = wording(Matcher.load(rules_path=path), make("明星同款 充电器"))
    assert found is not None and found.severity == "low"


def test_strong_words_are_data(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    rule = next(r for r in data["rules"] if r["id"] == "COUNTERFEIT_WORDING")
    rule["strong_words"].append("精仿")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert wording(Matcher.load(rules_path=path), make("精仿 充电器")) is not None
    assert wording(Matcher.load(), make("精仿 充电器")) is None
