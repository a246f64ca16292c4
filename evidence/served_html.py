"""The main document's bytes exactly as the server sent them (GBK stays GBK).

Playwright's ``Response.body()`` cannot be used for this: Chromium's ``Network.getResponseBody``
hands back text it has already decoded with the page's charset, and Playwright re-encodes that
as UTF-8, so a GBK page comes back as different bytes (microsoft/playwright#4077, "upstream").
Instead the page's Document responses are paused at the response stage with the DevTools
``Fetch`` domain, whose ``getResponseBody`` returns the undecoded network bytes, and released
unchanged. The browser renders the very bytes that are kept.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import Any

from playwright.async_api import BrowserContext, CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from evidence.browser import first_line


class ServedHtmlRecorder:
    """Attach before navigating; afterwards ``body_for(response.url)`` gives the raw bytes."""

    def __init__(self, session: CDPSession, main_frame_id: str, *, own_session: bool) -> None:
        self._session = session
        self._own_session = own_session
        self._main_frame_id = main_frame_id
        self._bodies: dict[str, bytes] = {}
        self._failures: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._detached = False

    @classmethod
    async def attach(
        cls, context: BrowserContext, page: Page, session: CDPSession | None = None
    ) -> ServedHtmlRecorder:
        """``session``: the tab's own DevTools session, kept for the tab's life; without one a
        session is opened here and ended on ``detach`` (two round trips more per capture)."""
        own_session = session is None
        if session is None:
            session = await context.new_cdp_session(page)
        tree = await session.send("Page.getFrameTree")
        recorder = cls(session, tree["frameTree"]["frame"]["id"], own_session=own_session)
        session.on("Fetch.requestPaused", recorder._on_paused)
        # Only documents are paused: images, scripts and XHR flow through untouched.
        pattern = {"urlPattern": "*", "resourceType": "Document", "requestStage": "Response"}
        await session.send("Fetch.enable", {"patterns": [pattern]})
        return recorder

    def body_for(self, url: str) -> bytes | None:
        return self._bodies.get(url)

    def failure_for(self, url: str) -> str:
        return self._failures.get(url, "the document was not intercepted")

    async def detach(self, *, end_session: bool = True) -> bool:
        """Stop intercepting; False if that could not be confirmed (the tab must then not be
        reused: its next navigation would be paused with nobody to release it).

        A session opened by ``attach`` ends here after a good navigation, so a reused tab does
        not collect one session per capture. ``end_session=False`` after a failed navigation:
        a tab whose capture failed is closed anyway, and CDPSession.detach() can block for as
        long as a navigation is still pending (a server that never answers)."""
        if self._detached:
            return True
        self._detached = True
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(ValueError):
            self._session.remove_listener("Fetch.requestPaused", self._on_paused)
        try:
            await asyncio.wait_for(self._session.send("Fetch.disable"), 5)
            if end_session and self._own_session:
                await asyncio.wait_for(self._session.detach(), 5)
        except (PlaywrightError, TimeoutError):
            return False
        return True

    def _on_paused(self, event: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._keep_and_release(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _keep_and_release(self, event: dict[str, Any]) -> None:
        request_id = event["requestId"]
        url = event["request"]["url"]
        status = event.get("responseStatusCode")
        try:
            wanted = (
                event.get("frameId") == self._main_frame_id
                and status is not None
                and not 300 <= status < 400  # redirects have no body worth keeping
                and url not in self._bodies
            )
            if wanted:
                await self._keep(request_id, url)
        finally:
            # Always release the response, or the page would hang until the timeout.
            with contextlib.suppress(PlaywrightError):
                await self._session.send("Fetch.continueRequest", {"requestId": request_id})

    async def _keep(self, request_id: str, url: str) -> None:
        try:
            reply = await self._session.send("Fetch.getResponseBody", {"requestId": request_id})
        except PlaywrightError as exc:
            self._failures[url] = first_line(exc)
            return
        if not reply.get("base64Encoded"):
            # Text here would already be decoded by the browser: not the served bytes.
            self._failures[url] = "the browser returned decoded text instead of the raw bytes"
            return
        self._bodies[url] = base64.b64decode(reply["body"])
