"""Sample listings, flags and evidence shared by the store tests (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from evidence.archive.base import Archive
from marketguard.models import Artifact, Evidence, Flag, Listing, Review, Seller, utcnow

T0 = utcnow().replace(microsecond=0) - timedelta(days=1)


def make_listing(n: int, *, seconds: int | None = None, **fields: object) -> Listing:
    listing = Listing(
        platform="shop",
        listing_id=str(n),
        url=f"https://shop.example/item/{n}",
        title=f"65W 快充充电器 {n}",
        price=Decimal("19.90"),
        seller=Seller(seller_id=f"s{n % 7}", name=f"数码店{n % 7}", location="广东 深圳"),
        attributes={"品牌": "无", "3C认证": "无"},
        description="全新正品",
        category="charger",
        crawled_at=T0 + timedelta(seconds=n if seconds is None else seconds),
    )
    for name, value in fields.items():
        setattr(listing, name, value)
    return listing


def flag(rule_id: str = "CCC_MISSING", severity: str = "high", snippet: str = "无3C") -> Flag:
    return Flag(
        rule_id=rule_id,
        severity=severity,  # type: ignore[arg-type]
        reason="强制性认证产品未标注 3C 认证",
        legal_basis="《认证认可条例》第二十七条",
        snippet=snippet,
        field="attributes.3C认证",
    )


def make_evidence(archive: Archive, listing: Listing, capture_id: str, when: int) -> Evidence:
    shot = f"PNG bytes of {capture_id}".encode()
    html = f"<html>{capture_id}</html>".encode()
    return Evidence(
        capture_id=capture_id,
        platform=listing.platform,
        listing_id=listing.listing_id,
        url=listing.url,
        final_url=listing.url + "?from=search",
        http_status=200,
        started_at=T0 + timedelta(hours=when),
        finished_at=T0 + timedelta(hours=when, seconds=4),
        browser_version="Chromium 131.0.6778.85",
        user_agent="Mozilla/5.0 test",
        viewport="1280x800",
        tool_version="marketguard 0.1.0",
        artifacts=[
            Artifact("screenshot", "image/png", archive.put_blob(shot), len(shot)),
            Artifact("html", "text/html", archive.put_blob(html), len(html), listing.url),
        ],
        errors=["image https://img.example/1.jpg: not an image"],
        case_id="CASE-1" if when % 2 else "",
    )


W0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # a Monday


def shop_listing(
    n: int,
    title: str,
    *,
    platform: str = "shop",
    seller: str = "s1",
    location: str = "广东 深圳",
    category: str = "charger",
    day: int = 0,
    description: str = "",
) -> Listing:
    return Listing(
        platform=platform,
        listing_id=str(n),
        url=f"https://{platform}.example/item/{n}",
        title=title,
        price=Decimal("10"),
        seller=Seller(seller, f"店铺{seller}", location=location),
        category=category,
        description=description,
        crawled_at=W0 + timedelta(days=day, minutes=n),
    )


def add_workspace_listings(archive: Archive) -> None:
    """The review workspace's sample store: four listings of two sellers on two platforms, three
    flagged with different risk scores, one of them confirmed."""
    archive.save_listing(shop_listing(1, "65W 快充充电器 免3C"), [flag()], risk_score=90)
    archive.save_listing(
        shop_listing(
            2,
            "移动电源 20000mAh",
            platform="mall",
            location="浙江 义乌",
            category="power_bank",
            day=8,
            description="高仿大牌 原装品质",
        ),
        [flag("PRICE_TOO_LOW", "medium")],
        risk_score=60,
    )
    archive.save_listing(
        shop_listing(
            3, "童车 Stroller 折叠", seller="s2", location="广东 广州", category="stroller", day=8
        ),
        [flag("COUNTERFEIT_WORDING", "low"), flag("PRICE_TOO_LOW", "medium")],
        risk_score=40,
    )
    archive.save_listing(shop_listing(4, "正规充电器"), [])  # same seller, not flagged
    archive.add_review(Review("shop", "1", "confirmed", "王五"))
