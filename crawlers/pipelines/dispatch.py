"""Pipeline step 1 on Celery workers: send each new or changed listing out as a match task.

Replaces matching, capture and store of the in-process pass (crawlers/run.py) when the pass
runs in a crawl worker's child process (marketguard/distributed/crawl_child.py). Listings leave
as they are found, not at the end of the pass, with their slice of the pass's context
(marketguard/distributed/wire.py): the peers and shop links seen before them, their image
signals. The store pipeline then moves the listing's last-seen time at once (``Dispatched``),
so that a complete pass marks gone only what it really did not find, whatever the match,
capture and store workers are still doing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scrapy.crawler import Crawler

from crawlers.pipelines import matcher_for
from crawlers.pipelines.images import take_image_findings
from marketguard.distributed import wire
from marketguard.match_context import PassContext
from marketguard.models import Listing
from matching.engine import Matcher


@dataclass(slots=True)
class Dispatched:
    """A listing handed to the match workers."""

    listing: Listing


class DispatchPipeline:
    def __init__(self, matcher: Matcher, crawler: Crawler) -> None:
        from marketguard.distributed.tasks import app

        self.matcher = matcher
        self.crawler = crawler
        self.app = app
        self.pass_context = PassContext(matcher)
        settings = crawler.settings
        self.run = settings.get("MARKETGUARD_JOB") or ""
        self.capture = settings.getbool("MARKETGUARD_CAPTURE")
        self.check_id = settings.get("MARKETGUARD_CHECK_ID")
        self.origin = settings.get("MARKETGUARD_ORIGIN", "")
        self.priority = settings.getint("MARKETGUARD_PRIORITY", 6)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DispatchPipeline:
        return cls(matcher_for(crawler), crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, Listing):
            return item
        images = take_image_findings(self.crawler, item)
        context = self.pass_context.context_for(item, images.signals if images else ())
        found = self.matcher.categorize(item)
        category = found.id if found else ""
        context_slice = wire.context_slice(context, item, category)
        self.pass_context.seen(item, category)
        self.app.send_task(
            "marketguard.match",
            kwargs={
                "run": self.run,
                "pass_id": self.crawler.stats.get_value("marketguard/pass_id"),
                "listing": item.to_dict(),
                "context": context_slice,
                "errors": wire.errors_to_list(images.errors) if images else [],
                "capture": self.capture,
                "check_id": self.check_id,
                "origin": self.origin,
            },
            priority=self.priority,
        )
        self.crawler.stats.inc_value("marketguard/dispatched")
        return Dispatched(item)
