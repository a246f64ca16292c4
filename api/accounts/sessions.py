"""Server-side login sessions. The cookie holds a random token; the database holds only its
SHA-256, so a copy of the database does not let anyone in."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from api.accounts.users import User, get_user
from api.workspace_db import WorkspaceDb, from_text, to_text

COOKIE = "mg_session"
LIFETIME = timedelta(hours=12)  # absolute: a working day, then log in again
IDLE = timedelta(hours=2)
TOUCH_EVERY = timedelta(minutes=1)  # last_seen is refreshed at most this often


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf_token: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_session(db: WorkspaceDb, user: User) -> str:
    """A new session for ``user``; returns the cookie value (never reused: no fixation)."""
    token = secrets.token_urlsafe(32)
    now = db.now()
    with db.write() as conn:
        conn.execute("DELETE FROM sessions WHERE expires_at < ?", (to_text(now),))
        conn.execute(
            "INSERT INTO sessions(token_hash, user_id, csrf_token, created_at, last_seen,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                token_hash(token),
                user.user_id,
                secrets.token_urlsafe(32),
                to_text(now),
                to_text(now),
                to_text(now + LIFETIME),
            ),
        )
    return token


def load_session(db: WorkspaceDb, token: str) -> Session | None:
    """The live session of this cookie value, or None (unknown, expired, idle too long)."""
    if not token or len(token) > 200:
        return None
    key = token_hash(token)
    row = db.conn().execute("SELECT * FROM sessions WHERE token_hash = ?", (key,)).fetchone()
    if row is None:
        return None
    now = db.now()
    last_seen = from_text(row["last_seen"])
    expires_at = from_text(row["expires_at"])
    assert last_seen is not None and expires_at is not None
    if expires_at <= now or last_seen + IDLE <= now:
        end_session(db, token)
        return None
    user = get_user(db, int(row["user_id"]))
    if user is None:
        return None
    if now - last_seen >= TOUCH_EVERY:
        with db.write() as conn:
            conn.execute(
                "UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (to_text(now), key)
            )
    return Session(user, str(row["csrf_token"]))


def end_session(db: WorkspaceDb, token: str) -> None:
    with db.write() as conn:
        conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash(token),))
