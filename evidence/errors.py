"""The one exception the capture raises: a page that could not be preserved at all."""

from __future__ import annotations


class CaptureError(Exception):
    """The page could not be captured (unreachable, timed out, not HTML, browser gone).

    The message names the URL and the cause, so it can be stored as a PageError as is.
    Partial failures (an unreadable image) do not raise; they go to ``Evidence.errors``.
    """

    def __init__(self, url: str, cause: str) -> None:
        super().__init__(f"capture of {url} failed: {cause}")
        self.url = url
        self.cause = cause
