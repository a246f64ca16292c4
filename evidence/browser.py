"""One Debian Chromium shared by many captures: launched on first use, relaunched if it dies.

Launching Chromium costs about a second; a browser context costs a few milliseconds. So the
browser lives as long as the capturer and every capture gets its own fresh context (no cookies,
cache or storage carried from one listing to the next).
"""

from __future__ import annotations

import asyncio
import contextlib

from playwright.async_api import Browser, BrowserContext, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from marketguard.settings import Settings, chromium_launch_options


class BrowserUnavailable(Exception):
    """Chromium could not be started (wrong path, missing libraries, out of memory)."""


def first_line(exc: BaseException) -> str:
    """Playwright appends a multi-line call log to its messages; the first line is the cause."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class BrowserSession:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.launches = 0  # how many times Chromium was started; more than 1 means it died
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        # Two captures starting together on a cold session must not launch two browsers.
        self._lock = asyncio.Lock()

    async def browser(self) -> Browser:
        if self._browser is not None and self._browser.is_connected():
            return self._browser
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            self._browser = await self._launch()
            self.launches += 1
            return self._browser

    async def new_context(self) -> BrowserContext:
        width, height = self.settings.viewport
        options = {
            "viewport": {"width": width, "height": height},
            "screen": {"width": width, "height": height},
            "device_scale_factor": 1,
            "locale": self.settings.locale,
            "timezone_id": self.settings.timezone,
            # A service worker could answer the navigation from its cache; evidence must be
            # what the server sent.
            "service_workers": "block",
            "accept_downloads": False,
        }
        browser = await self.browser()
        try:
            return await browser.new_context(**options)
        except PlaywrightError:
            # A browser killed a moment ago may not be noticed as disconnected yet.
            for _ in range(10):
                if not browser.is_connected():
                    break
                await asyncio.sleep(0.1)
            else:
                raise
            # It died between the check and the call: one relaunch, then give up loudly.
            browser = await self.browser()
            return await browser.new_context(**options)

    async def close(self) -> None:
        async with self._lock:
            browser, self._browser = self._browser, None
            playwright, self._playwright = self._playwright, None
            if browser is not None:
                with contextlib.suppress(PlaywrightError):
                    await browser.close()
            if playwright is not None:
                with contextlib.suppress(PlaywrightError):
                    await playwright.stop()

    async def _launch(self) -> Browser:
        executable = self.settings.chromium
        if self._browser is not None:
            with contextlib.suppress(PlaywrightError):
                await self._browser.close()
            self._browser = None
        last: PlaywrightError | None = None
        # A second attempt with a fresh Playwright driver covers the driver process dying too.
        for _attempt in range(2):
            if self._playwright is None:
                self._playwright = await async_playwright().start()
            try:
                return await self._playwright.chromium.launch(**chromium_launch_options(executable))
            except PlaywrightError as exc:
                last = exc
                with contextlib.suppress(PlaywrightError):
                    await self._playwright.stop()
                self._playwright = None
        cause = first_line(last) if last else "unknown error"
        raise BrowserUnavailable(f"cannot launch Chromium {executable}: {cause}")
