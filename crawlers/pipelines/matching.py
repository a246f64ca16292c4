"""Pipeline step 1: run the pure matching engine on every Listing and wrap it in an Assessment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler

from crawlers.pipelines.images import take_image_findings
from marketguard.models import Assessment, Listing
from matching.context import EMPTY_CONTEXT, MatchContext
from matching.engine import Matcher


class MatchPipeline:
    def __init__(self, matcher: Matcher, crawler: Crawler) -> None:
        self.matcher = matcher
        self.crawler = crawler
        self.stats = crawler.stats
        self.context: MatchContext = EMPTY_CONTEXT  # pass-wide facts; images are per listing

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
        images = take_image_findings(self.crawler, item)  # from ImagePipeline, when it ran
        context = self.context.for_listing(images=images.signals) if images else self.context
        result = self.matcher.match(item, context)
        item.category = result.category
        return Assessment(
            listing=item, flags=result.flags, errors=list(images.errors) if images else []
        )
