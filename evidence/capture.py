"""Browser capture of a listing page: the pieces joined, a manifest at the end.

One ``Capturer`` holds one Chromium for many captures and runs on whatever asyncio loop calls
it (Scrapy's AsyncioSelectorReactor loop in the crawl pipeline), so nothing here starts or
blocks a loop. Per capture, in a fresh browser context:

1. navigate, keep the main document's bytes exactly as served (``html``);
2. let the page settle: load event, network idle (capped), scroll through for lazy images;
3. full-page PNG screenshot (``screenshot``) and the DOM after scripts ran (``dom``);
4. the listing's photos through the same context, each checked with Pillow (``image``);
5. the metadata JSON listing every file above with its SHA-256 (``metadata``), stored last.

Bytes go to ``put_blob`` (the archive's content-addressed write); the capturer writes no files.
"""

from __future__ import annotations

import asyncio
import contextlib
import platform as platform_info
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from playwright.async_api import BrowserContext, Page, Response
from playwright.async_api import Error as PlaywrightError

import marketguard
from evidence import page_behaviours as behaviours
from evidence.browser import BrowserSession, BrowserUnavailable, first_line
from evidence.capture_id import new_capture_id
from evidence.errors import CaptureError
from evidence.hashing import sha256_bytes
from evidence.listing_images import fetch_listing_images, resolve_image_urls
from evidence.manifest import METADATA_MEDIA_TYPE, CaptureMetadata
from evidence.navigation import is_html, open_page, redirect_chain
from evidence.screenshot import full_page_png, png_size
from evidence.served_html import ServedHtmlRecorder
from marketguard.models import Artifact, Evidence, utcnow
from marketguard.settings import Settings

__all__ = ["CaptureError", "Capturer", "capture_sync"]

TOOL_NAME = "marketguard"
DOM_MEDIA_TYPE = "text/html; charset=utf-8"
# The serialised DOM keeps the page's own <meta charset="gbk">; a UTF-8 byte order mark wins
# over that tag in every browser, so the saved file opens correctly from disk.
UTF8_BOM = b"\xef\xbb\xbf"


class Capturer:
    """Async context manager; one browser reused for many captures, at most N at a time."""

    def __init__(
        self,
        settings: Settings,
        put_blob: Callable[[bytes], str],
        *,
        concurrency: int | None = None,
        operator: str = "",
        tool_version: str = marketguard.__version__,
        navigation_timeout: float = 30.0,
        settle_cap: float = 3.0,
        capture_timeout: float = 120.0,
    ) -> None:
        self.settings = settings
        self.operator = operator
        self.tool_version = tool_version
        self.navigation_timeout = navigation_timeout
        self.settle_cap = settle_cap
        self.capture_timeout = capture_timeout
        self.concurrency = max(1, concurrency or settings.capture_concurrency)
        self._put_blob = put_blob
        self._session = BrowserSession(settings)
        self._slots = asyncio.Semaphore(self.concurrency)

    @property
    def browser_launches(self) -> int:
        return self._session.launches

    async def __aenter__(self) -> Capturer:
        await self._session.browser()  # fail early on a broken Chromium; BrowserUnavailable
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._session.close()

    async def capture(
        self,
        *,
        url: str,
        platform: str,
        listing_id: str,
        image_urls: Sequence[str] = (),
    ) -> Evidence:
        """Capture one listing page. Raises CaptureError when nothing could be preserved.

        An HTTP 4xx/5xx page is still captured (a removed listing is evidence too);
        per-image failures are listed in ``Evidence.errors`` and the capture goes on.
        """
        async with self._slots:
            run = _CaptureRun(self, url, platform, listing_id)
            try:
                context = await self._session.new_context()
            except BrowserUnavailable as exc:
                raise CaptureError(url, str(exc)) from exc
            except PlaywrightError as exc:
                raise CaptureError(url, f"browser unavailable: {first_line(exc)}") from exc
            try:
                # page.evaluate has no timeout of its own: a page whose script spins forever
                # would otherwise hold this slot for the rest of the pass.
                async with asyncio.timeout(self.capture_timeout):
                    return await run.run(context, image_urls)
            except TimeoutError as exc:
                raise CaptureError(
                    url,
                    f"capture did not finish within {self.capture_timeout:g} s"
                    " (page unresponsive?)",
                ) from exc
            except PlaywrightError as exc:
                # Whatever broke mid-capture (page crash, browser killed): one clear error.
                # A dead browser is noticed by the session and relaunched on the next capture.
                raise CaptureError(url, first_line(exc)) from exc
            finally:
                with contextlib.suppress(PlaywrightError):
                    await context.close()


class _CaptureRun:
    """The state of one capture; lives only inside ``Capturer.capture``."""

    def __init__(self, capturer: Capturer, url: str, platform: str, listing_id: str) -> None:
        self.capturer = capturer
        self.url = url
        self.platform = platform
        self.listing_id = listing_id
        self.started_at = utcnow()
        self.capture_id = new_capture_id(self.started_at)
        width, height = capturer.settings.viewport
        self.viewport = f"{width}x{height}"
        self.artifacts: list[Artifact] = []
        self.errors: list[str] = []
        self.procedure: list[str] = []

    def store(self, kind: str, media_type: str, data: bytes, source_url: str = "") -> Artifact:
        digest = sha256_bytes(data)
        stored = self.capturer._put_blob(data)
        if stored != digest:
            # The archive named the bytes differently: the chain of custody is broken.
            raise CaptureError(
                self.url, f"archive stored the {kind} as {stored!r}, but its sha256 is {digest}"
            )
        artifact = Artifact(kind, media_type, digest, len(data), source_url)
        self.artifacts.append(artifact)
        return artifact

    async def run(self, context: BrowserContext, image_urls: Sequence[str]) -> Evidence:
        settings = self.capturer.settings
        self.procedure.append(
            f"new browser context: viewport {self.viewport}, device scale 1,"
            f" locale {settings.locale}, timezone {settings.timezone},"
            " service workers blocked, no stored cookies"
        )
        page = await context.new_page()
        try:
            response, headers = await self._load(context, page)
            await self._preserve_page(page)
            final_url = page.url
            user_agent = await page.evaluate("() => navigator.userAgent")
            await self._store_images(context, image_urls, final_url)
            server = await response.server_addr()
            tls = await response.security_details()
            browser = context.browser
            if browser is None:
                raise CaptureError(self.url, "the browser context lost its browser")
            browser_name, browser_version = browser.browser_type.name, browser.version
        finally:
            with contextlib.suppress(PlaywrightError):
                await page.close()

        finished_at = utcnow()
        tool = f"{TOOL_NAME} {self.capturer.tool_version}"
        metadata = CaptureMetadata(
            capture_id=self.capture_id,
            platform=self.platform,
            listing_id=self.listing_id,
            url=self.url,
            final_url=final_url,
            http_status=response.status,
            started_at=self.started_at,
            finished_at=finished_at,
            browser_name=browser_name,
            browser_version=browser_version,
            user_agent=user_agent,
            viewport=self.viewport,
            locale=settings.locale,
            timezone=settings.timezone,
            os=platform_info.platform(),
            host=platform_info.node(),
            tool=tool,
            operator=self.capturer.operator,
            artifacts=list(self.artifacts),
            errors=list(self.errors),
            redirects=redirect_chain(response),
            server_address=_address(server),
            response_headers=headers,
            tls=dict(tls) if tls else None,
            procedure=self.procedure,
        )
        # Last, so it can list every other artifact; its own hash goes in the Evidence row.
        self.store("metadata", METADATA_MEDIA_TYPE, metadata.to_json_bytes())
        return Evidence(
            capture_id=self.capture_id,
            platform=self.platform,
            listing_id=self.listing_id,
            url=self.url,
            final_url=final_url,
            http_status=response.status,
            started_at=self.started_at,
            finished_at=finished_at,
            browser_version=f"{browser_name} {browser_version}",
            user_agent=user_agent,
            viewport=self.viewport,
            tool_version=tool,
            artifacts=self.artifacts,
            errors=self.errors,
        )

    async def _load(self, context: BrowserContext, page: Page) -> tuple[Response, dict[str, str]]:
        """Navigate, keep the served HTML, let the page settle. Raises CaptureError."""
        timeout = self.capturer.navigation_timeout
        deadline = time.monotonic() + timeout
        page.set_default_timeout(timeout * 1000)
        recorder = await ServedHtmlRecorder.attach(context, page)
        try:
            response = await open_page(page, self.url, timeout)
            headers = await response.all_headers()
            content_type = headers.get("content-type", "")
            self.procedure.append(
                f"navigated to the URL; main document HTTP {response.status}"
                f" ({content_type or 'no Content-Type'})"
            )
            if response.status < 400 and not is_html(content_type):
                raise CaptureError(self.url, f"not an HTML page (Content-Type: {content_type})")
            self._store_served_html(response, content_type, recorder)
        finally:
            await recorder.detach()
        await self._settle(page, deadline)
        return response, headers

    async def _preserve_page(self, page: Page) -> None:
        png = await full_page_png(page, self.capturer.navigation_timeout)
        shot_w, shot_h = png_size(png)
        self.store("screenshot", "image/png", png)
        self.procedure.append(f"full-page PNG screenshot, {shot_w}x{shot_h} pixels")

        dom = await page.content()
        self.store("dom", DOM_MEDIA_TYPE, UTF8_BOM + dom.encode("utf-8"))
        self.procedure.append("serialised the DOM after scripts ran (UTF-8 with BOM)")

    def _store_served_html(
        self, response: Response, content_type: str, recorder: ServedHtmlRecorder
    ) -> None:
        body = recorder.body_for(response.url)
        if body is None:
            # The DOM and screenshot still preserve the page; record the gap and go on.
            self.errors.append(f"html as served unavailable: {recorder.failure_for(response.url)}")
            return
        self.store("html", content_type or "text/html", body)
        self.procedure.append(
            f"kept the main document body as the server sent it, {len(body)} bytes,"
            " taken from the network before the browser decoded it"
        )

    async def _settle(self, page: Page, deadline: float) -> None:
        cap = self.capturer.settle_cap
        if await behaviours.wait_for_load(page, max(0.1, deadline - time.monotonic())):
            self.procedure.append("load event fired")
        else:
            self.errors.append("load event did not fire in time; captured the page as it stood")
            self.procedure.append("load event did not fire in time")
        idle = await behaviours.wait_for_network_idle(page, cap)
        self.procedure.append(
            "network idle" if idle else f"network not idle within {cap:g} s (capped wait)"
        )
        steps = await behaviours.scroll_through(page)
        settled = await behaviours.wait_for_images(page, cap)
        await behaviours.scroll_to_top(page)
        fonts = await behaviours.wait_for_fonts(page, cap)
        self.procedure.append(
            f"scrolled to the bottom in {steps} viewport steps and back to the top;"
            f" images {'loaded' if settled else f'still loading after {cap:g} s'};"
            f" fonts {'ready' if fonts else 'not ready'}"
        )

    async def _store_images(
        self, context: BrowserContext, image_urls: Sequence[str], base_url: str
    ) -> None:
        urls = resolve_image_urls(image_urls, base_url)
        if not urls:
            return
        images = await fetch_listing_images(
            context.request, urls, referer=base_url, timeout_s=self.capturer.settle_cap * 5
        )
        stored = 0
        for image in images:
            if image.data is None:
                self.errors.append(image.error)
                continue
            self.store("image", image.media_type, image.data, source_url=image.url)
            stored += 1
        self.procedure.append(
            f"fetched {len(urls)} listing images through the page's browser context"
            f" (Referer {base_url}); {stored} decoded with Pillow and kept"
        )


def _address(server: Any) -> str:
    if not server:
        return ""
    host, port = server.get("ipAddress", ""), server.get("port", "")
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def capture_sync(
    settings: Settings,
    put_blob: Callable[[bytes], str],
    *,
    url: str,
    platform: str,
    listing_id: str,
    image_urls: Sequence[str] = (),
    operator: str = "",
) -> Evidence:
    """One capture with its own loop and browser, for scripts and the CLI.

    Starting Chromium costs about a second per call; for many pages use ``Capturer``.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "capture_sync() cannot run inside a running event loop; use 'await Capturer.capture()'"
        )

    async def run() -> Evidence:
        async with Capturer(settings, put_blob, operator=operator) as capturer:
            return await capturer.capture(
                url=url, platform=platform, listing_id=listing_id, image_urls=image_urls
            )

    return asyncio.run(run())
