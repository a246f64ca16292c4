"""schema.org Product/Offer from JSON-LD, microdata and RDFa, and OpenGraph product tags.

``extruct`` reads the syntaxes; this module finds the product among whatever a page declares
(breadcrumbs, organisations, ``@graph`` lists, ProductGroup variants) and flattens it into the
fields a Listing needs. Where several syntaxes describe the product, JSON-LD wins, then microdata,
RDFa and OpenGraph fill in what is still missing: JSON-LD is what shops maintain for search
engines, OpenGraph is often a stale share-card.

Each syntax is only parsed when the page text contains its marker, so a plain page costs one
substring scan per syntax, not four extractor runs; and once a product is complete (title,
price, brand, images, sku or gtin) later syntaxes are skipped. RDFa through pyRdfa/rdflib costs
~20 ms a page (mostly rdflib namespace binding), ten times JSON-LD: it runs only on pages with
schema.org RDFa markup and no complete product from JSON-LD or microdata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from lxml import etree

from crawlers.extraction.prices import PriceReading, parse_price

_SCHEMA_PREFIXES = ("http://schema.org/", "https://schema.org/")
_PRODUCT_TYPES = {"Product", "ProductGroup", "IndividualProduct", "ProductModel", "Vehicle"}
_OFFER_TYPES = {"Offer", "AggregateOffer"}
_GTIN_KEYS = ("gtin13", "gtin", "gtin14", "gtin12", "gtin8", "isbn")
_MARKERS = {
    "json-ld": ("application/ld+json",),
    "microdata": ("itemscope",),
    "rdfa": ("typeof=", "vocab="),
    "opengraph": ("og:", "product:"),
}
_ORDER = ("json-ld", "microdata", "rdfa", "opengraph")
_JSON_LD_SCRIPTS = etree.XPath('descendant-or-self::script[@type="application/ld+json"]')


@dataclass(slots=True)
class ProductData:
    """What structured data says about the page's product; empty strings when it says nothing."""

    title: str = ""
    brand: str = ""
    model: str = ""
    sku: str = ""
    gtin: str = ""
    price: PriceReading = field(default_factory=lambda: PriceReading(None, problem="no price"))
    seller_name: str = ""
    seller_url: str = ""
    image_urls: list[str] = field(default_factory=list)
    description: str = ""
    sources: list[str] = field(default_factory=list)  # syntaxes that contributed, in order
    problems: list[str] = field(default_factory=list)  # e.g. a JSON-LD block that is not JSON

    @property
    def found(self) -> bool:
        return bool(self.sources)


def extract_product(html: str, url: str) -> ProductData:
    """Read the page's product from its structured data (``found`` is False when it has none)."""
    wanted = [s for s in _ORDER if any(m in html for m in _MARKERS[s])]
    if "rdfa" in wanted and "schema.org" not in html:
        wanted.remove("rdfa")  # RDFa of other vocabularies cannot describe a schema.org Product
    result = ProductData()
    if not wanted:
        return result
    try:
        extruct = _extruct()
        if "rdfa" in wanted:
            tree = extruct.utils.parse_xmldom_html(html, "UTF-8")
        else:
            tree = extruct.utils.parse_html(html, "UTF-8")
    except Exception as exc:  # lxml refuses some binary garbage outright
        result.problems.append(f"markup: {type(exc).__name__}: {exc}")
        return result
    for syntax in wanted:
        if syntax == "json-ld":
            items = _json_ld_items(tree, result.problems)
        else:
            try:
                data = extruct.extract(tree, base_url=url, syntaxes=[syntax], uniform=True)
            except Exception as exc:  # one broken syntax must not hide the others
                result.problems.append(f"{syntax}: {type(exc).__name__}: {exc}")
                continue
            items = data.get(syntax) or []
        if syntax == "rdfa":
            items = _rdfa_objects(items)
        product = _opengraph_product(items) if syntax == "opengraph" else _find_product(items)
        if product and _merge(result, product):
            result.sources.append(syntax)
        if _complete(result):
            break  # later syntaxes only fill gaps; RDFa through rdflib costs ~10 ms a page
    return result


def _complete(result: ProductData) -> bool:
    return bool(
        result.title
        and result.price.ok
        and result.brand
        and result.image_urls
        and (result.sku or result.gtin)
    )


@cache
def _extruct() -> Any:
    """extruct, imported on first use: its import (mf2py, html5lib, rdflib) costs ~2 s of CPU,
    and Scrapy imports every spider module, this one's users included, at each crawl's start."""
    import extruct
    import extruct.jsonld
    import extruct.utils

    return extruct


def _json_ld_items(tree: Any, problems: list[str]) -> list[Any]:
    """Every JSON-LD block's items; a block that is not JSON is reported and skipped alone
    (extruct would drop all of the page's blocks with it)."""
    items: list[Any] = []
    for number, node in enumerate(_JSON_LD_SCRIPTS(tree), 1):
        try:
            items.extend(_extruct().jsonld.JsonLdExtractor()._extract_items(node))
        except Exception as exc:
            problems.append(f"json-ld block {number}: {type(exc).__name__}: {exc}")
    return items


# --- finding the product ------------------------------------------------------------------------
def _types(node: dict[str, Any]) -> set[str]:
    raw = node.get("@type", ())
    names = [raw] if isinstance(raw, str) else list(raw or ())
    return {_local(str(n)) for n in names}


def _local(name: str) -> str:
    for prefix in _SCHEMA_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _find_product(items: Any) -> dict[str, Any] | None:
    stack = list(items) if isinstance(items, list) else [items]
    while stack:
        node = stack.pop(0)
        if isinstance(node, list):
            stack[:0] = node
            continue
        if not isinstance(node, dict):
            continue
        if _types(node) & _PRODUCT_TYPES:
            if "ProductGroup" in _types(node) and not _offers(node):
                variant = _find_product(node.get("hasVariant") or [])
                if variant:
                    return {**node, **{k: v for k, v in variant.items() if v}}
            return node
        for key in ("@graph", "mainEntity", "itemListElement", "item"):
            if key in node:
                stack.append(node[key])
    return None


def _offers(product: dict[str, Any]) -> list[dict[str, Any]]:
    raw = product.get("offers")
    offers = raw if isinstance(raw, list) else [raw]
    return [o for o in offers if isinstance(o, dict)]


# --- flattening -----------------------------------------------------------------------------------
def _text(value: Any) -> str:
    if isinstance(value, list):
        value = next((v for v in value if v not in (None, "")), "")
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value") or value.get("url") or ""
    return " ".join(str(value).split()) if value not in (None, "") else ""


def _images(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    urls = []
    for item in values:
        if isinstance(item, dict):
            item = item.get("url") or item.get("contentUrl") or item.get("@id")
        if isinstance(item, str) and item.strip():
            urls.append(item.strip())
    return list(dict.fromkeys(urls))


def _price_of(offers: list[dict[str, Any]]) -> PriceReading:
    readings = []
    for offer in offers:
        currency = _text(offer.get("priceCurrency"))
        if "AggregateOffer" in _types(offer) and offer.get("lowPrice") not in (None, ""):
            low = parse_price(offer.get("lowPrice"), default_currency=currency)
            high = parse_price(offer.get("highPrice"), default_currency=currency)
            if low.ok:
                top = high.price if high.ok and high.price != low.price else None
                readings.append(PriceReading(low.price, top, low.currency))
                continue
        spec = offer.get("priceSpecification")
        price = offer.get("price")
        if price in (None, "") and isinstance(spec, dict):
            price = spec.get("price")
            currency = currency or _text(spec.get("priceCurrency"))
        readings.append(
            parse_price(
                _text(price) if isinstance(price, list) else price, default_currency=currency
            )
        )
    good = [r for r in readings if r.ok]
    if not good:
        return readings[0] if readings else PriceReading(None, problem="no offer price")
    if len(good) == 1:
        return good[0]
    # Several offers (variants, sellers): the range they span, low end as the price.
    low = min(r.price for r in good if r.price is not None)
    high = max((r.price_max or r.price) for r in good if r.price is not None)
    return PriceReading(low, high if high != low else None, good[0].currency)


def _merge(result: ProductData, product: dict[str, Any]) -> bool:
    """Fill in what ``result`` still lacks; True when this product added anything."""
    offers = _offers(product)
    seller = next((o.get("seller") for o in offers if o.get("seller")), None)
    seller_url = seller.get("url", "") if isinstance(seller, dict) else ""
    candidates: dict[str, Any] = {
        "title": _text(product.get("name")),
        "brand": _text(product.get("brand")),
        "model": _text(product.get("model")),
        "sku": _text(product.get("sku") or product.get("productID") or product.get("mpn")),
        "gtin": next((_text(product[k]) for k in _GTIN_KEYS if product.get(k)), ""),
        "seller_name": _text(seller),
        "seller_url": _text(seller_url),
        "description": _text(product.get("description")),
    }
    added = False
    for name, value in candidates.items():
        if value and not getattr(result, name):
            setattr(result, name, value)
            added = True
    images = _images(product.get("image"))
    if images and not result.image_urls:
        result.image_urls = images
        added = True
    if not result.price.ok and offers:
        reading = _price_of(offers)
        if reading.ok or result.price.problem in ("no price", ""):
            result.price = reading
        added = added or reading.ok
    return added


def _opengraph_product(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """OpenGraph (og:* and product:* meta tags) in the shape of a schema.org Product."""
    tags: dict[str, Any] = {}
    for item in items:
        for key, value in item.items():
            if not key.startswith("@"):
                tags.setdefault(key, value)
    og_type = _text(tags.get("og:type")) or _text(
        next((i.get("@type") for i in items if i.get("@type")), "")
    )
    amount = tags.get("product:price:amount") or tags.get("og:price:amount")
    if not amount and og_type.lower() not in ("product", "og:product", "product.item"):
        return None  # a share card of an article or a shop's home page, not a product
    currency = tags.get("product:price:currency") or tags.get("og:price:currency") or ""
    product: dict[str, Any] = {
        "@type": "Product",
        "name": tags.get("og:title", ""),
        "brand": tags.get("product:brand", ""),
        "sku": tags.get("product:retailer_item_id", ""),
        "gtin": tags.get("product:ean", "") or tags.get("product:upc", ""),
        "image": tags.get("og:image", ""),
        "description": tags.get("og:description", ""),
    }
    if amount:
        product["offers"] = {"@type": "Offer", "price": amount, "priceCurrency": currency}
    return product


def _rdfa_objects(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """RDFa comes back as an expanded JSON-LD graph: give it schema.org's plain shape."""
    by_id = {n.get("@id"): n for n in nodes if isinstance(n, dict)}

    def plain(node: dict[str, Any], depth: int = 0) -> dict[str, Any]:
        out: dict[str, Any] = {"@type": [_local(t) for t in node.get("@type", [])]}
        for key, values in node.items():
            if key.startswith("@") or not key.startswith(_SCHEMA_PREFIXES):
                continue
            converted = []
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, dict) and "@value" in value:
                    converted.append(value["@value"])
                elif isinstance(value, dict) and "@id" in value:
                    target = by_id.get(value["@id"])
                    converted.append(
                        plain(target, depth + 1) if target and depth < 4 else value["@id"]
                    )
            out[_local(key)] = converted[0] if len(converted) == 1 else converted
        return out

    return [plain(n) for n in nodes if isinstance(n, dict) and n.get("@type")]
