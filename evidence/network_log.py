"""What the page fetched: requests in flight (for our own network-idle wait) and the finished
exchanges (for the WARC).

Playwright's ``networkidle`` waits for 500 ms without traffic and was half of a capture's wall
time on a listing page. Counting requests ourselves lets the quiet window be shorter (and
stated in the record), still capped for pages that poll forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Request

from evidence.web_archive import Exchange
from marketguard.models import utcnow

# Bodies larger than this are not copied into the WARC (video, huge scripts); the record says so.
MAX_BODY = 20 * 1024 * 1024
MAX_EXCHANGES = 300


class NetworkLog:
    def __init__(self, page: Page) -> None:
        self._page = page
        self._inflight: set[Request] = set()
        self._finished: list[Request] = []
        self._seen: list[Request] = []
        self._last_change = time.monotonic()
        self._changed = asyncio.Event()
        page.on("request", self._on_request)
        page.on("requestfinished", self._on_finished)
        page.on("requestfailed", self._on_failed)

    def detach(self) -> None:
        self._page.remove_listener("request", self._on_request)
        self._page.remove_listener("requestfinished", self._on_finished)
        self._page.remove_listener("requestfailed", self._on_failed)

    def urls(self) -> list[str]:
        """Every URL the page requested (finished, failed or still in flight)."""
        return [r.url for r in self._seen]

    def _touch(self) -> None:
        self._last_change = time.monotonic()
        self._changed.set()

    def _on_request(self, request: Request) -> None:
        self._inflight.add(request)
        self._seen.append(request)
        self._touch()

    def _on_finished(self, request: Request) -> None:
        self._inflight.discard(request)
        self._finished.append(request)
        self._touch()

    def _on_failed(self, request: Request) -> None:
        self._inflight.discard(request)
        self._touch()

    async def wait_for_idle(self, quiet_s: float, cap_s: float) -> bool:
        """True once nothing was in flight for ``quiet_s``; False when ``cap_s`` ran out."""
        deadline = time.monotonic() + cap_s
        while True:
            now = time.monotonic()
            if not self._inflight and now - self._last_change >= quiet_s:
                return True
            if now >= deadline:
                return False
            self._changed.clear()
            wait = quiet_s - (now - self._last_change) if not self._inflight else deadline - now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(0.005, min(wait, deadline - now)))

    async def exchanges(self, skip_urls: Sequence[str] = ()) -> tuple[list[Exchange], list[str]]:
        """Finished subresource exchanges with their bodies, and notes on what was left out."""
        skip = set(skip_urls)
        notes: list[str] = []
        # Documents too: redirect hops of the navigation (their 3xx with Location) and frames.
        wanted = [
            r
            for r in self._finished
            if r.url.startswith(("http://", "https://")) and r.url not in skip
        ]
        if len(wanted) > MAX_EXCHANGES:
            notes.append(f"only the first {MAX_EXCHANGES} of {len(wanted)} responses archived")
            wanted = wanted[:MAX_EXCHANGES]
        results = await asyncio.gather(*(self._exchange(r) for r in wanted))
        out: list[Exchange] = []
        for request, result in zip(wanted, results, strict=True):
            if isinstance(result, Exchange):
                out.append(result)
            else:
                notes.append(f"response for {request.url} not archived: {result}")
        return out, notes

    @staticmethod
    async def _exchange(request: Request) -> Exchange | str:
        try:
            response = await request.response()
            if response is None:
                return "no response"
            if 300 <= response.status < 400:
                body = b""
            else:
                body = await response.body()
            if len(body) > MAX_BODY:
                return f"{len(body):,} bytes is over {MAX_BODY:,}"
            started = request.timing.get("startTime", 0) if request.timing else 0
            return Exchange(
                at=datetime.fromtimestamp(started / 1000, UTC) if started > 0 else utcnow(),
                url=request.url,
                method=request.method,
                request_headers=await request.all_headers(),
                status=response.status,
                status_text=response.status_text,
                response_headers=await response.all_headers(),
                body=body,
            )
        except PlaywrightError as exc:
            return str(exc).strip().splitlines()[0] if str(exc).strip() else "error"
