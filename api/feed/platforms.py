"""Platform accounts: one per platform integration, with an API key (stored as SHA-256, shown
once) and an optional webhook URL with its HMAC signing secret.

The signing secret must be kept in usable form (the server signs with it), so it is stored as
is; the database file is created mode 0600. The API key, which only needs checking, is not.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from urllib.parse import urlsplit

from api.workspace_db import WorkspaceDb, to_text

KEY_PREFIX = "mgp_"
SECRET_PREFIX = "whsec_"


class PlatformExistsError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class PlatformAccount:
    account_id: int
    name: str
    platform: str  # the Listing.platform code this account may see
    webhook_url: str
    webhook_secret: str


@dataclass(frozen=True, slots=True)
class NewPlatformAccount:
    account: PlatformAccount
    api_key: str  # shown once


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _check_webhook_url(url: str) -> str:
    url = url.strip()
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("webhook URL must be an absolute http(s) URL")
    return url


def _account(row: sqlite3.Row) -> PlatformAccount:
    return PlatformAccount(
        int(row["account_id"]),
        row["name"],
        row["platform"],
        row["webhook_url"],
        row["webhook_secret"],
    )


def create_platform_account(
    db: WorkspaceDb, name: str, platform: str, webhook_url: str = ""
) -> NewPlatformAccount:
    name, platform = name.strip(), platform.strip()
    if not name or not platform:
        raise ValueError("a platform account needs a name and a platform code")
    url = _check_webhook_url(webhook_url)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    try:
        with db.write() as conn:
            cur = conn.execute(
                "INSERT INTO platform_accounts(name, platform, key_hash, webhook_url,"
                " webhook_secret, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (name, platform, _hash(key), url, secret, to_text(db.now())),
            )
    except sqlite3.IntegrityError as exc:
        raise PlatformExistsError(f"platform account {name!r} exists already") from exc
    account = PlatformAccount(int(cur.lastrowid or 0), name, platform, url, secret)
    return NewPlatformAccount(account, key)


def account_for_key(db: WorkspaceDb, key: str) -> PlatformAccount | None:
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    row = (
        db.conn()
        .execute(
            "SELECT * FROM platform_accounts WHERE key_hash = ? AND disabled = 0", (_hash(key),)
        )
        .fetchone()
    )
    return _account(row) if row else None


def get_account(db: WorkspaceDb, account_id: int) -> PlatformAccount | None:
    row = (
        db.conn()
        .execute("SELECT * FROM platform_accounts WHERE account_id = ?", (account_id,))
        .fetchone()
    )
    return _account(row) if row else None


def list_accounts(db: WorkspaceDb) -> list[PlatformAccount]:
    rows = (
        db.conn()
        .execute("SELECT * FROM platform_accounts WHERE disabled = 0 ORDER BY name")
        .fetchall()
    )
    return [_account(row) for row in rows]


def accounts_of_platform(db: WorkspaceDb, platform: str) -> list[PlatformAccount]:
    rows = (
        db.conn()
        .execute("SELECT * FROM platform_accounts WHERE platform = ? AND disabled = 0", (platform,))
        .fetchall()
    )
    return [_account(row) for row in rows]


def rotate_key(db: WorkspaceDb, account_id: int) -> str | None:
    """A new API key for the account (the old one stops working at once); None if unknown."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with db.write() as conn:
        cur = conn.execute(
            "UPDATE platform_accounts SET key_hash = ? WHERE account_id = ?",
            (_hash(key), account_id),
        )
    return key if cur.rowcount == 1 else None


def set_webhook(db: WorkspaceDb, account_id: int, url: str) -> None:
    url = _check_webhook_url(url)
    with db.write() as conn:
        conn.execute(
            "UPDATE platform_accounts SET webhook_url = ? WHERE account_id = ?", (url, account_id)
        )
