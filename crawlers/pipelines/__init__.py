"""Item pipelines of a monitoring pass: matching (100) -> evidence (200) -> store (300)."""

from __future__ import annotations

from pathlib import Path

from scrapy.crawler import Crawler

from evidence.archive import open_archive
from evidence.archive.base import Archive
from matching.engine import Matcher


def archive_for(crawler: Crawler) -> Archive:
    """The one archive a crawl writes to, opened on first use and shared by its pipelines."""
    archive: Archive | None = getattr(crawler, "_marketguard_archive", None)
    if archive is None:
        archive = open_archive(Path(crawler.settings["MARKETGUARD_HOME"]))
        crawler._marketguard_archive = archive  # type: ignore[attr-defined]
    return archive


def matcher_for(crawler: Crawler) -> Matcher:
    """The rules and catalogue the crawl's settings name (the bundled ones by default)."""
    catalogue = crawler.settings.get("MARKETGUARD_CATALOGUE")
    rules = crawler.settings.get("MARKETGUARD_RULES")
    return Matcher.load(Path(catalogue) if catalogue else None, Path(rules) if rules else None)
