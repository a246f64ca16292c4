"""Read the demo shop's pages: search results, listing detail and shop pages.

Pure functions over Scrapy responses, kept cheap (one lxml parse, precompiled XPath queries,
``json.loads`` for JSON-LD): the spider must keep up with plain fetching of the same pages.
schema.org JSON-LD wins where a page has it; the HTML fills in the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from html import unescape
from typing import Any

from lxml import etree
from scrapy.http import TextResponse

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")
_ITEM_ID = re.compile(r"/item/([^/?#]+)")
_SHOP_ID = re.compile(r"/shop/([^/?#]+)")
_ORIGIN = re.compile(r"^https?://[^/?#]+")
_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})")


class PageParseError(ValueError):
    """The page is not a readable listing (or shop) page; the message says what is missing."""


@dataclass(slots=True)
class DetailPage:
    listing_id: str
    title: str
    price: Decimal | None
    currency: str = "CNY"
    image_urls: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    description: str = ""
    sales: int | None = None
    shop_id: str = ""
    shop_name: str = ""
    shop_url: str = ""


@dataclass(slots=True)
class ShopFacts:
    shop_id: str
    name: str = ""
    opened: date | None = None
    rating: float | None = None
    location: str = ""


def _xpath(expression: str) -> etree.XPath:
    return etree.XPath(expression, smart_strings=False)


# Compiled once; evaluated on the lxml tree Scrapy already parsed (no Selector objects per query).
_ITEM_LINKS = _xpath('//a[@class="item-link"]/@href')
_NEXT_PAGE = _xpath('string(//a[@class="next"]/@href)')
_JSON_LD = _xpath('//script[@type="application/ld+json"]/text()')
_TITLE = _xpath('string(//h1[@class="item-title"])')
_PRICE = _xpath('string(//*[@id="price"])')
_GALLERY = _xpath('//div[@class="gallery"]//img/@src')
_ATTRIBUTE_ROWS = _xpath('//table[@id="attrs"]//tr')
_ROW_KEY = _xpath("string(th)")
_ROW_VALUE = _xpath("string(td)")
_SHOP_HREF = _xpath('string(//a[@class="shop-link"]/@href)')
_SHOP_NAME = _xpath('string(//a[@class="shop-link"])')
_DATA_ITEM_ID = _xpath('string(//main[@class="item"]/@data-item-id)')
_SALES = _xpath('string(//div[@class="sales"])')
_DESCRIPTION = _xpath('string(//*[@id="desc"])')
_SHOP_TITLE = _xpath('string(//h1[@class="shop-name"])')
_FACT_LABELS = _xpath("//dl//dt")
_FACT_VALUE = _xpath("string(following-sibling::dd[1])")


_PARSERS: dict[str, etree.HTMLParser] = {}


def _tree(response: TextResponse) -> etree._Element:
    """The page's lxml tree, parsed straight from the bytes in the response's encoding.

    Scrapy's own selector first decodes the body to text and encodes it back to UTF-8; skipping
    that round trip is a measurable share of the per-page cost. Anything unusual (an encoding
    libxml2 lacks, an empty body) falls back to Scrapy's selector.
    """
    encoding = response.encoding
    parser = _PARSERS.get(encoding)
    try:
        if parser is None:
            parser = _PARSERS[encoding] = etree.HTMLParser(encoding=encoding, collect_ids=False)
        root = etree.fromstring(response.body, parser=parser, base_url=response.url)
    except (LookupError, ValueError, etree.LxmlError):
        root = None
    return root if root is not None else response.selector.root


def search_result_links(response: TextResponse) -> tuple[list[str], str | None]:
    """Absolute detail-page URLs on a search page, and the next page's URL (None on the last)."""
    root = _tree(response)
    join = _joiner(response)
    links = [join(href) for href in _ITEM_LINKS(root)]
    following = _NEXT_PAGE(root)
    return links, join(following) if following else None


def parse_detail(response: TextResponse) -> DetailPage:
    """Read a listing detail page; raise PageParseError when it has no product title."""
    fields = _fields_by_template(response) or _fields_by_tree(response)
    product = _json_ld_product(fields.json_ld)
    title = _clean(str(product.get("name") or "")) if product else ""
    if not title:
        title = _clean(fields.title)
    if not title:
        raise PageParseError(
            "no product title on the page (neither JSON-LD Product.name nor h1.item-title); "
            f"{len(response.body)} bytes, starts {response.body[:60]!r}"
        )

    price = None
    currency = "CNY"
    offers = product.get("offers") if product else None
    if isinstance(offers, list):
        offers = offers[0] if offers else None
    if isinstance(offers, dict):
        price = _decimal(offers.get("price"))
        currency = str(offers.get("priceCurrency") or "CNY")
    if price is None:
        price = _decimal(fields.price)

    images: list[str] = []
    if product:
        raw = product.get("image")
        images = [raw] if isinstance(raw, str) else [str(i) for i in raw or () if i]
    if not images:
        images = fields.images

    attributes: dict[str, str] = {}
    for raw_key, raw_value in fields.rows:
        key = _clean(raw_key)
        if key:
            attributes[key] = _clean(raw_value)

    shop_match = _SHOP_ID.search(fields.shop_href)
    shop_name = _clean(fields.shop_name)
    if not shop_name and isinstance(offers, dict) and isinstance(offers.get("seller"), dict):
        shop_name = str(offers["seller"].get("name") or "")

    join = _joiner(response)
    id_match = _ITEM_ID.search(response.url)
    sales_match = _DIGITS.search(fields.sales)
    return DetailPage(
        listing_id=fields.item_id or (id_match.group(1) if id_match else ""),
        title=title,
        price=price,
        currency=currency,
        image_urls=[join(u) for u in images],
        attributes=attributes,
        description=_clean(fields.description),
        sales=int(sales_match.group()) if sales_match else None,
        shop_id=shop_match.group(1) if shop_match else "",
        shop_name=shop_name,
        shop_url=join(fields.shop_href) if fields.shop_href else "",
    )


@dataclass(slots=True)
class _Fields:
    """The raw text of each part of a detail page, however it was extracted."""

    json_ld: list[str]
    title: str
    price: str
    images: list[str]
    rows: list[tuple[str, str]]
    description: str
    shop_href: str
    shop_name: str
    item_id: str
    sales: str


def _fields_by_tree(response: TextResponse) -> _Fields:
    root = _tree(response)
    return _Fields(
        json_ld=_JSON_LD(root),
        title=_TITLE(root),
        price=_PRICE(root),
        images=_GALLERY(root),
        rows=[(_ROW_KEY(row), _ROW_VALUE(row)) for row in _ATTRIBUTE_ROWS(root)],
        description=_DESCRIPTION(root),
        shop_href=_SHOP_HREF(root),
        shop_name=_SHOP_NAME(root),
        item_id=_DATA_ITEM_ID(root),
        sales=_SALES(root),
    )


# The shop's own detail-page template, read with regular expressions: ~10x cheaper than building
# an lxml tree, which matters at thousands of pages. Any page that does not match the template
# exactly (a rendered DOM, a changed layout, markup inside a field) goes to the lxml reader.
_T_JSON_LD = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S)
_T_ITEM = re.compile(r'<main class="item" data-item-id="([^"<>]*)">')
_T_TITLE = re.compile(r'<h1 class="item-title">([^<]*)</h1>')
_T_PRICE = re.compile(r'<span class="price" id="price">([^<]*)</span>')
_T_SALES = re.compile(r'<div class="sales">([^<]*)</div>')
_T_GALLERY = re.compile(r'<div class="gallery">((?:<img [^<>]*>)*)</div>')
_T_SRC = re.compile(r'<img src="([^"<>]*)"')
_T_ATTRS = re.compile(
    r'<table class="attrs" id="attrs">((?:<tr><th>[^<]*</th><td>[^<]*</td></tr>)*)</table>'
)
_T_ROW = re.compile(r"<tr><th>([^<]*)</th><td>([^<]*)</td></tr>")
_T_DESCRIPTION = re.compile(r'<div class="desc" id="desc">([^<]*)</div>')
_T_SHOP = re.compile(r'<a class="shop-link" href="([^"<>]*)">([^<]*)</a>')


def _fields_by_template(response: TextResponse) -> _Fields | None:
    text = response.text
    item = _T_ITEM.search(text)
    title = _T_TITLE.search(text)
    price = _T_PRICE.search(text)
    gallery = _T_GALLERY.search(text)
    attrs = _T_ATTRS.search(text)
    description = _T_DESCRIPTION.search(text)
    shop = _T_SHOP.search(text)
    sales = _T_SALES.search(text)
    if not (item and title and price and gallery and attrs and description and shop and sales):
        return None
    return _Fields(
        json_ld=_T_JSON_LD.findall(text),
        title=unescape(title.group(1)),
        price=unescape(price.group(1)),
        images=[unescape(src) for src in _T_SRC.findall(gallery.group(1))],
        rows=[(unescape(k), unescape(v)) for k, v in _T_ROW.findall(attrs.group(1))],
        description=unescape(description.group(1)),
        shop_href=unescape(shop.group(1)),
        shop_name=unescape(shop.group(2)),
        item_id=unescape(item.group(1)),
        sales=unescape(sales.group(1)),
    )


def parse_shop(response: TextResponse, shop_id: str) -> ShopFacts:
    """Read a shop page's facts by their labels (开店时间, 店铺评分, 所在地)."""
    root = _tree(response)
    facts = ShopFacts(shop_id=shop_id, name=_clean(_SHOP_TITLE(root)))
    for label_element in _FACT_LABELS(root):
        label = _clean(label_element.xpath("string(.)"))
        value = _clean(_FACT_VALUE(label_element))
        if "开店" in label:
            found = _DATE.search(value)
            if found:
                year, month, day = (int(g) for g in found.groups())
                facts.opened = date(year, month, day)
        elif "评分" in label:
            number = _NUMBER.search(value)
            facts.rating = float(number.group()) if number else None
        elif "所在地" in label:
            facts.location = value
    if facts.opened is None and facts.rating is None and not facts.location:
        raise PageParseError("shop page shows none of 开店时间, 店铺评分, 所在地")
    return facts


def _json_ld_product(scripts: list[str]) -> dict[str, Any] | None:
    for text in scripts:
        try:
            data = json.loads(text)
        except ValueError:
            continue  # broken JSON-LD: the HTML still has everything
        if isinstance(data, dict):
            candidates = data.get("@graph", [data])
        else:
            candidates = data if isinstance(data, list) else []
        for node in candidates:
            if isinstance(node, dict) and node.get("@type") == "Product":
                return node
    return None


def _joiner(response: TextResponse) -> Callable[[str], str]:
    """``response.urljoin`` with a fast path for the shop's own "/path" and absolute links."""
    origin_match = _ORIGIN.match(response.url)
    origin = origin_match.group() if origin_match else ""

    def join(href: str) -> str:
        if href.startswith(("http://", "https://")):
            return href
        if origin and href.startswith("/") and not href.startswith("//"):
            return origin + href
        return response.urljoin(href)

    return join


def _decimal(value: object) -> Decimal | None:
    if value is None:
        return None
    match = _NUMBER.search(str(value).replace(",", ""))
    if match is None:
        return None
    try:
        return Decimal(match.group())
    except InvalidOperation:
        return None


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()
