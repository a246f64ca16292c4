"""Scrapy settings of MarketGuard's crawlers (``scrapy.cfg`` points here).

Pipelines and extensions stay empty here: ``crawlers.run.pass_settings`` switches them on for a
monitoring pass, so ``scrapy crawl`` alone only fetches and parses.
"""

from __future__ import annotations

from typing import Any

from marketguard.settings import Settings as MarketGuardSettings
from marketguard.settings import chromium_launch_options

BOT_NAME = "marketguard"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

# Officers' crawls identify themselves; a platform can see who is reading its pages.
USER_AGENT = "MarketGuard/0.1 (market-regulation monitoring crawler)"
ROBOTSTXT_OBEY = True

# --- JavaScript pages through a real browser -------------------------------------------------
# scrapy-playwright only uses the browser for requests with meta["playwright"] = True; all others
# go through Scrapy's own HTTP client. It needs the asyncio reactor.
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
DOWNLOAD_HANDLERS = {
    "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
    "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
}
PLAYWRIGHT_BROWSER_TYPE = "chromium"
# Debian's Chromium via executable_path: Playwright's own browser download does not work here.
# The crawl browser only reads text, so it does not even request images (evidence capture uses
# its own browser, with images).
_launch = chromium_launch_options(MarketGuardSettings.from_env().chromium)
PLAYWRIGHT_LAUNCH_OPTIONS = {
    **_launch,
    "args": [*_launch["args"], "--blink-settings=imagesEnabled=false"],
}
# One context, at most 8 tabs (the spider reuses them; ~30 MB each). Rendering is CPU-bound on a
# 2-core machine, but part of each render is waiting on round trips: 8 tabs rendered the demo's
# JavaScript pages ~7% faster than 4 there; more would only add memory.
PLAYWRIGHT_MAX_CONTEXTS = 1
PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = 8
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = 20_000  # ms


def _skip_heavy_resource(request: Any) -> bool:
    """The spider reads text from the DOM: images, media, fonts and styles would only cost time."""
    return request.resource_type in {"image", "media", "font", "stylesheet"}


PLAYWRIGHT_ABORT_REQUEST = _skip_heavy_resource

# --- politeness and throughput ----------------------------------------------------------------
CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 16
DOWNLOAD_DELAY = 0
# AutoThrottle stays on so a slow or struggling real platform gets fewer requests. Its defaults
# (5 s start delay, target concurrency 1) would cripple a loopback crawl that answers in a few
# milliseconds, so: start at no delay, aim for as many parallel requests as the per-domain limit
# allows, and let the delay grow only when latency does (delay = latency / target concurrency).
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.0
AUTOTHROTTLE_TARGET_CONCURRENCY = float(CONCURRENT_REQUESTS_PER_DOMAIN)
AUTOTHROTTLE_MAX_DELAY = 10.0

# Scrapy runs CONCURRENT_ITEMS asyncio tasks for every callback's output, however short: 100
# (the default) made task bookkeeping half the CPU of a loopback crawl. A callback here yields at
# most ~20 things, and items of different pages are still processed concurrently.
CONCURRENT_ITEMS = 16
# Scrapy re-reads and parses the source of a generator callback (to warn about `return value`)
# whenever its weak cache misses, and with a fresh bound method on every request it mostly
# misses: that was a third of the CPU of a 10 000-listing crawl. (Ruff's B901 flags the mistake.)
WARN_ON_GENERATOR_RETURN_VALUE = False
# Spider middlewares that cost time on every yielded item and request and give a monitoring
# crawl nothing: Referer headers, URL-length and depth bookkeeping (no depth limit is used), and
# the development-time meta-copy warning. HttpError stays (errbacks see HTTP errors).
SPIDER_MIDDLEWARES = {
    # Per-site robots.txt choice and domain limits set by the spider or its adapter, and the
    # resume filter (active only when run_pass resumes an unfinished job). See docs/crawling.md.
    "crawlers.middlewares.site_policy.SitePolicyMiddleware": 40,
    "crawlers.middlewares.resume.ResumeFilter": 45,
    "scrapy.spidermiddlewares.referer.RefererMiddleware": None,
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}

DOWNLOAD_TIMEOUT = 30
RETRY_ENABLED = True
RETRY_TIMES = 2  # three tries in all; then the errback records a PageError
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
# Scrapy's list, plus Chromium timing out (navigation or waiting for the page's script): on a
# real platform that is as transient as a download timeout.
RETRY_EXCEPTIONS = [
    "scrapy.exceptions.CannotResolveHostError",
    "scrapy.exceptions.DownloadConnectionRefusedError",
    "scrapy.exceptions.DownloadFailedError",
    "scrapy.exceptions.DownloadTimeoutError",
    "scrapy.exceptions.ResponseDataLossError",
    "twisted.internet.error.ConnectionDone",
    "twisted.internet.error.ConnectError",
    "twisted.internet.error.ConnectionLost",
    OSError,  # also the builtin TimeoutError
    "scrapy.core.downloader.handlers.http11.TunnelError",
    "playwright.async_api.TimeoutError",
]
# Scrapy's retry re-queues at once; ours waits 1, then 2 s (+/- 25 %), or longer when the server
# says so in Retry-After, without blocking the reactor (crawlers/middlewares/backoff.py).
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawlers.middlewares.backoff.BackoffRetryMiddleware": 550,
}
RETRY_BACKOFF_BASE = 1.0  # seconds before the first retry; doubles with every further try
RETRY_BACKOFF_MAX = 60.0  # no single wait is longer, whatever Retry-After asks
RETRY_BACKOFF_JITTER = 0.25
# A give-up is recorded as a PageError and counted; it is not an error of the crawler itself.
RETRY_GIVE_UP_LOG_LEVEL = "WARNING"

COOKIES_ENABLED = False  # listings are public pages; no session needed
# Neither a telnet console nor 2.19's remote-control HTTP server (runs posted Python code):
# an evidence-gathering process must not accept code from other local processes.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False

LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"

# Filled by the monitoring pass (crawlers.run) rather than here.
ITEM_PIPELINES: dict[str, int] = {}
# AutoThrottle, but never below a site's own delay (crawlers/extensions/throttle.py); the pass
# adds its progress line.
EXTENSIONS: dict[str, int | None] = {
    "scrapy.extensions.throttle.AutoThrottle": None,
    "crawlers.extensions.throttle.SiteAwareAutoThrottle": 0,
}
