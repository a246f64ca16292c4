"""Generic extraction: any product page -> a Listing, without a site adapter.

Structured data first (``structured.extract_product``); when a page has none, a plain-HTML
fallback reads the title (``og:title``, ``<h1>``, ``<title>``) and the first element whose class
or id says "price". The fallback is a guess and says so in ``sources`` ("html"), so an officer
running ``marketguard crawl --url`` sees when a site needs an adapter.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urljoin, urlsplit

from parsel import Selector

from crawlers.extraction.decoding import decode_html
from crawlers.extraction.prices import PriceReading, parse_price
from crawlers.extraction.structured import extract_product
from marketguard.models import Listing, Seller, utcnow

_ID_PARAMS = ("id", "item_id", "itemId", "skuId", "goods_id", "product_id", "pid")
_PATH_ID = re.compile(r"(\d{5,})")
_PRICE_XPATH = (
    "//*[@itemprop='price']/@content",
    "//*[@itemprop='price']//text()",
    # The first price-named element, without its struck-out "original price" (<del>, <s>).
    "(//*[contains(@class,'price') or contains(@id,'price')])[1]"
    "//text()[not(ancestor::del or ancestor::s or ancestor::strike)]",
)


@dataclass(slots=True)
class PageExtraction:
    listing: Listing | None
    sources: list[str] = field(default_factory=list)  # "json-ld", "microdata", ..., "html"
    problems: list[str] = field(default_factory=list)  # decoding, broken blocks, bad price
    encoding: str = ""


def platform_of(url: str) -> str:
    """``https://www.shop.example.cn/x`` -> ``shop.example.cn`` (the platform of a generic page)."""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def listing_id_from_url(url: str) -> str:
    """A stable id for a page that names none: an id= parameter, a long number, or a URL hash."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    for name in _ID_PARAMS:
        if query.get(name) and query[name][0].strip():
            return query[name][0].strip()
    numbers = _PATH_ID.findall(parts.path)
    if numbers:
        return numbers[-1]
    canonical = f"{parts.netloc.lower()}{parts.path}?{parts.query}"
    return "u" + hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:16]


def extract_listing(
    body: bytes,
    url: str,
    content_type: str | bytes | None = None,
    *,
    platform: str = "",
    encoding: str = "",
    keyword: str = "",
) -> PageExtraction:
    """Decode ``body`` and read its product. ``listing`` is None when the page shows none."""
    decoded = decode_html(body, content_type, override=encoding)
    result = listing_from_text(decoded.text, url, platform=platform, keyword=keyword)
    result.encoding = decoded.encoding
    if decoded.problem:
        result.problems.insert(0, f"decoding: {decoded.problem}")
    return result


def listing_from_text(
    text: str, url: str, *, platform: str = "", keyword: str = "", html_fallback: bool = True
) -> PageExtraction:
    """``html_fallback=False``: structured data only (a site adapter's own fields stand in for
    the guesswork, and skipping it saves a second parse of the page)."""
    product = extract_product(text, url)
    result = PageExtraction(None, list(product.sources), list(product.problems))
    if not html_fallback and not product.found:
        return result
    title, price = product.title, product.price
    selector: Selector | None = None
    if html_fallback and (not title or not price.ok):
        selector = Selector(text=text or "<html></html>", type="html", base_url=url)
        if not title:
            title = _fallback_title(selector)
        if not price.ok:
            fallback = _fallback_price(selector)
            if fallback.ok or not product.found:
                price = fallback
        if "html" not in result.sources and (title or price.ok):
            result.sources.append("html")
    if not title:
        result.problems.append("no product title on the page")
        return result
    if not price.ok:
        result.problems.append(f"price: {price.problem}")
    seller = None
    if product.seller_name or product.seller_url:
        seller_url = urljoin(url, product.seller_url) if product.seller_url else ""
        seller = Seller(
            seller_id=listing_id_from_url(seller_url) if seller_url else product.seller_name,
            name=product.seller_name,
            url=seller_url,
        )
    result.listing = Listing(
        platform=platform or platform_of(url),
        listing_id=product.sku or listing_id_from_url(url),
        url=url,
        title=title,
        price=price.price,
        price_max=price.price_max,
        currency=price.currency or "CNY",
        seller=seller,
        brand=product.brand,
        model=product.model,
        sku=product.sku,
        gtin=product.gtin,
        image_urls=[urljoin(url, u) for u in product.image_urls],
        description=product.description,
        crawled_at=utcnow(),
        search_keyword=keyword,
    )
    return result


def _fallback_title(selector: Selector) -> str:
    for query in ("//meta[@property='og:title']/@content", "//h1//text()", "//title/text()"):
        parts = [p.strip() for p in selector.xpath(query).getall() if p.strip()]
        if parts:
            return " ".join(" ".join(parts).split())
    return ""


def _fallback_price(selector: Selector) -> PriceReading:
    first_problem = ""
    for query in _PRICE_XPATH:
        text = " ".join(t.strip() for t in selector.xpath(query).getall() if t.strip())
        if text:
            reading = parse_price(text)
            if reading.ok:
                return reading
            first_problem = first_problem or reading.problem
    return PriceReading(None, problem=first_problem or "no price found in the page's markup")
