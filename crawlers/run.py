"""Run one monitoring pass in this process: spider -> matching -> evidence -> store.

Twisted's reactor starts once per process, so call ``run_pass`` once per process (the CLI does;
tests and Celery workers run it in a child process).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from scrapy.crawler import AsyncCrawlerProcess
from scrapy.settings import Settings as ScrapySettings

from crawlers.stats_keys import pass_summary
from marketguard.settings import Settings

PIPELINES = {
    "crawlers.pipelines.matching.MatchPipeline": 100,
    "crawlers.pipelines.evidence.CapturePipeline": 200,
    "crawlers.pipelines.store.StorePipeline": 300,
}


def pass_settings(
    settings: Settings,
    *,
    capture: bool = True,
    progress_interval: float = 2.0,
    log_level: str = "WARNING",
    overrides: dict[str, Any] | None = None,
) -> ScrapySettings:
    scrapy_settings = ScrapySettings()
    scrapy_settings.setmodule("crawlers.settings", priority="project")
    pipelines = dict(PIPELINES)
    if not capture:
        pipelines.pop("crawlers.pipelines.evidence.CapturePipeline")
    values: dict[str, Any] = {
        "ITEM_PIPELINES": pipelines,
        "EXTENSIONS": {"crawlers.extensions.progress.Progress": 500},
        "MARKETGUARD_HOME": str(settings.home),
        "MARKETGUARD_CHROMIUM": settings.chromium,
        "MARKETGUARD_CAPTURE": capture,
        "MARKETGUARD_CAPTURE_CONCURRENCY": settings.capture_concurrency,
        "MARKETGUARD_PROGRESS_INTERVAL": progress_interval,
        "LOG_LEVEL": log_level,
    }
    if settings.catalogue:
        values["MARKETGUARD_CATALOGUE"] = str(settings.catalogue)
    if settings.rules:
        values["MARKETGUARD_RULES"] = str(settings.rules)
    values.update(overrides or {})
    scrapy_settings.setdict(values, priority="cmdline")
    return scrapy_settings


def run_pass(
    spider: str,
    spider_args: dict[str, Any],
    settings: Settings,
    *,
    capture: bool = True,
    progress_interval: float = 2.0,
    log_level: str = "WARNING",
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Crawl, match, capture and store; return the pass summary (see ``crawlers.stats_keys``)."""
    Path(settings.home).mkdir(parents=True, exist_ok=True)
    scrapy_settings = pass_settings(
        settings,
        capture=capture,
        progress_interval=progress_interval,
        log_level=log_level,
        overrides=overrides,
    )
    process = AsyncCrawlerProcess(scrapy_settings, install_root_handler=True)
    logging.getLogger("scrapy").setLevel(log_level)
    crawler = process.create_crawler(spider)
    process.crawl(crawler, **spider_args)
    process.start()
    assert crawler.stats is not None
    return pass_summary(crawler.stats.get_stats())
