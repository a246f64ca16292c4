"""Downloader middleware of the site spider: the adapter's proxy and login cookies on *every*
plain HTTP request to its domains, including the robots.txt requests Scrapy makes by itself
(which would otherwise leave from the agency's own address and without the session).

Browser requests get both from their Playwright context instead (``login.browser_context_kwargs``).
"""

from __future__ import annotations

from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler

from crawlers.site_adapter.login import cookie_header, load_cookies
from crawlers.site_adapter.spec import SiteAdapter

# Before Scrapy's HttpProxyMiddleware (750), which turns meta["proxy"] into the connection.
PRIORITY = 740


class SiteRequestMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._cookies: list[dict[str, Any]] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SiteRequestMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        spider = spider or self.crawler.spider
        adapter: SiteAdapter | None = getattr(spider, "adapter", None)
        if adapter is None or request.meta.get("playwright") or not adapter.allows(request.url):
            return
        if adapter.proxy and "proxy" not in request.meta:
            request.meta["proxy"] = adapter.proxy
        if adapter.login.cookies_file is not None and b"Cookie" not in request.headers:
            if self._cookies is None:
                self._cookies = load_cookies(adapter.login.cookies_file)
            if cookie := cookie_header(self._cookies, request.url):
                request.headers["Cookie"] = cookie
