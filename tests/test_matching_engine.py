"""The engine as a whole: categorisation, purity, explained flags, agreement with the demo shop."""

from __future__ import annotations

import ast
import copy
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from marketguard.models import SEVERITY_ORDER, Listing, Seller
from matching.engine import Matcher, MatchResult

CRAWLED = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)
MATCHING_DIR = Path(__file__).resolve().parent.parent / "matching"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.load()


def make(title: str, **fields: Any) -> Listing:
    fields.setdefault("crawled_at", CRAWLED)
    return Listing(
        platform="demo", listing_id="1", url="http://127.0.0.1/item/1", title=title, **fields
    )


def everything_wrong() -> Listing:
    return make(
        "星川 65W 快充充电器 高仿",
        price=Decimal("9.90"),
        seller=Seller("s1", "新店", rating=3.9, shop_age_days=30),
        attributes={"品牌": "星川", "型号": "M-12"},
        description="本店只做原单，1:1品质。",
        search_keyword="充电器",
    )


# -- categorisation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "search_keyword", "expected"),
    [
        ("星川 65W 氮化镓快充充电器", "", "charger"),
        ("朗途 充电宝 20000mAh", "", "power_bank"),
        ("护童 儿童安全座椅 ISOFIX接口", "", "child_car_seat"),
        ("汽车用安全坐垫 便携", "", "child_car_seat"),
        ("乐飞 遥控汽车 越野攀爬", "", "electric_toy"),
        ("暖阳 婴儿推车 一键收车", "", "stroller"),
        ("沃丰 复合肥 15-15-15", "", "compound_fertilizer"),
        ("充电宝 自带充电器二合一", "", "power_bank"),  # the first keyword in the title wins
        ("充电器 可当充电宝", "", "charger"),
        ("ＰＤ快充头 20W", "", "charger"),  # full-width title
        ("PD 20W Type-C", "充电器", "charger"),  # no keyword: the search term that found it
        ("PD 20W Type-C", " 充电宝 ", "power_bank"),
        ("纯棉T恤 男款", "", ""),
        ("纯棉T恤 男款", "T恤", ""),
        ("充电宝保护套 硅胶", "", ""),  # an accessory, vetoed by exclude_keywords
        ("充电宝保护套 硅胶", "充电宝", ""),  # the veto holds for the fallback too
        ("充电宝 20000mAh 送保护套", "", "power_bank"),  # a free case is not the product
        ("儿童安全座椅保护垫 防磨", "", ""),
    ],
)
def test_categorize(matcher: Matcher, title: str, search_keyword: str, expected: str) -> None:
    listing = make(title, search_keyword=search_keyword)
    category = matcher.categorize(listing)
    assert (category.id if category else "") == expected
    assert matcher.match(listing).category == expected


def test_categorize_returns_the_catalogue_category(matcher: Matcher) -> None:
    category = matcher.categorize(make("充电器"))
    assert category is matcher.catalogue.get("charger")


# -- results ---------------------------------------------------------------------------------


def test_every_flag_explains_itself(matcher: Matcher) -> None:
    result = matcher.match(everything_wrong())
    assert isinstance(result, MatchResult)
    assert result.category == "charger"
    assert {f.rule_id for f in result.flags} == {
        "CCC_MISSING",
        "COUNTERFEIT_WORDING",
        "PRICE_TOO_LOW",
        "SELLER_RISK",
    }
    for found in result.flags:
        assert found.reason.strip(), found
        assert found.reason_en.strip(), found
        assert found.legal_basis.startswith("《"), found
        assert found.snippet.strip(), found
        assert found.field in {"title", "description", "price", "seller"} or found.field.startswith(
            "attributes."
        )
        assert "{" not in found.reason and "{" not in found.reason_en  # templates filled


def test_flags_come_most_severe_first(matcher: Matcher) -> None:
    result = matcher.match(everything_wrong())
    ranks = [SEVERITY_ORDER[f.severity] for f in result.flags]
    assert ranks == sorted(ranks, reverse=True)
    assert result.severity == "high"
    assert result.flagged
    clean = matcher.match(make("充电器", attributes={"3C证书编号": "2023010907123456"}))
    assert clean.flags == [] and clean.severity == "" and not clean.flagged


def test_match_does_not_touch_the_listing(matcher: Matcher) -> None:
    listing = everything_wrong()
    listing.attributes["３Ｃ证书编号"] = (
        "２０２３０１０９０７１２３"  # full-width: folded internally
    )
    before = copy.deepcopy(listing)
    matcher.match(listing)
    matcher.categorize(listing)
    assert listing == before
    assert listing.category == ""
    assert listing.content_hash() == before.content_hash()


def test_results_do_not_leak_between_calls(matcher: Matcher) -> None:
    first = matcher.match(everything_wrong())
    second = matcher.match(everything_wrong())
    assert first.flags == second.flags
    assert first.flags is not second.flags
    clean = matcher.match(make("充电器", attributes={"3C证书编号": "2023010907123456"}))
    assert clean.flags == []


@pytest.mark.parametrize(
    "fields",
    [
        {"title": None},
        {"title": ""},
        {"description": None},
        {"attributes": None},
        {"attributes": {"3C证书编号": None, 7: 2023010907123456}},
        {"price": "abc"},
        {"price": float("inf")},
        {"seller": Seller("s", rating="4.1", shop_age_days="30")},  # type: ignore[arg-type]
        {"crawled_at": None},
        {"crawled_at": datetime(2025, 6, 1)},  # naive: read as UTC
        {"search_keyword": None},
        {"currency": None},
    ],
)
def test_malformed_listings_do_not_crash(matcher: Matcher, fields: dict[str, Any]) -> None:
    listing = make("充电器 高仿")
    for name, value in fields.items():
        object.__setattr__(listing, name, value)
    result = matcher.match(listing)
    assert isinstance(result.flags, list)
    for found in result.flags:
        assert found.reason and found.snippet and found.legal_basis


# -- purity ----------------------------------------------------------------------------------


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_matching_imports_no_crawler_evidence_or_api_code() -> None:
    sources = sorted(MATCHING_DIR.rglob("*.py"))
    assert len(sources) >= 10
    for path in sources:
        for module in _imports(path):
            top = module.split(".")[0]
            assert top not in {"crawlers", "evidence", "api", "demo", "scrapy", "fastapi"}, (
                f"{path.relative_to(MATCHING_DIR.parent)} imports {module}"
            )


_WATCHING = {"on": False, "events": []}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _WATCHING["on"] and event.split(".")[0] in {"open", "os", "socket", "subprocess", "shutil"}:
        _WATCHING["events"].append((event, args))


sys.addaudithook(_audit)  # audit hooks cannot be removed; this one only records while "on"


def test_match_does_no_file_or_network_io(matcher: Matcher) -> None:
    listings = [
        everything_wrong(),
        make("充电器", description="证书编号：２０２３０１０９０７１２３"),
        make("复合肥", price=Decimal("1"), crawled_at=datetime(2025, 6, 1)),
    ]
    _WATCHING["events"].clear()
    _WATCHING["on"] = True
    try:
        for listing in listings:
            matcher.match(listing)
            matcher.categorize(listing)
    finally:
        _WATCHING["on"] = False
    assert _WATCHING["events"] == []
    # The hook itself works: loading the YAML files does open them.
    _WATCHING["on"] = True
    try:
        Matcher.load()
    finally:
        _WATCHING["on"] = False
    assert any(event == "open" for event, _ in _WATCHING["events"])


# -- agreement with the demo marketplace ------------------------------------------------------


def test_flags_agree_with_the_demo_shops_ground_truth(matcher: Matcher) -> None:
    """The demo shop builds its listings from the same rule definitions; every rule it planted
    must be found and nothing else flagged, including its traps (negations, valid numbers in
    the description, prices just above the threshold, new but well-rated shops)."""
    generator = pytest.importorskip("demo.generator")
    market = generator.generate(seed=11, listings=600)
    crawled = datetime.combine(market.today, time(12), timezone(timedelta(hours=8)))
    checked = 0
    for item in market.listings:
        if item.fault:
            continue
        shop = market.shop(item.shop_id)
        listing = Listing(
            platform="demo",
            listing_id=item.listing_id,
            url="",
            title=item.title,
            price=item.price,
            seller=Seller(
                shop.shop_id,
                shop.name,
                rating=shop.rating,
                shop_age_days=shop.age_days(market.today),
            ),
            attributes=dict(market.attributes(item)),
            description=market.description(item),
            crawled_at=crawled,
            search_keyword=item.category.search_terms[0],
        )
        result = matcher.match(listing)
        assert result.category == item.category.id, item.title
        assert sorted({f.rule_id for f in result.flags}) == sorted(item.rules), (
            item.title,
            listing.description,
            listing.attributes,
            item.traits,
        )
        checked += 1
    assert checked > 550
