"""The generic site spider over saved marketplace pages served on loopback, one adapter per page
structure, run through ``marketguard crawl ... --dry-run --json`` as a user would."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.site_server import FixtureSite

ADAPTERS = Path(__file__).resolve().parent / "fixtures" / "sites"


@pytest.fixture(scope="module")
def trap() -> Iterator[FixtureSite]:
    with FixtureSite() as running:
        yield running


@pytest.fixture(scope="module")
def site(trap: FixtureSite) -> Iterator[FixtureSite]:
    trap_origin = trap.url.replace("127.0.0.1", "localhost")  # another host, same machine
    with FixtureSite(offsite_origin=trap_origin) as running:
        yield running


def dry_run(*args: str) -> tuple[list[dict[str, Any]], str, int]:
    proc = run_cli("crawl", *args, "--dry-run", "--json", timeout=120)
    listings = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return listings, proc.stderr, proc.returncode


def by_id(listings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {x["listing_id"]: x for x in listings}


def test_css_search_pagination_detail_and_shops(site: FixtureSite, trap: FixtureSite) -> None:
    before = len(site.requests)
    listings, stderr, code = dry_run(
        "--site", str(ADAPTERS / "mall.yaml"), "--base-url", site.url, "--keyword", "充电器"
    )
    assert code == 0, stderr
    found = by_id(listings)
    assert set(found) == {"1001", "1002", "1003"}  # page 2's repeat of 1001 read once
    first = found["1001"]
    assert first["title"] == "公牛 GaN 65W 氮化镓充电器 三口快充"
    assert first["brand"] == "公牛"  # from the detail page's JSON-LD
    assert first["attributes"]["3C认证"] == "2021011609441234"
    assert first["price"] == "89.00" and first["search_keyword"] == "充电器"
    assert found["1002"]["price"] == "19.90"  # 到手价 ¥19.90
    # Brand and model from the parameter list when nothing else names them.
    assert (found["1002"]["brand"], found["1002"]["model"]) == ("Apple/苹果", "A2305")
    assert first["model"] == "GNV-AC265"
    assert found["1003"]["price"] == "12000"  # 1.2万
    bull = first["seller"]
    assert bull == found["1002"]["seller"]
    assert bull["seller_id"] == "88" and bull["name"] == "公牛官方旗舰店"
    assert bull["licence_number"] == "91330200144512345X" and bull["licence_shown"] is True
    assert (bull["phone"], bull["location"], bull["rating"]) == ("0574-58580000", "浙江 宁波", 4.9)
    assert bull["address"] == "浙江省慈溪市观海卫镇工业园东区"
    assert bull["shop_age_days"] == 8 * 365
    small = found["1003"]["seller"]
    assert (small["licence_shown"], small["shop_age_days"], small["rating"]) == (False, 90, 3.1)
    requested = site.requests[before:]
    assert sum(p == "/shop/88.html" for p in requested) == 1  # once per pass, two listings
    assert sum(p.startswith("/search") for p in requested) == 2
    # The ad to evil.example.com, the "related" link on a detail page and a lookalike host in
    # the pager were never requested.
    assert trap.requests == []
    assert "page error [" not in stderr
    assert "2 offsite links not followed" in stderr


def test_json_in_script_search_page_only(site: FixtureSite) -> None:
    before = len(site.requests)
    listings, stderr, code = dry_run(
        "--site", str(ADAPTERS / "tb.yaml"), "--base-url", site.url, "--keyword", "插座"
    )
    assert code == 0, stderr
    found = by_id(listings)
    assert set(found) == {"672345678901", "680000000002", "680000000003"}
    bull = found["672345678901"]
    assert bull["title"] == "公牛插座 GN-H3050 五孔 3C认证 新国标"
    assert (bull["price"], bull["sales"]) == ("39.90", 12000)
    assert bull["seller"]["seller_id"] == "2200712345"
    assert bull["seller"]["location"] == "浙江 宁波"
    assert found["680000000002"]["title"] == "插线板 无3C 免3C 工厂直销 超低价 插座"  # tags gone
    assert found["680000000003"]["price"] is None  # 价格面议: kept, with a reason
    assert "[extraction]" in stderr and "no price" in stderr
    # A result that links off the site is not the site's listing (capture would follow it).
    assert "690000000009" not in found and "1 offsite links not followed" in stderr
    # The search page showed enough: no detail or shop page was fetched.
    assert {p.split("?")[0] for p in site.requests[before:]} <= {"/s", "/robots.txt"}


def test_json_search_api(site: FixtureSite) -> None:
    listings, stderr, code = dry_run(
        "--site", str(ADAPTERS / "api.yaml"), "--base-url", site.url, "--keyword", "移动电源"
    )
    assert code == 0, stderr
    found = by_id(listings)
    assert set(found) == {"3301", "3302"}
    assert found["3301"]["price"] == "99.00" and found["3301"]["url"] == f"{site.url}/m/item/3301"
    assert found["3302"]["seller"]["name"] == "数码小铺"


def test_xpath_search_and_next_data_detail(site: FixtureSite, trap: FixtureSite) -> None:
    listings, stderr, code = dry_run(
        "--site", str(ADAPTERS / "youxuan.yaml"), "--base-url", site.url, "--keyword", "电热水壶"
    )
    assert code == 0, stderr
    found = by_id(listings)
    assert set(found) == {"501", "502"}
    kettle = found["501"]
    assert kettle["title"] == "美的（Midea）电热水壶 MK-HJ1705 1.7L 304不锈钢"
    assert (kettle["price"], kettle["price_max"]) == ("89", "129")  # ¥89-129
    assert kettle["sales"] == 3000  # from the search page, kept beside the detail fields
    assert kettle["image_urls"] == [
        "https://img.youxuan.example/501/a.jpg",
        "https://img.youxuan.example/501/b.jpg",
    ]
    assert kettle["attributes"] == {
        "型号": "MK-HJ1705",
        "额定功率": "1800W",
        "CCC证书": "2020010701234567",
    }
    assert kettle["seller"]["seller_id"] == "s-77"
    assert kettle["seller"]["url"] == f"{site.url}/store/s-77"
    assert trap.requests == []
    assert "1 offsite links not followed" in stderr


def test_gbk_search_page_under_a_utf8_header(site: FixtureSite) -> None:
    before = len(site.requests)
    listings, stderr, code = dry_run(
        "--site", str(ADAPTERS / "gbkmall.yaml"), "--base-url", site.url, "--keyword", "插座"
    )
    assert code == 0, stderr
    found = by_id(listings)
    assert found["530001"]["title"] == "德力西 开关插座 86型 五孔 批发"
    assert found["530001"]["seller"]["name"] == "温州市柳市镇德力西电器经营部"
    assert (found["530002"]["price"], found["530002"]["currency"]) == ("1.5", "CNY")  # 1.5元/个
    # The keyword went out GBK-encoded, as such sites expect.
    assert "/offer_search?keywords=%B2%E5%D7%F9" in site.requests[before:]


def test_url_uses_the_adapter_whose_domain_matches(site: FixtureSite, tmp_path: Path) -> None:
    shutil.copy(ADAPTERS / "wap.yaml", tmp_path / "wap.yaml")
    url = f"{site.url}/wap/goods.html?goods_id=911223344"
    listings, stderr, code = dry_run("--url", url, "--sites-dir", str(tmp_path))
    assert code == 0, stderr
    [listing] = listings
    assert listing["platform"] == "wap" and listing["listing_id"] == "911223344"
    assert listing["title"] == "德力西 断路器 DZ47s 1P 32A 空气开关"
    assert (Decimal(listing["price"]), Decimal(listing["price_max"])) == (
        Decimal("12.90"),
        Decimal("25.90"),
    )
    assert listing["sales"] == 100000  # 已拼10万+件
    assert listing["seller"]["seller_id"] == "50001"


def test_url_without_adapter_uses_generic_extraction(site: FixtureSite, tmp_path: Path) -> None:
    listings, stderr, code = dry_run("--url", f"{site.url}/p/gbk", "--sites-dir", str(tmp_path))
    assert code == 0, stderr
    [listing] = listings
    assert listing["platform"] == "127.0.0.1"
    assert listing["title"] == "正品德力西插座 86型 暗装 五孔 带开关 白色"
    assert listing["price"] == "6.50" and listing["brand"] == "德力西"


def test_robots_obeyed_by_default_and_per_site_switch(site: FixtureSite, tmp_path: Path) -> None:
    url = f"{site.url}/private/item.html"
    before = len(site.requests)
    listings, stderr, code = dry_run("--url", url, "--sites-dir", str(tmp_path))
    assert (listings, code) == ([], 1)
    assert "[blocked]" in stderr
    assert "/private/item.html" not in site.requests[before:]
    (tmp_path / "agency.yaml").write_text(
        "site: agency\nallowed_domains: [127.0.0.1]\nrobots_obey: false\ndetail: {fields: {}}\n"
    )
    listings, stderr, code = dry_run("--url", url, "--sites-dir", str(tmp_path))
    assert code == 0, stderr
    assert listings[0]["platform"] == "agency" and listings[0]["price"] == "89.00"


def test_proxy_and_cookie_file_per_site(site: FixtureSite, tmp_path: Path) -> None:
    """The site's proxy carries every request, robots.txt included; its cookies go along."""
    cookies = tmp_path / "shop.cookies.txt"
    cookies.write_text(
        "# Netscape HTTP Cookie File\n"
        ".shop.invalid\tTRUE\t/\tFALSE\t0\tsession\tabc123\n"
        "#HttpOnly_.shop.invalid\tTRUE\t/\tFALSE\t0\tuid\t42\n"
        ".other.invalid\tTRUE\t/\tFALSE\t0\tleak\tno\n"
    )
    (tmp_path / "proxied.yaml").write_text(
        "site: proxied\nallowed_domains: [shop.invalid]\n"
        f"proxy: {site.url}\nlogin: {{cookies_file: shop.cookies.txt}}\n"
        "detail: {fields: {}}\n"
    )
    before = len(site.requests)
    # shop.invalid cannot resolve: only a request through the proxy (the fixture server) works.
    listings, stderr, code = dry_run(
        "--url", "http://www.shop.invalid/p/microdata", "--sites-dir", str(tmp_path)
    )
    assert code == 0, stderr
    assert listings[0]["platform"] == "proxied" and listings[0]["price"] == "1299.00"
    seen = dict(zip(site.requests[before:], site.cookies[before:], strict=True))
    assert seen == {
        "http://www.shop.invalid/robots.txt": "session=abc123; uid=42",
        "http://www.shop.invalid/p/microdata": "session=abc123; uid=42",
    }


@pytest.mark.browser
def test_browser_context_gets_the_sites_storage_state_and_proxy(
    site: FixtureSite, tmp_path: Path
) -> None:
    state = {
        "cookies": [
            {"name": "session", "value": "from-browser", "domain": ".shop.invalid", "path": "/",
             "expires": -1, "httpOnly": True, "secure": False, "sameSite": "Lax"}
        ],
        "origins": [],
    }  # fmt: skip
    (tmp_path / "state.json").write_text(json.dumps(state))
    (tmp_path / "proxied.yaml").write_text(
        "site: proxied\nallowed_domains: [shop.invalid]\nbrowser: always\nrobots_obey: false\n"
        f"proxy: {site.url}\nlogin: {{storage_state: state.json}}\ndetail: {{fields: {{}}}}\n"
    )
    before = len(site.requests)
    listings, stderr, code = dry_run(
        "--url", "http://www.shop.invalid/p/jsonld", "--sites-dir", str(tmp_path)
    )
    assert code == 0, stderr
    assert listings[0]["rendered_with"] == "browser" and listings[0]["price"] == "89.00"
    seen = dict(zip(site.requests[before:], site.cookies[before:], strict=True))
    assert seen["http://www.shop.invalid/p/jsonld"] == "session=from-browser"


def test_pass_through_the_pipeline_stores_listings(site: FixtureSite, tmp_path: Path) -> None:
    # The pictures of the recorded pages live on other hosts (g-search1.tb.example), which
    # --base-url does not mirror: with the image step (on by default) they would be looked up
    # in DNS and counted as image errors. This test is about the listings.
    proc = run_cli(
        "crawl", "--site", str(ADAPTERS / "tb.yaml"), "--base-url", site.url,
        "--keyword", "插座", "--store", str(tmp_path / "store"), "--no-capture", "--json",
        timeout=120, env={"MARKETGUARD_IMAGES": "0"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["listings"] == 3
    assert summary["flagged"] >= 1  # "免3C" for a compulsory product
    assert summary["errors"] == 1  # the listing without a price


def test_invalid_adapter_is_refused_before_crawling(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "site: bad\nallowed_domains: [bad.example.cn]\n"
        "search: {url: 'https://bad.example.cn/s', items: {css: li}, fields: {title: a}}\n"
    )
    proc = run_cli("crawl", "--site", "bad", "--sites-dir", str(tmp_path), "--dry-run")
    assert proc.returncode == 2
    assert f"{tmp_path / 'bad.yaml'}: search.url: must contain {{keyword}}" in proc.stderr


def test_site_that_is_gone_gives_page_errors_not_a_crash() -> None:
    from tests.conftest import free_port

    gone = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    listings, stderr, code = dry_run(
        "--site", str(ADAPTERS / "mall.yaml"), "--base-url", gone, "--keyword", "充电器"
    )
    assert (listings, code) == ([], 1)
    assert "page error [connection]" in stderr and "/search?keyword=" in stderr
    # Scrapy logs the unreachable robots.txt with its traceback; no callback of ours failed.
    assert "Spider error processing" not in stderr
    assert "dry run: 0 listings, 1 page errors" in stderr
