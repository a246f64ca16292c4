"""Celery beat's schedule, built from ``[workers]`` in ``<home>/marketguard.toml``.

Two kinds of periodic job (docs/scheduling.md):

- crawls, one per ``[[workers.schedule]]`` entry (a site × a category, daily unless ``every``
  says otherwise), sent to the ``crawl`` queue at routine priority so that an officer's
  on-demand check overtakes them;
- the platform feed's chores: webhook deliveries (``notify``, every 30 s), takedown re-checks
  (``recheck``, every 5 min) and overdue-notice marks (``notify``, hourly), each interval
  configurable in ``[workers]`` (``webhook_every``, ``recheck_every``, ``overdue_every``).

Every job expires after one interval: when its workers are down, beat keeps sending, and a
backlog of stale copies would only repeat the work of the next fresh one.

Entries are checked before beat starts; an error names the entry and the field, so an officer
can find the line to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import Celery

from marketguard.distributed.app import ROUTINE, priority
from marketguard.distributed.config import WorkerConfig

DEFAULT_EVERY = 86_400.0  # daily
CRAWL_TASK = "marketguard.crawl"

# (beat entry name, task, queue, WorkerConfig attribute holding the interval)
FEED_JOBS: tuple[tuple[str, str, str, str], ...] = (
    ("feed:webhooks", "marketguard.notify.deliver_webhooks", "notify", "webhook_every"),
    ("feed:rechecks", "marketguard.recheck.run", "recheck", "recheck_every"),
    # Officers' re-check requests (复查申请) into urgent checks: soon after they are asked.
    ("feed:recheck-requests", "marketguard.recheck.requested", "recheck", "webhook_every"),
    ("feed:overdue", "marketguard.notify.mark_overdue", "notify", "overdue_every"),
)

ENTRY_KEYS = frozenset(
    {"site", "category", "keywords", "every", "base_url", "capture", "incremental", "sites_dir"}
)

_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_UNIT = {"d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0}


class ScheduleError(ValueError):
    """A ``[workers]`` schedule setting that cannot be used; the message says where."""


def parse_interval(value: Any, where: str) -> float:
    """Seconds in ``value``: "1d", "6h", "30m", "45s", "1h30m", or a number of seconds."""
    if isinstance(value, bool):
        raise ScheduleError(f"{where}: {value!r} is not an interval like 1d, 6h, 30m or 45s")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().lower().replace(" ", "")
        parts = _PART.findall(text)
        if "".join(number + unit for number, unit in parts) != text:
            raise ScheduleError(f"{where}: {value!r} is not an interval like 1d, 6h, 30m or 45s")
        seconds = sum(float(number) * _UNIT[unit] for number, unit in parts)
    else:
        raise ScheduleError(f"{where}: {value!r} is not an interval like 1d, 6h, 30m or 45s")
    if seconds < 1:
        raise ScheduleError(f"{where}: {value!r} is shorter than one second")
    return seconds


@dataclass(frozen=True, slots=True)
class CrawlJob:
    """One checked ``[[workers.schedule]]`` entry."""

    origin: str  # "schedule:<site>/<category>", also the beat entry's name
    every: float  # seconds
    spider: str  # "site" (a site adapter) or "demo_shop" (a demo-style shop at base_url)
    spider_args: dict[str, str]
    capture: bool
    incremental: bool

    def kwargs(self) -> dict[str, Any]:
        """The ``marketguard.crawl`` task's keyword arguments."""
        return {
            "spider": self.spider,
            "spider_args": dict(self.spider_args),
            "capture": self.capture,
            "incremental": self.incremental,
            "origin": self.origin,
            "check_id": None,
            "urgent": False,
        }


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise ScheduleError(f"{where}: {key} must be text, not {value!r}")
    return value.strip()


def _flag(entry: dict[str, Any], key: str, where: str) -> bool:
    value = entry.get(key, True)
    if not isinstance(value, bool):
        raise ScheduleError(f"{where}: {key} must be true or false, not {value!r}")
    return value


def _keywords(entry: dict[str, Any], category: str, catalogue: Any, where: str) -> list[str]:
    if "keywords" in entry:
        words = entry["keywords"]
        if isinstance(words, str):
            words = [words]
        if (
            not isinstance(words, list)
            or not words
            or not all(isinstance(w, str) and w.strip() and "," not in w for w in words)
        ):
            raise ScheduleError(
                f"{where}: keywords must be a non-empty list of search words without commas"
                f' (e.g. keywords = ["充电器", "快充头"]), not {entry["keywords"]!r}'
            )
        return [w.strip() for w in words]
    found = catalogue.get(category)
    terms = list(found.search_terms or found.keywords)
    if not terms:
        raise ScheduleError(f"{where}: category {category!r} has no search terms; give keywords")
    return terms


def _check_site(site: str, sites_dir: str, where: str) -> None:
    from crawlers.site_adapter import AdapterError, load_site, site_files

    known = site_files(sites_dir or None)
    if site not in known:
        names = ", ".join(sorted(known)) or "none"
        raise ScheduleError(f"{where}: site: unknown site {site!r} (known: {names})")
    try:
        adapter = load_site(site, sites_dir or None)
    except AdapterError as exc:
        raise ScheduleError(f"{where}: site: {exc}") from None
    if adapter.search is None:
        raise ScheduleError(
            f"{where}: site: {adapter.file} has no search section, so it cannot be crawled by"
            " keyword on a schedule"
        )


def crawl_jobs(config: WorkerConfig, catalogue_path: Path | None = None) -> list[CrawlJob]:
    """The checked crawl entries; ScheduleError on the first bad one."""
    from matching.catalogue import load_catalogue

    catalogue = load_catalogue(catalogue_path)
    jobs: list[CrawlJob] = []
    seen: set[str] = set()
    for number, entry in enumerate(config.schedule, start=1):
        where = f"[[workers.schedule]] #{number}"
        site = _text(entry, "site", where)
        category = _text(entry, "category", where)
        if site:
            where += f" (site {site!r}" + (f", category {category!r})" if category else ")")
        unknown = sorted(set(entry) - ENTRY_KEYS)
        if unknown:
            raise ScheduleError(
                f"{where}: unknown field {', '.join(unknown)}"
                f" (known: {', '.join(sorted(ENTRY_KEYS))})"
            )
        if not site:
            raise ScheduleError(f"{where}: site is required (a site adapter's name, e.g. demo)")
        if not category:
            raise ScheduleError(f"{where}: category is required (a catalogue id, e.g. charger)")
        if catalogue.get(category) is None:
            names = ", ".join(c.id for c in catalogue.categories)
            raise ScheduleError(
                f"{where}: category: unknown category {category!r} (known: {names})"
            )
        every = parse_interval(entry.get("every", DEFAULT_EVERY), f"{where}: every")
        keywords = ",".join(_keywords(entry, category, catalogue, where))
        base_url = _text(entry, "base_url", where)
        sites_dir = _text(entry, "sites_dir", where)
        if base_url:
            if not base_url.startswith(("http://", "https://")):
                raise ScheduleError(f"{where}: base_url must be an http(s) URL, not {base_url!r}")
            # A demo-style shop has its own spider; the site name only labels the job.
            spider, spider_args = "demo_shop", {"base_url": base_url, "keywords": keywords}
        else:
            _check_site(site, sites_dir, where)
            spider = "site"
            spider_args = {"site": site, "keywords": keywords, "sites_dir": sites_dir}
        origin = f"schedule:{site}/{category}"
        if origin in seen:
            raise ScheduleError(f"{where}: a second entry for {site}/{category}; merge them")
        seen.add(origin)
        jobs.append(
            CrawlJob(
                origin=origin,
                every=every,
                spider=spider,
                spider_args=spider_args,
                capture=_flag(entry, "capture", where),
                incremental=_flag(entry, "incremental", where),
            )
        )
    return jobs


def feed_intervals(config: WorkerConfig) -> dict[str, float]:
    """Seconds between runs of each feed job, by beat entry name."""
    return {
        name: parse_interval(getattr(config, key), f"[workers] {key}")
        for name, _, _, key in FEED_JOBS
    }


def beat_schedule(
    app: Celery, config: WorkerConfig, catalogue_path: Path | None = None
) -> dict[str, dict[str, Any]]:
    """Celery's ``beat_schedule`` for ``config``: the crawls, then the feed jobs."""
    routine = priority(app, ROUTINE)
    schedule: dict[str, dict[str, Any]] = {}
    for job in crawl_jobs(config, catalogue_path):
        schedule[job.origin] = {
            "task": CRAWL_TASK,
            "schedule": timedelta(seconds=job.every),
            "kwargs": job.kwargs(),
            "options": {"queue": "crawl", "priority": routine, "expires": job.every},
        }
    intervals = feed_intervals(config)
    for name, task, queue, _ in FEED_JOBS:
        every = intervals[name]
        schedule[name] = {
            "task": task,
            "schedule": timedelta(seconds=every),
            "kwargs": {},
            "options": {"queue": queue, "priority": routine, "expires": every},
        }
    return schedule


def describe(schedule: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The schedule as plain JSON, for ``marketguard beat --dry-run``."""
    return [
        {
            "name": name,
            "task": entry["task"],
            "every_seconds": entry["schedule"].total_seconds(),
            "queue": entry["options"]["queue"],
            "priority": entry["options"]["priority"],
            "kwargs": entry["kwargs"],
        }
        for name, entry in schedule.items()
    ]
