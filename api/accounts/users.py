"""User accounts and roles. Roles are ordered: an admin can do what a supervisor can, and a
supervisor what a reviewer can."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, get_args

from api.accounts.passwords import generate_password, hash_password, verify_password
from api.workspace_db import WorkspaceDb, from_text, to_text

Role = Literal["reviewer", "supervisor", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
ROLE_LABELS = {"reviewer": "审核员", "supervisor": "主管", "admin": "管理员"}
NAME_MAX = 100

# After this many wrong passwords in a row the account waits LOCK_MINUTES; online guessing
# then costs days, not seconds.
MAX_FAILED_LOGINS = 10
LOCK_MINUTES = 15


class UserExistsError(ValueError):
    pass


class UnknownUserError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class User:
    user_id: int
    name: str
    role: str

    def has_role(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def _check(name: str, role: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX or any(c.isspace() and c != " " for c in name):
        raise ValueError(f"a user name has 1 to {NAME_MAX} characters and no tabs or newlines")
    if role not in ROLE_RANK:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    return name


def _user(row: sqlite3.Row) -> User:
    return User(int(row["user_id"]), str(row["name"]), str(row["role"]))


def create_user(db: WorkspaceDb, name: str, role: str, password: str) -> User:
    name = _check(name, role)
    password_hash = hash_password(password)
    try:
        with db.write() as conn:
            cur = conn.execute(
                "INSERT INTO users(name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                (name, role, password_hash, to_text(db.now())),
            )
    except sqlite3.IntegrityError as exc:
        raise UserExistsError(f"user {name!r} exists already") from exc
    return User(int(cur.lastrowid or 0), name, role)


def set_password(db: WorkspaceDb, name: str, password: str) -> None:
    password_hash = hash_password(password)
    with db.write() as conn:
        cur = conn.execute(
            "UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL "
            "WHERE name = ?",
            (password_hash, name),
        )
        if cur.rowcount == 0:
            raise UnknownUserError(name)
        # A new password ends every open session of the account.
        conn.execute(
            "DELETE FROM sessions WHERE user_id = (SELECT user_id FROM users WHERE name = ?)",
            (name,),
        )


def get_user(db: WorkspaceDb, user_id: int) -> User | None:
    row = (
        db.conn()
        .execute("SELECT * FROM users WHERE user_id = ? AND disabled = 0", (user_id,))
        .fetchone()
    )
    return _user(row) if row else None


def list_users(db: WorkspaceDb) -> list[User]:
    rows = db.conn().execute("SELECT * FROM users WHERE disabled = 0 ORDER BY name").fetchall()
    return [_user(row) for row in rows]


def user_count(db: WorkspaceDb) -> int:
    return int(db.conn().execute("SELECT count(*) FROM users").fetchone()[0])


def authenticate(db: WorkspaceDb, name: str, password: str) -> User | None:
    """The user when the password is right and the account is neither disabled nor locked."""
    row = (
        db.conn()
        .execute("SELECT * FROM users WHERE name = ? AND disabled = 0", (name.strip(),))
        .fetchone()
    )
    if row is None:
        # Spend the same time as a real check: response time does not reveal which names exist.
        verify_password(password, _DUMMY_HASH)
        return None
    now = db.now()
    locked_until = from_text(row["locked_until"])
    if locked_until is not None and locked_until > now:
        return None
    if verify_password(password, row["password_hash"]):
        if row["failed_logins"]:
            with db.write() as conn:
                conn.execute(
                    "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE user_id = ?",
                    (row["user_id"],),
                )
        return _user(row)
    with db.write() as conn:
        failed = int(row["failed_logins"]) + 1
        locked = failed >= MAX_FAILED_LOGINS
        lock = to_text(now + timedelta(minutes=LOCK_MINUTES)) if locked else None
        conn.execute(
            "UPDATE users SET failed_logins = ?, locked_until = ? WHERE user_id = ?",
            (0 if lock else failed, lock, row["user_id"]),
        )
    return None


def ensure_first_admin(db: WorkspaceDb, name: str = "admin") -> str | None:
    """On an empty account table, create an admin and return its one-time password (shown
    once, never stored in clear); None when accounts exist already."""
    if user_count(db):
        return None
    password = generate_password()
    try:
        create_user(db, name, "admin", password)
    except UserExistsError:  # another process made it first
        return None
    return password


_DUMMY_HASH = hash_password("not-a-real-password-for-timing")
