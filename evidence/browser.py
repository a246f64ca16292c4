"""One Debian Chromium shared by many captures: launched on first use, relaunched if it dies.

Launching Chromium costs about a second. A fresh browser context per capture costs far more
than its few milliseconds of setup suggests: the first page in it starts a new renderer
process, about 0.2 CPU-seconds and 0.5 s of wall time on the 2-core reference machine, more
than everything else a capture does. So captures run in reusable *tabs* (one context and one
page each, one per capture slot plus one spare), wiped between captures in the background
(the next capture starts in the spare tab meanwhile):

- cookies and permissions of the context cleared; every origin the previous capture touched
  has its storage cleared (local/session storage, IndexedDB, cache storage, service workers);
- the HTTP cache is disabled for the tab, so every response is fetched from the server (which
  is also what the evidence must show), and service workers are blocked;
- the tab is parked on ``about:blank`` between captures, so no script of the previous listing
  keeps running;
- a tab is thrown away after any failed capture and after ``TAB_USES`` captures, so a page
  that wedged its renderer or leaked memory cannot affect many captures.

What is still shared between two captures in one tab: the renderer process (a same-site page
reuses it; JavaScript heaps are per document, so no script state survives a navigation) and
the tab's session history length. ``isolation="context"`` gives every capture a brand-new
context instead, at the cost above; docs/evidence.md compares the two.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Page,
    Playwright,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

from marketguard.settings import Settings, chromium_launch_options

TAB_USES = 100
ISOLATIONS = ("tab", "context")


@dataclass(slots=True, eq=False)
class Tab:
    """A context and its one page, used by one capture at a time."""

    browser: Browser
    context: BrowserContext
    page: Page
    session: CDPSession
    reusable: bool
    uses: int = 0
    origins: set[str] = field(default_factory=set)
    discarded: bool = False

    def touched(self, urls: list[str]) -> None:
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") and parts.netloc:
                self.origins.add(f"{parts.scheme}://{parts.netloc}")


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
        self._idle_tabs: list[Tab] = []
        # Wiping a tab (about:blank, clearing) takes a navigation and a few round trips; it
        # runs after the capture has given back its slot, while the next capture starts in a
        # spare tab. Reusable tabs alive (in use, being wiped or parked):
        self._wiping: set[asyncio.Task[None]] = set()
        self._live_tabs = 0
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

    async def acquire_tab(self, isolation: str = "tab", max_tabs: int | None = None) -> Tab:
        """A clean tab: a parked reusable one, else (while fewer than ``max_tabs`` reusable
        tabs are alive) a new context and page, else the next one whose wipe finishes."""
        if isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {ISOLATIONS}, got {isolation!r}")
        while True:
            while isolation == "tab" and self._idle_tabs:
                tab = self._idle_tabs.pop()
                if tab.browser.is_connected() and not tab.page.is_closed():
                    # A browser killed a moment ago may not be noticed as disconnected yet;
                    # one round trip proves the tab is alive.
                    try:
                        await asyncio.wait_for(
                            tab.session.send("Runtime.evaluate", {"expression": "1"}), 2
                        )
                        return tab
                    except (PlaywrightError, TimeoutError):
                        pass
                await self._discard(tab)
            full = max_tabs is not None and self._live_tabs >= max_tabs
            if isolation == "tab" and full and self._wiping:
                # A new context costs a renderer process; a wipe finishing costs a moment.
                await asyncio.wait(set(self._wiping), return_when=asyncio.FIRST_COMPLETED)
                continue
            break
        context = await self.new_context()
        try:
            page = await context.new_page()
            session = await context.new_cdp_session(page)
            # Every response from the server, never from an earlier capture's cache.
            await session.send("Network.setCacheDisabled", {"cacheDisabled": True})
        except PlaywrightError:
            with contextlib.suppress(PlaywrightError):
                await context.close()
            raise
        browser = context.browser or await self.browser()
        if isolation == "tab":
            self._live_tabs += 1
        return Tab(browser, context, page, session, isolation == "tab")

    def release_tab_later(self, tab: Tab) -> None:
        """Wipe and park a healthy tab in the background (``close`` waits for it)."""
        task = asyncio.get_running_loop().create_task(self.release_tab(tab, healthy=True))
        self._wiping.add(task)
        task.add_done_callback(self._wiping.discard)

    async def release_tab(self, tab: Tab, *, healthy: bool) -> None:
        """Wipe a tab and park it for the next capture, or close it."""
        tab.uses += 1
        if not (healthy and tab.reusable and tab.uses < TAB_USES):
            await self._discard(tab)
            return
        try:
            async with asyncio.timeout(10):
                for other in tab.context.pages:  # popups the listing opened
                    if other is not tab.page:
                        await other.close()
                await tab.page.goto("about:blank")
                await tab.context.clear_cookies()
                await tab.context.clear_permissions()
                for origin in sorted(tab.origins):
                    await tab.session.send(
                        "Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"}
                    )
                tab.origins.clear()
        except (PlaywrightError, TimeoutError):
            await self._discard(tab)
            return
        self._idle_tabs.append(tab)

    async def _discard(self, tab: Tab) -> None:
        if tab.reusable and not tab.discarded:
            self._live_tabs -= 1
        tab.discarded = True
        with contextlib.suppress(PlaywrightError):
            await tab.context.close()

    async def close(self) -> None:
        if self._wiping:
            await asyncio.gather(*self._wiping, return_exceptions=True)
        tabs, self._idle_tabs = self._idle_tabs, []
        for tab in tabs:
            await self._discard(tab)
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
