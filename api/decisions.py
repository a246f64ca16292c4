"""Officers' decisions on listings: confirm, dismiss (with a reason), ask for a re-check; one at
a time or over a filtered set. Each one is written to the audit log with the state before and
after. Decisions live in the evidence store (its reviews); re-check requests are workspace data
(``home/workspace.db``), since they are work orders, not findings.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from api.accounts import audit
from api.workspace_db import WorkspaceDb, from_text, to_text
from evidence.archive.base import (
    FILTER_FIELDS,
    Archive,
    ListingRecord,
    QueueFilter,
    UnknownListingError,
)
from marketguard.models import Review

Action = Literal["confirmed", "dismissed", "recheck"]
ACTIONS: tuple[str, ...] = ("confirmed", "dismissed", "recheck")
BULK_MAX = 1000  # one bulk action touches at most this many listings
BULK_PAGE = 200

RECHECK_SCHEMA = """
CREATE TABLE IF NOT EXISTS recheck_requests (
    request_id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL,
    listing_id TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    done_at TEXT
);
CREATE INDEX IF NOT EXISTS recheck_requests_listing ON recheck_requests(platform, listing_id);
CREATE INDEX IF NOT EXISTS recheck_requests_open ON recheck_requests(requested_at)
    WHERE done_at IS NULL;
"""


class DecisionError(ValueError):
    """A decision that cannot be taken as asked (unknown action, dismissal without reason)."""


@dataclass(frozen=True, slots=True)
class RecheckRequest:
    request_id: int
    platform: str
    listing_id: str
    reason: str
    requested_by: str
    requested_at: datetime
    done_at: datetime | None


@dataclass(slots=True)
class BulkResult:
    matched: int  # listings the filter selected (up to BULK_MAX + 1)
    applied: int
    skipped: int  # already in the requested state
    truncated: bool  # the filter selected more than BULK_MAX


def ensure_schema(db: WorkspaceDb) -> None:
    db.conn().executescript(RECHECK_SCHEMA)


def _target(platform: str, listing_id: str) -> str:
    return f"listing:{platform}/{listing_id}"


def latest_decision(record: ListingRecord) -> str | None:
    return record.reviews[0].decision if record.reviews else None


def decide(
    archive: Archive,
    db: WorkspaceDb,
    actor: str,
    record: ListingRecord,
    action: str,
    reason: str = "",
    *,
    via: str = "",
) -> None:
    """Apply one decision to ``record`` and audit it. DecisionError for a bad action or a
    dismissal without a reason; UnknownListingError when the store lost the listing."""
    reason = reason.strip()
    listing = record.listing
    if action not in ACTIONS:
        raise DecisionError(f"unknown action {action!r}; one of {ACTIONS}")
    if action == "dismissed" and not reason:
        raise DecisionError("a dismissal needs a reason")
    if action == "recheck":
        request_recheck(db, actor, listing.platform, listing.listing_id, reason, via=via)
        return
    review = Review(listing.platform, listing.listing_id, action, actor, reason)  # type: ignore[arg-type]
    archive.add_review(review)
    before = record.reviews[0].to_dict() if record.reviews else None
    after = review.to_dict() | ({"via": via} if via else {})
    audit.record(db, actor, f"review.{action}", _target(*_key(record)), before=before, after=after)


def _key(record: ListingRecord) -> tuple[str, str]:
    return record.listing.platform, record.listing.listing_id


def request_recheck(
    db: WorkspaceDb, actor: str, platform: str, listing_id: str, reason: str, *, via: str = ""
) -> int:
    ensure_schema(db)
    with db.write() as conn:
        open_before = _open_requests(conn, platform, listing_id)
        request_id = conn.execute(
            "INSERT INTO recheck_requests(platform, listing_id, reason, requested_by,"
            " requested_at) VALUES (?, ?, ?, ?, ?)",
            (platform, listing_id, reason, actor, to_text(db.now())),
        ).lastrowid
        after = {"request_id": request_id, "reason": reason} | ({"via": via} if via else {})
        audit.record(
            db,
            actor,
            "review.recheck",
            _target(platform, listing_id),
            before={"open_rechecks": open_before},
            after=after,
            conn=conn,
        )
    return int(request_id or 0)


def _open_requests(conn: sqlite3.Connection, platform: str, listing_id: str) -> int:
    row = conn.execute(
        "SELECT COUNT(*) FROM recheck_requests WHERE platform = ? AND listing_id = ?"
        " AND done_at IS NULL",
        (platform, listing_id),
    ).fetchone()
    return int(row[0])


def rechecks(
    db: WorkspaceDb,
    platform: str | None = None,
    listing_id: str | None = None,
    *,
    open_only: bool = False,
    limit: int = 200,
) -> list[RecheckRequest]:
    """Newest first; of one listing when given."""
    ensure_schema(db)
    where, params = [], []
    if platform is not None and listing_id is not None:
        where.append("platform = ? AND listing_id = ?")
        params += [platform, listing_id]
    if open_only:
        where.append("done_at IS NULL")
    sql = "SELECT * FROM recheck_requests"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = db.conn().execute(sql + " ORDER BY request_id DESC LIMIT ?", [*params, limit])
    return [
        RecheckRequest(
            r["request_id"],
            r["platform"],
            r["listing_id"],
            r["reason"],
            r["requested_by"],
            from_text(r["requested_at"]) or db.now(),
            from_text(r["done_at"]),
        )
        for r in rows
    ]


def bulk_decide(
    archive: Archive,
    db: WorkspaceDb,
    actor: str,
    query: QueueFilter,
    action: str,
    reason: str = "",
    *,
    limit: int = BULK_MAX,
) -> BulkResult:
    """The decision on every listing ``query`` selects, up to ``limit``; nothing at all when the
    filter selects more (the officer narrows it first: a bulk action is never a silent
    partial one). Listings already in the requested state are skipped. One summary audit entry
    names the filter and the counts; each listing gets its own entry too."""
    if action not in ACTIONS:
        raise DecisionError(f"unknown action {action!r}; one of {ACTIONS}")
    if action == "dismissed" and not reason.strip():
        raise DecisionError("a dismissal needs a reason")
    keys: list[tuple[str, str, str | None]] = []
    after: str | None = None
    while len(keys) <= limit:
        page = archive.flagged(
            QueueFilter(
                category=query.category,
                rule_id=query.rule_id,
                decision=query.decision,
                platform=query.platform,
                region=query.region,
                found_from=query.found_from,
                found_to=query.found_to,
                text=query.text,
                limit=BULK_PAGE,
                after=after,
            )
        )
        keys += [(r.platform, r.listing_id, r.decision) for r in page]
        if len(page) < BULK_PAGE:
            break
        after = page[-1].cursor
    if len(keys) > limit:
        return BulkResult(matched=len(keys), applied=0, skipped=0, truncated=True)
    applied = skipped = 0
    for platform, listing_id, decision in keys:
        if action != "recheck" and decision == action:
            skipped += 1
            continue
        record = archive.get_listing(platform, listing_id)
        if record is None:
            skipped += 1
            continue
        try:
            decide(archive, db, actor, record, action, reason, via="bulk")
        except UnknownListingError:
            skipped += 1
            continue
        applied += 1
    audit.record(
        db,
        actor,
        f"bulk.{action}",
        "queue",
        before={"filter": _filter_dict(query), "matched": len(keys)},
        after={"applied": applied, "skipped": skipped, "reason": reason.strip()},
    )
    return BulkResult(matched=len(keys), applied=applied, skipped=skipped, truncated=False)


def _filter_dict(query: QueueFilter) -> dict[str, object]:
    return {n: getattr(query, n) for n in FILTER_FIELDS if getattr(query, n) not in (None, "")}
