"""The queue's "共 N 条" total, kept for a few seconds per filter.

Counting a filtered set walks every row it selects (tens of milliseconds at 100 000 listings,
hundreds for a selective filter or a common search word), while the page itself is one index
walk of 50 rows. Officers page through one filter at a time, so a count a few seconds old is
shown instead of recounting on every page; a decision taken through the workspace clears the
cache, since it moves listings between review states.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from evidence.archive.base import Archive, QueueFilter

TTL = 15.0
MAX_ENTRIES = 512
_FIELDS = (
    "category",
    "rule_id",
    "decision",
    "platform",
    "region",
    "found_from",
    "found_to",
    "text",
)
_lock = threading.Lock()


def _key(query: QueueFilter) -> tuple[Any, ...]:
    return tuple(getattr(query, name) for name in _FIELDS)


def count(state: Any, archive: Archive, query: QueueFilter) -> int:
    cache: dict[tuple[Any, ...], tuple[float, int]] = getattr(state, "count_cache", None) or {}
    key, now = _key(query), time.monotonic()
    hit = cache.get(key)
    if hit is not None and now - hit[0] < TTL:
        return hit[1]
    total = archive.count_flagged(query)
    with _lock:
        if len(cache) >= MAX_ENTRIES:
            cache.clear()
        cache[key] = (now, total)
        state.count_cache = cache
    return total


def invalidate(state: Any) -> None:
    with _lock:
        state.count_cache = {}
        state.facets_cache = None
