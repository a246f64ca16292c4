"""The store interface. SQLite (default, embedded) implements it; Elasticsearch will too.

Everything above the store (pipelines, the review workspace, the CLI) talks only to this
interface, so a backend is chosen by configuration and the contract tests are shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from marketguard.models import Evidence, Flag, Listing, PageError, Review


class UnknownListingError(LookupError):
    """A write (a review) names a listing the store has never seen."""


class BlobCorruptedError(ValueError):
    """A stored blob's bytes no longer hash to its name (damaged or tampered with)."""


@dataclass(slots=True)
class SavedListing:
    version: int  # 1 for the first version seen; grows only when the content changed
    changed: bool  # True when this save created a new version (or the first one)


@dataclass(slots=True)
class FlaggedRow:
    """One line of the review queue."""

    platform: str
    listing_id: str
    title: str
    url: str
    price: str | None
    currency: str
    category: str
    seller_name: str
    seller_location: str
    rule_ids: list[str]
    max_severity: str  # "high" | "medium" | "low"
    flag_count: int
    first_seen: datetime
    last_seen: datetime
    decision: str | None  # latest review decision, None when not reviewed
    screenshot_sha256: str | None  # latest capture's full-page screenshot


@dataclass(slots=True)
class ListingRecord:
    """Everything the detail page shows about one listing."""

    listing: Listing  # the latest version
    version: int
    first_seen: datetime
    last_seen: datetime
    flags: list[Flag]  # flags of the latest version
    evidence: list[Evidence]  # newest first
    reviews: list[Review]  # newest first


@dataclass(slots=True)
class QueueFilter:
    category: str | None = None
    rule_id: str | None = None
    decision: str | None = None  # "confirmed", "dismissed", or "unreviewed"
    limit: int = 50
    offset: int = 0


@dataclass(slots=True)
class PassRecord:
    pass_id: int
    started_at: datetime
    finished_at: datetime | None
    summary: dict[str, Any] = field(default_factory=dict)


class Archive(Protocol):
    """A store for listings, flags, evidence, reviews, errors and the blobs they reference."""

    location: str  # human-readable place of the store (a path or a URL)

    # --- monitoring passes ------------------------------------------------------------
    def begin_pass(self, settings: dict[str, Any] | None = None) -> int: ...

    def finish_pass(self, pass_id: int, summary: dict[str, Any]) -> None: ...

    def get_pass(self, pass_id: int) -> PassRecord | None: ...

    def latest_pass(self) -> PassRecord | None:
        """The most recently begun pass, finished or not; None before the first pass."""
        ...

    # --- writes from the crawl pipeline -------------------------------------------------
    def save_listing(
        self,
        listing: Listing,
        flags: list[Flag],
        evidence: Evidence | None = None,
        pass_id: int | None = None,
    ) -> SavedListing:
        """Upsert by (platform, listing_id), keeping earlier versions; one atomic write."""
        ...

    def record_error(self, error: PageError, pass_id: int | None = None) -> None: ...

    # --- content-addressed blobs --------------------------------------------------------
    def put_blob(self, data: bytes) -> str:
        """Store bytes under their SHA-256 (hex); idempotent. Returns the hash."""
        ...

    def read_blob(self, sha256: str) -> bytes:
        """The stored bytes, checked against their name. ValueError for a name that is not 64
        lowercase hex digits, BlobCorruptedError (a ValueError) for bytes that no longer hash to
        it, FileNotFoundError for an unknown blob."""
        ...

    def blob_path(self, sha256: str) -> Path | None:
        """Where the blob lives on local disk, when the backend keeps it there."""
        ...

    # --- reads and decisions for the review workspace ----------------------------------
    def flagged(self, query: QueueFilter) -> list[FlaggedRow]: ...

    def count_flagged(self, query: QueueFilter) -> int: ...

    def get_listing(self, platform: str, listing_id: str) -> ListingRecord | None: ...

    def add_review(self, review: Review) -> None:
        """Append a decision. ValueError for a bad decision or an empty reviewer,
        UnknownListingError for a listing the store does not hold."""
        ...

    def errors(self, pass_id: int | None = None, limit: int = 100) -> list[PageError]:
        """Recorded errors, newest first; of one pass, or of all passes when pass_id is None."""
        ...

    def facets(self) -> dict[str, dict[str, int]]:
        """Counts of flagged listings by "category" and by "rule" (for the queue's filters)."""
        ...

    def close(self) -> None: ...
