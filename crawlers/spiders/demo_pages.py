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
    root = _tree(response)
    product = _json_ld_product(_JSON_LD(root))
    title = _clean(str(product.get("name") or "")) if product else ""
    if not title:
        title = _clean(_TITLE(root))
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
        price = _decimal(_PRICE(root))

    images: list[str] = []
    if product:
        raw = product.get("image")
        images = [raw] if isinstance(raw, str) else [str(i) for i in raw or () if i]
    if not images:
        images = _GALLERY(root)

    attributes: dict[str, str] = {}
    for row in _ATTRIBUTE_ROWS(root):
        key = _clean(_ROW_KEY(row))
        if key:
            attributes[key] = _clean(_ROW_VALUE(row))

    shop_href = _SHOP_HREF(root)
    shop_match = _SHOP_ID.search(shop_href)
    shop_name = _clean(_SHOP_NAME(root))
    if not shop_name and isinstance(offers, dict) and isinstance(offers.get("seller"), dict):
        shop_name = str(offers["seller"].get("name") or "")

    join = _joiner(response)
    id_match = _ITEM_ID.search(response.url)
    listing_id = _DATA_ITEM_ID(root) or (id_match.group(1) if id_match else "")
    sales_match = _DIGITS.search(_SALES(root))
    return DetailPage(
        listing_id=listing_id,
        title=title,
        price=price,
        currency=currency,
        image_urls=[join(u) for u in images],
        attributes=attributes,
        description=_clean(_DESCRIPTION(root)),
        sales=int(sales_match.group()) if sales_match else None,
        shop_id=shop_match.group(1) if shop_match else "",
        shop_name=shop_name,
        shop_url=join(shop_href) if shop_href else "",
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
