"""Retries with exponential backoff, honouring ``Retry-After``, without blocking the reactor.

Scrapy's RetryMiddleware re-queues a failed request at once, so a struggling server gets the
retry within milliseconds, which is exactly when it is least able to answer. This subclass waits
before handing the retry back: ``RETRY_BACKOFF_BASE * 2 ** (try - 1)`` seconds, +/- 25 % jitter
(so that the retries of one burst do not arrive together again), or the server's ``Retry-After``
when that is longer, never more than ``RETRY_BACKOFF_MAX``. The wait is an ``await`` on the
event loop: other requests keep flowing; the waiting request holds one of the
``CONCURRENT_REQUESTS`` places (not its domain's download slot) while it waits.

A 429 or 503 also slows the whole domain (with AutoThrottle on, as it is by default): its
download slot's delay rises to the wait, and AutoThrottle brings it back down as answers come
back fast again.

Counts (Scrapy stats, shown in the pass summary): ``marketguard/retries`` (retries sent),
``marketguard/gave_up`` (requests that ran out of tries and went to the spider's errback, which
records a PageError), ``marketguard/backoff_seconds`` (time spent waiting, summed).
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Request, Response
from scrapy.utils.response import response_status_message

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

SLOW_DOWN_CODES = frozenset({429, 503})  # the server asks us to slow down, not just to retry


def backoff_delay(tries: int, base: float, maximum: float, jitter: float = 0.25) -> float:
    """Seconds to wait before try number ``tries + 1`` (``tries`` >= 1 failed already)."""
    raw = base * 2 ** max(0, tries - 1)
    spread = random.uniform(1.0 - jitter, 1.0 + jitter) if jitter else 1.0
    return min(maximum, raw * spread)


def retry_after_seconds(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """The wait a ``Retry-After`` header asks for (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    try:  # delta-seconds (RFC 9110 says an integer; a fraction is read too)
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    """Drop-in replacement for ``scrapy.downloadermiddlewares.retry.RetryMiddleware``."""

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.base = settings.getfloat("RETRY_BACKOFF_BASE", 1.0)
        self.maximum = settings.getfloat("RETRY_BACKOFF_MAX", 60.0)
        self.jitter = settings.getfloat("RETRY_BACKOFF_JITTER", 0.25)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        middleware = cls(crawler.settings)
        middleware.crawler = crawler
        return middleware

    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response, spider: Any = None
    ) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response
        wait = self._wait(retry)
        if response.status in SLOW_DOWN_CODES:
            asked = retry_after_seconds(response.headers.get(b"Retry-After"))
            if asked is not None:
                wait = max(wait, min(asked, self.maximum))
            self._slow_domain(request, wait)
        await self._sleep(wait)
        return retry

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception, spider: Any = None
    ) -> Request | Response | None:
        if request.meta.get("dont_retry", False) or not isinstance(
            exception, self.exceptions_to_retry
        ):
            return None
        retry = self._retry(request, exception)
        if retry is None:
            return None
        await self._drop_failed_tab(retry)
        await self._sleep(self._wait(retry))
        return retry

    async def _drop_failed_tab(self, retry: Request) -> None:
        """A browser tab whose navigation failed is closed, and the retry gets a fresh one.

        A spider that keeps its tabs (``playwright_include_page``) passes the tab along in the
        request's meta, and the retry copy would carry it: a tab left mid-navigation by a
        timeout then hung the retry's own navigation (seen with Chromium 1xx on the demo).
        """
        tab = retry.meta.pop("playwright_page", None)
        if tab is None:
            return
        stats = self.crawler.stats
        assert stats is not None
        try:
            if not tab.is_closed():
                await tab.close()
                stats.inc_value("marketguard/browser_tabs_closed")
        except Exception as exc:  # the browser may be gone already; the retry still goes
            logger.debug("could not close a failed tab: %s", exc)

    def _retry(self, request: Request, reason: Any) -> Request | None:
        retry = super()._retry(request, reason)
        stats = self.crawler.stats
        assert stats is not None
        stats.inc_value("marketguard/retries" if retry is not None else "marketguard/gave_up")
        return retry

    def _wait(self, retry: Request) -> float:
        return backoff_delay(retry.meta["retry_times"], self.base, self.maximum, self.jitter)

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        stats = self.crawler.stats
        assert stats is not None
        stats.inc_value("marketguard/backoff_seconds", round(seconds, 3))
        await asyncio.sleep(seconds)

    def _slow_domain(self, request: Request, seconds: float) -> None:
        engine = self.crawler.engine
        if engine is None or engine.downloader is None:
            return
        downloader = engine.downloader
        slot = downloader.slots.get(downloader.get_slot_key(request))
        # Only with AutoThrottle, which brings the delay back down; without it the domain
        # would stay at this pace for the rest of the pass.
        if not self.crawler.settings.getbool("AUTOTHROTTLE_ENABLED"):
            return
        if slot is not None and slot.delay < seconds:
            logger.info("%s asked us to slow down: %.1f s between requests", slot, seconds)
            slot.delay = seconds
