"""CCC_MISSING and CCC_NUMBER_INVALID: what must fire and, as important, what must not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from marketguard.models import Flag, Listing
from matching.engine import Matcher

CRAWLED = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.load()


def make(title: str, **fields: Any) -> Listing:
    fields.setdefault("crawled_at", CRAWLED)
    return Listing(
        platform="demo", listing_id="1", url="http://127.0.0.1/item/1", title=title, **fields
    )


def flag(matcher: Matcher, listing: Listing, rule_id: str) -> Flag | None:
    return next((f for f in matcher.match(listing).flags if f.rule_id == rule_id), None)


# -- CCC_MISSING -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "listing",
    [
        make("星川 65W 氮化镓快充充电器 M-12"),
        make("充电宝 20000mAh", attributes={"品牌": "星川", "电池容量": "20000mAh"}),
        make("儿童安全座椅 ISOFIX", description="侧撞防护设计。3C认证：无。"),
        make("婴儿推车 可坐可躺", attributes={"3C认证": "无"}),
        make("婴儿推车 轻便", attributes={"3C证书编号": ""}),
        make("电动玩具 遥控车", description="本品无3C认证，介意勿拍。"),
        make("电动玩具车", description="没有 CCC，价格便宜。"),
        make("充电器 3C数码配件"),  # "3C数码" is retail talk for electronics
        make("充电器 长3cm 小巧"),  # a size, not a mark
        make("PD快充 20W Type-C", search_keyword="充电器"),  # categorised by its search term
        make("充电器", description="认证信息见图"),
    ],
    ids=lambda x: x.title,
)
def test_ccc_missing_fires(matcher: Matcher, listing: Listing) -> None:
    found = flag(matcher, listing, "CCC_MISSING")
    assert found is not None
    assert found.severity == "high"
    assert found.field == "title"
    assert found.snippet == listing.title
    assert "《认证认可条例》第二十七条" in found.legal_basis
    assert "3C" in found.reason


@pytest.mark.parametrize(
    "listing",
    [
        make("复合肥 15-15-15 40kg"),  # fertilizer: production licence, not CCC
        make("充电器 65W", description="品质保证。证书编号：2023010907123456。"),
        make("充电器 65W", description="证书编号：２０２３０１０９０７１２３４５６"),
        make("ＣＣＣ认证 充电器"),
        make("充电器 3c认证 快充"),
        make("充电宝", description="本产品已通过强制性产品认证。"),
        make("充电宝", description="中国强制认证产品"),
        make("充电宝", attributes={"3C证书编号": "见详情图"}),
        make("充电宝", attributes={"认证": "3C认证"}),
        make(
            "充电宝", attributes={"售后": "无", "认证": "3C认证"}
        ),  # one value cannot negate the next
        make("充电宝", attributes={"认证信息": "2024011609123456"}),  # a bare 16-digit number
        make(
            "充电宝", attributes={"3C证书编号": "20240116"}
        ),  # a wrong number: the other rule's case
        make("纯棉T恤 男款"),  # not in the catalogue
        make("充电宝保护套 硅胶"),  # an accessory, not the product
        make("充电宝 10000mAh", crawled_at=datetime(2024, 7, 1, tzinfo=UTC)),  # before 2024-08-01
    ],
    ids=lambda x: x.title + "|" + x.description[:10],
)
def test_ccc_missing_does_not_fire(matcher: Matcher, listing: Listing) -> None:
    assert flag(matcher, listing, "CCC_MISSING") is None


def test_ccc_start_date_is_the_day_in_china(matcher: Matcher) -> None:
    # 2024-07-31 16:30 UTC is already 2024-08-01 in Beijing, the day power banks need CCC.
    late = make("充电宝 10000mAh", crawled_at=datetime(2024, 7, 31, 16, 30, tzinfo=UTC))
    early = make("充电宝 10000mAh", crawled_at=datetime(2024, 7, 31, 15, 30, tzinfo=UTC))
    assert flag(matcher, late, "CCC_MISSING") is not None
    assert flag(matcher, early, "CCC_MISSING") is None


# -- CCC_NUMBER_INVALID ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listing", "snippet", "field", "why"),
    [
        (
            make("充电器", attributes={"3C证书编号": "20230109071234"}),
            "20230109071234",
            "attributes.3C证书编号",
            "共14位",
        ),
        (
            make("充电器", attributes={"CCC证书编号": "202301090712345678"}),
            "202301090712345678",
            "attributes.CCC证书编号",
            "共18位",
        ),
        (
            make("充电器", description="3C证书编号：1999010907123456"),
            "1999010907123456",
            "description",
            "1999年早于2001年",
        ),
        (
            make("充电宝 3C认证 2027011609123456"),
            "2027011609123456",
            "title",
            "2027年晚于抓取年份2025年",
        ),
        (
            make("充电器", attributes={"CCC认证": "CQC2023010907123456"}),
            "CQC2023010907123456",
            "attributes.CCC认证",
            "含有数字以外的字符",
        ),
        (
            make("充电器", description="证书编号：２０２３０１０９０７１２３"),
            "２０２３０１０９０７１２３",  # as found: full-width stays full-width
            "description",
            "共13位",
        ),
        (
            make("婴儿推车", description="证书号 12345678，放心购买"),
            "12345678",
            "description",
            "共8位",
        ),
        (
            make("复合肥 40kg", description="已通过3C认证 12345678901"),  # explicit, any category
            "12345678901",
            "description",
            "共11位",
        ),
        (
            make("充电器", attributes={"强制性产品认证证书": "2023-0109-0712-3456-78 20230109"}),
            "20230109",
            "attributes.强制性产品认证证书",
            "共8位",
        ),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_ccc_number_invalid_fires(
    matcher: Matcher, listing: Listing, snippet: str, field: str, why: str
) -> None:
    found = flag(matcher, listing, "CCC_NUMBER_INVALID")
    assert found is not None
    assert found.severity == "high"
    assert found.snippet == snippet
    assert found.field == field
    assert why in found.reason
    assert snippet in found.reason
    assert found.legal_basis


@pytest.mark.parametrize(
    "listing",
    [
        make("充电器", attributes={"3C证书编号": "2023010907123456"}),
        make("充电器 CCC:2023010907123456"),
        make("充电器", description="本品已通过3C认证，证书编号：2023010907123456。"),
        make("充电器", attributes={"3C证书编号": "２０２３０１０９０７１２３４５６"}),
        make("充电器", description="３Ｃ证书编号：２０２３０１０９０７１２３４５６"),
        make("充电器", attributes={"3C证书编号": "2001010907123456"}),  # first year, inclusive
        make("充电器", attributes={"3C证书编号": "2025010907123456"}),  # crawl year, inclusive
        make("充电器", attributes={"客服电话": "13800138000"}, description="电话 13800138000"),
        make("充电器", attributes={"型号": "A2023010907"}),
        make("充电器 3C认证 型号A1234567890"),
        make("充电器 3C认证 电话13800138000"),
        make("充电器", attributes={"生产许可证号": "XK13-001-00456"}),
        make("复合肥", attributes={"生产许可证书编号": "XK13-001-00456123"}),
        make("复合肥", description="生产许可证号：XK13-001-00456。登记证书编号：12345678"),
        make("充电器 3C认证 ¥29.90"),
        make("充电器 3C认证 12345678.90元"),
        make("充电器 3C认证 2019年"),
        make("充电宝 3C 20000mAh"),
        make("充电器", attributes={"3C认证": "是"}),
        make("T恤", description="证书号 12345678"),  # generic words count in CCC categories only
    ],
    ids=lambda x: x.title + "|" + x.description[:12] + "|" + ",".join(x.attributes.values()),
)
def test_ccc_number_invalid_does_not_fire(matcher: Matcher, listing: Listing) -> None:
    assert flag(matcher, listing, "CCC_NUMBER_INVALID") is None


def test_first_invalid_number_is_reported_once(matcher: Matcher) -> None:
    listing = make(
        "充电器",
        attributes={"3C证书编号": "2023010907123456"},
        description="证书编号：20230109 以及 3C 1999010907123456",
    )
    flags = [f for f in matcher.match(listing).flags if f.rule_id == "CCC_NUMBER_INVALID"]
    assert len(flags) == 1
    assert flags[0].snippet == "20230109"
