"""The demo_shop spider against a real demo shop on 127.0.0.1, crawled by a real Scrapy process
(with Debian's Chromium for JavaScript pages). Twisted's reactor cannot restart inside pytest, so
every crawl runs in a child process: ``python -m scrapy crawl demo_shop ... -O items.jsonl``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import HtmlResponse, Request

from crawlers.spiders import demo_pages
from crawlers.spiders.demo_pages import PageParseError, parse_detail, parse_shop
from crawlers.spiders.demo_shop import DemoShopSpider, shop_age_days, split_keywords
from demo.generator import (
    FAULT_BROKEN_HTML,
    FAULT_CORRUPT_IMAGE,
    FAULT_HTTP_500,
    Marketplace,
    generate,
)
from demo.server import DemoApp, DemoServer

REPO_ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = ["充电器", "移动电源", "复合肥"]
CHINA = timezone(timedelta(hours=8))


def crawl(
    base_url: str, keywords: list[str], out: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-m", "scrapy", "crawl", "demo_shop",
            "-a", f"base_url={base_url}", "-a", f"keywords={','.join(keywords)}",
            "-O", str(out),
            # Only the spider is under test: whatever pipelines a pass adds stay off.
            "-s", "ITEM_PIPELINES={}", "-s", "EXTENSIONS={}",
            *extra,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "MARKETGUARD_HOME": str(out.parent / "home")},
        check=False,
    )


def read_items(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [i for i in items if "listing_id" in i], [i for i in items if "kind" in i]


@pytest.fixture(scope="module")
def market() -> Marketplace:
    # shop_fault: one shop page answers 500, so listings must arrive without its facts.
    return generate(seed=7, listings=60, shop_fault=True)


@pytest.fixture(scope="module")
def crawled(market: Marketplace, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("crawl") / "items.jsonl"
    with DemoServer(market) as shop:
        result = crawl(shop.url, KEYWORDS, out)
        url = shop.url
    listings, errors = read_items(out) if out.exists() else ([], [])
    return {"result": result, "listings": listings, "errors": errors, "url": url}


# --- whole crawl, in a child process ---------------------------------------------------------
@pytest.mark.browser
def test_crawl_finishes_and_reads_every_readable_listing(
    market: Marketplace, crawled: dict[str, Any]
) -> None:
    result = crawled["result"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Spider closed (finished)" in result.stderr
    assert "Spider error processing" not in result.stderr
    expected = {
        x.listing_id
        for x in market.found_by(KEYWORDS)
        if x.fault not in (FAULT_HTTP_500, FAULT_BROKEN_HTML)
    }
    ids = [item["listing_id"] for item in crawled["listings"]]
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == expected
    # the corrupt-image listing's page is fine: the spider reports it (images are not its job)
    assert market.fault_listing(FAULT_CORRUPT_IMAGE).listing_id in expected


@pytest.mark.browser
def test_listing_fields_match_the_shop(market: Marketplace, crawled: dict[str, Any]) -> None:
    base = crawled["url"]
    today = datetime.now(CHINA).date()
    failing_shop = market.failing_shop()
    assert failing_shop is not None
    for item in crawled["listings"]:
        x = market.listing(item["listing_id"])
        assert x is not None
        assert item["platform"] == "demo"
        assert item["url"] == f"{base}/item/{x.listing_id}"
        assert item["title"] == x.title
        assert item["price"] == str(x.price) and Decimal(item["price"]) == x.price
        assert item["currency"] == "CNY"
        assert item["sales"] == x.sales
        assert item["attributes"] == dict(market.attributes(x))
        assert item["description"] == market.description(x)
        assert item["image_urls"] == [f"{base}/img/{name}" for name in x.images]
        assert item["search_keyword"] in KEYWORDS
        assert x in market.search(item["search_keyword"])
        crawled_at = datetime.fromisoformat(item["crawled_at"])
        assert crawled_at.utcoffset() == timedelta(0)
        assert item["rendered_with"] == ("browser" if x.layout == "js" else "http")
        seller = item["seller"]
        shop = market.shop(x.shop_id)
        assert seller["seller_id"] == shop.shop_id and seller["name"] == shop.name
        assert seller["url"] == f"{base}/shop/{shop.shop_id}"
        if shop.failing:  # only what the detail page shows
            assert seller["rating"] is None and seller["shop_age_days"] is None
            assert seller["location"] == ""
        else:
            assert seller["rating"] == shop.rating
            assert seller["location"] == shop.location
            assert seller["shop_age_days"] == (today - shop.opened).days
    shops = {item["seller"]["seller_id"] for item in crawled["listings"]}
    assert failing_shop.shop_id in shops


@pytest.mark.browser
def test_gbk_and_javascript_pages_read_correctly(
    market: Marketplace, crawled: dict[str, Any]
) -> None:
    by_id = {item["listing_id"]: item for item in crawled["listings"]}
    gbk = [x for x in market.found_by(KEYWORDS) if x.encoding != "utf-8" and not x.fault]
    js = [x for x in market.found_by(KEYWORDS) if x.layout == "js" and not x.fault]
    assert {x.encoding for x in gbk} == {"gbk-header", "gbk-meta"}  # both kinds are crawled
    assert js, "seed 7 must give the crawl some JavaScript pages"
    for x in gbk:
        assert by_id[x.listing_id]["title"] == x.title
        assert by_id[x.listing_id]["description"] == market.description(x)
    for x in js:  # the static HTML had no price: Chromium ran the page's script
        item = by_id[x.listing_id]
        assert item["rendered_with"] == "browser"
        assert item["price"] == str(x.price)
        assert item["attributes"] == dict(market.attributes(x))


@pytest.mark.browser
def test_faults_become_page_errors(market: Marketplace, crawled: dict[str, Any]) -> None:
    base = crawled["url"]
    errors = {(e["url"], e["kind"]): e["message"] for e in crawled["errors"]}
    failing = market.fault_listing(FAULT_HTTP_500)
    broken = market.fault_listing(FAULT_BROKEN_HTML)
    shop = market.failing_shop()
    assert set(errors) == {
        (f"{base}/item/{failing.listing_id}", "http_status"),
        (f"{base}/item/{broken.listing_id}", "parse"),
        (f"{base}/shop/{shop.shop_id}", "http_status"),
    }
    assert errors[(f"{base}/item/{failing.listing_id}", "http_status")].startswith("HTTP 500")
    assert "no product title" in errors[(f"{base}/item/{broken.listing_id}", "parse")]


@pytest.mark.browser
def test_unreachable_shop_yields_connection_errors_and_finishes(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "items.jsonl"
    result = crawl(f"http://127.0.0.1:{port}", ["充电器", "复合肥"], out, "-s", "RETRY_TIMES=0")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Spider closed (finished)" in result.stderr
    listings, errors = read_items(out)
    assert listings == []
    assert sorted(e["kind"] for e in errors) == ["connection", "connection"]
    assert all("/search?q=" in e["url"] for e in errors)


# --- parsing, in this process ------------------------------------------------------------------
def _response(app: DemoApp, path: str) -> HtmlResponse:
    status, content_type, body = app.handle(path, "http://shop.test")
    url = f"http://shop.test{path}"
    return HtmlResponse(
        url, status=status, body=body, headers={"Content-Type": content_type}, request=Request(url)
    )


def test_parse_detail_prefers_json_ld_and_decodes_gbk() -> None:
    market = generate(seed=11, listings=120)
    app = DemoApp(market)
    for x in market.listings:
        if x.fault or x.layout == "js":
            continue
        page = parse_detail(_response(app, f"/item/{x.listing_id}"))
        assert (page.listing_id, page.title, page.price) == (x.listing_id, x.title, x.price)
        assert page.attributes == dict(market.attributes(x))
        assert page.shop_id == x.shop_id
        assert page.image_urls[0] == f"http://shop.test/img/{x.images[0]}"


def test_parse_detail_reports_js_and_broken_pages() -> None:
    market = generate(seed=7, listings=60)
    app = DemoApp(market)
    js = next(x for x in market.listings if x.layout == "js")
    page = parse_detail(_response(app, f"/item/{js.listing_id}"))
    assert page.title == js.title and page.price is None and page.attributes == {}
    broken = market.fault_listing(FAULT_BROKEN_HTML)
    with pytest.raises(PageParseError, match="no product title"):
        parse_detail(_response(app, f"/item/{broken.listing_id}"))


def test_parse_shop_and_age() -> None:
    market = generate(seed=7, listings=60)
    shop = next(iter(market.shops.values()))
    facts = parse_shop(_response(DemoApp(market), f"/shop/{shop.shop_id}"), shop.shop_id)
    assert (facts.name, facts.opened, facts.rating, facts.location) == (
        shop.name, shop.opened, shop.rating, shop.location
    )
    evening_utc = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)  # already March 2 in Beijing
    assert shop_age_days(shop.opened.replace(2026, 3, 1), evening_utc) == 1
    with pytest.raises(PageParseError):
        parse_shop(_response(DemoApp(market), "/"), "x")


def test_spider_arguments() -> None:
    assert split_keywords("充电器, 移动电源，复合肥,,充电器") == ["充电器", "移动电源", "复合肥"]
    assert split_keywords(["充电宝", " 复合肥 "]) == ["充电宝", "复合肥"]
    spider = DemoShopSpider(base_url="http://h:1/", keywords="充电器", max_pages="2")
    assert (spider.base_url, spider.keywords, spider.max_pages) == ("http://h:1", ["充电器"], 2)
    with pytest.raises(ValueError, match="base_url"):
        DemoShopSpider(keywords="充电器")
    with pytest.raises(ValueError, match="keywords"):
        DemoShopSpider(base_url="http://h:1", keywords=" , ")


def test_template_reader_agrees_with_the_lxml_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast regular-expression reader and the lxml reader give the same listing."""
    market = generate(seed=5, listings=240)
    app = DemoApp(market)
    responses = [
        _response(app, f"/item/{x.listing_id}")
        for x in market.listings
        if x.fault not in (FAULT_HTTP_500, FAULT_BROKEN_HTML)
    ]
    assert all(demo_pages._fields_by_template(r) is not None for r in responses)
    fast = [parse_detail(r) for r in responses]
    monkeypatch.setattr(demo_pages, "_fields_by_template", lambda response: None)
    assert [parse_detail(r) for r in responses] == fast
    # markup the template does not expect goes to the lxml reader, not to a wrong reading
    plain = next(r for r in responses if b"<tr><th>" in r.body)
    odd = plain.replace(body=plain.body.replace(b"<tr><th>", b"<tr> <th>", 1))
    assert demo_pages._fields_by_template(odd) is None
