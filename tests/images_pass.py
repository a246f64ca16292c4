"""Child process of tests/test_images_pipeline.py: one Scrapy crawl whose spider yields the
listings of a JSON file, through ImagePipeline and MatchPipeline, into a JSONL file.

    python -m tests.images_pass LISTINGS.json OUT.jsonl HOME [SETTING=VALUE ...]

Twisted's reactor cannot restart inside pytest, hence a process per crawl.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import scrapy
from scrapy.crawler import AsyncCrawlerProcess
from scrapy.settings import Settings

from marketguard.models import Assessment, Listing, Seller


class ListingsSpider(scrapy.Spider):
    name = "listings_from_file"

    def __init__(self, path: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path

    async def start(self) -> Any:  # Scrapy >= 2.13
        for item in self._listings():
            yield item

    def _listings(self) -> Iterator[Listing]:
        for raw in json.loads(Path(self.path).read_text(encoding="utf-8")):
            seller = Seller(seller_id=raw.pop("seller"))
            yield Listing(platform="t", seller=seller, **raw)


class SignalPeek:
    """Between ImagePipeline and MatchPipeline: notes what the image step handed over."""

    seen: ClassVar[dict[str, list[dict[str, Any]]]] = {}

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> SignalPeek:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        findings = getattr(self.crawler, "_marketguard_image_findings", {}).get(id(item))
        if isinstance(item, Listing) and findings is not None:
            SignalPeek.seen[item.listing_id] = [
                {
                    "url": s.url,
                    "linkable": s.linkable,
                    "ccc_mark": s.ccc_mark,
                    "ocr_text": s.ocr_text,
                    "error": s.error,
                }
                for s in findings.signals
            ]
        return item


class Collector:
    def __init__(self, out: str, crawler: Any) -> None:
        self.out = Path(out)
        self.crawler = crawler
        self.rows: list[dict[str, Any]] = []

    @classmethod
    def from_crawler(cls, crawler: Any) -> Collector:
        return cls(crawler.settings["TEST_OUT"], crawler)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, Assessment):
            self.rows.append(
                {
                    "listing_id": item.listing.listing_id,
                    "flags": [f.to_dict() for f in item.flags],
                    "errors": [e.to_dict() for e in item.errors],
                }
            )
        return item

    def close_spider(self) -> None:
        stats = {k: v for k, v in self.crawler.stats.get_stats().items() if "images" in k}
        for row in self.rows:
            row["signals"] = SignalPeek.seen.get(row["listing_id"], [])
        lines = [json.dumps(r, ensure_ascii=False, default=str) for r in self.rows]
        lines.append(json.dumps({"stats": stats}))
        self.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str]) -> None:
    listings, out, home, *extra = argv
    settings = Settings()
    settings.setmodule("crawlers.settings", priority="project")
    values: dict[str, Any] = {
        "ITEM_PIPELINES": {
            "crawlers.pipelines.images.ImagePipeline": 80,
            "tests.images_pass.SignalPeek": 90,
            "crawlers.pipelines.matching.MatchPipeline": 100,
            "tests.images_pass.Collector": 900,
        },
        "EXTENSIONS": {},
        "MARKETGUARD_IMAGES": True,
        "MARKETGUARD_HOME": home,
        "TEST_OUT": out,
        "LOG_LEVEL": "WARNING",
    }
    for pair in extra:
        key, _, value = pair.partition("=")
        values[key] = value
    settings.setdict(values, priority="cmdline")
    process = AsyncCrawlerProcess(settings)
    process.crawl(ListingsSpider, path=listings)
    process.start()


if __name__ == "__main__":
    main(sys.argv[1:])
