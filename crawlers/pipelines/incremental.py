"""Pipeline step 0: a listing whose content has not changed since it was stored is not matched
or captured again; the store pipeline only moves its last-seen time.

"Unchanged" is ``Listing.content_hash()`` (what the seller controls: title, price, attributes,
images, shop facts...) equal to the stored latest version's. The stored hashes of a platform
are read once, on its first listing, in one query. ``MARKETGUARD_INCREMENTAL = False`` (``crawl
--full``) matches and captures everything again, e.g. after the rules changed.

A flagged listing without any stored evidence (its capture failed, or the pass that flagged it
ran without captures) goes through matching and capture again when this pass captures: evidence
is what the officer needs, and an unchanged page is no reason to go without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scrapy.crawler import Crawler

from crawlers.pipelines import archive_for
from evidence.archive.base import Archive
from marketguard.models import Listing


@dataclass(slots=True)
class Unchanged:
    """A listing seen again with the content the store already holds."""

    listing: Listing


class IncrementalPipeline:
    def __init__(self, archive: Archive, enabled: bool = True, capture: bool = False) -> None:
        self.archive = archive
        self.enabled = enabled
        self.capture = capture
        # platform -> listing_id -> the stored content hash, for listings that may be skipped
        self._hashes: dict[str, dict[str, str]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IncrementalPipeline:
        enabled = crawler.settings.getbool("MARKETGUARD_INCREMENTAL", True)
        capture = crawler.settings.getbool("MARKETGUARD_CAPTURE")
        return cls(archive_for(crawler), enabled, capture)

    def known_hash(self, platform: str, listing_id: str) -> str | None:
        hashes = self._hashes.get(platform)
        if hashes is None:
            states = self.archive.listing_states(platform)
            hashes = {
                key: state.content_hash
                for key, state in states.items()
                if not (self.capture and state.needs_evidence)
            }
            self._hashes[platform] = hashes
        return hashes.get(listing_id)

    def process_item(self, item: Any) -> Any:
        if not self.enabled or not isinstance(item, Listing):
            return item
        known = self.known_hash(item.platform, item.listing_id)
        if known is not None and known == item.content_hash():
            return Unchanged(item)
        return item
