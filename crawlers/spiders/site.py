"""One spider for every site adapter (``crawlers/sites/<site>.yaml``).

    scrapy crawl site -a site=demo -a keywords=充电器,移动电源 [-a base_url=...] [-a max_pages=2]
    scrapy crawl site -a url=https://shop.example.cn/item/123    # one page: adapter or generic

It searches each keyword with the adapter's URL template, reads results (CSS, XPath or JSON from
a script tag), follows pagination and, when the adapter says so, detail pages; reads each shop
page once per pass; and yields Listing items and a PageError for every page it could not read.
A URL outside the adapter's ``allowed_domains`` is never requested (counted as
``site/offsite_skipped``). The pipelines store; this spider never does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import scrapy
from parsel import Selector
from scrapy.http import Response, TextResponse
from scrapy.settings import get_settings_priority
from scrapy_playwright.page import PageMethod
from twisted.python.failure import Failure

from crawlers.extraction.decoding import decode_html
from crawlers.extraction.generic import listing_from_text, platform_of
from crawlers.site_adapter.login import browser_context_kwargs
from crawlers.site_adapter.records import (
    Record,
    Scope,
    attach_shop,
    listing_from_record,
    read_page,
    read_value,
)
from crawlers.site_adapter.registry import adapter_for_url, load_site
from crawlers.site_adapter.script_json import (
    BODY,
    ScriptJsonError,
    find_script_json,
    resolve_path,
)
from crawlers.site_adapter.site_requests import PRIORITY, SiteRequestMiddleware
from crawlers.site_adapter.spec import DetailSpec, PageSpec, SiteAdapter
from crawlers.spiders.demo_shop import split_keywords
from crawlers.spiders.page_errors import page_error_from_failure
from marketguard.models import Listing, PageError

Item = Listing | PageError | scrapy.Request
BROWSER_WAIT_MS = 15_000
# Fields a detail page's structured data provides; they replace the search page's snippet.
_STRUCTURED_FIELDS = ("title", "price", "brand", "model", "sku", "gtin", "image_urls")


def generic_adapter(url: str) -> SiteAdapter:
    """An adapter for a page no adapter covers: structured data and the HTML fallback only."""
    host = (urlsplit(url).hostname or "").lower()
    return SiteAdapter(
        site=platform_of(url) or "web",
        file=Path("<generic>"),
        allowed_domains=[host],
        detail=DetailSpec(page=PageSpec(fields={})),
    )


class SiteSpider(scrapy.Spider):
    name = "site"

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        # Added to whatever downloader middlewares the project configures, not replacing them,
        # at spider priority: a runner merging its project settings in later would drop an
        # addition made at project priority.
        name = "DOWNLOADER_MIDDLEWARES"
        middlewares = settings.getdict(name)
        middlewares[f"{SiteRequestMiddleware.__module__}.{SiteRequestMiddleware.__name__}"] = (
            PRIORITY
        )
        priority = max(settings.getpriority(name) or 0, get_settings_priority("spider"))
        settings.set(name, middlewares, priority=priority)

    def __init__(
        self,
        site: str = "",
        keywords: str | Iterable[str] = "",
        url: str = "",
        sites_dir: str = "",
        base_url: str = "",
        max_pages: str | int | None = None,
        adapter: SiteAdapter | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.url = url
        if adapter is None:
            if site:
                adapter = load_site(site, sites_dir or None)
            elif url:
                adapter, broken = adapter_for_url(url, sites_dir or None)
                for error in broken:
                    self.logger.warning("skipped an adapter that does not load: %s", error)
                adapter = adapter or generic_adapter(url)
            else:
                raise ValueError("site spider needs -a site=NAME or -a url=URL")
        if base_url:
            # Same site served elsewhere (a mirror, the demo shop on another port).
            adapter.base_url = base_url.rstrip("/")
            host = (urlsplit(base_url).hostname or "").lower()
            if host and not adapter.allows(base_url):
                adapter.allowed_domains.append(host)
        self.adapter = adapter
        self.platform = adapter.site
        self.allowed_domains = list(adapter.allowed_domains)
        self.keywords = split_keywords(keywords) or list(adapter.keywords)
        if not url and adapter.search is None:
            raise ValueError(f"{adapter.file}: no search section; crawl single pages with url=")
        if not url and not self.keywords:
            raise ValueError("site spider needs -a keywords=WORD[,WORD...] (search terms)")
        self.max_pages = int(max_pages) if max_pages not in (None, "") else None
        # Read by crawlers.middlewares.site_policy: the adapter's robots.txt choice and limits.
        self.robotstxt_obey = adapter.robots_obey
        self.download_slots = adapter.download_slots()
        self._context_kwargs = browser_context_kwargs(adapter.login, adapter.proxy)
        self._requested: set[str] = set()
        self._shops: dict[str, Record | None] = {}
        self._waiting: dict[str, list[Listing]] = {}

    # --- requests ---------------------------------------------------------------------------------
    def _request(
        self,
        url: str,
        callback: Any,
        cb_kwargs: dict[str, Any],
        *,
        browser: bool = False,
        priority: int = 0,
        dont_filter: bool = False,
    ) -> scrapy.Request | None:
        """A request to ``url``, or None (counted) when it leaves the adapter's domains."""
        domain = self.adapter.domain_of(url)
        if not domain:
            self._count_offsite(url)
            return None
        browser = browser or self.adapter.browser == "always"
        meta: dict[str, Any] = {}
        if self.download_slots:
            # One download slot per allowed domain, so www., m. and item. hosts of one site share
            # the adapter's concurrency and delay.
            meta["download_slot"] = domain
        if not self.adapter.robots_obey:
            meta["dont_obey_robotstxt"] = True
        if browser:
            meta["playwright"] = True
            meta["playwright_page_goto_kwargs"] = {"wait_until": "domcontentloaded"}
            if self.adapter.browser_wait_for:
                meta["playwright_page_methods"] = [
                    PageMethod(
                        "wait_for_selector", self.adapter.browser_wait_for, timeout=BROWSER_WAIT_MS
                    )
                ]
            if self._context_kwargs:
                # A context of the site's own: its login and proxy reach no other site.
                meta["playwright_context"] = f"site-{self.adapter.site}"
                meta["playwright_context_kwargs"] = self._context_kwargs
        # Plain HTTP requests get the site's proxy and cookies from SiteRequestMiddleware, which
        # also sees the robots.txt requests Scrapy makes on its own.
        return scrapy.Request(
            url,
            callback=callback,
            errback=self.on_error,
            cb_kwargs=cb_kwargs,
            meta=meta,
            priority=priority,
            dont_filter=dont_filter,
        )

    def _count_offsite(self, url: str) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value("site/offsite_skipped")
        self.logger.debug("not following offsite link %s", url)

    def search_url(self, keyword: str, page: int) -> str:
        search = self.adapter.search
        assert search is not None
        encoded = quote(keyword.encode(search.keyword_encoding, errors="replace"), safe="")
        return (
            search.url.replace("{base_url}", self.adapter.base_url)
            .replace("{keyword}", encoded)
            .replace("{page}", str(page))
        )

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if self.url:
            request = self._request(self.url, self.parse_detail, {"keyword": "", "record": {}})
            if request is None:
                raise ValueError(f"{self.url} is outside {self.adapter.allowed_domains}")
            yield request
            return
        search = self.adapter.search
        assert search is not None
        for keyword in self.keywords:
            url = self.search_url(keyword, search.first_page)
            kwargs = {"keyword": keyword, "page": search.first_page}
            if (request := self._request(url, self.parse_search, kwargs)) is not None:
                yield request

    # --- pages ----------------------------------------------------------------------------------
    def _scope(self, response: Response, page: PageSpec) -> tuple[Scope, str]:
        """Decoded page text in a Scope (with its script JSON when the page spec names one)."""
        if (
            not isinstance(response, TextResponse)
            and response.body.lstrip()[:1] != b"<"
            and page.script != BODY
        ):
            kind = response.headers.get(b"Content-Type", b"").decode("latin-1")
            raise ValueError(f"not an HTML page ({kind or type(response).__name__})")
        decoded = decode_html(
            response.body,
            response.headers.get(b"Content-Type"),
            override=self.adapter.encoding,
        )
        root = Selector(text=decoded.text or "<html/>", type="html", base_url=response.url).root
        scope = Scope(root, response.url)
        if decoded.problem:
            scope.problems.append(f"decoding: {decoded.problem}")
        if page.script:
            try:
                scope.data = find_script_json(decoded.text, page.script)
            except ScriptJsonError as exc:
                scope.problems.append(str(exc))
        return scope, decoded.text

    def parse_search(self, response: Response, keyword: str, page: int) -> Iterator[Item]:
        search = self.adapter.search
        assert search is not None
        try:
            scope, _ = self._scope(response, search.page)
            results = self._results(scope)
        except Exception as exc:  # an unreadable result page costs its results, not the pass
            yield PageError(response.url, "parse", f"search page: {type(exc).__name__}: {exc}")
            return
        for problem in scope.problems:
            yield PageError(response.url, "parse", f"search page: {problem}")
        if not results and self.crawler.stats is not None:
            # Not an error (a search may find nothing), but the first sign of a stale selector.
            self.crawler.stats.inc_value("site/empty_search_pages")
            self.logger.info("no results on %s", response.url)
        follow = self.adapter.detail is not None and self.adapter.detail.follow
        for result in results:
            try:
                record = read_page(search.page, result)
            except Exception as exc:
                yield PageError(
                    response.url, "parse", f"search result: {type(exc).__name__}: {exc}"
                )
                continue
            if follow:
                if not record.get("url"):
                    continue
                url = urljoin(response.url, record["url"])
                if url in self._requested:
                    continue  # another keyword found it first
                self._requested.add(url)
                kwargs = {"keyword": keyword, "record": record}
                if (request := self._request(url, self.parse_detail, kwargs)) is not None:
                    yield request
            else:
                rendered = bool(response.meta.get("playwright"))
                yield from self._finish(record, response.url, keyword, rendered=rendered)
        last = search.first_page + (self.max_pages or search.max_pages) - 1
        if results and page < last:
            following = ""
            if search.next_page is not None:
                href = read_value(search.next_page, scope)
                following = urljoin(response.url, href) if href else ""
            elif "{page}" in search.url:
                following = self.search_url(keyword, page + 1)
            if following:
                kwargs = {"keyword": keyword, "page": page + 1}
                if (request := self._request(following, self.parse_search, kwargs)) is not None:
                    yield request

    def _results(self, scope: Scope) -> list[Scope]:
        items = self.adapter.search.items  # type: ignore[union-attr]
        if items.source == "json":
            found = resolve_path(scope.data, items.query) if scope.data is not None else None
            if found is None:
                return []
            if not isinstance(found, list):
                raise ValueError(f"search.items json path {items.query!r} is not a list")
            return [Scope(scope.node, scope.url, item) for item in found]
        assert items.compiled is not None
        nodes = items.compiled(scope.node)
        if not isinstance(nodes, list):
            raise ValueError(f"search.items {items.query!r} selects no elements")
        return [Scope(node, scope.url, scope.data) for node in nodes if hasattr(node, "tag")]

    def parse_detail(
        self, response: Response, keyword: str, record: Record, rendered: bool = False
    ) -> Iterator[Item]:
        detail = self.adapter.detail
        page_spec = detail.page if detail is not None else PageSpec(fields={})
        rendered = rendered or bool(response.meta.get("playwright"))
        try:
            scope, text = self._scope(response, page_spec)
            base = None
            if detail is None or detail.structured_data:
                # Without fields of its own (generic --url) the HTML guesses are all there is.
                base = listing_from_text(
                    text,
                    response.url,
                    platform=self.adapter.site,
                    html_fallback=not (page_spec.fields or page_spec.attributes),
                ).listing
            own = read_page(page_spec, scope)
        except Exception as exc:  # a parser bug or broken page costs one page, not the pass
            yield PageError(response.url, "parse", f"{type(exc).__name__}: {exc}")
            return
        if not own and base is None and (page_spec.fields or page_spec.attributes):
            # Not one field the adapter expects: a broken or foreign page, not a listing. The
            # search result's snippet alone would put an unverified listing into the pass.
            expected = ", ".join(sorted(page_spec.fields)) or "attributes"
            yield PageError(response.url, "parse", f"detail page has none of: {expected}")
            return
        has_price = bool(own.get("price")) or (base is not None and base.price is not None)
        has_title = bool(own.get("title")) or (base is not None and bool(base.title))
        if self.adapter.browser == "when_missing" and not rendered and has_title and not has_price:
            # The price is filled in by JavaScript: let Chromium run the page and read the DOM.
            # (A page without even a title is broken, not scripted: rendering would not help.)
            request = self._request(
                response.url,
                self.parse_detail,
                {"keyword": keyword, "record": record, "rendered": True},
                browser=True,
                dont_filter=True,  # the same URL as the plain fetch, on purpose
                priority=5,
            )
            if request is not None:
                yield request
                return
        merged = dict(record)
        if base is not None:
            for name in _STRUCTURED_FIELDS:
                if getattr(base, name):
                    merged.pop(name, None)
        merged.update(own)
        for problem in scope.problems:
            yield PageError(response.url, "parse", problem)
        yield from self._finish(merged, response.url, keyword, base=base, rendered=rendered)

    def _finish(
        self,
        record: Record,
        page_url: str,
        keyword: str,
        *,
        base: Listing | None = None,
        rendered: bool = False,
    ) -> Iterator[Item]:
        listing, problems = listing_from_record(
            self.adapter, record, page_url, keyword=keyword, base=base, rendered=rendered
        )
        where = urljoin(page_url, record["url"]) if record.get("url") else page_url
        if listing is not None and not self.adapter.allows(listing.url):
            # A result linking off the site (an ad, a partner shop) is not this site's listing,
            # and evidence capture would have to follow the link to preserve it.
            self._count_offsite(listing.url)
            return
        for problem in problems:
            yield PageError(where, "extraction", problem)
        if listing is not None:
            yield from self._with_shop(listing)

    # --- shop pages: each fetched once per pass -------------------------------------------------
    def _with_shop(self, listing: Listing) -> Iterator[Item]:
        seller = listing.seller
        if self.adapter.shop is None or seller is None or not seller.url:
            yield listing
            return
        shop_id = seller.seller_id
        if shop_id in self._shops:
            listing.seller = attach_shop(seller, self._shops[shop_id])
            yield listing
            return
        waiting = self._waiting.get(shop_id)
        if waiting is not None:
            waiting.append(listing)
            return
        request = self._request(
            seller.url,
            self.parse_shop,
            {"shop_id": shop_id},
            priority=10,  # listings wait for it: fetch before more detail pages
            dont_filter=True,  # this spider already asks for each shop once
        )
        if request is None:  # a shop on another domain is not followed
            self._shops[shop_id] = None
            yield listing
            return
        self._waiting[shop_id] = [listing]
        yield request

    def parse_shop(self, response: Response, shop_id: str) -> Iterator[Item]:
        shop = self.adapter.shop
        assert shop is not None
        facts: Record | None = None
        try:
            scope, _ = self._scope(response, shop.page)
            facts = read_page(shop.page, scope)
            for problem in scope.problems:
                yield PageError(response.url, "parse", f"shop page: {problem}")
        except Exception as exc:
            yield PageError(response.url, "parse", f"shop page: {type(exc).__name__}: {exc}")
        yield from self._release(shop_id, facts)

    def _release(self, shop_id: str, facts: Record | None) -> Iterator[Listing]:
        self._shops[shop_id] = facts
        for listing in self._waiting.pop(shop_id, []):
            if listing.seller is not None:
                listing.seller = attach_shop(listing.seller, facts)
            yield listing

    # --- failures ---------------------------------------------------------------------------------
    def on_error(self, failure: Failure) -> Iterator[Item]:
        error = page_error_from_failure(failure)
        request = failure.request  # type: ignore[attr-defined]
        if request.meta.get("playwright"):
            error.message = f"browser rendering: {error.message}"
        yield error
        if request.callback == self.parse_shop:
            yield from self._release(request.cb_kwargs.get("shop_id", ""), None)

    def closed(self, reason: str) -> None:
        stranded = sum(len(v) for v in self._waiting.values())
        if stranded:
            self.logger.error("%d listings never got their shop page", stranded)
