"""A listing's photos, each checked with Pillow: taken from the page's own responses when the
page loaded that very URL, else fetched through the capture's browser context.

Marketplace pages show the listing's photos themselves, so most were already received while
the page loaded; fetching them again cost a second request per photo and put every photo in
the WARC twice. A recorded response is reused only when it is the same URL answered with
HTTP 200 (the whole resource, not a redirect or a range); anything else (a thumbnail under
another URL, an image the page never requested) is fetched. The context's request API sends
the page's cookies and a Referer, so image hosts that refuse hot-linking still answer. An
image that Pillow cannot read is reported, not stored as an image: a file that does not
decode proves nothing about the product.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from urllib.parse import urljoin, urlsplit

from PIL import Image, UnidentifiedImageError
from playwright.async_api import APIRequestContext
from playwright.async_api import Error as PlaywrightError

from evidence.browser import first_line
from evidence.web_archive import Exchange
from marketguard.models import utcnow

# Pillow warns above 89 Mpx and refuses above twice that; product photos are under 20 Mpx,
# so anything over this is treated as a decompression bomb before it is ever decoded.
MAX_PIXELS = 50_000_000
MAX_BYTES = 30 * 1024 * 1024
PREVIEW_SIZE = (512, 512)
FETCH_CONCURRENCY = 4


class ImageUnreadable(Exception):
    pass


@dataclass(slots=True)
class ListingImage:
    url: str
    data: bytes | None = None
    media_type: str = ""
    width: int = 0
    height: int = 0
    error: str = ""  # set when data is None
    exchange: Exchange | None = None  # the HTTP exchange, for the WARC (also when unreadable)
    reused: bool = False  # taken from the page's own response, not fetched again


def check_image(data: bytes) -> tuple[str, int, int]:
    """Media type, width and height of a decodable image, or ImageUnreadable saying why.

    ``verify()`` checks the file structure without decoding pixels; loading a downscaled copy
    then proves the pixel data decodes (a truncated JPEG passes verify but fails here).
    """
    try:
        with Image.open(BytesIO(data)) as img:
            fmt, (width, height) = img.format, img.size
            if width * height > MAX_PIXELS:
                raise ImageUnreadable(
                    f"{width}x{height} pixels is over the {MAX_PIXELS:,} pixel limit"
                    " (possible decompression bomb)"
                )
            img.verify()
        with Image.open(BytesIO(data)) as img:
            img.draft("RGB", PREVIEW_SIZE)  # JPEG decodes at reduced scale: cheap and bounded
            img.thumbnail(PREVIEW_SIZE)
    except ImageUnreadable:
        raise
    except UnidentifiedImageError as exc:
        raise ImageUnreadable("cannot identify image file") from exc
    except Exception as exc:
        # Decoders raise OSError, SyntaxError, ValueError, struct.error, DecompressionBombError
        # ... on hostile input; every one means the same thing here.
        raise ImageUnreadable(str(exc) or type(exc).__name__) from exc
    return Image.MIME.get(fmt or "", "application/octet-stream"), width, height


def resolve_image_urls(image_urls: Sequence[str], base_url: str) -> list[str]:
    """Absolute URLs in listing order, duplicates dropped (marketplaces repeat the main photo)."""
    seen: set[str] = set()
    out: list[str] = []
    for raw in image_urls:
        url = urljoin(base_url, raw.strip())
        if url and url not in seen:
            seen.add(url)
            out.append(url)
    return out


def reusable_responses(exchanges: Sequence[Exchange]) -> dict[str, Exchange]:
    """The page's responses that are a whole resource as served (HTTP 200), by URL."""
    return {ex.url: ex for ex in exchanges if ex.status == 200 and ex.method == "GET"}


async def fetch_listing_images(
    request: APIRequestContext,
    urls: Sequence[str],
    *,
    referer: str,
    timeout_s: float,
    recorded: dict[str, Exchange] | None = None,
) -> list[ListingImage]:
    """One ``ListingImage`` per URL, in order. A URL in ``recorded`` is not fetched again: its
    ``ListingImage.exchange`` is None because that exchange is already in the page's record."""
    limit = asyncio.Semaphore(FETCH_CONCURRENCY)
    recorded = recorded or {}

    async def one(url: str) -> ListingImage:
        if url in recorded:
            return await _from_page(url, recorded[url].body)
        async with limit:
            return await _fetch_one(request, url, referer=referer, timeout_s=timeout_s)

    return list(await asyncio.gather(*(one(u) for u in urls)))


async def _from_page(url: str, data: bytes) -> ListingImage:
    image = await _checked(url, data, None)
    image.reused = True
    return image


async def _fetch_one(
    request: APIRequestContext, url: str, *, referer: str, timeout_s: float
) -> ListingImage:
    if urlsplit(url).scheme not in ("http", "https"):
        return ListingImage(url, error=f"image {url} not fetched: only http(s) URLs are fetched")
    started = utcnow()
    try:
        response = await request.get(
            url, headers={"Referer": referer}, timeout=timeout_s * 1000, max_redirects=5
        )
        try:
            if not response.ok:
                return ListingImage(url, error=f"image {url} not fetched: HTTP {response.status}")
            data = await response.body()
            exchange = Exchange(
                url=response.url,
                method="GET",
                request_headers={"Referer": referer},
                status=response.status,
                status_text=response.status_text,
                response_headers=dict(response.headers),
                body=data,
                at=started,
            )
        finally:
            await response.dispose()
    except PlaywrightError as exc:
        return ListingImage(url, error=f"image {url} not fetched: {first_line(exc)}")
    return await _checked(url, data, exchange)


async def _checked(url: str, data: bytes, exchange: Exchange | None) -> ListingImage:
    if len(data) > MAX_BYTES:
        return ListingImage(
            url,
            error=f"image {url} not stored: {len(data):,} bytes is over {MAX_BYTES:,}",
        )
    try:
        # Decoding is CPU work; off the event loop so Scrapy's reactor keeps serving.
        media_type, width, height = await asyncio.to_thread(check_image, data)
    except ImageUnreadable as exc:
        return ListingImage(url, error=f"image {url} unreadable: {exc}", exchange=exchange)
    return ListingImage(
        url, data=data, media_type=media_type, width=width, height=height, exchange=exchange
    )
