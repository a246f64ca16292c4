"""Apply an adapter's field specs to a page (or one search result) and build Listings from them.

A *record* is what the adapter read, as text: ``{"title": "...", "price": "¥89-129", ...}``
(lists for list fields, a dict for attributes). Records from the search page, the detail page
and the shop page are read the same way; ``listing_from_record`` turns the merged record into a
Listing, converting prices, counts, ratings and shop ages, and says what it could not read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin

from lxml import etree

from crawlers.extraction.generic import listing_id_from_url
from crawlers.extraction.prices import parse_price
from crawlers.site_adapter.script_json import resolve_path
from crawlers.site_adapter.spec import LIST_FIELDS, FieldSpec, PageSpec, SiteAdapter
from marketguard.models import Listing, Seller, utcnow

Record = dict[str, Any]
CHINA_TZ = timezone(timedelta(hours=8))  # shop opening dates are Beijing calendar dates
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_COUNT = re.compile(r"(\d+(?:\.\d+)?)\s*([万wWkK千]?)")
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")
_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*(年|个月|月|天|日|years?|months?|days?)", re.IGNORECASE)
_AGE_DAYS = {"年": 365, "year": 365, "years": 365, "个月": 30, "月": 30, "month": 30,
             "months": 30, "天": 1, "日": 1, "day": 1, "days": 1}  # fmt: skip
_COUNT_UNITS = {"万": 10_000, "w": 10_000, "W": 10_000, "k": 1_000, "K": 1_000, "千": 1_000, "": 1}
_STRING = etree.XPath("string()", smart_strings=False)
_ATTRIBUTE_FIELDS = {
    "brand": ("品牌", "品牌名称", "品牌名", "Brand", "brand"),
    "model": ("型号", "产品型号", "规格型号", "货号", "Model", "model"),
}
_FALSE_WORDS = {"", "0", "false", "no", "none", "无", "否", "未公示", "未展示"}


@dataclass(slots=True)
class Scope:
    """Where field specs are evaluated: a page or one result, its URL, and its JSON."""

    node: Any  # lxml element: the page's root, or one search result
    url: str
    data: Any = None  # the page's script JSON, or the result object for JSON results
    problems: list[str] = field(default_factory=list)


def read_values(spec: FieldSpec, scope: Scope, record: Record | None = None) -> list[str]:
    """Every value ``spec`` selects, cleaned (regex, replacements), as text."""
    if spec.source == "const":
        raw: list[str] = [spec.query]
    elif spec.source == "url_regex":
        target = (record or {}).get("url") or scope.url
        match = re.search(spec.query, target)
        raw = [match.group(1) if match and match.groups() else match.group(0)] if match else []
    elif spec.source == "json":
        raw = _json_texts(resolve_path(scope.data, spec.query))
    else:
        assert spec.compiled is not None
        found = spec.compiled(scope.node)
        if spec.exists:
            return ["true" if found not in (None, "", [], 0.0, False) else "false"]
        raw = _selected_texts(found)
    if spec.exists:
        return ["true" if any(v.strip() for v in raw) else "false"]
    out = []
    for value in raw:
        value = value.strip()
        if spec.regex is not None:
            match = spec.regex.search(value)
            if not match:
                continue
            value = match.group(1) if match.groups() else match.group(0)
        for pattern, replacement in spec.replace:
            value = pattern.sub(replacement, value)
        value = " ".join(value.split())
        if value:
            out.append(value)
    if not out and spec.default is not None:
        out = [spec.default]
    return out


def read_value(spec: FieldSpec, scope: Scope, record: Record | None = None) -> str:
    values = read_values(spec, scope, record)
    if not values:
        return ""
    return spec.join.join(values) if spec.all else values[0]


def read_page(page: PageSpec, scope: Scope) -> Record:
    """The record of one page or one search result (empty values left out)."""
    record: Record = {}
    names = sorted(page.fields, key=lambda n: n != "url")  # url first: url_regex reads it
    for name in names:
        spec = page.fields[name]
        if name in LIST_FIELDS:
            values = read_values(spec, scope, record)
            if values:
                record[name] = values
        elif value := read_value(spec, scope, record):
            record[name] = value
    if page.attributes is not None:
        attributes = _read_attributes(page, scope)
        if attributes:
            record["attributes"] = attributes
    return record


def _read_attributes(page: PageSpec, scope: Scope) -> dict[str, str]:
    spec = page.attributes
    assert spec is not None
    pairs: dict[str, str] = {}
    if spec.json:
        value = resolve_path(scope.data, spec.json)
        if isinstance(value, dict):
            items = list(value.items())
        elif isinstance(value, list):
            items = [
                (v.get("name") or v.get("key"), v.get("value"))
                if isinstance(v, dict)
                else tuple(v)[:2]
                for v in value
                if isinstance(v, dict | list | tuple) and len(v) >= 2
            ]
        else:
            items = []
        for key, val in items:
            texts = _json_texts(val)
            if key not in (None, "") and texts:
                pairs[_clean(str(key))] = _clean(texts[0])
        return {k: v for k, v in pairs.items() if k and v}
    assert spec.rows and spec.key and spec.value
    assert spec.rows.compiled is not None
    rows = spec.rows.compiled(scope.node)
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, etree._Element):
            continue
        row_scope = Scope(row, scope.url, scope.data)
        key = read_value(spec.key, row_scope).rstrip(":：").strip()
        value = read_value(spec.value, row_scope)
        if key and value:
            pairs.setdefault(key, value)
    return pairs


def _selected_texts(found: Any) -> list[str]:
    if not isinstance(found, list):  # string(...), count(...), boolean(...)
        if isinstance(found, bool):
            return ["true" if found else "false"]
        if isinstance(found, float):
            return [str(int(found)) if found.is_integer() else str(found)]
        return [str(found)]
    texts = []
    for item in found:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, etree._Element):  # an element: its whole text, as a reader sees it
            texts.append(_STRING(item))
    return texts


def _json_texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [t for v in value for t in _json_texts(v)]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, dict):
        return [json.dumps(value, ensure_ascii=False)]
    return [str(value)]


def _clean(text: str) -> str:
    return " ".join(text.split())


# --- conversions ----------------------------------------------------------------------------------
def parse_count(text: str) -> int | None:
    """``月销 1.2万+`` -> 12000, ``已售3000+件`` -> 3000."""
    match = _COUNT.search(text.replace(",", ""))
    if not match:
        return None
    return int(Decimal(match.group(1)) * _COUNT_UNITS[match.group(2)])


def parse_rating(text: str) -> float | None:
    """``4.8分`` -> 4.8; a percentage (``好评率 98%``) is put on the 0-5 scale (-> 4.9)."""
    match = _NUMBER.search(text)
    if not match:
        return None
    value = float(match.group(0))
    if "%" in text[match.end() : match.end() + 2]:
        value = round(value / 20, 2)
    return value if 0 <= value <= 5 else None


def shop_age_days(record: Record, now: datetime | None = None) -> int | None:
    """Days since the shop opened: from an opening date, or an age such as ``5年老店``."""
    today = (now or datetime.now(CHINA_TZ)).astimezone(CHINA_TZ).date()
    if opened := record.get("opened"):
        match = _DATE.search(opened)
        if match:
            try:
                return (today - date(*(int(g) for g in match.groups()))).days
            except ValueError:
                pass
    if age := record.get("shop_age_days"):
        match = _AGE.search(age)
        if match:
            unit = match.group(2).lower()
            return int(float(match.group(1)) * _AGE_DAYS.get(unit, 1))
        if (number := _NUMBER.search(age)) is not None:
            return int(float(number.group(0)))
    return None


def seller_from(adapter: SiteAdapter, record: Record, page_url: str) -> Seller | None:
    shop_url = urljoin(page_url, record["shop_url"]) if record.get("shop_url") else ""
    name = record.get("shop_name", "")
    if not (shop_url or name or record.get("shop_id")):
        return None
    shop_id = record.get("shop_id") or ""
    if not shop_id and shop_url and adapter.shop and adapter.shop.id:
        shop_id = read_value(adapter.shop.id, Scope(None, shop_url))
    if not shop_id:
        shop_id = listing_id_from_url(shop_url) if shop_url else name
    return Seller(seller_id=shop_id, name=name, url=shop_url, location=record.get("location", ""))


def attach_shop(seller: Seller, shop: Record | None) -> Seller:
    """The seller with the shop page's facts filled in (what the listing said stays if unread)."""
    if not shop:
        return seller
    number = shop.get("licence_number", "")
    shown_text = shop.get("licence_shown")
    if shown_text is not None:
        shown: bool | None = shown_text.strip().lower() not in _FALSE_WORDS
    else:
        shown = True if number else None
    return Seller(
        seller_id=seller.seller_id,
        name=shop.get("name") or seller.name,
        url=seller.url,
        location=shop.get("location") or seller.location,
        rating=parse_rating(shop["rating"]) if shop.get("rating") else seller.rating,
        shop_age_days=shop_age_days(shop),
        licence_number=number,
        licence_shown=shown,
        phone=shop.get("phone", ""),
        address=shop.get("address", ""),
    )


def listing_from_record(
    adapter: SiteAdapter,
    record: Record,
    page_url: str,
    *,
    keyword: str = "",
    base: Listing | None = None,
    rendered: bool = False,
) -> tuple[Listing | None, list[str]]:
    """A Listing from ``record`` over ``base`` (generic extraction of the same page, if any)."""
    problems: list[str] = []
    url = urljoin(page_url, record["url"]) if record.get("url") else page_url
    title = record.get("title") or (base.title if base else "")
    if not title:
        return None, ["no title (check the adapter's title selector)"]
    listing = base or Listing(platform=adapter.site, listing_id="", url=url, title=title)
    listing.platform = adapter.site
    listing.url = url
    listing.title = title
    if record.get("price"):
        reading = parse_price(record["price"], default_currency=record.get("currency", ""))
        listing.price, listing.price_max = reading.price, reading.price_max
        listing.currency = reading.currency or "CNY"
        if not reading.ok:
            problems.append(f"price: {reading.problem}")
    elif listing.price is None:
        problems.append("price: no price on the page")
    if record.get("currency"):
        listing.currency = record["currency"].strip().upper()
    for name in ("brand", "model", "sku", "gtin", "description"):
        if record.get(name):
            setattr(listing, name, record[name])
    if record.get("image_urls"):
        listing.image_urls = list(dict.fromkeys(urljoin(url, u) for u in record["image_urls"]))
    if record.get("attributes"):
        listing.attributes = {**listing.attributes, **record["attributes"]}
    # Brand and model as the parameter table names them, when no field says otherwise.
    for name, keys in _ATTRIBUTE_FIELDS.items():
        if not getattr(listing, name):
            value = next((listing.attributes[k] for k in keys if listing.attributes.get(k)), "")
            setattr(listing, name, value)
    if record.get("sales"):
        listing.sales = parse_count(record["sales"])
    seller = seller_from(adapter, record, url)
    if seller is not None:
        listing.seller = seller
    listing.listing_id = (
        record.get("listing_id")
        or (base.listing_id if base and base.listing_id else "")
        or listing.sku
        or listing_id_from_url(url)
    )
    listing.search_keyword = keyword
    listing.crawled_at = utcnow()
    listing.rendered_with = "browser" if rendered else "http"
    return listing, problems
