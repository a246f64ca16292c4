"""Baseline: plain Scrapy fetching a given list of URLs with an empty callback.

Same project settings as a monitoring pass (concurrency, throttling, timeouts), no pipelines,
no parsing. Prints one JSON line: pages fetched and elapsed seconds from Scrapy's own stats.

    python -m bench.plain_crawl URLS_FILE
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy.crawler import AsyncCrawlerProcess
from scrapy.http import Response
from scrapy.settings import Settings


class PlainSpider(scrapy.Spider):
    name = "plain"

    def __init__(self, urls_file: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls_file = urls_file

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in Path(self.urls_file).read_text().split():
            yield scrapy.Request(url, callback=self.parse)

    def parse(self, response: Response) -> None:
        return None


def main() -> None:
    settings = Settings()
    settings.setmodule("crawlers.settings", priority="project")
    settings.setdict({"ITEM_PIPELINES": {}, "LOG_LEVEL": "ERROR"}, priority="cmdline")
    process = AsyncCrawlerProcess(settings)
    crawler = process.create_crawler(PlainSpider)
    process.crawl(crawler, urls_file=sys.argv[1])
    process.start()
    assert crawler.stats is not None
    stats = crawler.stats.get_stats()
    print(
        json.dumps(
            {
                "pages": int(stats.get("response_received_count", 0)),
                "elapsed": float(stats["elapsed_time_seconds"]),
            }
        )
    )


if __name__ == "__main__":
    main()
