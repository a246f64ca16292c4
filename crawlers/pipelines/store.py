"""Pipeline step 3: write each assessed listing (flags, evidence) and each error to the store.

It also owns the pass record: one row per monitoring pass with its summary, and it records the
failures Scrapy reports through signals (a callback that raised, a pipeline step that raised), so
that every problem is counted in ``errors`` and kept in the store, and none stops the pass.

Incremental passes: an ``Unchanged`` listing only has its last-seen time moved. When the spider
closes after a complete pass (reason "finished"), listings of the platform (and of the pass's
keywords) that the pass did not see are marked gone; see ``_mark_gone`` for when a pass counts
as complete.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import Response
from twisted.internet import reactor
from twisted.python.failure import Failure

from crawlers.jobs import add_pass
from crawlers.pipelines import archive_for
from crawlers.pipelines.dispatch import Dispatched
from crawlers.pipelines.incremental import Unchanged
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
        # Pages that failed in this run, by URL: they decide whether the pass was complete.
        self._failed: dict[str, PageError] = {}
        self._finished = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        pipeline = cls(crawler, archive_for(crawler))
        crawler.signals.connect(pipeline.spider_error, signal=signals.spider_error)
        crawler.signals.connect(pipeline.item_error, signal=signals.item_error)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self) -> None:
        spider = self.crawler.spider
        self.pass_id = self.archive.begin_pass(
            {
                "spider": spider.name if spider else "",
                "keywords": getattr(spider, "keywords", None),
                "capture": self.crawler.settings.getbool("MARKETGUARD_CAPTURE"),
                "job": self.crawler.settings.get("MARKETGUARD_JOB"),
            }
        )
        self.stats.set_value("marketguard/pass_id", self.pass_id)
        job = self.crawler.settings.get("MARKETGUARD_JOB")
        if job:
            add_pass(Path(self.crawler.settings["MARKETGUARD_HOME"]), job, self.pass_id)
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
        elif isinstance(item, Unchanged):
            listing = item.listing
            if self.archive.touch_listing(
                listing.platform, listing.listing_id, listing.crawled_at, self.pass_id
            ):
                self.stats.inc_value("marketguard/listings")
                self.stats.inc_value("marketguard/unchanged")
        elif isinstance(item, Dispatched):
            # Its match, capture and store run on workers; moving last-seen now keeps a
            # complete pass from marking it gone meanwhile. A new listing has nothing to move.
            listing = item.listing
            self.archive.touch_listing(
                listing.platform, listing.listing_id, listing.crawled_at, self.pass_id
            )
            self.stats.inc_value("marketguard/listings")
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

    def spider_closed(self, spider: Spider, reason: str) -> None:
        """After every pipeline closed: judge what disappeared, then close the pass record."""
        if self._finished:
            return
        self._finished = True
        try:
            self._mark_gone(spider, reason)
        except Exception:  # marking gone is bookkeeping; the pass record must still close
            logger.exception("could not mark gone listings")
        if self.pass_id is not None:
            summary = pass_summary(self.stats.get_stats())
            summary["finish_reason"] = reason
            self.archive.finish_pass(self.pass_id, summary)
        self.archive.close()

    def _mark_gone(self, spider: Spider, reason: str) -> None:
        """Mark gone what a complete pass did not see.

        Complete means: the spider ran out of work ("finished", not stopped or killed), it read
        every result of its keywords (``covers_its_searches``), and no page failed except
        listing pages the store knows. A failed search or result page may
        hide any number of listings, so one such failure and nothing is marked. A known
        listing whose own page answered 404 or 410 is gone; one whose page failed otherwise
        (a 5xx, a timeout) is merely not confirmed, so it is kept as it is.
        """
        if reason != "finished" or not self.crawler.settings.getbool("MARKETGUARD_MARK_GONE", True):
            return
        if not covers_its_searches(spider):
            return
        since_text = self.crawler.settings.get("MARKETGUARD_JOB_SINCE")
        since = datetime.fromisoformat(since_text) if since_text else self._pass_started()
        if since is None:
            return
        platform = getattr(spider, "platform", None) or spider.name
        states = self.archive.listing_states(platform)
        by_url = {state.url: key for key, state in states.items()}
        unknown = [url for url in self._failed if url not in by_url]
        if unknown:
            self.stats.set_value("marketguard/gone_unjudged", len(unknown))
            logger.warning(
                "not marking gone listings: %d pages that may list others failed (e.g. %s)",
                len(unknown),
                unknown[0],
            )
            return
        gone = self.archive.mark_gone(
            platform,
            not_seen_since=since,
            search_keywords=list(spider.keywords),  # type: ignore[attr-defined]
            keep={by_url[url] for url, error in self._failed.items() if not _says_gone(error)},
        )
        self.stats.set_value("marketguard/gone", gone)

    def _pass_started(self) -> datetime | None:
        if self.pass_id is None:
            return None
        record = self.archive.get_pass(self.pass_id)
        return record.started_at if record else None

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
        if error.kind not in ("capture", "image"):  # those come after the listing was read
            self._failed[error.url] = error
        if log:
            logger.warning("%s error at %s: %s", error.kind, error.url, error.message)
        self.stats.inc_value("marketguard/errors")
        self.stats.inc_value(f"marketguard/errors/{error.kind}")
        try:
            self.archive.record_error(error, self.pass_id)
        except Exception:  # the store itself failing must not hide the original error
            logger.exception("could not record error for %s", error.url)


def covers_its_searches(spider: Spider) -> bool:
    """Whether the pass read every result of its keywords, so that absence means something.

    Not when it read one page (``url``), only the first result pages (``max_pages``), or no
    keywords at all; a spider can also say so itself with ``judges_gone = False``.
    """
    if getattr(spider, "judges_gone", True) is False:
        return False
    if getattr(spider, "url", "") or getattr(spider, "max_pages", None) is not None:
        return False
    return bool(getattr(spider, "keywords", None))


def _says_gone(error: PageError) -> bool:
    """A listing page answering 404 or 410 is how platforms show a takedown."""
    return error.kind == "http_status" and error.message.startswith(("HTTP 404", "HTTP 410"))


def _describe(failure: Failure) -> str:
    return f"{failure.type.__name__ if failure.type else 'Error'}: {failure.getErrorMessage()}"
