"""The pass summary, computed from Scrapy stats under the ``marketguard/`` prefix.

The summary is a stable contract (``marketguard demo --json`` prints it for scripts):
``{"listings", "flagged", "evidence", "errors", "by_rule", "store"}`` plus extra keys.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

PREFIX = "marketguard/"


def pass_summary(stats: dict[str, Any]) -> dict[str, Any]:
    by_rule = _counts_under(stats, PREFIX + "flags/")
    errors_by_kind = _counts_under(stats, PREFIX + "errors/")
    return {
        "listings": int(stats.get(PREFIX + "listings", 0)),
        "flagged": int(stats.get(PREFIX + "flagged", 0)),
        "evidence": int(stats.get(PREFIX + "evidence", 0)),
        "errors": int(stats.get(PREFIX + "errors", 0)),
        "by_rule": by_rule,
        "errors_by_kind": errors_by_kind,
        "store": str(stats.get(PREFIX + "store", "")),
        "pass_id": stats.get(PREFIX + "pass_id"),
        # Surviving the real web (docs/crawling.md): retries sent, requests given up after
        # their last try (each also an error), listings seen unchanged (only touched), listings
        # marked gone, listing pages a resumed job did not fetch again.
        "retries": int(stats.get(PREFIX + "retries", 0)),
        "gave_up": int(stats.get(PREFIX + "gave_up", 0)),
        "unchanged": int(stats.get(PREFIX + "unchanged", 0)),
        # Listings a worker crawl sent out as match tasks (marketguard/distributed/).
        "dispatched": int(stats.get(PREFIX + "dispatched", 0)),
        "gone": int(stats.get(PREFIX + "gone", 0)),
        "resume_skipped": int(stats.get(PREFIX + "resume_skipped", 0)),
        "browser": _browser(stats),
        "images": _images(stats),
        # Whether robots.txt was obeyed (a site may opt out; the choice stays with the pass).
        "robotstxt_obey": stats.get(PREFIX + "robotstxt_obey"),
        "elapsed_seconds": _elapsed(stats),
    }


def _images(stats: dict[str, Any]) -> dict[str, int]:
    """The image step (crawlers/pipelines/images.py): pictures hashed, pictures that could not be
    fetched, decoded or read (each also a stored error), pictures read by OCR and OCR results
    reused for the same file. Empty when the step did not run (MARKETGUARD_IMAGES=0)."""
    names = {"hashed": "hashed", "errors": "errors", "ocr": "ocr", "ocr_cached": "ocr_cached"}
    if not any(key.startswith(PREFIX + "images/") for key in stats):
        return {}
    return {name: int(stats.get(PREFIX + "images/" + key, 0)) for name, key in names.items()}


def _browser(stats: dict[str, Any]) -> dict[str, int]:
    """The crawl browser's use (scrapy-playwright's stats): empty when no page needed it."""
    names = {
        "browsers": "playwright/browser_count",
        "contexts": "playwright/context_count",
        "pages_opened": "playwright/page_count",
        # Pages closed by scrapy-playwright after a response or failure, plus the tabs our own
        # code closed (a spider's kept tabs, a tab whose navigation failed before a retry).
        "pages_closed": "playwright/page_count/closed",
        "tabs_closed": PREFIX + "browser_tabs_closed",
        "max_concurrent_pages": "playwright/page_count/max_concurrent",
    }
    if "playwright/page_count" not in stats:
        return {}
    return {name: int(stats.get(key, 0)) for name, key in names.items()}


def _counts_under(stats: dict[str, Any], prefix: str) -> dict[str, int]:
    return {
        key.removeprefix(prefix): int(value)
        for key, value in sorted(stats.items())
        if key.startswith(prefix)
    }


def _elapsed(stats: dict[str, Any]) -> float | None:
    if "elapsed_time_seconds" in stats:  # set by Scrapy's CoreStats when the spider closed
        return round(float(stats["elapsed_time_seconds"]), 3)
    start = stats.get("start_time")
    if isinstance(start, datetime):
        return round((datetime.now(UTC) - start).total_seconds(), 3)
    return None
