"""The append-only audit log: who did what to which thing, when, with the state before and
after. Every mutating action calls ``record``; the table's triggers refuse updates and
deletes, so the log can only grow."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.workspace_db import WorkspaceDb, from_text, to_text


@dataclass(frozen=True, slots=True)
class AuditEntry:
    entry_id: int
    at: datetime
    actor: str  # a user name, "platform:<account>" or "system"
    action: str  # e.g. "review.confirmed", "notice.create", "user.create"
    target: str  # e.g. "listing:shop/1", "notice:N-000001"
    before: Any
    after: Any


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def record(
    db: WorkspaceDb,
    actor: str,
    action: str,
    target: str,
    *,
    before: Any = None,
    after: Any = None,
    conn: sqlite3.Connection | None = None,
) -> None:
    """Append one entry; pass ``conn`` to make it part of the caller's write transaction."""
    row = (to_text(db.now()), actor, action, target, _json(before), _json(after))
    sql = (
        "INSERT INTO audit_log(at, actor, action, target, before_json, after_json) "
        "VALUES (?, ?, ?, ?, ?, ?)"
    )
    if conn is not None:
        conn.execute(sql, row)
        return
    with db.write() as own:
        own.execute(sql, row)


def entries(
    db: WorkspaceDb,
    *,
    target: str | None = None,
    actor: str | None = None,
    action_prefix: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first; ``before_id`` pages backwards (keyset, stays fast deep in the log)."""
    where, params = [], []
    if target:
        where.append("target = ?")
        params.append(target)
    if actor:
        where.append("actor = ?")
        params.append(actor)
    if action_prefix:
        where.append("action LIKE ? ESCAPE '\\'")
        params.append(action_prefix.replace("%", "\\%").replace("_", "\\_") + "%")
    if before_id is not None:
        where.append("entry_id < ?")
        params.append(before_id)
    sql = "SELECT * FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY entry_id DESC LIMIT ?"
    rows = db.conn().execute(sql, [*params, limit]).fetchall()
    return [
        AuditEntry(
            int(r["entry_id"]),
            from_text(r["at"]) or db.now(),
            r["actor"],
            r["action"],
            r["target"],
            json.loads(r["before_json"]) if r["before_json"] else None,
            json.loads(r["after_json"]) if r["after_json"] else None,
        )
        for r in rows
    ]
