"""Per-site politeness chosen by the spider (for the generic site spider: by its adapter).

Two spider attributes, both optional, read when the spider opens:

``robotstxt_obey = False``
    ``ROBOTSTXT_OBEY`` is True for every pass; a spider that sets this attribute crawls without
    consulting robots.txt (every request carries ``dont_obey_robotstxt``). The decision is kept
    in the pass's stats (``marketguard/robotstxt_obey``). docs/crawling.md says when an agency
    may choose that.
``download_slots = {"www.example.com": {"concurrency": 2, "delay": 1.5}}``
    Per-domain limits, merged into Scrapy's ``DOWNLOAD_SLOTS`` (keys are host names, as the
    downloader names its slots). AutoThrottle still raises the delay when the site slows down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import Request, Response


def spider_obeys_robots(spider: Spider | None) -> bool:
    """The spider's own choice; spiders that say nothing obey. A spider argument
    (``-a robotstxt_obey=false``) arrives as text and counts too."""
    choice = getattr(spider, "robotstxt_obey", True)
    if isinstance(choice, str):
        return choice.strip().lower() not in ("false", "0", "no", "off")
    return choice is not False


class SitePolicyMiddleware:
    """Spider middleware applying the spider's robots.txt choice and per-domain limits."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._obey: bool | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SitePolicyMiddleware:
        middleware = cls(crawler)
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        return middleware

    def spider_opened(self, spider: Spider) -> None:
        slots = getattr(spider, "download_slots", None) or {}
        engine = self.crawler.engine
        if slots and engine is not None and engine.downloader is not None:
            # The downloader reads these when it first creates a domain's slot, which happens on
            # the first request, after this signal.
            downloader = engine.downloader
            for host, limits in slots.items():
                downloader.per_slot_settings[host] = {
                    **downloader.per_slot_settings.get(host, {}),
                    **limits,
                }
        self._spider_obeys()

    def _spider_obeys(self) -> bool:
        if self._obey is None:
            self._obey = spider_obeys_robots(self.crawler.spider) and self.crawler.settings.getbool(
                "ROBOTSTXT_OBEY"
            )
            assert self.crawler.stats is not None
            self.crawler.stats.set_value("marketguard/robotstxt_obey", self._obey)
        return self._obey

    def _mark(self, item: Any) -> Any:
        if isinstance(item, Request) and not self._spider_obeys():
            item.meta["dont_obey_robotstxt"] = True
        return item

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for item in start:
            yield self._mark(item)

    def process_spider_output(self, response: Response, result: Iterable[Any]) -> Iterable[Any]:
        for item in result:
            yield self._mark(item)

    async def process_spider_output_async(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        async for item in result:
            yield self._mark(item)
