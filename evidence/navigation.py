"""Open a listing URL in a page and get the main document response, or a clear CaptureError."""

from __future__ import annotations

import re

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Response
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from evidence.browser import first_line
from evidence.errors import CaptureError

# Chromium's network error codes in words an officer can act on.
_NET_ERRORS: dict[str, str] = {
    "ERR_CONNECTION_REFUSED": "connection refused",
    "ERR_CONNECTION_RESET": "connection reset by the server",
    "ERR_CONNECTION_CLOSED": "connection closed by the server",
    "ERR_CONNECTION_TIMED_OUT": "connection timed out",
    "ERR_EMPTY_RESPONSE": "the server sent an empty response",
    "ERR_NAME_NOT_RESOLVED": "host name not resolved (DNS)",
    "ERR_ADDRESS_UNREACHABLE": "address unreachable",
    "ERR_INTERNET_DISCONNECTED": "no network connection",
    "ERR_TOO_MANY_REDIRECTS": "too many redirects",
    "ERR_ABORTED": "navigation aborted (the URL may be a download, not a page)",
    "ERR_INVALID_URL": "invalid URL",
}
_NET_ERROR = re.compile(r"net::(ERR_[A-Z_]+)")

HTML_TYPES = ("text/html", "application/xhtml+xml")


def describe_navigation_error(exc: PlaywrightError) -> str:
    text = first_line(exc)
    match = _NET_ERROR.search(text)
    if match:
        code = match.group(1)
        if code.startswith("ERR_CERT_") or code.startswith("ERR_SSL_"):
            return f"TLS certificate or handshake rejected (net::{code})"
        return f"{_NET_ERRORS.get(code, code)} (net::{code})"
    return text


async def open_page(page: Page, url: str, timeout_s: float) -> Response:
    """Navigate until the document is parsed; the caller waits for ``load`` separately.

    Waiting for ``load`` inside goto would turn one hanging tracker script into a failed
    capture of a page that did arrive; a parsed document is already evidence.
    """
    try:
        response = await page.goto(url, wait_until="domcontentloaded", timeout=timeout_s * 1000)
    except PlaywrightTimeoutError as exc:
        raise CaptureError(url, f"navigation timed out after {timeout_s:g} s") from exc
    except PlaywrightError as exc:
        raise CaptureError(url, describe_navigation_error(exc)) from exc
    if response is None:
        raise CaptureError(url, "the browser got no main document response")
    return response


def is_html(content_type: str | None) -> bool:
    """A missing Content-Type counts as HTML: the browser sniffed it and rendered a page."""
    if not content_type:
        return True
    return content_type.split(";", 1)[0].strip().lower() in HTML_TYPES


def redirect_chain(response: Response) -> list[str]:
    """URLs the navigation passed through before the final response, oldest first."""
    chain: list[str] = []
    request = response.request.redirected_from
    while request is not None:
        chain.append(request.url)
        request = request.redirected_from
    return chain[::-1]
