"""Each issue-4 rule fires on what it is for and stays silent on its look-alikes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from marketguard.models import Listing, Seller
from matching import Matcher
from matching.context import (
    ImageSignal,
    MatchContext,
    PeerPrices,
    SellerLink,
)

CRAWLED = datetime(2025, 6, 1, tzinfo=UTC)
LICENCE = {
    "生产许可证号": "XK13-001-00001",
    "生产企业": "某某肥业有限公司",
    "执行标准": "GB/T 15063-2020",
}


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.load()


def make(title: str, description: str = "", **fields: object) -> Listing:
    listing = Listing(
        platform="t",
        listing_id="1",
        url="u",
        title=title,
        description=description,
        crawled_at=CRAWLED,
    )
    for name, value in fields.items():
        setattr(listing, name, value)
    return listing


def fired(matcher: Matcher, listing: Listing, context: MatchContext | None = None) -> set[str]:
    return {f.rule_id for f in matcher.match(listing, context).flags}


CASES: list[tuple[str, Listing, MatchContext | None, bool]] = [
    # CCC_FALSE_CLAIM
    ("CCC_FALSE_CLAIM", make("免3C 充电器 65W"), None, True),
    ("CCC_FALSE_CLAIM", make("充电器", "本产品无需3C认证，欧标CE"), None, True),
    ("CCC_FALSE_CLAIM", make("充电器", attributes={"3C认证": "不需要"}), None, True),
    ("CCC_FALSE_CLAIM", make("复合肥 15-15-15 通过3C认证", attributes=LICENCE), None, True),
    (
        "CCC_FALSE_CLAIM",
        make("纸尿裤 L码"),
        MatchContext(images=(ImageSignal("http://i/1.jpg", ccc_mark=True),)),
        True,
    ),
    ("CCC_FALSE_CLAIM", make("充电器 3C认证 2023010907123456"), None, False),
    ("CCC_FALSE_CLAIM", make("复合肥 15-15-15", attributes=LICENCE), None, False),
    ("CCC_FALSE_CLAIM", make("3C数码 奶瓶"), None, False),  # retail talk, not a claim
    # CCC_NUMBER_INVALID: certification body 00, product class of another category
    (
        "CCC_NUMBER_INVALID",
        make("充电器", attributes={"3C证书编号": "2023000907123456"}),
        None,
        True,
    ),
    (
        "CCC_NUMBER_INVALID",
        make("充电器", attributes={"3C证书编号": "2023012201123456"}),
        None,
        True,
    ),
    (
        "CCC_NUMBER_INVALID",
        make("婴儿推车", attributes={"3C证书编号": "2023012202123456"}),
        None,
        False,
    ),
    # CCC_ABOLISHED_MARK
    ("CCC_ABOLISHED_MARK", make("充电器 CCC(S&E) 认证"), None, True),
    ("CCC_ABOLISHED_MARK", make("插线板 CCC+S 3C认证"), None, True),
    ("CCC_ABOLISHED_MARK", make("充电器", attributes={"认证标志": "3C-EMC"}), None, True),
    ("CCC_ABOLISHED_MARK", make("充电器 ＣＣＣ－Ｓ"), None, True),  # full width
    ("CCC_ABOLISHED_MARK", make("充电器 CCC认证 SGS检测"), None, False),
    ("CCC_ABOLISHED_MARK", make("充电器 3C 5V2A"), None, False),
    # BRAND_LOOKALIKE
    ("BRAND_LOOKALIKE", make("华维 充电器 3C"), None, True),  # same sound
    ("BRAND_LOOKALIKE", make("化为快充 充电器 3C"), None, True),  # 化 looks like 华
    ("BRAND_LOOKALIKE", make("充电宝 3C", brand="小咪"), None, True),
    ("BRAND_LOOKALIKE", make("HUAWEl 充电器 3C"), None, True),  # lower-case L
    ("BRAND_LOOKALIKE", make("Аpple 充电器 3C"), None, True),  # Cyrillic А
    ("BRAND_LOOKALIKE", make("Phillips 电吹风 3C"), None, True),
    ("BRAND_LOOKALIKE", make("Baesus 充电器 3C"), None, True),  # neighbours swapped
    ("BRAND_LOOKALIKE", make("华为 充电器 3C"), None, False),
    ("BRAND_LOOKALIKE", make("華為 充電器 3C"), None, False),  # traditional spelling
    ("BRAND_LOOKALIKE", make("华硕 充电器 3C"), None, False),
    ("BRAND_LOOKALIKE", make("电源隔离 充电器 3C"), None, False),  # 隔离 sounds like 格力
    ("BRAND_LOOKALIKE", make("Mobile 充电器 3C"), None, False),
    # MAKER_INFO_MISSING (two of maker, address, standard missing)
    ("MAKER_INFO_MISSING", make("纸尿裤 L码 100片"), None, True),
    (
        "MAKER_INFO_MISSING",
        make("纸尿裤", attributes={"执行标准": "GB/T 28004.1-2021"}),
        None,
        True,
    ),
    (
        "MAKER_INFO_MISSING",
        make("纸尿裤", attributes={"生产企业": "某某有限公司", "执行标准": "GB/T 28004.1-2021"}),
        None,
        False,
    ),
    ("MAKER_INFO_MISSING", make("充电器 3C"), None, False),  # not required for the category
    (
        "MAKER_INFO_MISSING",
        make("纸尿裤"),
        MatchContext(
            images=(
                ImageSignal(
                    "http://i/2.jpg",
                    ocr_text="生产企业：某某卫生用品有限公司 执行标准：GB/T 28004.1",
                ),
            )
        ),
        False,
    ),
    # FERTILIZER_LICENCE_MISSING
    ("FERTILIZER_LICENCE_MISSING", make("复合肥 15-15-15 40kg"), None, True),
    ("FERTILIZER_LICENCE_MISSING", make("复合肥 15-15-15", attributes=LICENCE), None, False),
    (
        "FERTILIZER_LICENCE_MISSING",
        make("复合肥", "肥料登记证号：农肥（2019）准字1234号"),
        None,
        False,
    ),
    # FERTILIZER_NUTRIENT_MISMATCH
    (
        "FERTILIZER_NUTRIENT_MISMATCH",
        make("复合肥 15-15-15 总养分≥55%", attributes=LICENCE),
        None,
        True,
    ),
    (
        "FERTILIZER_NUTRIENT_MISMATCH",
        make("复合肥 总养分≥45%（含中微量元素） 12-10-8", attributes=LICENCE),
        None,
        True,
    ),
    ("FERTILIZER_NUTRIENT_MISMATCH", make("高浓度复合肥 12-8-10", attributes=LICENCE), None, True),
    ("FERTILIZER_NUTRIENT_MISMATCH", make("复合肥 8-8-6", attributes=LICENCE), None, True),
    (
        "FERTILIZER_NUTRIENT_MISMATCH",
        make("复合肥 15-15-15 总养分≥45%", attributes=LICENCE),
        None,
        False,
    ),
    (
        "FERTILIZER_NUTRIENT_MISMATCH",
        make("复合肥 17-17-17 生产日期2024-05-01", attributes=LICENCE),
        None,
        False,
    ),
    (
        "FERTILIZER_NUTRIENT_MISMATCH",
        make("硫酸钾型复合肥 15-15-15 总养分≥45%", attributes=LICENCE),
        None,
        False,
    ),
    (
        "FERTILIZER_NUTRIENT_MISMATCH",
        make("复合肥 15-15-15 总养分≥45% 另含中微量元素≥5%", attributes=LICENCE),
        None,
        False,
    ),
    (
        "FERTILIZER_NUTRIENT_MISMATCH",
        make("复合肥 15-15-15", "总养分≥45%（中微量元素不计入总养分）", attributes=LICENCE),
        None,
        False,
    ),
    (
        "FERTILIZER_NUTRIENT_MISMATCH",
        make("复合肥 总养分(含微量元素)≥50% 16-16-16", attributes=LICENCE),
        None,
        True,
    ),
    ("COUNTERFEIT_WORDING", make("复合肥 氮磷钾1:1:1 平衡型", attributes=LICENCE), None, False),
    ("COUNTERFEIT_WORDING", make("1:1复刻 充电器 3C"), None, True),
    # FERTILIZER_BANNED_WORDING
    ("FERTILIZER_BANNED_WORDING", make("高效复合肥 15-15-15", attributes=LICENCE), None, True),
    ("FERTILIZER_BANNED_WORDING", make("复合肥 高产 15-15-15", attributes=LICENCE), None, True),
    (
        "FERTILIZER_BANNED_WORDING",
        make("复合肥 15-15-15 颗粒均匀", attributes=LICENCE),
        None,
        False,
    ),
    (
        "FERTILIZER_BANNED_WORDING",
        make("高效氯氰菊酯 杀虫剂 PD20080005"),
        None,
        False,
    ),  # a pesticide
    # PESTICIDE_REG_INVALID
    ("PESTICIDE_REG_INVALID", make("草甘膦 除草剂", "登记证号 LS20130012"), None, True),
    ("PESTICIDE_REG_INVALID", make("草甘膦 除草剂", "登记证号：PD2008005"), None, True),
    ("PESTICIDE_REG_INVALID", make("草甘膦 除草剂"), None, True),  # none shown
    ("PESTICIDE_REG_INVALID", make("草甘膦 除草剂", "农药登记证号：PD20080005"), None, False),
    (
        "PESTICIDE_REG_INVALID",
        make("杀虫剂 蚊香液", attributes={"登记证号": "WP20180123"}),
        None,
        False,
    ),
    # CHILD_SEAT_CUSHION
    ("CHILD_SEAT_CUSHION", make("儿童安全坐垫 汽车用 3C"), None, True),
    ("CHILD_SEAT_CUSHION", make("便携式儿童安全座椅 3C"), None, True),
    ("CHILD_SEAT_CUSHION", make("简易汽车座椅 婴儿 3C", search_keyword="儿童安全座椅"), None, True),
    ("CHILD_SEAT_CUSHION", make("儿童安全座椅 ISOFIX 车载便携 3C"), None, False),
    ("CHILD_SEAT_CUSHION", make("汽车坐垫 四季通用"), None, False),
    # PRICE_OUTLIER_PEERS
    (
        "PRICE_OUTLIER_PEERS",
        make("充电器 3C", price=Decimal("20"), brand="星川"),
        MatchContext(
            peer_prices=PeerPrices.from_prices(
                [("charger", "星川", p) for p in (60, 65, 70, 62, 68, 64, 66, 61)]
            )
        ),
        True,
    ),
    (
        "PRICE_OUTLIER_PEERS",
        make("充电器 3C", price=Decimal("55"), brand="星川"),
        MatchContext(
            peer_prices=PeerPrices.from_prices(
                [("charger", "星川", p) for p in (60, 65, 70, 62, 68, 64, 66, 61)]
            )
        ),
        False,
    ),
    (
        "PRICE_OUTLIER_PEERS",  # too few peers
        make("充电器 3C", price=Decimal("5"), brand="星川"),
        MatchContext(
            peer_prices=PeerPrices.from_prices([("charger", "星川", p) for p in (60, 65, 70)])
        ),
        False,
    ),
    ("PRICE_OUTLIER_PEERS", make("充电器 3C", price=Decimal("5")), None, False),  # no peers known
    # SELLER_NO_LICENCE
    ("SELLER_NO_LICENCE", make("充电器 3C", seller=Seller("s1", licence_shown=False)), None, True),
    ("SELLER_NO_LICENCE", make("充电器 3C", seller=Seller("s1", licence_shown=None)), None, False),
    ("SELLER_NO_LICENCE", make("充电器 3C", seller=Seller("s1", licence_shown=True)), None, False),
    # SELLER_HOTSPOT_REGION
    (
        "SELLER_HOTSPOT_REGION",
        make("充电器 3C", seller=Seller("s1", location="福建 莆田")),
        None,
        True,
    ),
    (
        "SELLER_HOTSPOT_REGION",
        make("遥控车 3C", seller=Seller("s1", location="广东 汕头 澄海区")),
        None,
        True,
    ),
    (
        "SELLER_HOTSPOT_REGION",
        make("充电器 3C", seller=Seller("s1", location="广东 深圳")),
        None,
        False,
    ),
    # SELLER_REPEAT_OFFENDER
    (
        "SELLER_REPEAT_OFFENDER",
        make("充电器 3C", seller=Seller("s1")),
        MatchContext(repeat_offenders=frozenset({"t:s1"})),
        True,
    ),
    (
        "SELLER_REPEAT_OFFENDER",
        make("充电器 3C", seller=Seller("s1")),
        MatchContext(repeat_offenders=frozenset({"other:s1"})),  # same id, other platform
        False,
    ),
    # SELLER_NETWORK
    (
        "SELLER_NETWORK",
        make("充电器 3C", seller=Seller("s1")),
        MatchContext(seller_links={"t:s1": (SellerLink("licence", "9144", frozenset({"t:s2"})),)}),
        True,
    ),
    (
        "SELLER_NETWORK",
        make("充电器 3C", seller=Seller("s1")),
        MatchContext(seller_links={}),
        False,
    ),
]


@pytest.mark.parametrize(
    ("rule_id", "listing", "context", "expected"),
    CASES,
    ids=[f"{c[0]}-{'fires' if c[3] else 'silent'}-{c[1].title[:12]}" for c in CASES],
)
def test_rule(
    matcher: Matcher, rule_id: str, listing: Listing, context: MatchContext | None, expected: bool
) -> None:
    assert (rule_id in fired(matcher, listing, context)) is expected


def test_every_issue_4_rule_has_a_firing_and_a_silent_case() -> None:
    by_rule: dict[str, set[bool]] = {}
    for rule_id, _, _, expected in CASES:
        by_rule.setdefault(rule_id, set()).add(expected)
    assert all(outcomes == {True, False} for outcomes in by_rule.values()), by_rule


def test_flags_explain_themselves(matcher: Matcher) -> None:
    ocr = ImageSignal("http://i/3.jpg", ocr_text="认证 CCC(S) 标志")
    result = matcher.match(make("充电器"), MatchContext(images=(ocr,)))
    flag = next(f for f in result.flags if f.rule_id == "CCC_ABOLISHED_MARK")
    assert flag.field == "image:http://i/3.jpg" and "CCC(S)" in flag.snippet
    assert flag.reason and flag.reason_en and flag.legal_basis.startswith("《")
    nutrient = next(
        f
        for f in matcher.match(make("复合肥 15-15-15 总养分≥55%", attributes=LICENCE)).flags
        if f.rule_id == "FERTILIZER_NUTRIENT_MISMATCH"
    )
    assert "55" in nutrient.reason and "45" in nutrient.reason and "45" in nutrient.reason_en


def test_ocr_text_feeds_the_ccc_scanner(matcher: Matcher) -> None:
    assert "CCC_MISSING" in fired(matcher, make("65W 充电器"))
    ocr = ImageSignal("http://i/4.jpg", ocr_text="CCC 2023010907123456")
    assert "CCC_MISSING" not in fired(matcher, make("65W 充电器"), MatchContext(images=(ocr,)))
    bad = ImageSignal("http://i/5.jpg", ocr_text="3C证书编号：20230109071234")
    flags = matcher.match(make("65W 充电器"), MatchContext(images=(bad,))).flags
    assert any(f.rule_id == "CCC_NUMBER_INVALID" and f.field.startswith("image:") for f in flags)
    mark = ImageSignal("http://i/6.jpg", ccc_mark=True)
    assert "CCC_MISSING" not in fired(matcher, make("65W 充电器"), MatchContext(images=(mark,)))
