"""Notices: made from confirmed violations, pulled by the platform they concern, moved through
the state machine by platform reports, officers and re-checks.

Every notice has a place in the feed (``feed_seq``, from one counter, never reused). A notice
gets a new place, and a new ``date_added``, when it is created and when it is reopened, so a
platform that resumes its pull from its last cursor sees it again exactly then.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.accounts import audit
from api.feed import webhooks
from api.feed.config import ACTIONS, FeedConfig
from api.feed.states import (
    AWAITING_PLATFORM,
    LABELS_ZH,
    OFFICER_MOVES,
    SYSTEM_MOVES,
    TransitionError,
    check_move,
    check_platform_move,
)
from api.workspace_db import WorkspaceDb, from_text, to_text
from evidence.archive.base import ListingRecord

ISSUER = "市场监督管理部门 · MarketGuard"
NOTICE_TYPE = "marketguard-notice"
SPEC_VERSION = "1.0"


class NotConfirmedError(ValueError):
    """A notice names a listing whose latest review is not a confirmed violation."""


class DuplicateNoticeError(ValueError):
    """The listing has a notice that is not closed yet."""

    def __init__(self, message: str, notice_ids: list[str]) -> None:
        super().__init__(message)
        self.notice_ids = notice_ids


class UnknownNoticeError(LookupError):
    pass


class BadCursorError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Page:
    objects_json: list[str]  # each notice as JSON text (``view_json``)
    more: bool
    next: str | None
    first_added: str | None
    last_added: str | None

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [json.loads(text) for text in self.objects_json]

    def envelope_json(self) -> str:
        """The TAXII-style envelope as JSON text."""
        head = json.dumps({"more": self.more, "next": self.next})[:-1]
        return f'{head}, "objects": [{", ".join(self.objects_json)}]}}'


# --- cursors ----------------------------------------------------------------------------------
def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, seq = raw.split(":", 1)
        if version != "v1" or not seq.isdigit():
            raise ValueError(raw)
        return int(seq)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise BadCursorError("next is not a cursor this server gave out") from exc


# --- making notices ---------------------------------------------------------------------------
def build_payload(record: ListingRecord, notice_id: str, action: str, note: str) -> dict[str, Any]:
    """What the platform needs to find the listing and check our claim, frozen at creation."""
    listing = record.listing
    capture = record.evidence[0] if record.evidence else None
    evidence: dict[str, Any] | None = None
    if capture is not None:
        shot = capture.artifact("screenshot")
        evidence = {
            "capture_id": capture.capture_id,
            "captured_at": capture.started_at.isoformat(),
            "url": capture.url,
            "final_url": capture.final_url,
            "http_status": capture.http_status,
            "screenshot": (
                {
                    "sha256": shot.sha256,
                    "size": shot.size,
                    "url": f"/feed/v1/notices/{notice_id}/screenshot",
                }
                if shot
                else None
            ),
            "artifacts": [
                {"kind": a.kind, "media_type": a.media_type, "sha256": a.sha256, "size": a.size}
                | ({"source_url": a.source_url} if a.source_url else {})
                for a in capture.artifacts
            ],
        }
    seller = listing.seller
    rules = [
        {
            "rule_id": flag.rule_id,
            "severity": flag.severity,
            "reason": flag.reason,
            "legal_basis": flag.legal_basis,
            "snippet": flag.snippet,
        }
        for flag in record.flags
    ]
    return {
        "type": NOTICE_TYPE,
        "spec_version": SPEC_VERSION,
        "id": notice_id,
        "issuer": ISSUER,
        "platform": listing.platform,
        "listing": {
            "listing_id": listing.listing_id,
            "url": listing.url,
            "title": listing.title,
            "seller": (
                {"seller_id": seller.seller_id, "name": seller.name, "url": seller.url}
                if seller
                else None
            ),
            "first_seen": record.first_seen.isoformat(),
            "last_seen": record.last_seen.isoformat(),
        },
        "rules": rules,
        "legal_basis": sorted({r["legal_basis"] for r in rules if r["legal_basis"]}),
        "requested_action": action,
        "note": note,
        "evidence": evidence,
    }


def _image_hashes(payload: dict[str, Any]) -> list[str]:
    evidence = payload.get("evidence") or {}
    return [a["sha256"] for a in evidence.get("artifacts", []) if a["kind"] == "image"]


def create_notices(
    db: WorkspaceDb,
    records: list[ListingRecord],
    *,
    action: str,
    actor: str,
    note: str = "",
    config: FeedConfig | None = None,
) -> list[dict[str, Any]]:
    """One notice per listing, all or none. Every listing's latest review must be a confirmed
    violation, and none may have a notice that is not closed."""
    config = config or FeedConfig()
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    for record in records:
        latest = record.reviews[0].decision if record.reviews else None
        if latest != "confirmed":
            key = f"{record.listing.platform}:{record.listing.listing_id}"
            raise NotConfirmedError(f"{key} is not a confirmed violation (latest: {latest})")
    now = db.now()
    made: list[str] = []
    with db.write() as conn:
        for record in records:
            platform, listing_id = record.listing.platform, record.listing.listing_id
            open_ids = [
                row[0]
                for row in conn.execute(
                    "SELECT notice_id FROM notices WHERE platform = ? AND listing_id = ?"
                    " AND status != 'closed'",
                    (platform, listing_id),
                )
            ]
            if open_ids:
                raise DuplicateNoticeError(
                    f"{platform}:{listing_id} has an open notice already", open_ids
                )
            seq = db.next_value(conn, "feed")
            notice_id = f"MGN-{db.next_value(conn, 'notice'):08d}"
            payload = build_payload(record, notice_id, action, note)
            payload["created"] = to_text(now)
            conn.execute(
                "INSERT INTO notices(notice_id, feed_seq, platform, listing_id, url, action,"
                " payload_json, status, created_by, created_at, date_added, deadline,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'new', ?, ?, ?, ?, ?)",
                (
                    notice_id,
                    seq,
                    platform,
                    listing_id,
                    record.listing.url,
                    action,
                    json.dumps(payload, ensure_ascii=False),
                    actor,
                    to_text(now),
                    to_text(now),
                    to_text(now + config.deadline_for(action)),
                    to_text(now),
                ),
            )
            _event(conn, db, notice_id, actor, "", "new", note)
            row = _row(conn, notice_id)
            audit.record(
                db, actor, "notice.create", f"notice:{notice_id}", after=view(row, now), conn=conn
            )
            webhooks.enqueue(conn, db, "notice.created", view(row, now))
            made.append(notice_id)
        return [view(_row(conn, notice_id), now) for notice_id in made]


# --- reading ----------------------------------------------------------------------------------
def _row(conn: sqlite3.Connection, notice_id: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM notices WHERE notice_id = ?", (notice_id,)).fetchone()
    if row is None:
        raise UnknownNoticeError(notice_id)
    return row


def is_overdue(row: sqlite3.Row, now: datetime) -> bool:
    deadline = from_text(row["deadline"])
    return row["status"] in AWAITING_PLATFORM and deadline is not None and deadline < now


def _live(row: sqlite3.Row, now: datetime) -> dict[str, Any]:
    """The fields that change after creation (the payload itself never does)."""
    return {
        "date_added": row["date_added"],
        "modified": row["updated_at"],
        "deadline": row["deadline"],
        "overdue": is_overdue(row, now),
        "status": row["status"],
        "status_label": LABELS_ZH[row["status"]],
        "status_reason": row["reason"],
        "received_at": row["received_at"],
        "removed_at": row["removed_at"],
        "closed_at": row["closed_at"],
        "reopen_count": row["reopen_count"],
        "recheck_due_at": row["recheck_due_at"],
        "recheck_result": row["recheck_result"],
    }


def view(row: sqlite3.Row, now: datetime) -> dict[str, Any]:
    """The notice as the API shows it: the frozen payload and its live status."""
    return {**json.loads(row["payload_json"]), **_live(row, now)}


def view_json(row: sqlite3.Row, now: datetime) -> str:
    """``view`` as JSON text, spliced from the stored payload text without parsing it: the
    feed page is the hot path, and decoding and re-encoding 100 frozen payloads per page cost
    most of its time. The two objects have no key in common."""
    live = json.dumps(_live(row, now), ensure_ascii=False)
    return row["payload_json"][:-1] + ", " + live[1:]


def get_notice(db: WorkspaceDb, notice_id: str) -> dict[str, Any]:
    return view(_row(db.conn(), notice_id), db.now())


def notice_platform(db: WorkspaceDb, notice_id: str) -> str | None:
    row = (
        db.conn()
        .execute("SELECT platform FROM notices WHERE notice_id = ?", (notice_id,))
        .fetchone()
    )
    return str(row[0]) if row else None


def pull(
    db: WorkspaceDb,
    platform: str,
    *,
    added_after: datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> Page:
    """Notices of ``platform`` in feed order. Resume with ``cursor`` (the last page's ``next``):
    the same cursor gives the same page, and nothing is skipped."""
    where, params = ["platform = ?"], [platform]
    if cursor:
        where.append("feed_seq > ?")
        params.append(decode_cursor(cursor))  # type: ignore[arg-type]
    if added_after is not None:
        where.append("date_added > ?")
        params.append(to_text(added_after))
    rows = (
        db.conn()
        .execute(
            f"SELECT * FROM notices WHERE {' AND '.join(where)} ORDER BY feed_seq LIMIT ?",
            [*params, limit + 1],
        )
        .fetchall()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    now = db.now()
    # With nothing new the caller keeps its place: the same cursor comes back.
    next_cursor = encode_cursor(int(rows[-1]["feed_seq"])) if rows else cursor
    return Page(
        objects_json=[view_json(row, now) for row in rows],
        more=more,
        next=next_cursor,
        first_added=rows[0]["date_added"] if rows else None,
        last_added=rows[-1]["date_added"] if rows else None,
    )


def list_notices(
    db: WorkspaceDb,
    *,
    platform: str | None = None,
    status: str | None = None,
    overdue: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[dict[str, Any]]]:
    """(total, notices newest first) for officers and exports."""
    now = db.now()
    where, params = [], []
    if platform:
        where.append("platform = ?")
        params.append(platform)
    if status:
        where.append("status = ?")
        params.append(status)
    if overdue is not None:
        awaiting = ", ".join(f"'{s}'" for s in sorted(AWAITING_PLATFORM))
        clause = f"(status IN ({awaiting}) AND deadline < ?)"
        where.append(clause if overdue else f"NOT {clause}")
        params.append(to_text(now))
    sql_where = f" WHERE {' AND '.join(where)}" if where else ""
    conn = db.conn()
    total = int(conn.execute(f"SELECT count(*) FROM notices{sql_where}", params).fetchone()[0])
    rows = conn.execute(
        f"SELECT * FROM notices{sql_where} ORDER BY feed_seq DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    return total, [view(row, now) for row in rows]


def events(db: WorkspaceDb, notice_id: str) -> list[dict[str, Any]]:
    rows = (
        db.conn()
        .execute(
            "SELECT at, actor, from_status, to_status, reason FROM notice_events"
            " WHERE notice_id = ? ORDER BY event_id",
            (notice_id,),
        )
        .fetchall()
    )
    return [dict(row) for row in rows]


# --- moving notices ---------------------------------------------------------------------------
def _event(
    conn: sqlite3.Connection,
    db: WorkspaceDb,
    notice_id: str,
    actor: str,
    before: str,
    after: str,
    reason: str,
) -> None:
    conn.execute(
        "INSERT INTO notice_events(notice_id, at, actor, from_status, to_status, reason)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (notice_id, to_text(db.now()), actor, before, after, reason),
    )


def _apply(
    conn: sqlite3.Connection,
    db: WorkspaceDb,
    row: sqlite3.Row,
    wanted: str,
    actor: str,
    reason: str,
    config: FeedConfig,
) -> sqlite3.Row:
    """Write an allowed move: status, its timestamps, the event, the audit entry, webhooks."""
    now = db.now()
    notice_id, current = row["notice_id"], row["status"]
    sets = {"status": wanted, "reason": reason, "updated_at": to_text(now)}
    if wanted == "received" and row["received_at"] is None:
        sets["received_at"] = to_text(now)
    if wanted == "removed":
        sets["removed_at"] = to_text(now)
        sets["recheck_due_at"] = to_text(now + config.recheck_delay)
    if wanted == "closed":
        sets["closed_at"] = to_text(now)
        sets["recheck_due_at"] = None  # type: ignore[assignment]
    if wanted == "reopened":
        sets["feed_seq"] = db.next_value(conn, "feed")  # type: ignore[assignment]
        sets["date_added"] = to_text(now)
        sets["recheck_due_at"] = None  # type: ignore[assignment]
        sets["reopen_count"] = int(row["reopen_count"]) + 1  # type: ignore[assignment]
        # A reopened notice gets a fresh deadline for the same action.
        sets["deadline"] = to_text(now + config.deadline_for(row["action"]))
        sets["overdue_at"] = None  # type: ignore[assignment]
    assignments = ", ".join(f"{name} = ?" for name in sets)
    conn.execute(
        f"UPDATE notices SET {assignments} WHERE notice_id = ?", [*sets.values(), notice_id]
    )
    _event(conn, db, notice_id, actor, current, wanted, reason)
    updated = _row(conn, notice_id)
    audit.record(
        db,
        actor,
        f"notice.{wanted}",
        f"notice:{notice_id}",
        before={"status": current, "reason": row["reason"]},
        after={"status": wanted, "reason": reason},
        conn=conn,
    )
    if wanted in ("reopened", "closed"):
        webhooks.enqueue(conn, db, f"notice.{wanted}", view(updated, now))
    if wanted == "reopened":
        notify(conn, db, "notice.reopened", notice_id, f"通知 {notice_id} 已重新打开：{reason}")
    return updated


def report_status(
    db: WorkspaceDb,
    platform: str,
    actor: str,
    notice_id: str,
    wanted: str,
    reason: str = "",
    config: FeedConfig | None = None,
) -> tuple[dict[str, Any], bool]:
    """A platform's report. (notice, changed): a report repeating the current state (same
    reason), or ``received`` once the platform has moved past it, changes nothing.
    UnknownNoticeError for another platform's notice (it does not exist, as far as the caller
    can tell); TransitionError for a move the state machine refuses."""
    config = config or FeedConfig()
    reason = reason.strip()
    with db.write() as conn:
        row = conn.execute(
            "SELECT * FROM notices WHERE notice_id = ? AND platform = ?", (notice_id, platform)
        ).fetchone()
        if row is None:
            raise UnknownNoticeError(notice_id)
        current = row["status"]
        same_reason = reason == row["reason"] or wanted in ("received", "removed")
        repeat = current == wanted and same_reason
        late_receipt = wanted == "received" and current in ("removed", "rejected", "disputed")
        if repeat or late_receipt:
            return view(row, db.now()), False
        if current == wanted:
            raise TransitionError(
                "conflicting_report",
                f"the notice is {current} already, with a different reason",
                current,
                frozenset(),
            )
        check_platform_move(current, wanted, reason)
        updated = _apply(conn, db, row, wanted, actor, reason, config)
        return view(updated, db.now()), True


def officer_move(
    db: WorkspaceDb,
    notice_id: str,
    wanted: str,
    actor: str,
    reason: str,
    config: FeedConfig | None = None,
) -> dict[str, Any]:
    """An officer closes or reopens a notice."""
    with db.write() as conn:
        row = _row(conn, notice_id)
        check_move(OFFICER_MOVES, row["status"], wanted)
        updated = _apply(conn, db, row, wanted, actor, reason, config or FeedConfig())
        return view(updated, db.now())


def system_move(
    db: WorkspaceDb,
    notice_id: str,
    wanted: str,
    reason: str,
    config: FeedConfig | None = None,
    *,
    expect: str = "removed",
    recheck_result: str = "",
) -> dict[str, Any] | None:
    """A re-check's verdict; None when the notice moved on meanwhile (no longer ``expect``)."""
    with db.write() as conn:
        row = _row(conn, notice_id)
        if row["status"] != expect:
            return None
        check_move(SYSTEM_MOVES, row["status"], wanted)
        conn.execute(
            "UPDATE notices SET rechecked_at = ?, recheck_result = ? WHERE notice_id = ?",
            (to_text(db.now()), recheck_result, notice_id),
        )
        updated = _apply(conn, db, row, wanted, "system", reason, config or FeedConfig())
        return view(updated, db.now())


def mark_overdue(db: WorkspaceDb) -> list[str]:
    """Stamp notices past their deadline while still awaiting the platform (once each), tell
    officers; returns the ids newly marked."""
    now = db.now()
    awaiting = ", ".join(f"'{s}'" for s in sorted(AWAITING_PLATFORM))
    with db.write() as conn:
        rows = conn.execute(
            f"SELECT notice_id, platform FROM notices WHERE status IN ({awaiting})"
            " AND deadline < ? AND overdue_at IS NULL",
            (to_text(now),),
        ).fetchall()
        for row in rows:
            conn.execute(
                "UPDATE notices SET overdue_at = ? WHERE notice_id = ?",
                (to_text(now), row["notice_id"]),
            )
            audit.record(db, "system", "notice.overdue", f"notice:{row['notice_id']}", conn=conn)
            notify(
                conn,
                db,
                "notice.overdue",
                row["notice_id"],
                f"通知 {row['notice_id']}（{row['platform']}）已超过处理期限",
            )
    return [row["notice_id"] for row in rows]


# --- officers' notification list --------------------------------------------------------------
def notify(
    conn: sqlite3.Connection, db: WorkspaceDb, kind: str, notice_id: str | None, message: str
) -> None:
    conn.execute(
        "INSERT INTO notifications(at, kind, notice_id, message) VALUES (?, ?, ?, ?)",
        (to_text(db.now()), kind, notice_id, message),
    )


def notifications(db: WorkspaceDb, *, unread_only: bool = True, limit: int = 100) -> list[dict]:  # type: ignore[type-arg]
    sql = "SELECT * FROM notifications"
    if unread_only:
        sql += " WHERE read_at IS NULL"
    rows = db.conn().execute(sql + " ORDER BY notification_id DESC LIMIT ?", (limit,)).fetchall()
    return [dict(row) for row in rows]


def mark_read(db: WorkspaceDb, notification_id: int) -> bool:
    with db.write() as conn:
        cur = conn.execute(
            "UPDATE notifications SET read_at = ? WHERE notification_id = ? AND read_at IS NULL",
            (to_text(db.now()), notification_id),
        )
    return cur.rowcount == 1


def image_hashes_of(notice: dict[str, Any]) -> list[str]:
    return _image_hashes(notice)


__all__ = ["TransitionError"]
