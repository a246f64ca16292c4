"""Pipeline step 3: write each assessed listing (flags, evidence) and each error to the store.

It also owns the pass record: one row per monitoring pass with its summary, and it records the
failures Scrapy reports through signals (a callback that raised, a pipeline step that raised), so
that every problem is counted in ``errors`` and kept in the store, and none stops the pass.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import Response
from twisted.internet import reactor
from twisted.python.failure import Failure

from crawlers.pipelines import archive_for
from crawlers.stats_keys import pass_summary
from evidence.archive.base import Archive
from marketguard.models import Assessment, PageError

logger = logging.getLogger(__name__)


class StorePipeline:
    def __init__(self, crawler: Crawler, archive: Archive) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.archive = archive
        self.pass_id: int | None = None
        # Group commit: writes arriving in the same short window share one transaction (each
        # write still all-or-nothing inside it). A crash can lose at most the last window's
        # writes, which were never reported as stored; what was committed stays.
        self.commit_window = crawler.settings.getfloat("MARKETGUARD_COMMIT_WINDOW", 0.05)
        self._open_batch: AbstractContextManager[None] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        pipeline = cls(crawler, archive_for(crawler))
        crawler.signals.connect(pipeline.spider_error, signal=signals.spider_error)
        crawler.signals.connect(pipeline.item_error, signal=signals.item_error)
        return pipeline

    def open_spider(self) -> None:
        spider = self.crawler.spider
        self.pass_id = self.archive.begin_pass(
            {
                "spider": spider.name if spider else "",
                "keywords": getattr(spider, "keywords", None),
                "capture": self.crawler.settings.getbool("MARKETGUARD_CAPTURE"),
            }
        )
        self.stats.set_value("marketguard/pass_id", self.pass_id)
        self.stats.set_value("marketguard/store", self.archive.location)

    def _begin_group(self) -> None:
        batch = getattr(self.archive, "batch", None)
        if self._open_batch is not None or batch is None or self.commit_window <= 0:
            return
        self._open_batch = batch()
        self._open_batch.__enter__()
        reactor.callLater(self.commit_window, self._commit_group)  # type: ignore[attr-defined]

    def _commit_group(self) -> None:
        open_batch, self._open_batch = self._open_batch, None
        if open_batch is not None:
            open_batch.__exit__(None, None, None)

    def process_item(self, item: Any) -> Any:
        self._begin_group()
        if isinstance(item, PageError):
            self._record(item)
        elif isinstance(item, Assessment):
            self.archive.save_listing(
                item.listing, item.flags, item.evidence, self.pass_id, risk_score=item.risk_score
            )
            self.stats.inc_value("marketguard/listings")
            if item.flags:
                self.stats.inc_value("marketguard/flagged")
                for flag in item.flags:
                    self.stats.inc_value(f"marketguard/flags/{flag.rule_id}")
            if item.evidence is not None:
                self.stats.inc_value("marketguard/evidence")
            for error in item.errors:
                self._record(error)
        return item

    def close_spider(self) -> None:
        self._commit_group()
        if self.pass_id is not None:
            self.archive.finish_pass(self.pass_id, pass_summary(self.stats.get_stats()))
        self.archive.close()

    # --- failures reported by Scrapy rather than yielded as items -------------------------
    def spider_error(self, failure: Failure, response: Response, spider: Spider) -> None:
        self._record(
            PageError(url=response.url, kind="parse", message=_describe(failure)), log=False
        )

    def item_error(
        self, item: Any, response: Response | None, spider: Spider, failure: Failure
    ) -> None:
        url = ""
        if isinstance(item, Assessment):
            url = item.listing.url
        elif response is not None:
            url = response.url
        self._record(PageError(url=url, kind="pipeline", message=_describe(failure)), log=False)

    def _record(self, error: PageError, *, log: bool = True) -> None:
        if log:
            logger.warning("%s error at %s: %s", error.kind, error.url, error.message)
        self.stats.inc_value("marketguard/errors")
        self.stats.inc_value(f"marketguard/errors/{error.kind}")
        try:
            self.archive.record_error(error, self.pass_id)
        except Exception:  # the store itself failing must not hide the original error
            logger.exception("could not record error for %s", error.url)


def _describe(failure: Failure) -> str:
    return f"{failure.type.__name__ if failure.type else 'Error'}: {failure.getErrorMessage()}"
