"""HTML (and JSON) of the demo shop, rendered with plain string templates.

Rendering is a few string joins per page, so the shop keeps up with a Scrapy crawl. Detail pages
come in the variants real platforms show: with schema.org JSON-LD, plain HTML only, or with price
and attributes loaded by JavaScript; UTF-8 or GBK (declared in the header or only in <meta>).
"""

from __future__ import annotations

import json
from html import escape
from urllib.parse import quote

from demo.generator import (
    RESULTS_PER_PAGE,
    DemoListing,
    Marketplace,
    Shop,
    search_url,
)

SITE_NAME = "演示商城"
HTML_UTF8 = "text/html; charset=utf-8"
JSON_UTF8 = "application/json; charset=utf-8"
ROBOTS_TXT = b"User-agent: *\nAllow: /\n"

_STYLE = (
    "<style>body{font-family:'Noto Sans CJK SC',sans-serif;margin:0;color:#222}"
    "header.site{background:#e4393c;color:#fff;padding:10px 20px}header.site a{color:#fff}"
    "main{max-width:960px;margin:20px auto;padding:0 20px}.price{color:#e4393c;font-size:24px}"
    ".gallery img{width:180px;height:180px;margin:4px;border:1px solid #ddd}"
    "table.attrs{border-collapse:collapse}table.attrs th,table.attrs td{border:1px solid #ddd;"
    "padding:4px 10px;text-align:left}.desc{margin:16px 0;line-height:1.8}"
    "li.result{margin:8px 0}</style>"
)


def _page(title: str, body: str, head_extra: str = "", charset_meta: str = "utf-8") -> str:
    meta = f'<meta charset="{charset_meta}">' if charset_meta else ""
    return (
        f'<!DOCTYPE html><html lang="zh-CN"><head>{meta}<title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">{_STYLE}'
        f'{head_extra}</head><body><header class="site"><a href="/">{SITE_NAME}</a> '
        f'<form action="/search" style="display:inline"><input name="q" placeholder="搜索商品">'
        f"</form></header>{body}</body></html>"
    )


def home_page(market: Marketplace) -> bytes:
    links = "".join(
        f'<li><a href="{search_url("", term)}">{escape(term)}</a></li>'
        for term in market.search_terms()
    )
    body = (
        f'<main><h1>{SITE_NAME}</h1><p>共 {len(market.listings)} 件商品</p>'
        f'<ul class="categories">{links}</ul></main>'
    )
    return _page(SITE_NAME, body).encode("utf-8")


def search_page(market: Marketplace, query: str, page: int) -> bytes:
    found = market.search(query)
    pages = market.page_count(query)
    start = (page - 1) * RESULTS_PER_PAGE
    items = "".join(
        f'<li class="result"><a class="item-link" href="/item/{x.listing_id}">{escape(x.title)}</a>'
        f' <span class="price">￥{x.price}</span> <span class="sales">月销 {x.sales}</span></li>'
        for x in found[start : start + RESULTS_PER_PAGE]
    )
    pager = ""
    if page > 1:
        pager += f'<a class="prev" href="{search_url("", query, page - 1)}">上一页</a> '
    if page < pages:
        pager += f'<a class="next" href="{search_url("", query, page + 1)}">下一页</a>'
    summary = f"共 {len(found)} 件商品，第 {page}/{pages} 页" if found else "没有找到相关商品"
    body = (
        f'<main class="search"><h1>搜索：{escape(query)}</h1><p class="count">{summary}</p>'
        f'<ul class="results">{items}</ul><nav class="pager">{pager}</nav></main>'
    )
    return _page(f"{query} - 搜索 - {SITE_NAME}", body).encode("utf-8")


def item_page(market: Marketplace, listing: DemoListing, origin: str) -> tuple[bytes, str]:
    """``(body, content type)`` of a detail page; ``origin`` makes JSON-LD image URLs absolute."""
    shop = market.shop(listing.shop_id)
    shop_name = shop.name if shop else ""
    js = listing.layout == "js"
    attrs = market.attributes(listing)
    rows = "" if js else _attribute_rows(attrs)
    price = "" if js else f"￥{listing.price}"
    images = "".join(
        f'<img src="/img/{name}" alt="{escape(listing.brand)} 商品图{n + 1}">'
        for n, name in enumerate(listing.images)
    )
    head = _json_ld(listing, shop_name, origin) if listing.layout == "jsonld" else ""
    script = _price_script(listing.listing_id) if js else ""
    body = (
        f'<main class="item" data-item-id="{listing.listing_id}">'
        f'<h1 class="item-title">{escape(listing.title)}</h1>'
        f'<div class="price-row">价格 <span class="price" id="price">{price}</span></div>'
        f'<div class="sales">月销 {listing.sales}</div>'
        f'<div class="gallery">{images}</div>'
        f'<h2>商品参数</h2><table class="attrs" id="attrs">{rows}</table>'
        f'<h2>商品详情</h2><div class="desc" id="desc">{escape(market.description(listing))}</div>'
        f'<div class="shop-box">店铺：<a class="shop-link" href="/shop/{listing.shop_id}">'
        f"{escape(shop_name)}</a></div></main>{script}"
    )
    title = f"{listing.title} - {SITE_NAME}"
    if listing.encoding == "utf-8":
        return _page(title, body, head).encode("utf-8"), HTML_UTF8
    # GBK pages: either the header says so (and no <meta>), or only <meta> does.
    in_header = listing.encoding == "gbk-header"
    html = _page(title, body, head, charset_meta="" if in_header else "gbk")
    content_type = "text/html; charset=gbk" if in_header else "text/html"
    return html.encode("gbk", errors="xmlcharrefreplace"), content_type


def item_json(market: Marketplace, listing: DemoListing) -> bytes:
    """What the JavaScript of a detail page loads: price and attributes."""
    data = {
        "listing_id": listing.listing_id,
        "price": str(listing.price),
        "currency": "CNY",
        "attributes": [list(pair) for pair in market.attributes(listing)],
    }
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def broken_page(listing: DemoListing) -> bytes:
    """A detail page cut off mid-tag and followed by binary noise (the broken-HTML fault)."""
    noise = bytes((i * 131 + int(listing.listing_id)) % 256 for i in range(400))
    noise = noise.replace(b"<", b"?").replace(b">", b"?")
    return b'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><ti' + noise


def shop_page(shop: Shop) -> bytes:
    body = (
        f'<main class="shop" data-shop-id="{shop.shop_id}">'
        f'<h1 class="shop-name">{escape(shop.name)}</h1><dl class="shop-facts">'
        f'<dt>开店时间</dt><dd class="opened">{shop.opened.isoformat()}</dd>'
        f'<dt>店铺评分</dt><dd class="rating">{shop.rating:.1f}</dd>'
        f'<dt>所在地</dt><dd class="location">{escape(shop.location)}</dd></dl></main>'
    )
    return _page(f"{shop.name} - {SITE_NAME}", body).encode("utf-8")


def not_found_page(what: str) -> bytes:
    body = f"<main><h1>未找到</h1><p>{escape(what)}</p></main>"
    return _page(f"未找到 - {SITE_NAME}", body).encode("utf-8")


def server_error_page() -> bytes:
    return _page(f"服务器错误 - {SITE_NAME}", "<main><h1>500 服务器内部错误</h1></main>").encode(
        "utf-8"
    )


def _attribute_rows(attrs: tuple[tuple[str, str], ...]) -> str:
    return "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in attrs)


def _json_ld(listing: DemoListing, shop_name: str, origin: str) -> str:
    data = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": listing.title,
        "sku": listing.listing_id,
        "brand": {"@type": "Brand", "name": listing.brand},
        "image": [f"{origin}/img/{quote(name)}" for name in listing.images],
        "offers": {
            "@type": "Offer",
            "price": str(listing.price),
            "priceCurrency": "CNY",
            "availability": "https://schema.org/InStock",
            "seller": {"@type": "Organization", "name": shop_name},
        },
    }
    # "<" escaped so no text can close the <script> element early.
    text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
    return f'<script type="application/ld+json">{text}</script>'


def _price_script(listing_id: str) -> str:
    return (
        "<script>fetch('/api/item/" + listing_id + ".json').then(function(r){return r.json();})"
        ".then(function(d){var t=document.getElementById('attrs');"
        "d.attributes.forEach(function(a){var tr=document.createElement('tr');"
        "var th=document.createElement('th');th.textContent=a[0];"
        "var td=document.createElement('td');td.textContent=a[1];"
        "tr.appendChild(th);tr.appendChild(td);t.appendChild(tr);});"
        "document.getElementById('price').textContent='￥'+d.price;});</script>"
    )
