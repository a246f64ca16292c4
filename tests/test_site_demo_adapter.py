"""The bundled demo adapter (crawlers/sites/demo.yaml) run by the generic site spider reads the
demo shop as completely as the hand-written demo_shop spider: same listings, same fields, GBK
pages decoded, JavaScript pages rendered in Chromium, faults reported, shops read once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from demo.generator import FAULT_BROKEN_HTML, FAULT_HTTP_500, Marketplace, generate
from demo.server import DemoServer
from tests.conftest import run_cli

KEYWORDS = ["充电器", "移动电源"]
CHINA = timezone(timedelta(hours=8))


@pytest.fixture(scope="module")
def market() -> Marketplace:
    return generate(seed=7, listings=60, shop_fault=True)


@pytest.fixture(scope="module")
def crawled(market: Marketplace) -> dict[str, Any]:
    args = [f"--keyword={k}" for k in KEYWORDS]
    with DemoServer(market) as shop:
        proc = run_cli(
            "crawl", "--site", "demo", "--base-url", shop.url, *args, "--dry-run", "--json",
            timeout=240,
        )  # fmt: skip
        url = shop.url
    listings = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return {"proc": proc, "listings": listings, "url": url}


@pytest.mark.browser
def test_demo_adapter_reads_what_the_demo_spider_reads(
    market: Marketplace, crawled: dict[str, Any]
) -> None:
    proc = crawled["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = {
        x.listing_id
        for x in market.found_by(KEYWORDS)
        if x.fault not in (FAULT_HTTP_500, FAULT_BROKEN_HTML)
    }
    ids = [item["listing_id"] for item in crawled["listings"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    # Both unreadable pages are reported, each with its own kind.
    assert "[http_status]" in proc.stderr and "[parse]" in proc.stderr
    base = crawled["url"]
    today = datetime.now(CHINA).date()
    layouts = set()
    for item in crawled["listings"]:
        x = market.listing(item["listing_id"])
        assert x is not None
        layouts.add((x.layout, x.encoding))
        assert item["platform"] == "demo"
        assert item["url"] == f"{base}/item/{x.listing_id}"
        assert item["title"] == x.title
        assert item["price"] is not None and float(item["price"]) == float(x.price)
        assert item["sales"] == x.sales
        assert item["attributes"] == dict(market.attributes(x))
        assert item["image_urls"] == [f"{base}/img/{name}" for name in x.images]
        assert item["rendered_with"] == ("browser" if x.layout == "js" else "http")
        seller = item["seller"]
        shop = market.shop(x.shop_id)
        assert seller["seller_id"] == shop.shop_id and seller["name"] == shop.name
        if not shop.failing:
            assert seller["rating"] == shop.rating and seller["location"] == shop.location
            assert seller["shop_age_days"] == (today - shop.opened).days
    # The sample covers every page variant the demo shop serves.
    assert {layout for layout, _ in layouts} == {"plain", "jsonld", "js"}
    assert {encoding for _, encoding in layouts} >= {"utf-8", "gbk-header", "gbk-meta"}
