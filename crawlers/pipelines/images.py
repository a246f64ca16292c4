"""Pipeline step before matching: fetch a listing's images, hash them, look them up, maybe OCR.

For each Listing (at most ``MARKETGUARD_IMAGES_PER_LISTING`` distinct image URLs):

1. fetch through Scrapy's downloader (robots.txt, retries, throttling as for pages), bounded by
   ``MARKETGUARD_IMAGE_MAX_BYTES`` and ``MARKETGUARD_IMAGE_TIMEOUT``;
2. hash (matching.image_hash: pHash of the 8 mirror/rotation variants, colour grid);
3. look the picture up in the reference library (home/refs.db) and record it in the seen-image
   index (home/seen_images.db), with the radius and colour tolerance of the IMAGE_* rules;
4. OCR (``MARKETGUARD_OCR``): ``auto`` reads pictures only where their text can change the
   outcome: listings that the text alone would flag ``MARKETGUARD_OCR_WHEN`` (CCC_MISSING,
   MAKER_INFO_MISSING), picture by picture until those flags go away, skipping genuine
   reference photos; ``always``; ``never``.

On by default (the promise is a perceptual hash of every listing image); the Scrapy setting or
environment variable ``MARKETGUARD_IMAGES=0`` switches it off. OCR defaults to
``DEFAULT_OCR`` (docs/images.md, "Defaults", has the pass times that chose it).

The result travels to MatchPipeline as ``ImageSignal``s (``take_image_findings``). A picture
that cannot be fetched or decoded becomes a ``PageError(kind="image")``, counted and stored with
the listing; nothing here stops the listing or the pass.

CPU work (decoding, hashing, SQLite lookups, OCR) runs in two worker threads, one for hashing
and one for OCR, so the crawl's event loop keeps fetching meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from marketguard.image_index import ReferenceLibrary, SeenImages
from marketguard.models import Listing, PageError
from matching.context import EMPTY_CONTEXT, ImageSignal, ReferenceMatch, seller_key
from matching.engine import Matcher
from matching.image_hash import DEFAULT_MAX_PIXELS, ImageDecodeError, ImageHashes, hash_image
from matching.image_text import OcrReader, OcrResult

logger = logging.getLogger(__name__)

OCR_MODES = ("auto", "always", "never")
# Flags that text read from pictures can make go away (a number or maker printed on a card).
DEFAULT_OCR_WHEN = ("CCC_MISSING", "MAKER_INFO_MISSING")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
# "auto" reads only pictures of listings whose flags their text could lift: on the 300-listing
# demo pass 58 pictures, about +30 % CPU over hashing alone (docs/images.md, "Defaults").
# MARKETGUARD_OCR=never for a pass that must not spend it.
DEFAULT_OCR = "auto"
_OCR_CACHE_SIZE = 4096  # pictures' OCR results kept per pass (a few hundred bytes each)
_FINDINGS_ATTR = "_marketguard_image_findings"


@dataclass(slots=True)
class ImageFindings:
    signals: tuple[ImageSignal, ...] = ()
    errors: list[PageError] = field(default_factory=list)


def take_image_findings(crawler: Crawler, listing: Listing) -> ImageFindings | None:
    """What the image step found for ``listing`` (once; None when it did not run)."""
    store: dict[int, ImageFindings] | None = getattr(crawler, _FINDINGS_ATTR, None)
    return store.pop(id(listing), None) if store else None


@dataclass(frozen=True, slots=True)
class _Thresholds:
    ref_radius: int
    ref_colour: int
    shared_radius: int
    shared_colour: int
    shared_greyscale: bool


def _thresholds(matcher: Matcher) -> _Thresholds:
    """The IMAGE_* rules' radii: the search here must reach as far as the rules look."""
    by_id: dict[str, Any] = {rule.rule_id: rule for rule in matcher.rules.rules}
    ref = by_id.get("IMAGE_OFFICIAL_REUSED")
    shared = by_id.get("IMAGE_SHARED_ACROSS_SHOPS")
    return _Thresholds(
        ref_radius=ref.max_distance if ref else -1,
        ref_colour=ref.colour_tolerance if ref else 4,
        shared_radius=shared.max_distance if shared else -1,
        shared_colour=shared.colour_tolerance if shared else 4,
        shared_greyscale=shared.count_greyscale if shared else False,
    )


class ImagePipeline:
    def __init__(
        self,
        crawler: Crawler,
        matcher: Matcher,
        home: Path,
        *,
        ocr: str = DEFAULT_OCR,
        ocr_when: tuple[str, ...] = DEFAULT_OCR_WHEN,
        max_bytes: int = 8_000_000,
        timeout: float = 15.0,
        per_listing: int = 6,
        ocr_per_listing: int = 3,
        ocr_workers: int = 1,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        if ocr not in OCR_MODES:
            raise ValueError(f"MARKETGUARD_OCR must be one of {', '.join(OCR_MODES)}, got {ocr!r}")
        self.crawler = crawler
        self.stats = crawler.stats
        self.matcher = matcher
        self.thresholds = _thresholds(matcher)
        self.home = home
        self.ocr_mode = ocr
        self.ocr_when = frozenset(ocr_when)
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.per_listing = per_listing
        self.ocr_per_listing = ocr_per_listing
        self.max_pixels = max_pixels
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mg-image-hash")
        # OCR on its own threads (onnxruntime releases the GIL; one session serves them all).
        self._reader_pool = ThreadPoolExecutor(
            max_workers=max(1, ocr_workers), thread_name_prefix="mg-image-ocr"
        )
        self._reader_lock = threading.Lock()
        self._ocr_cache: OrderedDict[bytes, asyncio.Future[OcrResult]] = OrderedDict()
        self._refs: ReferenceLibrary | None = None
        self._seen: SeenImages | None = None
        self._ocr: OcrReader | None = None
        self._findings: dict[int, ImageFindings] = {}
        setattr(crawler, _FINDINGS_ATTR, self._findings)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ImagePipeline:
        s = crawler.settings
        switch = s.get("MARKETGUARD_IMAGES", os.environ.get("MARKETGUARD_IMAGES", "1"))
        value = str(switch).strip().lower()
        if value in _FALSE:
            raise NotConfigured  # without a message: Scrapy then disables it without a warning
        if value not in _TRUE:
            raise ValueError(f"MARKETGUARD_IMAGES must be 1 or 0 (true/false), got {switch!r}")
        catalogue, rules = s.get("MARKETGUARD_CATALOGUE"), s.get("MARKETGUARD_RULES")
        matcher = Matcher.load(
            Path(catalogue) if catalogue else None, Path(rules) if rules else None
        )
        return cls(
            crawler,
            matcher,
            Path(s["MARKETGUARD_HOME"]),
            ocr=s.get("MARKETGUARD_OCR", os.environ.get("MARKETGUARD_OCR", DEFAULT_OCR)),
            ocr_when=tuple(s.getlist("MARKETGUARD_OCR_WHEN", list(DEFAULT_OCR_WHEN))),
            max_bytes=s.getint("MARKETGUARD_IMAGE_MAX_BYTES", 8_000_000),
            timeout=s.getfloat("MARKETGUARD_IMAGE_TIMEOUT", 15.0),
            per_listing=s.getint("MARKETGUARD_IMAGES_PER_LISTING", 6),
            ocr_per_listing=s.getint("MARKETGUARD_OCR_PER_LISTING", 3),
            ocr_workers=s.getint("MARKETGUARD_OCR_WORKERS", 1),
        )

    def open_spider(self) -> None:
        self._refs = ReferenceLibrary.in_home(self.home)
        self._seen = SeenImages.in_home(self.home)

    async def close_spider(self) -> None:
        loop = asyncio.get_running_loop()
        # Close the databases on the thread that used them, after its queued work.
        await loop.run_in_executor(self._hasher, self._close_stores)
        self._hasher.shutdown(wait=True)
        self._reader_pool.shutdown(wait=True)
        self._findings.clear()

    def _close_stores(self) -> None:
        for store in (self._refs, self._seen):
            if store is not None:
                store.close()
        self._refs = self._seen = None

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, Listing):
            return item
        urls = list(dict.fromkeys(u for u in item.image_urls if isinstance(u, str) and u))
        if not urls:
            return item
        findings = ImageFindings()
        self._findings[id(item)] = findings
        fetched = await asyncio.gather(*(self._fetch(url) for url in urls[: self.per_listing]))
        loop = asyncio.get_running_loop()
        shop = seller_key(item.platform, item.seller.seller_id) if item.seller else ""
        signals: list[ImageSignal] = []
        bodies: list[bytes | None] = []
        for url, body, problem in fetched:
            signal, body = await self._hash_one(loop, findings, item, shop, url, body, problem)
            signals.append(signal)
            bodies.append(body)
        read = 0
        for index, body in enumerate(bodies):
            signal = signals[index]
            if body is None or signal.reference_matches or read >= self.ocr_per_listing:
                continue
            if not self._wants_ocr(item, signals):
                break
            read += 1
            # Shops post the same certificate picture in many listings: read each file once.
            # Keyed by the bytes' SHA-256, not the pHash: two certificates with different
            # numbers share a pHash.
            digest = hashlib.sha256(body).digest()
            pending = self._ocr_cache.get(digest)  # done, or still being read for a twin
            if pending is None:
                pending = loop.run_in_executor(self._reader_pool, self._read, body)
                self._ocr_cache[digest] = pending
                if len(self._ocr_cache) > _OCR_CACHE_SIZE:
                    self._ocr_cache.popitem(last=False)
                self.stats.inc_value("marketguard/images/ocr")
            else:
                self._ocr_cache.move_to_end(digest)
                self.stats.inc_value("marketguard/images/ocr_cached")
            try:
                ocr = await pending
            except Exception as exc:  # the picture hashed, so this is OCR's own failure
                self._ocr_cache.pop(digest, None)
                logger.warning("OCR failed for %s: %s", signal.url, exc)
                findings.errors.append(self._error(signal.url, f"OCR: {exc}"))
                continue
            signals[index] = replace(signal, ocr_text=ocr.text, ccc_mark=ocr.ccc_mark)
        findings.signals = tuple(signals)
        return item

    async def _hash_one(
        self,
        loop: asyncio.AbstractEventLoop,
        findings: ImageFindings,
        item: Listing,
        shop: str,
        url: str,
        body: bytes | None,
        problem: str,
    ) -> tuple[ImageSignal, bytes | None]:
        """The picture's signal, and its bytes when they are worth reading by OCR."""
        if body is None:
            findings.errors.append(self._error(url, problem))
            return ImageSignal(url=url, error=problem), None
        try:
            hashes, refs, shared = await loop.run_in_executor(
                self._hasher, self._hash_and_look_up, body, url, shop, item.key
            )
        except ImageDecodeError as exc:
            self.stats.inc_value(f"marketguard/images/unreadable/{exc.kind}")
            message = f"{exc.kind}: {exc}"
            findings.errors.append(self._error(url, message))
            return ImageSignal(url=url, error=message), None
        except Exception as exc:  # a store or library bug must not cost us the listing
            logger.exception("image step failed for %s", url)
            message = f"{type(exc).__name__}: {exc}"
            findings.errors.append(self._error(url, message))
            return ImageSignal(url=url, error=message), None
        self.stats.inc_value("marketguard/images/hashed")
        signal = ImageSignal(
            url=url,
            phash=hashes.phash,
            reference_matches=refs,
            shared_with_sellers=shared,
            linkable=not (hashes.blank or hashes.greyscale),
        )
        return signal, None if hashes.blank else body

    def _wants_ocr(self, listing: Listing, signals: list[ImageSignal]) -> bool:
        """Whether reading (another) picture can change the outcome for this listing."""
        if self.ocr_mode != "auto":
            return self.ocr_mode == "always"
        # Pure and cheap (tens of microseconds): the flags the listing gets with what the
        # pictures have told so far. OCR stops as soon as none of the ocr_when flags is left.
        result = self.matcher.match(listing, EMPTY_CONTEXT.for_listing(images=signals))
        return any(flag.rule_id in self.ocr_when for flag in result.flags)

    async def _fetch(self, url: str) -> tuple[str, bytes | None, str]:
        engine = self.crawler.engine
        assert engine is not None
        request = Request(
            url,
            meta={
                "download_maxsize": self.max_bytes,
                "download_timeout": self.timeout,
                "max_retry_times": 1,
            },
            dont_filter=True,
        )
        try:
            response = await engine.download_async(request)
        except Exception as exc:
            return url, None, f"fetch failed: {type(exc).__name__}: {exc}"
        if response.status != 200:
            return url, None, f"HTTP {response.status}"
        body = response.body
        if not body:
            return url, None, "empty response"
        return url, body, ""

    def _hash_and_look_up(
        self, body: bytes, url: str, shop: str, listing_key: str
    ) -> tuple[ImageHashes, tuple[ReferenceMatch, ...], frozenset[str]]:
        hashes = hash_image(body, max_pixels=self.max_pixels)
        refs: tuple[ReferenceMatch, ...] = ()
        shared: frozenset[str] = frozenset()
        if hashes.blank:
            return hashes, refs, shared
        t = self.thresholds
        if self._refs is not None and t.ref_radius >= 0 and len(self._refs):
            refs = self._refs.find(hashes, radius=t.ref_radius, colour_tolerance=t.ref_colour)
        counted = t.shared_greyscale or not hashes.greyscale
        if self._seen is not None and t.shared_radius >= 0 and shop and counted:
            shared = self._seen.observe(
                shop,
                listing_key,
                url,
                hashes,
                radius=t.shared_radius,
                colour_tolerance=t.shared_colour,
            )
        return hashes, refs, shared

    def _read(self, body: bytes) -> OcrResult:
        with self._reader_lock:
            if self._ocr is None:
                self._ocr = OcrReader(max_pixels=self.max_pixels, threads=1)
        return self._ocr.read(body)

    def _error(self, url: str, message: str) -> PageError:
        self.stats.inc_value("marketguard/images/errors")
        return PageError(url=url, kind="image", message=message)
