"""The full-page PNG screenshot: the artifact an officer prints and a court looks at first."""

from __future__ import annotations

import struct

from playwright.async_api import Page

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def full_page_png(page: Page, timeout_s: float) -> bytes:
    # Animations frozen and the caret hidden, so two captures of an unchanged page match.
    return await page.screenshot(
        full_page=True,
        type="png",
        animations="disabled",
        caret="hide",
        timeout=timeout_s * 1000,
    )


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG header, without decoding the (possibly huge) image."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return width, height
