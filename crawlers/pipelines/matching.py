"""Pipeline step 1: run the pure matching engine on every Listing and wrap it in an Assessment.

The pass's MatchContext (marketguard/match_context.py) is loaded when the spider opens: the
certificate registry from home/registry.db and the repeat offenders from the store. Peer prices
and seller links grow as listings arrive; image signals come per listing from ImagePipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler

from crawlers.pipelines import archive_for, matcher_for
from crawlers.pipelines.images import take_image_findings
from marketguard.match_context import PassContext
from marketguard.models import Assessment, Listing
from matching.engine import Matcher


class MatchPipeline:
    def __init__(self, matcher: Matcher, crawler: Crawler) -> None:
        self.matcher = matcher
        self.crawler = crawler
        self.stats = crawler.stats
        self.pass_context = PassContext(matcher)  # replaced by the loaded one in open_spider

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MatchPipeline:
        return cls(matcher_for(crawler), crawler)

    def open_spider(self, spider: Any = None) -> None:
        home = self.crawler.settings.get("MARKETGUARD_HOME")
        archive = archive_for(self.crawler) if home else None
        self.pass_context = PassContext.load(self.matcher, Path(home) if home else None, archive)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, Listing):
            return item
        images = take_image_findings(self.crawler, item)  # from ImagePipeline, when it ran
        context = self.pass_context.context_for(item, images.signals if images else ())
        result = self.matcher.match(item, context)
        self.pass_context.seen(item, result.category)
        item.category = result.category
        for warning in result.warnings:
            self.stats.inc_value(f"marketguard/input_warnings/{warning.split(':')[0]}")
        return Assessment(
            listing=item,
            flags=result.flags,
            errors=list(images.errors) if images else [],
            risk_score=result.risk.score if result.flags else None,
        )
