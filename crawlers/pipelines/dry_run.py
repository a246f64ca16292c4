"""``marketguard crawl ... --dry-run --json``: print each Listing as one JSON line, store nothing.

The way to develop an adapter: run it, read what it extracted, fix a selector, run again. Page
errors go to stderr (one line each) so stdout stays pure JSON lines.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from scrapy.crawler import Crawler

from marketguard.models import Listing, PageError

STATS_PREFIX = "marketguard/"


class PrintListings:
    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PrintListings:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, Listing):
            line = json.dumps(item.to_dict(), ensure_ascii=False, sort_keys=True)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            self._count("listings")
        elif isinstance(item, PageError):
            sys.stderr.write(f"page error [{item.kind}] {item.url}: {item.message}\n")
            self._count("errors")
            self._count(f"errors/{item.kind}")
        return item

    def _count(self, key: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(STATS_PREFIX + key)


def run_dry_pass(
    spider: str, spider_args: dict[str, Any], settings: Any, *, log_level: str = "ERROR"
) -> dict[str, int]:
    """Crawl with the pass's settings but only the printing pipeline; counts of what was seen.

    Like ``crawlers.run.run_pass``: once per process (Twisted's reactor does not restart).
    """
    import logging

    from scrapy.crawler import AsyncCrawlerProcess

    from crawlers.run import pass_settings

    scrapy_settings = pass_settings(
        settings,
        capture=False,
        progress_interval=0,
        log_level=log_level,
        # Nothing stored, nothing resumed: a dry run must leave no trace in the store or job dir.
        overrides={
            "ITEM_PIPELINES": {"crawlers.pipelines.dry_run.PrintListings": 100},
            "EXTENSIONS": {},
            "JOBDIR": None,
        },
    )
    process = AsyncCrawlerProcess(scrapy_settings, install_root_handler=True)
    logging.getLogger("scrapy").setLevel(log_level)
    crawler = process.create_crawler(spider)
    process.crawl(crawler, **spider_args)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats is not None else {}
    return {
        "listings": int(stats.get(STATS_PREFIX + "listings", 0)),
        "errors": int(stats.get(STATS_PREFIX + "errors", 0)),
        "offsite_skipped": int(stats.get("site/offsite_skipped", 0)),
        "empty_search_pages": int(stats.get("site/empty_search_pages", 0)),
    }
