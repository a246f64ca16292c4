"""API tokens for scripts: ``Authorization: Bearer mgu_...``. Shown once when made; only the
SHA-256 is kept (the token is 256 random bits, so a fast hash is enough)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from api.accounts.users import User, get_user
from api.workspace_db import WorkspaceDb, to_text

PREFIX = "mgu_"
LABEL_MAX = 100


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: int
    label: str
    created_at: str
    last_used: str | None
    revoked: bool


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(db: WorkspaceDb, user: User, label: str) -> tuple[int, str]:
    """(token_id, token); the token is not stored and cannot be shown again."""
    label = label.strip()[:LABEL_MAX] or "script"
    token = PREFIX + secrets.token_urlsafe(32)
    with db.write() as conn:
        cur = conn.execute(
            "INSERT INTO api_tokens(token_hash, user_id, label, created_at) VALUES (?, ?, ?, ?)",
            (_hash(token), user.user_id, label, to_text(db.now())),
        )
    return int(cur.lastrowid or 0), token


def token_user(db: WorkspaceDb, token: str) -> User | None:
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = (
        db.conn()
        .execute(
            "SELECT token_id, user_id, last_used FROM api_tokens "
            "WHERE token_hash = ? AND revoked_at IS NULL",
            (_hash(token),),
        )
        .fetchone()
    )
    if row is None:
        return None
    user = get_user(db, int(row["user_id"]))
    if user is not None and row["last_used"] is None:
        with db.write() as conn:  # first use only: reads stay read-only afterwards
            conn.execute(
                "UPDATE api_tokens SET last_used = ? WHERE token_id = ?",
                (to_text(db.now()), row["token_id"]),
            )
    return user


def revoke_token(db: WorkspaceDb, user: User, token_id: int) -> bool:
    with db.write() as conn:
        cur = conn.execute(
            "UPDATE api_tokens SET revoked_at = ? "
            "WHERE token_id = ? AND user_id = ? AND revoked_at IS NULL",
            (to_text(db.now()), token_id, user.user_id),
        )
    return cur.rowcount == 1


def list_tokens(db: WorkspaceDb, user: User) -> list[TokenInfo]:
    rows = (
        db.conn()
        .execute("SELECT * FROM api_tokens WHERE user_id = ? ORDER BY token_id", (user.user_id,))
        .fetchall()
    )
    return [
        TokenInfo(
            int(r["token_id"]), r["label"], r["created_at"], r["last_used"], bool(r["revoked_at"])
        )
        for r in rows
    ]
