"""The ``checks`` table of the workspace database (``api/workspace_db.py``).

A row moves queued -> (running) -> done | failed. The outcome is written once: a second report
of the same check (a redelivered notify task, or the child process and its parent both
reporting) finds the row finished and changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from api.accounts import audit
from api.workspace_db import WorkspaceDb, to_text

URL_MAX = 2000
ORIGIN_MAX = 200
NOTE_MAX = 2000
STATES = ("queued", "running", "done", "failed")
FINISHED = ("done", "failed")
# Rows per query when looking up the queue page's listings (SQLite's variable limit is 32766).
LOOKUP_CHUNK = 400


class CheckError(ValueError):
    """What the officer submitted cannot be checked; the message says why, in Chinese."""


@dataclass(slots=True)
class Check:
    id: int
    url: str
    origin: str
    note: str
    requested_by: str
    requested_at: str
    state: str
    task_id: str = ""
    platform: str = ""
    listing_id: str = ""
    flagged: bool = False
    rule_ids: list[str] = field(default_factory=list)
    capture_id: str | None = None
    error: str = ""
    finished_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_url(url: str) -> str:
    """The URL stripped, or CheckError. Loopback and private hosts are allowed on purpose: the
    demo shop, tests and a bureau's own mirrors live there."""
    url = url.strip()
    if not url:
        raise CheckError("请填写商品网址 (url is required)")
    if len(url) > URL_MAX:
        raise CheckError(f"网址过长，最多 {URL_MAX} 个字符 (url longer than {URL_MAX})")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise CheckError("网址中不能有空格或控制字符 (url contains whitespace)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise CheckError(f"网址格式不正确 (malformed url: {exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise CheckError("只能核查 http:// 或 https:// 网址 (url must be http or https)")
    if not parts.hostname:
        raise CheckError("网址缺少主机名 (url has no host)")
    return url


def _row(row: sqlite3.Row) -> Check:
    return Check(
        id=int(row["id"]),
        url=row["url"],
        origin=row["origin"],
        note=row["note"],
        requested_by=row["requested_by"],
        requested_at=row["requested_at"],
        state=row["state"],
        task_id=row["task_id"],
        platform=row["platform"],
        listing_id=row["listing_id"],
        flagged=bool(row["flagged"]),
        rule_ids=json.loads(row["rule_ids"] or "[]"),
        capture_id=row["capture_id"],
        error=row["error"],
        finished_at=row["finished_at"],
    )


class AlreadyStartedError(CheckError):
    """The re-check request was turned into a check before (by another round or worker)."""


def create_check(
    db: WorkspaceDb,
    actor: str,
    url: str,
    origin: str = "",
    note: str = "",
    *,
    recheck_request: int | None = None,
) -> Check:
    """A queued check, with its audit entry in the same transaction. With ``recheck_request``,
    that officer's re-check request (api/decisions.py) is closed in the same transaction too,
    so a request becomes exactly one check (AlreadyStartedError when it was done before)."""
    url = validate_url(url)
    origin, note = origin.strip(), note.strip()
    if len(origin) > ORIGIN_MAX:
        raise CheckError(f"来源最多 {ORIGIN_MAX} 个字符 (origin longer than {ORIGIN_MAX})")
    if len(note) > NOTE_MAX:
        raise CheckError(f"备注最多 {NOTE_MAX} 个字符 (note longer than {NOTE_MAX})")
    with db.write() as conn:
        if recheck_request is not None:
            closed = conn.execute(
                "UPDATE recheck_requests SET done_at = ? WHERE request_id = ? AND done_at IS NULL",
                (to_text(db.now()), recheck_request),
            ).rowcount
            if closed != 1:
                raise AlreadyStartedError(f"re-check request {recheck_request} already started")
        cur = conn.execute(
            "INSERT INTO checks(url, origin, note, requested_by, requested_at, state) "
            "VALUES (?, ?, ?, ?, ?, 'queued')",
            (url, origin, note, actor, to_text(db.now())),
        )
        check_id = int(cur.lastrowid or 0)
        audit.record(
            db,
            actor,
            "check.submit",
            f"check:{check_id}",
            after={"url": url, "origin": origin, "note": note},
            conn=conn,
        )
    found = get_check(db, check_id)
    assert found is not None
    return found


def get_check(db: WorkspaceDb, check_id: int) -> Check | None:
    row = db.conn().execute("SELECT * FROM checks WHERE id = ?", (check_id,)).fetchone()
    return _row(row) if row else None


def list_checks(db: WorkspaceDb, limit: int = 100) -> list[Check]:
    rows = db.conn().execute("SELECT * FROM checks ORDER BY id DESC LIMIT ?", (limit,))
    return [_row(r) for r in rows.fetchall()]


def set_task(db: WorkspaceDb, check_id: int, task_id: str) -> None:
    with db.write() as conn:
        conn.execute("UPDATE checks SET task_id = ? WHERE id = ?", (task_id, check_id))


def mark_running(db: WorkspaceDb, check_id: int) -> None:
    with db.write() as conn:
        conn.execute(
            "UPDATE checks SET state = 'running' WHERE id = ? AND state = 'queued'", (check_id,)
        )


def finish_check(
    db: WorkspaceDb,
    check_id: int,
    *,
    state: str,
    platform: str = "",
    listing_id: str = "",
    flagged: bool = False,
    rule_ids: Iterable[str] = (),
    capture_id: str | None = None,
    error: str = "",
) -> bool:
    """Record how the check ended; False (and no change) when it had already ended."""
    if state not in FINISHED:
        raise ValueError(f"a check ends done or failed, not {state!r}")
    with db.write() as conn:
        cur = conn.execute(
            "UPDATE checks SET state = ?, platform = ?, listing_id = ?, flagged = ?, rule_ids = ?,"
            " capture_id = ?, error = ?, finished_at = ? "
            "WHERE id = ? AND state NOT IN ('done', 'failed')",
            (
                state,
                platform,
                listing_id,
                int(flagged),
                json.dumps(list(dict.fromkeys(rule_ids)), ensure_ascii=False),
                capture_id,
                error[:4000],
                to_text(db.now()),
                check_id,
            ),
        )
        return cur.rowcount == 1


def origins_of(db: WorkspaceDb, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The origin of the latest check of each (platform, listing_id) that came from one; a
    single query per page of the queue (row values need SQLite 3.15)."""
    wanted = list(dict.fromkeys(keys))
    found: dict[tuple[str, str], str] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        values = ", ".join("(?, ?)" for _ in chunk)
        params = [part for key in chunk for part in key]
        rows = db.conn().execute(
            "SELECT platform, listing_id, origin FROM checks "
            f"WHERE (platform, listing_id) IN (VALUES {values}) ORDER BY id",
            params,
        )
        for row in rows.fetchall():
            # Later checks overwrite earlier ones; an empty origin still marks a check.
            found[(row["platform"], row["listing_id"])] = row["origin"] or "核查请求"
    return found
