"""The store interface. SQLite (default, embedded) implements it; Elasticsearch will too.

Everything above the store (pipelines, the review workspace, the CLI) talks only to this
interface, so a backend is chosen by configuration and the contract tests are shared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

# LedgerConflictError is re-exported: backends raise it from append_ledger.
from evidence.ledger import LedgerConflictError as LedgerConflictError
from evidence.ledger import LedgerEntry
from marketguard.models import SEVERITY_ORDER, Evidence, Flag, Listing, PageError, Review

# Default points per severity when a caller stores flags without a risk score (the same defaults
# as matching/risk.py; the store does not import matching, data flows the other way).
_IMPLIED_POINTS = {"high": 45, "medium": 25, "low": 10}


def implied_risk_score(flags: list[Flag]) -> int:
    """0-100 from the flags' severities, one rule counted once, combined noisy-OR."""
    best: dict[str, int] = {}
    for flag in flags:
        points = _IMPLIED_POINTS.get(flag.severity, 0)
        best[flag.rule_id] = max(points, best.get(flag.rule_id, 0))
    remaining = 100.0
    for points in best.values():
        remaining -= remaining * points / 100
    return round(100 - remaining)


def clamp_risk_score(score: int | None, flags: list[Flag]) -> int:
    """The score to store: the caller's, bounded to 0-100, or the one implied by the flags."""
    if score is None or isinstance(score, bool):
        return implied_risk_score(flags)
    return max(0, min(100, int(score)))


SHA256_HEX = re.compile(r"[0-9a-f]{64}")  # a blob's name


def check_flags(flags: list[Flag]) -> None:
    """What every backend refuses before writing flags."""
    for flag in flags:
        if flag.severity not in SEVERITY_ORDER:
            raise ValueError(f"flag {flag.rule_id!r} has unknown severity {flag.severity!r}")
        if not flag.rule_id:
            raise ValueError("a flag needs a rule_id")


def check_evidence(listing: Listing, evidence: Evidence) -> None:
    """What every backend refuses before writing a capture with its listing."""
    if (evidence.platform, evidence.listing_id) != (listing.platform, listing.listing_id):
        raise ValueError(
            f"evidence {evidence.capture_id} is for {evidence.platform}:{evidence.listing_id},"
            f" not {listing.key}"
        )
    if not evidence.capture_id:
        raise ValueError("evidence needs a capture_id")
    for artifact in evidence.artifacts:
        if not SHA256_HEX.fullmatch(artifact.sha256):
            raise ValueError(f"artifact {artifact.kind} has a malformed sha256 {artifact.sha256!r}")


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
    risk_score: int = 0  # 0-100 (matching/risk.py); the queue is ordered by it
    seller_id: str = ""
    # Opaque keyset position of this row in queue order: pass it as QueueFilter.after to get
    # the rows after it. Only meaningful to the backend that made it.
    cursor: str = ""


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
    gone_at: datetime | None = None  # set when a complete pass no longer found it
    risk_score: int = 0  # 0-100, as stored with the latest save


@dataclass(slots=True)
class QueueFilter:
    """Which flagged listings, and which page of them. Every filter is optional; they combine
    with AND. ``text`` is a substring search (case-insensitive for Latin letters) over the
    title, the seller's name and the description of the latest version. ``region`` matches the
    start of the seller's location ("广东" matches "广东深圳"). ``found_from``/``found_to``
    bound ``first_seen`` (from inclusive, to exclusive). ``after`` is a FlaggedRow.cursor:
    the page then starts after that row (keyset paging, fast however deep) and ``offset`` is
    ignored."""

    category: str | None = None
    rule_id: str | None = None
    decision: str | None = None  # "confirmed", "dismissed", or "unreviewed"
    limit: int = 50
    offset: int = 0
    platform: str | None = None
    region: str | None = None
    found_from: datetime | None = None
    found_to: datetime | None = None
    text: str | None = None
    after: str | None = None


# What a QueueFilter selects by (not paging): its identity for caches and audit records.
FILTER_FIELDS: tuple[str, ...] = (
    "category",
    "rule_id",
    "decision",
    "platform",
    "region",
    "found_from",
    "found_to",
    "text",
)


@dataclass(slots=True)
class ListingState:
    """What an incremental pass needs to know about a stored listing (no content)."""

    listing_id: str
    url: str
    content_hash: str  # Listing.content_hash() of the latest version
    last_seen: datetime
    search_keyword: str  # the keyword whose search last found it
    gone_at: datetime | None = None  # when a complete pass last missed it; None while listed
    # Flagged, yet no evidence was ever stored for it (its capture failed or was off): a pass
    # that captures treats it as changed, so an unchanged listing still gets its evidence.
    needs_evidence: bool = False


@dataclass(slots=True)
class WorkClaim:
    """The answer to ``claim_work``: "claimed" (the caller does the work, then ``finish_work``),
    "done" (it was done before; ``result`` is what was recorded) or "busy" (another worker
    holds an unexpired lease on it; try later)."""

    state: str  # "claimed" | "done" | "busy"
    result: dict[str, Any] | None = None


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

    # --- once-only work of the Celery workers (marketguard/distributed/tasks.py) ------
    def claim_work(self, key: str, owner: str, lease_seconds: float) -> WorkClaim:
        """Take ``key`` for ``owner`` unless it is done or another owner's lease is unexpired.

        A worker that dies holding a lease loses it when the lease runs out, so the task,
        delivered again, is claimed again and done once.
        """
        ...

    def finish_work(self, key: str, owner: str, result: dict[str, Any]) -> None:
        """Record ``key`` as done with ``result`` (a later claim answers "done" with it)."""
        ...

    def work_results(self, prefix: str) -> list[dict[str, Any]]:
        """The results of the done work whose keys start with ``prefix`` (a run's stores)."""
        ...

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
        risk_score: int | None = None,
    ) -> SavedListing:
        """Upsert by (platform, listing_id), keeping earlier versions; one atomic write.

        ``risk_score`` (0-100) is the listing's current score; None stores the score implied
        by the flags' severities (high 45, medium 25, low 10, combined like matching.risk with
        its default points), so callers that do not score still get a sensible queue order.
        """
        ...

    def record_error(self, error: PageError, pass_id: int | None = None) -> None: ...

    # --- incremental passes (crawlers/pipelines/incremental.py, docs/crawling.md) -------------
    def listing_states(self, platform: str) -> dict[str, ListingState]:
        """Every stored listing of ``platform`` by listing_id, gone ones included; one read."""
        ...

    def touch_listing(
        self, platform: str, listing_id: str, seen_at: datetime, pass_id: int | None = None
    ) -> bool:
        """Seen again with unchanged content: ``last_seen`` moves forward (never back) and a
        gone mark is cleared; no new version, flags and evidence untouched. False when the
        store does not hold the listing (nothing written)."""
        ...

    def mark_gone(
        self,
        platform: str,
        *,
        not_seen_since: datetime,
        search_keywords: list[str] | None = None,
        keep: set[str] | frozenset[str] = frozenset(),
        gone_at: datetime | None = None,
    ) -> int:
        """After a complete pass: mark gone (at ``gone_at``, default now) the listings of
        ``platform`` last seen before ``not_seen_since`` and not gone already, limited to those
        found by one of ``search_keywords`` when given, except the listing_ids in ``keep``.
        ``last_seen`` is left as it was (the time it was last seen). A later save or touch
        clears the mark. Returns how many were marked."""
        ...

    # --- content-addressed blobs --------------------------------------------------------
    def put_blob(self, data: bytes) -> str:
        """Store bytes under their SHA-256 (hex); idempotent. Returns the hash. Thread-safe:
        the capturer calls it from worker threads, possibly twice at once with equal bytes."""
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
    def flagged(self, query: QueueFilter) -> list[FlaggedRow]:
        """A page of the review queue: risk score first (highest first), then severity, then
        the most recently seen, then newest id; filters from ``query``."""
        ...

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

    def seller_listings(self, platform: str, seller_id: str, limit: int = 100) -> list[FlaggedRow]:
        """Every stored listing of one seller (flagged or not, gone ones included), in queue
        order; an unflagged one has max_severity "none" and risk_score 0. Empty for an empty
        seller_id."""
        ...

    def queue_stats(self, query: QueueFilter) -> dict[str, dict[str, int]]:
        """Counts of the flagged listings ``query`` selects (its paging ignored) by
        "category", "platform", "region" (seller location as stored), "rule" (a listing counts
        once under each of its rules), "decision" ("unreviewed" for none) and "week" (ISO week
        of first_seen in UTC, "2026-W48"); each dict ordered by count, largest first, except
        "week" which is in time order."""
        ...

    def confirmed_seller_ids(self) -> set[str]:
        """Sellers with a listing whose latest review decision is "confirmed", as
        "platform:seller_id" (matching.context.seller_key): the repeat offenders (回头看).
        Listings without a seller id are left out."""
        ...

    # --- evidence records -----------------------------------------------------------------
    def get_evidence(self, capture_id: str) -> Evidence | None:
        """The capture record saved with ``save_listing``; None when the archive has none."""
        ...

    def capture_ids(self, case_id: str | None = None) -> list[str]:
        """Capture ids of every saved Evidence (of one case when ``case_id`` is given), oldest
        capture first (``started_at``, then insertion order)."""
        ...

    # --- the evidence ledger (see evidence/ledger.py) --------------------------------------
    def ledger_head(self) -> LedgerEntry | None:
        """The entry at the last storage position, as stored; None for an empty ledger."""
        ...

    def append_ledger(self, entry: LedgerEntry) -> None:
        """Append one sealed entry at the next storage position, atomically with the check
        ``evidence.ledger.check_extends(head, entry)`` (seq is head.seq + 1, prev_hash is the
        head's entry_hash): LedgerConflictError when another writer appended first (the caller
        rebuilds and retries), ValueError for an unsealed entry. Entries are never updated or
        deleted by the store; there is no method to do so."""
        ...

    def ledger_entries(self, after_position: int = 0, limit: int = 1000) -> list[LedgerEntry]:
        """Entries in storage order (positions after_position+1 .. after_position+limit),
        exactly as stored and not re-validated: ``verify`` must see an entry out of place
        or edited. The storage position is the backend's own key, not the entry's seq field."""
        ...

    def ledger_entries_for(
        self, *, capture_id: str | None = None, case_id: str | None = None
    ) -> list[LedgerEntry]:
        """Entries naming this capture and/or case, in storage order."""
        ...

    def last_checkpoint(self) -> LedgerEntry | None:
        """The checkpoint entry at the highest storage position; None before the first."""
        ...

    def close(self) -> None: ...
