"""Webhook push: every platform account with a webhook URL gets each event about its notices.

Signature (docs/platform-feed.md): header ``X-MarketGuard-Signature: t=<unix seconds>,v1=<hex>``
where hex = HMAC-SHA256(account's webhook secret, f"{t}." + raw body bytes). The timestamp is
the send time of that attempt (receivers reject old ones: replays of a captured request fail).
A delivery that fails (network error or a non-2xx answer) is retried with exponential backoff
and dead-lettered after ``webhook_max_attempts``; dead (or any) deliveries can be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

import httpx

from api.accounts import audit
from api.feed.config import FeedConfig
from api.workspace_db import WorkspaceDb, to_text

SIGNATURE_HEADER = "X-MarketGuard-Signature"
EVENT_HEADER = "X-MarketGuard-Event"
DELIVERY_HEADER = "X-MarketGuard-Delivery"
USER_AGENT = "MarketGuard-Webhook/1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """The receiver's check (reference implementation; platforms write their own)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    delivered: int = 0
    failed: int = 0  # will be retried
    dead: int = 0


def enqueue(conn: sqlite3.Connection, db: WorkspaceDb, event: str, notice: dict[str, Any]) -> int:
    """Queue ``event`` for every webhook of the notice's platform, inside the caller's
    transaction (the event is queued if and only if the change is committed)."""
    now = to_text(db.now())
    body = json.dumps(
        {"event": event, "created": now, "notice": notice}, ensure_ascii=False, sort_keys=True
    )
    accounts = conn.execute(
        "SELECT account_id FROM platform_accounts"
        " WHERE platform = ? AND disabled = 0 AND webhook_url != ''",
        (notice["platform"],),
    ).fetchall()
    for account in accounts:
        conn.execute(
            "INSERT INTO webhook_deliveries(account_id, event, notice_id, body, status,"
            " next_attempt_at, created_at) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
            (account["account_id"], event, notice["id"], body, now, now),
        )
    return len(accounts)


def _claim(db: WorkspaceDb, config: FeedConfig, limit: int) -> list[sqlite3.Row]:
    """Take due deliveries for this worker: pushing their next attempt a lease ahead means a
    second worker (or a crash and restart) does not send them at the same time."""
    now = db.now()
    with db.write() as conn:
        rows = conn.execute(
            "SELECT d.*, a.webhook_url, a.webhook_secret FROM webhook_deliveries d"
            " JOIN platform_accounts a USING (account_id)"
            " WHERE d.status = 'pending' AND d.next_attempt_at <= ?"
            " ORDER BY d.delivery_id LIMIT ?",
            (to_text(now), limit),
        ).fetchall()
        conn.executemany(
            "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE delivery_id = ?",
            [(to_text(now + config.webhook_lease), row["delivery_id"]) for row in rows],
        )
    return rows


def _send(client: httpx.Client, row: sqlite3.Row, timestamp: int) -> str | None:
    """None when the receiver answered 2xx, else what went wrong."""
    body = row["body"].encode("utf-8")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: row["event"],
        DELIVERY_HEADER: str(row["delivery_id"]),
        SIGNATURE_HEADER: sign(row["webhook_secret"], timestamp, body),
    }
    try:
        response = client.post(row["webhook_url"], content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def deliver_due(
    db: WorkspaceDb,
    config: FeedConfig | None = None,
    *,
    client: httpx.Client | None = None,
    limit: int = 100,
) -> DeliveryReport:
    """Send every due delivery once; returns what happened."""
    config = config or FeedConfig()
    rows = _claim(db, config, limit)
    if not rows:
        return DeliveryReport()
    own = client is None
    http = client or httpx.Client(timeout=config.webhook_timeout, follow_redirects=False)
    delivered = failed = dead = 0
    try:
        for row in rows:
            error = _send(http, row, int(db.now().timestamp()))
            now = db.now()
            with db.write() as conn:
                if error is None:
                    conn.execute(
                        "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = ?,"
                        " attempts = attempts + 1, last_error = '' WHERE delivery_id = ?",
                        (to_text(now), row["delivery_id"]),
                    )
                    delivered += 1
                    continue
                attempts = int(row["attempts"]) + 1
                if attempts >= config.webhook_max_attempts:
                    conn.execute(
                        "UPDATE webhook_deliveries SET status = 'dead', attempts = ?,"
                        " last_error = ? WHERE delivery_id = ?",
                        (attempts, error, row["delivery_id"]),
                    )
                    audit.record(
                        db,
                        "system",
                        "webhook.dead",
                        f"delivery:{row['delivery_id']}",
                        after={"notice_id": row["notice_id"], "error": error},
                        conn=conn,
                    )
                    dead += 1
                    continue
                backoff = min(
                    config.webhook_backoff * 2 ** (attempts - 1), config.webhook_backoff_max
                )
                conn.execute(
                    "UPDATE webhook_deliveries SET attempts = ?, last_error = ?,"
                    " next_attempt_at = ? WHERE delivery_id = ?",
                    (attempts, error, to_text(now + backoff), row["delivery_id"]),
                )
                failed += 1
    finally:
        if own:
            http.close()
    return DeliveryReport(delivered, failed, dead)


def replay(
    db: WorkspaceDb,
    actor: str,
    *,
    delivery_ids: list[int] | None = None,
    account_id: int | None = None,
    statuses: tuple[str, ...] = ("dead",),
) -> int:
    """Queue deliveries again from attempt zero (by default the dead ones); returns how many."""
    where = [f"status IN ({', '.join('?' for _ in statuses)})"]
    params: list[Any] = list(statuses)
    if delivery_ids:
        where.append(f"delivery_id IN ({', '.join('?' for _ in delivery_ids)})")
        params.extend(delivery_ids)
    if account_id is not None:
        where.append("account_id = ?")
        params.append(account_id)
    with db.write() as conn:
        ids = [
            row[0]
            for row in conn.execute(
                f"SELECT delivery_id FROM webhook_deliveries WHERE {' AND '.join(where)}", params
            )
        ]
        conn.executemany(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, last_error = '',"
            " next_attempt_at = ?, delivered_at = NULL WHERE delivery_id = ?",
            [(to_text(db.now()), delivery_id) for delivery_id in ids],
        )
        if ids:
            audit.record(db, actor, "webhook.replay", "deliveries", after={"ids": ids}, conn=conn)
    return len(ids)


def list_deliveries(
    db: WorkspaceDb, *, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    sql = (
        "SELECT delivery_id, account_id, event, notice_id, status, attempts, next_attempt_at,"
        " last_error, created_at, delivered_at FROM webhook_deliveries"
    )
    params: list[Any] = []
    if status:
        sql += " WHERE status = ?"
        params.append(status)
    rows = db.conn().execute(sql + " ORDER BY delivery_id DESC LIMIT ?", [*params, limit])
    return [dict(row) for row in rows.fetchall()]
