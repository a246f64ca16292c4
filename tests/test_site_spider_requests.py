"""What the site spider asks for, checked in-process (no crawl): URLs, slots, browser contexts."""

from __future__ import annotations

import json
from pathlib import Path

from crawlers.spiders.site import SiteSpider


def spider_for(tmp_path: Path, extra: str = "") -> SiteSpider:
    (tmp_path / "shop.yaml").write_text(
        "site: shop\nallowed_domains: [shop.example.cn]\nbase_url: https://www.shop.example.cn\n"
        "search: {url: '{base_url}/s?q={keyword}&p={page}', keyword_encoding: gbk,\n"
        "         items: {css: li}, fields: {url: 'a::attr(href)', title: a}}\n"
        "detail: {fields: {title: h1}}\n" + extra,
        encoding="utf-8",
    )
    return SiteSpider(site=str(tmp_path / "shop.yaml"), keywords="插座,开关")


def test_search_urls_keyword_encoding_and_slots(tmp_path: Path) -> None:
    spider = spider_for(tmp_path, "concurrency: 2\ndelay: 1.5\nrobots_obey: false\n")
    assert spider.keywords == ["插座", "开关"]
    assert spider.search_url("插座", 3) == "https://www.shop.example.cn/s?q=%B2%E5%D7%F9&p=3"
    assert spider.download_slots == {"shop.example.cn": {"concurrency": 2, "delay": 1.5}}
    assert spider.robotstxt_obey is False
    request = spider._request("https://item.shop.example.cn/1", spider.parse_detail, {})
    assert request is not None
    assert request.meta["download_slot"] == "shop.example.cn"  # subdomains share the slot
    assert request.meta["dont_obey_robotstxt"] is True
    assert "playwright" not in request.meta


def test_browser_requests_get_the_sites_own_context(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"cookies": [], "origins": []}))
    spider = spider_for(
        tmp_path,
        "browser: always\nbrowser_wait_for: '#price'\n"
        "proxy: http://agent:s%40cret@10.0.0.8:3128\nlogin: {storage_state: state.json}\n",
    )
    request = spider._request("https://www.shop.example.cn/item/1", spider.parse_detail, {})
    assert request is not None
    meta = request.meta
    assert meta["playwright"] is True
    assert meta["playwright_context"] == "site-shop"
    assert meta["playwright_context_kwargs"] == {
        "storage_state": str(state),
        "proxy": {"server": "http://10.0.0.8:3128", "username": "agent", "password": "s@cret"},
    }
    assert meta["playwright_page_methods"][0].args == ("#price",)
    assert "playwright_include_page" not in meta  # scrapy-playwright closes every page itself
    assert "proxy" not in meta  # the context carries it


def test_cookie_file_becomes_the_browser_state(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(
        json.dumps([{"name": "sid", "value": "1", "domain": ".shop.example.cn"}])
    )
    spider = spider_for(tmp_path, "browser: always\nlogin: {cookies_file: c.json}\n")
    request = spider._request("https://www.shop.example.cn/item/1", spider.parse_detail, {})
    assert request is not None
    cookies = request.meta["playwright_context_kwargs"]["storage_state"]["cookies"]
    assert [(c["name"], c["value"], c["domain"], c["path"]) for c in cookies] == [
        ("sid", "1", ".shop.example.cn", "/")
    ]
