"""Whether a failed task should try again, and how long it waits first (every task module)."""

from __future__ import annotations

import sqlite3


class TransientError(Exception):
    """Worth trying again later: the store or the network was briefly away."""


def _elasticsearch_errors() -> tuple[type[BaseException], ...]:
    try:
        from elasticsearch import ConnectionError as EsConnectionError
        from elasticsearch import ConnectionTimeout
    except ImportError:  # the SQLite store needs no client
        return ()
    return (EsConnectionError, ConnectionTimeout)


def is_transient(exc: BaseException) -> bool:
    """Worth trying again shortly: the same call may well succeed."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return "locked" in text or "busy" in text
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return False  # a missing or unreadable file stays so
    # OSError covers network errors, timeouts and the store's ArchiveUnavailableError.
    return isinstance(exc, (OSError, *_elasticsearch_errors()))


def backoff(retries: int, *, longest: float = 300.0) -> float:
    """Seconds before retry ``retries`` + 1: 2, 4, 8, 16, 32, ... up to ``longest``."""
    return float(min(longest, 2.0 * 2**retries))
