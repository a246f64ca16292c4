"""Pipeline step 1: run the pure matching engine on every Listing and wrap it in an Assessment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler

from marketguard.models import Assessment, Listing
from matching.engine import Matcher


class MatchPipeline:
    def __init__(self, matcher: Matcher, crawler: Crawler) -> None:
        self.matcher = matcher
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MatchPipeline:
        catalogue = crawler.settings.get("MARKETGUARD_CATALOGUE")
        rules = crawler.settings.get("MARKETGUARD_RULES")
        matcher = Matcher.load(
            Path(catalogue) if catalogue else None, Path(rules) if rules else None
        )
        return cls(matcher, crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, Listing):
            return item
        result = self.matcher.match(item)
        item.category = result.category
        return Assessment(listing=item, flags=result.flags)
