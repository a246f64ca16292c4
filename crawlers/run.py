"""Run one monitoring pass in this process: spider -> matching -> evidence -> store.

Twisted's reactor starts once per process, so call ``run_pass`` once per process (the CLI does;
tests and Celery workers run it in a child process).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from scrapy.crawler import AsyncCrawlerProcess
from scrapy.settings import Settings as ScrapySettings

from crawlers.jobs import load_job, save_job, start_or_resume
from crawlers.stats_keys import pass_summary
from marketguard.models import utcnow
from marketguard.settings import Settings

PIPELINES = {
    "crawlers.pipelines.incremental.IncrementalPipeline": 50,
    "crawlers.pipelines.images.ImagePipeline": 80,  # off with MARKETGUARD_IMAGES=0
    "crawlers.pipelines.matching.MatchPipeline": 100,
    "crawlers.pipelines.evidence.CapturePipeline": 200,
    "crawlers.pipelines.store.StorePipeline": 300,
}


class PassFailedError(RuntimeError):
    """The crawl could not start or crashed outside any one page (its cause is chained)."""


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
        "EXTENSIONS": {
            **scrapy_settings.getdict("EXTENSIONS"),
            "crawlers.extensions.progress.Progress": 500,
        },
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
    job: str | None = None,
    incremental: bool = True,
) -> dict[str, Any]:
    """Crawl, match, capture and store; return the pass summary (see ``crawlers.stats_keys``).

    ``job`` names a resumable pass (crawlers/jobs.py): an unfinished job of that name is resumed
    (its listing pages already stored are not fetched again), otherwise a new one begins.
    ``incremental=False`` matches and captures unchanged listings again.
    """
    home = Path(settings.home)
    home.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = {"MARKETGUARD_INCREMENTAL": incremental}
    current = None
    if job:
        current, resumed = start_or_resume(home, job, spider, spider_args)
        extra["MARKETGUARD_JOB"] = job
        extra["MARKETGUARD_JOB_SINCE"] = current.started_at.isoformat()
        if resumed:
            extra["MARKETGUARD_RESUME_SINCE"] = current.started_at.isoformat()
    scrapy_settings = pass_settings(
        settings,
        capture=capture,
        progress_interval=progress_interval,
        log_level=log_level,
        overrides={**extra, **(overrides or {})},
    )
    process = AsyncCrawlerProcess(scrapy_settings, install_root_handler=True)
    logging.getLogger("scrapy").setLevel(log_level)
    crawler = process.create_crawler(spider)
    failures: list[BaseException] = []

    def _keep_failure(task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            failures.append(task.exception())  # type: ignore[arg-type]

    process.crawl(crawler, **spider_args).add_done_callback(_keep_failure)
    process.start()
    if failures:
        # Scrapy only logs a crawl that could not start (a broken rules file, a bad spider
        # argument); an empty summary would read as "nothing found".
        raise PassFailedError(f"the pass could not run: {failures[0]}") from failures[0]
    assert crawler.stats is not None
    stats = crawler.stats.get_stats()
    if current is not None:
        current = load_job(home, current.name) or current  # the store pipeline added the pass
        if stats.get("finish_reason") == "finished":
            current.finished_at = utcnow()
            save_job(home, current)
    summary = pass_summary(stats)
    summary["finish_reason"] = stats.get("finish_reason")
    if current is not None:
        summary["job"] = {"name": current.name, "finished": current.finished_at is not None}
    return summary
