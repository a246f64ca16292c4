"""Browser capture of a listing page: the pieces joined, a manifest at the end.

One ``Capturer`` holds one Chromium for many captures and runs on whatever asyncio loop calls
it (Scrapy's AsyncioSelectorReactor loop in the crawl pipeline), so nothing here starts or
blocks a loop. Per capture, in a fresh browser context:

1. navigate, keep the main document's bytes exactly as served (``html``);
2. let the page settle: load event, network idle (capped), scroll through for lazy images;
3. first-screen and full-page PNG screenshots (``first_screen``, ``screenshot``) and the DOM
   after scripts ran (``dom``);
4. the listing's photos, each checked with Pillow (``image``): the page's own response when
   it loaded that URL with HTTP 200, else fetched through the same context;
5. every HTTP exchange above as WARC records in a WACZ package (``wacz``);
6. the metadata JSON listing every file above with its SHA-256 (``metadata``), stored last;
7. with a ``Ledger``: the metadata hash sealed into the hash chain (optionally RFC 3161-stamped).

Bytes go to ``put_blob`` (the archive's content-addressed write); the capturer writes no files.
"""

from __future__ import annotations

import asyncio
import platform as platform_info
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from playwright.async_api import BrowserContext, Page, Response
from playwright.async_api import Error as PlaywrightError

import marketguard
from evidence import page_behaviours as behaviours
from evidence.browser import ISOLATIONS, BrowserSession, BrowserUnavailable, Tab, first_line
from evidence.capture_id import new_capture_id
from evidence.errors import CaptureError
from evidence.hashing import sha256_bytes
from evidence.ledger import Ledger
from evidence.listing_images import (
    fetch_listing_images,
    resolve_image_urls,
    reusable_responses,
)
from evidence.manifest import METADATA_MEDIA_TYPE, CaptureMetadata, capture_environment
from evidence.navigation import is_html, open_page, redirect_chain
from evidence.network_log import NetworkLog
from evidence.screenshot import png_size, take_screenshots
from evidence.served_html import ServedHtmlRecorder
from evidence.web_archive import WACZ_MEDIA_TYPE, Exchange, build_wacz, build_warc
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
        investigators: Sequence[str] = (),
        case_id: str = "",
        ledger: Ledger | None = None,
        tool_version: str = marketguard.__version__,
        navigation_timeout: float = 30.0,
        settle_cap: float = 3.0,
        idle_quiet: float = 0.25,
        capture_timeout: float = 120.0,
        isolation: str = "tab",
    ) -> None:
        if isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {ISOLATIONS}, got {isolation!r}")
        self.isolation = isolation
        self.settings = settings
        self.operator = operator or (investigators[0] if investigators else "")
        self.investigators = list(investigators) or ([operator] if operator else [])
        self.case_id = case_id
        self.ledger = ledger
        self.idle_quiet = idle_quiet
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
        case_id: str | None = None,
    ) -> Evidence:
        """Capture one listing page. Raises CaptureError when nothing could be preserved.

        An HTTP 4xx/5xx page is still captured (a removed listing is evidence too);
        per-image failures are listed in ``Evidence.errors`` and the capture goes on.
        """
        async with self._slots:
            run = _CaptureRun(self, url, platform, listing_id, case_id)
            try:
                # One spare tab: a capture starts while the previous one's tab is wiped.
                tab = await self._session.acquire_tab(self.isolation, self.concurrency + 1)
            except BrowserUnavailable as exc:
                raise CaptureError(url, str(exc)) from exc
            except PlaywrightError as exc:
                raise CaptureError(url, f"browser unavailable: {first_line(exc)}") from exc
            healthy = False
            try:
                # page.evaluate has no timeout of its own: a page whose script spins forever
                # would otherwise hold this slot for the rest of the pass.
                async with asyncio.timeout(self.capture_timeout):
                    evidence = await run.run(tab, image_urls)
                healthy = True
                return evidence
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
                if healthy and tab.reusable and not run.tab_unsafe:
                    self._session.release_tab_later(tab)
                else:
                    # A tab whose capture failed is closed, never reused.
                    await self._session.release_tab(tab, healthy=False)


class _CaptureRun:
    """The state of one capture; lives only inside ``Capturer.capture``."""

    def __init__(
        self,
        capturer: Capturer,
        url: str,
        platform: str,
        listing_id: str,
        case_id: str | None,
    ) -> None:
        self.capturer = capturer
        self.url = url
        self.platform = platform
        self.listing_id = listing_id
        self.case_id = capturer.case_id if case_id is None else case_id
        self.main_exchange: Exchange | None = None
        self.image_exchanges: list[Exchange] = []
        self.title = ""
        self.started_at = utcnow()
        self.capture_id = new_capture_id(self.started_at)
        width, height = capturer.settings.viewport
        self.viewport = f"{width}x{height}"
        self.artifacts: list[Artifact] = []
        self.errors: list[str] = []
        self.procedure: list[str] = []
        self.writes: list[tuple[str, str, asyncio.Future[str]]] = []
        self.tab_unsafe = False  # document interception maybe still on: close, never reuse

    def store(self, kind: str, media_type: str, data: bytes, source_url: str = "") -> Artifact:
        """Hash now, write in a worker thread (a blob write fsyncs; the loop keeps serving the
        other captures meanwhile). ``flush_writes`` collects and checks the writes."""
        digest = sha256_bytes(data)
        write = asyncio.get_running_loop().run_in_executor(None, self.capturer._put_blob, data)
        self.writes.append((kind, digest, write))
        artifact = Artifact(kind, media_type, digest, len(data), source_url)
        self.artifacts.append(artifact)
        return artifact

    async def flush_writes(self) -> None:
        writes, self.writes = self.writes, []
        results = await asyncio.gather(*(w for _, _, w in writes), return_exceptions=True)
        for (kind, digest, _), stored in zip(writes, results, strict=True):
            if isinstance(stored, BaseException):
                raise stored  # the archive's own error (disk full), as it is
            if stored != digest:
                # The archive named the bytes differently: the chain of custody is broken.
                raise CaptureError(
                    self.url,
                    f"archive stored the {kind} as {stored!r}, but its sha256 is {digest}",
                )

    async def run(self, tab: Tab, image_urls: Sequence[str]) -> Evidence:
        settings = self.capturer.settings
        context, page = tab.context, tab.page
        self.procedure.append(
            (
                "new browser context"
                if tab.uses == 0
                else f"browser tab reused (capture {tab.uses + 1} in it) after clearing its"
                " cookies, permissions and the storage of every origin the previous capture"
                " touched"
            )
            + f": viewport {self.viewport}, device scale 1, locale {settings.locale},"
            f" timezone {settings.timezone}, HTTP cache disabled, service workers blocked"
        )
        network = NetworkLog(page)
        try:
            response, headers = await self._load(tab, network)
            await self._preserve_page(tab)
            final_url = page.url
            user_agent, self.title = await page.evaluate(
                "() => [navigator.userAgent, document.title]"
            )
            server = await response.server_addr()
            tls = await response.security_details()
            subresources, notes = await network.exchanges(skip_urls=[response.url])
            await self._store_images(context, image_urls, final_url, subresources)
            browser = context.browser
            if browser is None:
                raise CaptureError(self.url, "the browser context lost its browser")
            browser_name, browser_version = browser.browser_type.name, browser.version
        finally:
            network.detach()
            tab.touched(network.urls())
        if self.main_exchange is not None:
            self.main_exchange.server_address = _address(server)
        self.errors.extend(notes)
        environment = capture_environment(
            settings, user_agent, f"{browser_name} {browser_version}", _address(server)
        )
        await self._store_web_archive(subresources, environment)

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
            investigators=self.capturer.investigators,
            case_id=self.case_id,
            environment=environment,
            title=self.title,
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
        await self.flush_writes()
        evidence = Evidence(
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
            case_id=self.case_id,
            operator=self.capturer.operator,
        )
        ledger = self.capturer.ledger
        if ledger is not None:
            try:
                # Off the loop: a TSA round trip or a busy database must not stall the crawl.
                await asyncio.to_thread(ledger.record_capture, evidence)
            except Exception as exc:
                # An unsealed capture is not evidence we can stand behind; say so loudly.
                raise CaptureError(
                    self.url, f"could not seal the capture in the ledger: {exc}"
                ) from exc
        return evidence

    async def _store_web_archive(
        self, subresources: list[Exchange], environment: dict[str, str]
    ) -> None:
        main = [self.main_exchange] if self.main_exchange else []
        exchanges = [*main, *subresources, *self.image_exchanges]
        if not exchanges:
            return
        info = {
            "software": f"{TOOL_NAME} {self.capturer.tool_version}",
            "format": "WARC File Format 1.1",
            "isPartOf": self.capture_id,
            **{k: v for k, v in environment.items() if v},
        }

        def package() -> bytes:
            warc = build_warc(exchanges, info)
            return build_wacz(
                warc,
                main_url=self.url,
                title=self.title or self.url,
                captured_at=self.started_at,
                software=info["software"],
            )

        self.store("wacz", WACZ_MEDIA_TYPE, await asyncio.to_thread(package))
        self.procedure.append(
            f"recorded {len(exchanges)} HTTP exchanges ({len(main)} main document,"
            f" {len(subresources)} page resources, {len(self.image_exchanges)} listing images)"
            " as WARC/1.1 request and response records with SHA-256 block and payload digests,"
            " packaged as WACZ 1.1.1"
        )

    async def _load(self, tab: Tab, network: NetworkLog) -> tuple[Response, dict[str, str]]:
        """Navigate, keep the served HTML, let the page settle. Raises CaptureError."""
        page = tab.page
        timeout = self.capturer.navigation_timeout
        deadline = time.monotonic() + timeout
        page.set_default_timeout(timeout * 1000)
        recorder = await ServedHtmlRecorder.attach(tab.context, page, tab.session)
        navigated = False
        try:
            response = await open_page(page, self.url, timeout)
            navigated = True
            headers = await response.all_headers()
            content_type = headers.get("content-type", "")
            self.procedure.append(
                f"navigated to the URL; main document HTTP {response.status}"
                f" ({content_type or 'no Content-Type'})"
            )
            if response.status < 400 and not is_html(content_type):
                raise CaptureError(self.url, f"not an HTML page (Content-Type: {content_type})")
            self._store_served_html(response, headers, recorder)
        finally:
            if not await recorder.detach(end_session=navigated):
                self.tab_unsafe = True
        await self._settle(page, deadline, network)
        return response, headers

    async def _preserve_page(self, tab: Tab) -> None:
        page = tab.page
        first, png = await take_screenshots(tab.session, page, self.capturer.navigation_timeout)
        first_w, first_h = png_size(first)
        shot_w, shot_h = png_size(png)
        self.store("screenshot", "image/png", png)
        self.store("first_screen", "image/png", first)
        self.procedure.append(
            "screenshots with animations frozen and the caret hidden: full page PNG"
            f" {shot_w}x{shot_h} pixels, first screen (the viewport at the top) {first_w}x{first_h}"
        )

        dom = await page.content()
        self.store("dom", DOM_MEDIA_TYPE, UTF8_BOM + dom.encode("utf-8"))
        self.procedure.append("serialised the DOM after scripts ran (UTF-8 with BOM)")

    def _store_served_html(
        self, response: Response, headers: dict[str, str], recorder: ServedHtmlRecorder
    ) -> None:
        content_type = headers.get("content-type", "")
        body = recorder.body_for(response.url)
        if body is None:
            # The DOM and screenshot still preserve the page; record the gap and go on.
            self.errors.append(f"html as served unavailable: {recorder.failure_for(response.url)}")
            return
        self.store("html", content_type or "text/html", body)
        request = response.request
        self.main_exchange = Exchange(
            url=response.url,
            method=request.method,
            request_headers=request.headers,
            status=response.status,
            status_text=response.status_text,
            response_headers=headers,
            body=body,
            at=self.started_at,
        )
        self.procedure.append(
            f"kept the main document body as the server sent it, {len(body)} bytes,"
            " taken from the network before the browser decoded it"
        )

    async def _settle(self, page: Page, deadline: float, network: NetworkLog) -> None:
        cap = self.capturer.settle_cap
        if await behaviours.wait_for_load(page, max(0.1, deadline - time.monotonic())):
            self.procedure.append("load event fired")
        else:
            self.errors.append("load event did not fire in time; captured the page as it stood")
            self.procedure.append("load event did not fire in time")
        # Scroll first: the lazy images it triggers are then covered by the one idle wait.
        steps = await behaviours.scroll_through(page)
        quiet = self.capturer.idle_quiet
        idle = await network.wait_for_idle(quiet, cap)
        settled = await behaviours.wait_for_images(page, cap)
        await behaviours.scroll_to_top(page)
        fonts = await behaviours.wait_for_fonts(page, cap)
        self.procedure.append(
            f"scrolled to the bottom in {steps} viewport steps (for lazily loaded images)"
            " and back to the top; "
            + (
                f"network idle (no request in flight for {quiet * 1000:.0f} ms)"
                if idle
                else f"network not idle within {cap:g} s (capped wait)"
            )
            + f"; images {'loaded' if settled else f'still loading after {cap:g} s'};"
            f" fonts {'ready' if fonts else 'not ready'}"
        )

    async def _store_images(
        self,
        context: BrowserContext,
        image_urls: Sequence[str],
        base_url: str,
        page_exchanges: Sequence[Exchange],
    ) -> None:
        urls = resolve_image_urls(image_urls, base_url)
        if not urls:
            return
        images = await fetch_listing_images(
            context.request,
            urls,
            referer=base_url,
            timeout_s=self.capturer.settle_cap * 5,
            recorded=reusable_responses(page_exchanges),
        )
        stored = 0
        reused = sum(image.reused for image in images)
        for image in images:
            if image.exchange is not None:
                self.image_exchanges.append(image.exchange)
            if image.data is None:
                self.errors.append(image.error)
                continue
            self.store("image", image.media_type, image.data, source_url=image.url)
            stored += 1
        self.procedure.append(
            f"{len(urls)} listing images: {reused} taken from the page's own HTTP 200 response"
            " for the same URL (already in the web archive), "
            f"{len(urls) - reused} fetched through the page's browser context"
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
    investigators: Sequence[str] = (),
    case_id: str = "",
    ledger: Ledger | None = None,
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
        async with Capturer(
            settings,
            put_blob,
            operator=operator,
            investigators=investigators,
            case_id=case_id,
            ledger=ledger,
        ) as capturer:
            return await capturer.capture(
                url=url, platform=platform, listing_id=listing_id, image_urls=image_urls
            )

    return asyncio.run(run())
