"""Spider for the bundled demo marketplace (platform "demo").

    scrapy crawl demo_shop -a base_url=http://127.0.0.1:8000 -a keywords=充电器,移动电源 \
        [-a max_pages=3] -O listings.jsonl

It searches every keyword, follows result pages and listing pages, reads each shop page once, and
yields ``marketguard.models.Listing`` items (and ``PageError`` items for every page it could not
read). Pages whose price only JavaScript fills in are fetched again through Chromium
(scrapy-playwright). It never stores anything: the pipelines do.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import scrapy
from playwright.async_api import Page
from scrapy.http import Response, TextResponse
from scrapy.utils.defer import deferred_from_coro
from scrapy_playwright.page import PageMethod
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from crawlers.spiders.demo_pages import (
    DetailPage,
    PageParseError,
    ShopFacts,
    parse_detail,
    parse_shop,
    search_result_links,
)
from crawlers.spiders.page_errors import page_error_from_failure
from marketguard.models import Listing, PageError, Seller, utcnow

PLATFORM = "demo"
CHINA_TZ = timezone(timedelta(hours=8))  # shop opening dates are Beijing calendar dates
PRICE_SELECTOR = "#price:not(:empty)"
BROWSER_WAIT_MS = 15_000
# A kept tab is closed after this many renders and the next render opens a fresh one: Playwright
# keeps the objects of every request and response a page made (three per demo page) until the
# page closes, so a tab reused forever grows the crawler's memory with every page (see
# docs/benchmarks.md); a fresh renderer every 100 pages costs far less than one per page.
TAB_RENDERS_MAX = 100
_KEYWORD_SPLIT = re.compile(r"[,，;；\n]+")

Item = Listing | PageError | scrapy.Request


def split_keywords(keywords: str | Iterable[str]) -> list[str]:
    """``"充电器,移动电源"`` (or a list) -> unique, stripped keywords in their given order."""
    parts = _KEYWORD_SPLIT.split(keywords) if isinstance(keywords, str) else list(keywords)
    return list(dict.fromkeys(p.strip() for p in parts if p and p.strip()))


class DemoShopSpider(scrapy.Spider):
    name = "demo_shop"
    platform = PLATFORM

    def __init__(
        self,
        base_url: str = "",
        keywords: str | Iterable[str] = "",
        max_pages: str | int | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if not base_url:
            raise ValueError("demo_shop needs -a base_url=http://HOST:PORT (the demo shop's URL)")
        self.base_url = base_url.rstrip("/")
        self.keywords = split_keywords(keywords)
        if not self.keywords:
            raise ValueError("demo_shop needs -a keywords=WORD[,WORD...] (search terms)")
        self.max_pages = int(max_pages) if max_pages not in (None, "") else None
        if self.max_pages is not None and self.max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, not {max_pages}")
        # Shop facts by shop id (None: the shop page failed), and listings waiting for them.
        self._shops: dict[str, ShopFacts | None] = {}
        self._waiting: dict[str, list[Listing]] = {}
        self._requested: set[str] = set()  # detail-page URLs already asked for
        self._render_queue: deque[tuple[str, str]] = deque()  # (url, keyword) to render
        self._renders_in_flight = 0
        self._idle_tabs: list[Page] = []
        self._closing: set[asyncio.Future[Any]] = set()  # tab closes in progress
        self._tab_uses: dict[Page, int] = {}  # renders done by each kept tab

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for keyword in self.keywords:
            yield scrapy.Request(
                f"{self.base_url}/search?q={quote(keyword, safe='')}&page=1",
                callback=self.parse_search,
                errback=self.on_error,
                cb_kwargs={"keyword": keyword, "page": 1},
            )

    # --- search results -----------------------------------------------------------------------
    def parse_search(self, response: Response, keyword: str, page: int) -> Iterator[Item]:
        if not isinstance(response, TextResponse):
            yield PageError(response.url, "parse", f"search page is not text ({_type(response)})")
            return
        try:
            links, following = search_result_links(response)
        except Exception as exc:  # an unreadable result page costs its results, not the pass
            yield PageError(response.url, "parse", f"search page: {type(exc).__name__}: {exc}")
            return
        for url in links:
            # Several keywords find the same listing (充电器 and 电源适配器 share a category): it is
            # read once, for the first keyword. A set lookup is cheaper than a Request that
            # Scrapy's duplicate filter would drop.
            if url in self._requested:
                continue
            self._requested.add(url)
            yield scrapy.Request(
                url, callback=self.parse_item, errback=self.on_error, cb_kwargs={"keyword": keyword}
            )
        if following and (self.max_pages is None or page < self.max_pages):
            yield scrapy.Request(
                following,
                callback=self.parse_search,
                errback=self.on_error,
                cb_kwargs={"keyword": keyword, "page": page + 1},
            )

    # --- listing pages ------------------------------------------------------------------------
    def parse_item(self, response: Response, keyword: str) -> Iterator[Item]:
        try:
            if not isinstance(response, TextResponse):
                raise PageParseError(f"listing page is not text ({_type(response)})")
            page = parse_detail(response)
        except PageParseError as exc:
            yield PageError(response.url, "parse", str(exc))
            return
        except Exception as exc:  # a parser bug must cost one page, not the pass
            yield PageError(response.url, "parse", f"{type(exc).__name__}: {exc}")
            return
        if page.price is None:
            # The price is filled in by JavaScript: let Chromium run the page and read the DOM.
            self._render_queue.append((response.url, keyword))
            yield from self._next_renders()
            return
        listing = self._listing(response, page, keyword, rendered=False)
        yield from self._with_shop(listing, page)

    # --- JavaScript pages through Chromium ----------------------------------------------------
    # At most PLAYWRIGHT_MAX_PAGES_PER_CONTEXT renders are in flight; each finished render hands
    # its open browser tab to the next one. Reusing tabs saves creating a renderer per page, and
    # never asking for more tabs than the handler allows means no request waits for a tab that
    # sits idle in the pool.
    def _next_renders(self) -> Iterator[scrapy.Request]:
        limit = self.settings.getint("PLAYWRIGHT_MAX_PAGES_PER_CONTEXT") or 4
        while self._render_queue and self._renders_in_flight < limit:
            url, keyword = self._render_queue.popleft()
            meta: dict[str, Any] = {
                "playwright": True,
                "playwright_include_page": True,
                "playwright_page_goto_kwargs": {"wait_until": "domcontentloaded"},
                "playwright_page_methods": [
                    PageMethod("wait_for_selector", PRICE_SELECTOR, timeout=BROWSER_WAIT_MS)
                ],
            }
            if self._idle_tabs:
                meta["playwright_page"] = self._idle_tabs.pop()
            self._renders_in_flight += 1
            yield scrapy.Request(
                url,
                callback=self.parse_rendered,
                errback=self.on_render_error,
                cb_kwargs={"keyword": keyword},
                meta=meta,
                dont_filter=True,  # the same URL as the static fetch, on purpose
                priority=5,
            )

    def _tab_back(self, meta: dict[str, Any], *, reuse: bool = True) -> None:
        self._renders_in_flight -= 1
        tab = meta.pop("playwright_page", None)
        if tab is None or tab.is_closed():
            return
        uses = self._tab_uses.pop(tab, 0) + 1
        if reuse and uses < TAB_RENDERS_MAX:
            self._tab_uses[tab] = uses
            self._idle_tabs.append(tab)
        else:
            self._close_tab(tab)

    def _close_tab(self, tab: Page) -> None:
        # Callbacks and errbacks here are synchronous: the close runs as a task on the loop,
        # kept referenced until done.
        task = asyncio.ensure_future(tab.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        self._count_closed_tab()

    def _count_closed_tab(self) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value("marketguard/browser_tabs_closed")

    def parse_rendered(self, response: Response, keyword: str) -> Iterator[Item]:
        self._tab_back(response.meta)
        try:
            if not isinstance(response, TextResponse):
                raise PageParseError(f"rendered page is not text ({_type(response)})")
            page = parse_detail(response)
            if page.price is None:
                raise PageParseError("no price on the page, even after rendering it in Chromium")
        except Exception as exc:
            yield PageError(response.url, "parse", f"{type(exc).__name__}: {exc}")
        else:
            listing = self._listing(response, page, keyword, rendered=True)
            yield from self._with_shop(listing, page)
        yield from self._next_renders()

    def on_render_error(self, failure: Failure) -> Iterator[Item]:
        request = failure.request  # type: ignore[attr-defined]
        # A tab whose render failed may be stuck mid-navigation or crashed: close it, and let
        # the next render open a fresh one.
        self._tab_back(request.meta, reuse=False)
        error = page_error_from_failure(failure)
        error.message = f"browser rendering: {error.message}"
        yield error
        yield from self._next_renders()

    def _listing(
        self, response: Response, page: DetailPage, keyword: str, *, rendered: bool
    ) -> Listing:
        seller = None
        if page.shop_id:
            seller = Seller(seller_id=page.shop_id, name=page.shop_name, url=page.shop_url)
        return Listing(
            platform=PLATFORM,
            listing_id=page.listing_id,
            url=response.url,
            title=page.title,
            price=page.price,
            currency=page.currency,
            seller=seller,
            image_urls=page.image_urls,
            attributes=page.attributes,
            description=page.description,
            crawled_at=utcnow(),
            search_keyword=keyword,
            sales=page.sales,
            rendered_with="browser" if rendered else "http",
        )

    # --- shop pages: fetched once, their facts attached to every listing of the shop ---------
    def _with_shop(self, listing: Listing, page: DetailPage) -> Iterator[Item]:
        shop_id = page.shop_id
        if not shop_id or not page.shop_url:
            yield listing
            return
        if shop_id in self._shops:
            yield _attach(listing, self._shops[shop_id])
            return
        waiting = self._waiting.get(shop_id)
        if waiting is not None:
            waiting.append(listing)
            return
        self._waiting[shop_id] = [listing]
        yield scrapy.Request(
            page.shop_url,
            callback=self.parse_shop,
            errback=self.on_shop_error,
            cb_kwargs={"shop_id": shop_id},
            priority=10,  # listings wait for it: fetch before more detail pages
            dont_filter=True,  # this spider already asks for each shop once
        )

    def parse_shop(self, response: Response, shop_id: str) -> Iterator[Item]:
        facts: ShopFacts | None = None
        try:
            if not isinstance(response, TextResponse):
                raise PageParseError(f"shop page is not text ({_type(response)})")
            facts = parse_shop(response, shop_id)
        except Exception as exc:
            yield PageError(response.url, "parse", f"{type(exc).__name__}: {exc}")
        yield from self._release(shop_id, facts)

    def on_shop_error(self, failure: Failure) -> Iterator[Item]:
        yield page_error_from_failure(failure)
        shop_id = failure.request.cb_kwargs.get("shop_id", "")  # type: ignore[attr-defined]
        yield from self._release(shop_id, None)

    def _release(self, shop_id: str, facts: ShopFacts | None) -> Iterator[Listing]:
        self._shops[shop_id] = facts
        for listing in self._waiting.pop(shop_id, []):
            yield _attach(listing, facts)

    # --- failures -------------------------------------------------------------------------------
    def on_error(self, failure: Failure) -> Iterator[PageError]:
        yield page_error_from_failure(failure)

    def closed(self, reason: str) -> Deferred[None]:
        # Neither can happen while every request has an errback; say so loudly if one does.
        stranded = sum(len(v) for v in self._waiting.values())
        if stranded:
            self.logger.error("%d listings never got their shop page", stranded)
        if self._render_queue:
            self.logger.error("%d pages were never rendered", len(self._render_queue))
        return deferred_from_coro(self._close_tabs())

    async def _close_tabs(self) -> None:
        """Close every tab this spider kept open, before the browser itself goes."""
        tabs, self._idle_tabs = self._idle_tabs, []
        for tab in tabs:
            if not tab.is_closed():
                await tab.close()
                self._count_closed_tab()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


def _attach(listing: Listing, facts: ShopFacts | None) -> Listing:
    """Fill in the shop's facts (the listing is this spider's own, not yet yielded)."""
    seller = listing.seller
    if facts is None or seller is None:
        return listing
    listing.seller = Seller(
        seller_id=seller.seller_id,
        name=facts.name or seller.name,
        url=seller.url,
        location=facts.location,
        rating=facts.rating,
        shop_age_days=shop_age_days(facts.opened) if facts.opened else None,
    )
    return listing


def shop_age_days(opened: date, now: datetime | None = None) -> int:
    """Days since the shop opened, counted in Beijing calendar days at crawl time."""
    today = (now or datetime.now(CHINA_TZ)).astimezone(CHINA_TZ).date()
    return (today - opened).days


def _type(response: Response) -> str:
    return response.headers.get(b"Content-Type", b"").decode("latin-1") or type(response).__name__
