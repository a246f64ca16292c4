"""Turn a failed request (Scrapy errback ``Failure``) into a ``PageError`` item.

Kinds: "http_status" (an error status after retries), "timeout", "connection", "blocked"
(robots.txt or a middleware dropped the request), "browser" (Chromium failed otherwise) and
"download" for anything else. Shared by every spider so the store counts failures the same way.
"""

from __future__ import annotations

import asyncio

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as twisted_error
from twisted.python.failure import Failure

from marketguard.models import PageError

_TIMEOUTS: tuple[type[BaseException], ...] = (
    DownloadTimeoutError,
    PlaywrightTimeoutError,
    twisted_error.TimeoutError,
    twisted_error.TCPTimedOutError,
    asyncio.TimeoutError,
    TimeoutError,
)
_CONNECTION: tuple[type[BaseException], ...] = (
    DownloadConnectionRefusedError,
    CannotResolveHostError,
    DownloadFailedError,
    ResponseDataLossError,
    twisted_error.ConnectError,
    twisted_error.ConnectionLost,
    twisted_error.ConnectionDone,
    ConnectionError,
)


def page_error_from_failure(failure: Failure, url: str = "") -> PageError:
    exc = failure.value
    request = getattr(failure, "request", None)
    url = url or (request.url if request is not None else "")
    retries = request.meta.get("retry_times", 0) if request is not None else 0
    tries = f" (after {retries + 1} tries)" if retries else ""
    if isinstance(exc, HttpError):
        response = exc.response
        return PageError(url=url, kind="http_status", message=f"HTTP {response.status}{tries}")
    if isinstance(exc, _TIMEOUTS):
        return PageError(url=url, kind="timeout", message=f"{_describe(exc)}{tries}")
    if isinstance(exc, _CONNECTION):
        return PageError(url=url, kind="connection", message=f"{_describe(exc)}{tries}")
    if isinstance(exc, IgnoreRequest):
        return PageError(url=url, kind="blocked", message=_describe(exc))
    if isinstance(exc, PlaywrightError):
        kind = "connection" if "net::ERR_" in exc.message else "browser"
        return PageError(url=url, kind=kind, message=_describe(exc))
    return PageError(url=url, kind="download", message=_describe(exc))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
