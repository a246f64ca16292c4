"""The queue's "共 N 条" total: counted up to ``CAP`` and kept for a few seconds per filter.

Counting a whole filtered set walks every row it selects (tens of milliseconds at 100 000
listings, hundreds for a selective filter or a common search word), while the page itself is
one index walk of 50 rows. So the total stops at ``CAP``: the queue shows "1 000+" for a
larger set (an officer narrows it, or the statistics page counts it all), and the count costs
about as much as reading ``CAP`` matches. Officers page through one filter at a time, so a
count a few seconds old is shown instead of recounting on every page (``count_cache_ttl`` on
the app's state, 0 to count every time); a decision taken through the workspace clears the
cache, since it moves listings between review states.
"""

from __future__ import annotations

import threading
import time
from typing import Any, NamedTuple

from evidence.archive.base import FILTER_FIELDS, Archive, QueueFilter

TTL = 15.0
CAP = 1000  # as many as a bulk action may touch (api.decisions.BULK_MAX)
MAX_ENTRIES = 512
_lock = threading.Lock()


class Total(NamedTuple):
    n: int  # the count, or CAP when there are more
    capped: bool  # more than ``n`` rows match

    def __str__(self) -> str:
        return f"{self.n:,}+".replace(",", " ") if self.capped else str(self.n)


def _key(query: QueueFilter) -> tuple[Any, ...]:
    return tuple(getattr(query, name) for name in FILTER_FIELDS)


def count(state: Any, archive: Archive, query: QueueFilter) -> Total:
    ttl = float(getattr(state, "count_cache_ttl", TTL))
    cache: dict[tuple[Any, ...], tuple[float, Total]] = getattr(state, "count_cache", None) or {}
    key, now = _key(query), time.monotonic()
    hit = cache.get(key)
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    total = _bounded(archive, query)
    if ttl > 0:
        with _lock:
            if len(cache) >= MAX_ENTRIES:
                cache.clear()
            cache[key] = (now, total)
            state.count_cache = cache
    return total


def _bounded(archive: Archive, query: QueueFilter) -> Total:
    at_most = getattr(archive, "count_flagged_at_most", None)
    # A backend without the bounded count counts everything and is capped the same way.
    n = at_most(query, CAP + 1) if at_most is not None else archive.count_flagged(query)
    return Total(min(n, CAP), n > CAP)


def invalidate(state: Any) -> None:
    with _lock:
        state.count_cache = {}
        state.facets_cache = None
