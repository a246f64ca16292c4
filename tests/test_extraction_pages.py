"""Generic extraction on saved marketplace pages, fetched over loopback HTTP with the headers a
real (misconfigured) server sends: JSON-LD, microdata, RDFa, OpenGraph, plain HTML, GBK, broken."""

from __future__ import annotations

import codecs
import urllib.request
from collections.abc import Iterator
from decimal import Decimal

import pytest

from crawlers.extraction import decode_html, extract_listing, extract_product, listing_from_text
from tests.site_server import PAGES, FixtureSite


@pytest.fixture(scope="module")
def site() -> Iterator[FixtureSite]:
    with FixtureSite() as running:
        yield running


def fetch(site: FixtureSite, path: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(site.url + path, timeout=10) as response:
        return response.read(), response.headers.get("Content-Type", "")


def extract(site: FixtureSite, path: str):
    body, content_type = fetch(site, path)
    return extract_listing(body, site.url + path, content_type)


def test_json_ld_product_in_a_graph_with_an_aggregate_offer(site: FixtureSite) -> None:
    result = extract(site, "/p/jsonld")
    listing = result.listing
    assert listing is not None
    assert result.sources[0] == "json-ld"
    assert listing.title.startswith("公牛 GaN 65W 氮化镓充电器")
    # JSON-LD wins over the stale OpenGraph share card (199.00).
    assert (listing.price, listing.price_max) == (Decimal("89.00"), Decimal("129.00"))
    assert listing.currency == "CNY"
    assert (listing.brand, listing.sku, listing.gtin, listing.model) == (
        "公牛",
        "GNV-AC265",
        "6925326312345",
        "GNV-AC265",
    )
    assert listing.listing_id == "GNV-AC265"
    assert listing.image_urls == [
        "http://img.tmall.example/imgextra/i1/2200712345/O1CN01abc.jpg",
        "https://img.tmall.example/imgextra/i2/2200712345/O1CN01def.jpg",
    ]
    assert listing.seller is not None
    assert listing.seller.name == "公牛官方旗舰店"
    assert listing.seller.url == f"{site.url}/shop/bull-official"
    assert "2021011609441234" in listing.description


def test_microdata_with_a_chinese_price_text(site: FixtureSite) -> None:
    listing = extract(site, "/p/microdata").listing
    assert listing is not None
    assert listing.title.startswith("小米（MI）移动电源3 20000mAh")
    assert listing.price == Decimal("1299.00")
    assert listing.brand == "小米（MI）"
    assert listing.gtin == "6934177712345"
    assert len(listing.image_urls) == 2
    assert listing.seller is not None and listing.seller.name == "小米京东自营旗舰店"


def test_rdfa(site: FixtureSite) -> None:
    result = extract(site, "/p/rdfa")
    assert "rdfa" in result.sources
    listing = result.listing
    assert listing is not None
    assert listing.title.startswith("美的（Midea）电热水壶 MK-HJ1705")
    assert (listing.price, listing.brand, listing.sku) == (Decimal("129.00"), "美的", "MK-HJ1705")
    assert listing.image_urls == [f"{site.url}/img/kettle-1705.jpg"]


def test_opengraph_product_tags(site: FixtureSite) -> None:
    result = extract(site, "/p/opengraph")
    assert result.sources == ["opengraph"]
    listing = result.listing
    assert listing is not None
    assert listing.title.startswith("格力（GREE）3匹")
    assert listing.price == Decimal("22000.00")
    assert (listing.brand, listing.sku) == ("格力", "KFR-72LW-NhAc1BAj")
    assert listing.image_urls == ["https://img.mall.example/gree/kfr72lw.jpg"]


def test_plain_html_falls_back_to_title_and_price_markup(site: FixtureSite) -> None:
    result = extract(site, "/p/plain")
    assert result.sources == ["html"]
    listing = result.listing
    assert listing is not None
    assert listing.title.startswith("【限时秒杀】儿童安全座椅坐垫")
    assert listing.price == Decimal("59")  # 到手价 ¥59, not the struck-out ¥129


@pytest.mark.parametrize("path", ["/p/gbk", "/p/gbk-no-header"])
def test_gbk_page_under_a_wrong_or_missing_charset_header(site: FixtureSite, path: str) -> None:
    body, content_type = fetch(site, path)
    assert content_type in ("text/html; charset=utf-8", "text/html")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")  # the bytes really are GBK
    result = extract_listing(body, site.url + path, content_type)
    assert result.encoding == "gb18030"
    assert not result.problems, result.problems
    listing = result.listing
    assert listing is not None
    assert listing.title == "正品德力西插座 86型 暗装 五孔 带开关 白色"
    assert (listing.price, listing.brand) == (Decimal("6.50"), "德力西")


def test_broken_markup_and_json_ld_give_reasons_not_crashes(site: FixtureSite) -> None:
    result = extract(site, "/p/broken")
    listing = result.listing
    assert listing is not None  # the title is still readable
    assert listing.title.startswith("断电保护插座 10A")
    assert listing.price is None  # ¥-5 is not an offer
    assert any("json-ld block 1" in p for p in result.problems), result.problems
    assert any("negative price" in p for p in result.problems), result.problems


def test_html_fallback_skips_the_struck_out_original_price() -> None:
    html = (
        "<html><head><title>电热毯 双人 - 小店</title></head><body>"
        '<div class="price-box"><del>原价 ¥129</del> <span>券后 ¥59</span></div></body></html>'
    )
    listing = listing_from_text(html, "https://shop.example.cn/goods?id=778899").listing
    assert listing is not None
    assert (listing.price, listing.listing_id) == (Decimal("59"), "778899")


def test_not_a_product_page() -> None:
    result = extract_listing(b"\x00\x01\x02garbage\xff", "http://127.0.0.1/x", "text/html")
    assert result.listing is None
    assert result.problems


def test_decoding_boms_and_declarations() -> None:
    text = "<html><head><meta charset=gbk></head><body>华为充电器 ￥99</body></html>"
    assert decode_html(codecs.BOM_UTF8 + text.encode("utf-8"), "text/html; charset=gbk").text == (
        text
    )
    utf16 = decode_html(codecs.BOM_UTF16_LE + text.encode("utf-16-le"), None)
    assert (utf16.text, utf16.source) == (text, "bom")
    # A UTF-8 body wins over a header that says GBK (the reverse misconfiguration).
    assert decode_html(text.encode("utf-8"), "text/html; charset=gbk").encoding == "utf-8"
    # GB18030-only characters (beyond GBK) survive.
    rare = "<p>䶮 𠀀</p>".encode("gb18030")
    assert decode_html(rare, "text/html; charset=gb2312").text == "<p>䶮 𠀀</p>"
    # The adapter's override is obeyed even against a matching UTF-8 header.
    gbk = (PAGES / "gbk_search.html").read_bytes()
    assert "德力西" in decode_html(gbk, "text/html; charset=utf-8", override="gbk").text
    # Bytes that fit no charset: decoded with replacement, and the count reported.
    damaged = decode_html(b"<p>\xff\xfe\xfd ok</p>", "text/html; charset=utf-8")
    assert "ok" in damaged.text and "replaced" in damaged.problem


def test_structured_data_absent_costs_no_parse() -> None:
    data = extract_product("<html><body><p>没有结构化数据</p></body></html>", "http://x/")
    assert not data.found and not data.problems
