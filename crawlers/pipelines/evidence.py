"""Pipeline step 2: capture browser evidence for every flagged listing.

One Chromium serves the whole pass (launched on the first flagged listing); captures run on
Scrapy's asyncio loop while crawling goes on, bounded by the capturer's own semaphore.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy.crawler import Crawler

from crawlers.pipelines import archive_for
from evidence.archive.base import Archive
from evidence.capture import CaptureError, Capturer
from evidence.ledger import ledger_for
from marketguard.models import Assessment, PageError
from marketguard.settings import Settings

logger = logging.getLogger(__name__)


class CapturePipeline:
    def __init__(self, crawler: Crawler, archive: Archive, settings: Settings) -> None:
        self.crawler = crawler
        self.archive = archive
        self.settings = settings
        self.capturer: Capturer | None = None
        # An officer's check (marketguard check) is captured whatever the rules say.
        self.capture_all = crawler.settings.getbool("MARKETGUARD_CAPTURE_ALL", False)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CapturePipeline:
        settings = Settings.from_env()
        settings.chromium = crawler.settings.get("MARKETGUARD_CHROMIUM", settings.chromium)
        settings.capture_concurrency = crawler.settings.getint(
            "MARKETGUARD_CAPTURE_CONCURRENCY", settings.capture_concurrency
        )
        return cls(crawler, archive_for(crawler), settings)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, Assessment) or not (item.flags or self.capture_all):
            return item
        listing = item.listing
        if self.capturer is None:
            # Every capture is sealed in the archive's ledger as it completes.
            self.capturer = Capturer(
                self.settings,
                self.archive.put_blob,
                investigators=self.settings.investigators,
                case_id=self.settings.case_id,
                ledger=ledger_for(self.archive, self.settings),
            )
        try:
            item.evidence = await self.capturer.capture(
                url=listing.url,
                platform=listing.platform,
                listing_id=listing.listing_id,
                image_urls=listing.image_urls,
            )
        except CaptureError as exc:
            logger.warning("capture failed for %s: %s", listing.url, exc)
            item.errors.append(PageError(url=listing.url, kind="capture", message=str(exc)))
            return item
        except Exception as exc:  # a browser bug must not cost us the listing itself
            logger.exception("capture crashed for %s", listing.url)
            message = f"{type(exc).__name__}: {exc}"
            item.errors.append(PageError(url=listing.url, kind="capture", message=message))
            return item
        for message in item.evidence.errors:
            item.errors.append(PageError(url=listing.url, kind="image", message=message))
        return item

    async def close_spider(self) -> None:
        if self.capturer is not None:
            await self.capturer.aclose()
