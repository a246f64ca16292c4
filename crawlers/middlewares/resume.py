"""Resume a killed job: drop requests for listing pages the store already holds from this job.

Enabled when ``MARKETGUARD_RESUME_SINCE`` (ISO time the job began) is set, i.e. when
``crawlers.run.run_pass`` resumes an unfinished job. A listing counts as done when the store
holds it with ``last_seen`` at or after that time: it was saved (or touched, when unchanged) by an
earlier run of the job. Matching is by URL, as the spider requests it. Dropped requests are
counted in ``marketguard/resume_skipped``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Request, Response

from crawlers.pipelines import archive_for


class ResumeFilter:
    def __init__(self, crawler: Crawler, since: datetime) -> None:
        self.crawler = crawler
        self.since = since
        self._done: set[str] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ResumeFilter:
        since = crawler.settings.get("MARKETGUARD_RESUME_SINCE")
        if not since:
            raise NotConfigured
        return cls(crawler, datetime.fromisoformat(since))

    def done_urls(self) -> set[str]:
        if self._done is None:
            spider = self.crawler.spider
            platform = getattr(spider, "platform", None) or getattr(spider, "name", "")
            states = archive_for(self.crawler).listing_states(platform)
            self._done = {s.url for s in states.values() if s.last_seen >= self.since}
            assert self.crawler.stats is not None
            self.crawler.stats.set_value("marketguard/resume_known", len(self._done))
        return self._done

    def _keep(self, item: Any) -> bool:
        if isinstance(item, Request) and item.url in self.done_urls():
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("marketguard/resume_skipped")
            return False
        return True

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for item in start:
            if self._keep(item):
                yield item

    def process_spider_output(self, response: Response, result: Iterable[Any]) -> Iterable[Any]:
        return (item for item in result if self._keep(item))

    async def process_spider_output_async(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        async for item in result:
            if self._keep(item):
                yield item
