"""The screenshots: first screen (what a visitor sees on arrival) and the full page.

Both come straight from the DevTools ``Page.captureScreenshot`` with ``optimizeForSpeed``:
Chromium then encodes the PNG with a faster zlib setting (files about a quarter larger, pixels
identical), which cut the two screenshots from about 170 ms to about 100 ms of a capture on a
listing page. PNG stays lossless. While they are taken a style sheet freezes animations and
transitions at their end state and hides the text caret, so two captures of an unchanged page
match; it is removed again before the DOM is serialised.
"""

from __future__ import annotations

import base64
import math
import struct

from playwright.async_api import CDPSession, Page

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chromium refuses textures over 16384 px in some builds; beyond that Playwright's own
# screenshot (which stitches) is used.
MAX_SINGLE_SHOT = 16384

_FREEZE_CSS = """
*, *::before, *::after {
  animation-delay: -1ms !important; animation-duration: 1ms !important;
  animation-iteration-count: 1 !important; transition: none !important;
  caret-color: transparent !important;
}
"""
_ADD_FREEZE = """(css) => {
  const style = document.createElement('style');
  style.setAttribute('data-marketguard-freeze', '');
  style.textContent = css;
  (document.head || document.documentElement).appendChild(style);
  return new Promise((r) => requestAnimationFrame(() => r()));
}"""
_REMOVE_FREEZE = """() => {
  document.querySelectorAll('style[data-marketguard-freeze]').forEach((s) => s.remove());
}"""


async def take_screenshots(
    session: CDPSession, page: Page, timeout_s: float
) -> tuple[bytes, bytes]:
    """(first screen, full page) as PNG bytes, the page scrolled to the top. ``session`` is a
    DevTools session of ``page`` (the tab's own, kept for its life)."""
    await page.evaluate(_ADD_FREEZE, _FREEZE_CSS)
    try:
        first = await _shot(session, {})
        metrics = await session.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        width = math.ceil(size["width"])
        height = math.ceil(size["height"])
        if height > MAX_SINGLE_SHOT:
            full = await page.screenshot(
                full_page=True,
                type="png",
                animations="disabled",
                caret="hide",
                timeout=timeout_s * 1000,
            )
        else:
            full = await _shot(
                session,
                {
                    "captureBeyondViewport": True,
                    "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
                },
            )
    finally:
        await page.evaluate(_REMOVE_FREEZE)
    return first, full


async def _shot(session: CDPSession, extra: dict[str, object]) -> bytes:
    reply = await session.send(
        "Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True, **extra}
    )
    return base64.b64decode(reply["data"])


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG header, without decoding the (possibly huge) image."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return width, height
