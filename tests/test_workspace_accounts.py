"""Accounts, login sessions, CSRF, API tokens, roles and the audit log, over real SQLite files
and real ASGI (TestClient), plus the ``marketguard users`` command in a child process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.accounts import audit
from api.accounts.passwords import WeakPasswordError, hash_password, verify_password
from api.accounts.sessions import COOKIE, IDLE
from api.accounts.users import MAX_FAILED_LOGINS, authenticate, create_user, ensure_first_admin
from api.app import create_app
from api.workspace_db import WorkspaceDb
from evidence.archive.sqlite import SqliteArchive
from marketguard.models import Flag, Listing, utcnow
from tests.conftest import REPO_ROOT, run_cli
from tests.workspace_accounts import PASSWORD, login_form_token, sign_in


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def workspace(tmp_path: Path, clock: Clock) -> Iterator[WorkspaceDb]:
    db = WorkspaceDb(tmp_path / "workspace.db", clock=clock)
    yield db
    db.close()


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[SqliteArchive]:
    store = SqliteArchive(tmp_path / "store")
    store.save_listing(
        Listing("shop", "1", "https://shop.example/item/1", "充电器"),
        [Flag("CCC_MISSING", "high", "未标注 3C", "《认证认可条例》第二十七条")],
    )
    yield store
    store.close()


@pytest.fixture
def app(archive: SqliteArchive, workspace: WorkspaceDb):  # type: ignore[no-untyped-def]
    return create_app(archive, workspace=workspace, category_names={})


def client_for(app, workspace: WorkspaceDb, name: str, role: str) -> TestClient:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    client.headers["X-CSRF-Token"] = sign_in(client, workspace, name, role)
    return client


# --- passwords --------------------------------------------------------------------------------
def test_passwords_are_salted_scrypt_hashes() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("scrypt$") and first != second and PASSWORD not in first
    assert verify_password(PASSWORD, first) and not verify_password(PASSWORD + "x", first)
    assert not verify_password(PASSWORD, "garbage")
    with pytest.raises(WeakPasswordError):
        hash_password("short")


# --- login ------------------------------------------------------------------------------------
def test_pages_redirect_to_login_and_the_api_answers_401(app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app) as anonymous:
        page = anonymous.get("/listings/shop/1?x=1", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=%2Flistings%2Fshop%2F1%3Fx%3D1"
        for path in ("/api/flagged", "/api/listings/shop/1", "/api/audit", "/blobs/" + "0" * 64):
            assert anonymous.get(path).status_code == 401, path
        refused = anonymous.post("/api/listings/shop/1/reviews", json={"decision": "confirmed"})
        assert refused.status_code == 401
        assert anonymous.get("/healthz").status_code == 200


def test_login_sets_a_hardened_session_cookie_and_returns_to_next(app, workspace) -> None:  # type: ignore[no-untyped-def]
    create_user(workspace, "王五", "reviewer", PASSWORD)
    with TestClient(app) as client:
        token = login_form_token(client)
        response = client.post(
            "/login",
            data={"name": "王五", "password": PASSWORD, "csrf_token": token, "next": "/errors"},
            follow_redirects=False,
        )
        assert response.status_code == 303 and response.headers["location"] == "/errors"
        cookie = next(
            h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE + "=")
        )
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # plain http on loopback; https gets Secure
        assert "王五" in client.get("/").text
        # the cookie holds a random token; the database only its hash
        value = client.cookies[COOKIE]
        stored = workspace.conn().execute("SELECT token_hash FROM sessions").fetchall()
        assert value not in {row[0] for row in stored}


def test_cookie_is_secure_over_https(app, workspace) -> None:  # type: ignore[no-untyped-def]
    create_user(workspace, "王五", "reviewer", PASSWORD)
    with TestClient(app, base_url="https://workspace.example") as client:
        token = login_form_token(client)
        response = client.post(
            "/login",
            data={"name": "王五", "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        cookie = next(
            h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE + "=")
        )
        assert "Secure" in cookie


def test_wrong_password_open_redirect_and_login_csrf_are_refused(app, workspace) -> None:  # type: ignore[no-untyped-def]
    create_user(workspace, "王五", "reviewer", PASSWORD)
    with TestClient(app) as client:
        token = login_form_token(client)
        wrong = client.post(
            "/login", data={"name": "王五", "password": "wrong password", "csrf_token": token}
        )
        assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
        no_token = client.post("/login", data={"name": "王五", "password": PASSWORD})
        assert no_token.status_code == 403
        evil = client.post(
            "/login",
            data={
                "name": "王五",
                "password": PASSWORD,
                "csrf_token": token,
                "next": "//evil.example/",
            },
            follow_redirects=False,
        )
        assert evil.headers["location"] == "/"
    actions = [e.action for e in audit.entries(workspace)]
    assert actions.count("login.failed") == 1 and "login" in actions


def test_repeated_wrong_passwords_lock_the_account(workspace, clock) -> None:  # type: ignore[no-untyped-def]
    create_user(workspace, "王五", "reviewer", PASSWORD)
    for _ in range(MAX_FAILED_LOGINS):
        assert authenticate(workspace, "王五", "wrong password") is None
    assert authenticate(workspace, "王五", PASSWORD) is None  # locked, even with the right one
    clock.now += timedelta(minutes=16)
    assert authenticate(workspace, "王五", PASSWORD) is not None


def test_sessions_expire_when_idle_and_end_at_logout(app, workspace, clock) -> None:  # type: ignore[no-untyped-def]
    with client_for(app, workspace, "王五", "reviewer") as client:
        assert client.get("/api/me").status_code == 200
        clock.now += IDLE + timedelta(seconds=1)
        assert client.get("/api/me").status_code == 401
    with client_for(app, workspace, "李四", "reviewer") as client:
        stolen = client.cookies[COOKIE]
        assert client.post("/logout", follow_redirects=False).status_code == 303
        replay = TestClient(app)
        replay.cookies.set(COOKIE, stolen)
        assert replay.get("/api/me").status_code == 401  # server-side session is gone


# --- CSRF -------------------------------------------------------------------------------------
def test_a_post_without_the_csrf_token_is_refused(app, workspace, archive) -> None:  # type: ignore[no-untyped-def]
    with client_for(app, workspace, "王五", "reviewer") as client:
        token = client.headers.pop("X-CSRF-Token")
        form = client.post(
            "/listings/shop/1/reviews", data={"decision": "confirmed"}, follow_redirects=False
        )
        assert form.status_code == 403 and "CSRF" in form.json()["detail"]
        forged = client.post(
            "/listings/shop/1/reviews",
            data={"decision": "confirmed", "csrf_token": "forged"},
            follow_redirects=False,
        )
        assert forged.status_code == 403
        as_json = client.post("/api/listings/shop/1/reviews", json={"decision": "confirmed"})
        assert as_json.status_code == 403
        assert client.post("/logout", follow_redirects=False).status_code == 403
        assert archive.get_listing("shop", "1").reviews == []  # type: ignore[union-attr]
        # the real form carries the token in a hidden field, and then it goes through
        page = client.get("/listings/shop/1").text
        assert f'name="csrf_token" value="{token}"' in page
        ok = client.post(
            "/listings/shop/1/reviews",
            data={"decision": "confirmed", "csrf_token": token},
            follow_redirects=False,
        )
        assert ok.status_code == 303
    assert archive.get_listing("shop", "1").reviews[0].reviewer == "王五"  # type: ignore[union-attr]


def test_another_sessions_token_does_not_pass(app, workspace) -> None:  # type: ignore[no-untyped-def]
    with client_for(app, workspace, "王五", "reviewer") as first:
        other = client_for(app, workspace, "李四", "reviewer")
        first.headers["X-CSRF-Token"] = other.headers["X-CSRF-Token"]
        refused = first.post("/api/listings/shop/1/reviews", json={"decision": "confirmed"})
        assert refused.status_code == 403


# --- roles ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "audit_status", "users_status"),
    [("reviewer", 403, 403), ("supervisor", 200, 403), ("admin", 200, 200)],
)
def test_each_role_gets_what_it_may_and_no_more(  # type: ignore[no-untyped-def]
    app, workspace, role, audit_status, users_status
) -> None:
    with client_for(app, workspace, f"user-{role}", role) as client:
        assert client.get("/api/flagged").status_code == 200
        assert client.get("/api/audit").status_code == audit_status
        assert client.get("/api/users").status_code == users_status
        made = client.post("/api/users", json={"name": f"new-{role}", "role": "reviewer"})
        assert made.status_code == (201 if role == "admin" else 403)
        if role == "admin":
            one_time = made.json()["one_time_password"]
            assert authenticate(workspace, f"new-{role}", one_time) is not None


# --- API tokens -------------------------------------------------------------------------------
def test_api_tokens_are_shown_once_stored_hashed_and_revocable(app, workspace, archive) -> None:  # type: ignore[no-untyped-def]
    with client_for(app, workspace, "王五", "reviewer") as client:
        made = client.post("/api/tokens", json={"label": "nightly export"})
        assert made.status_code == 201
        token, token_id = made.json()["token"], made.json()["token_id"]
        assert token.startswith("mgu_")
        assert "token" not in client.get("/api/tokens").json()[0]
        stored = workspace.conn().execute("SELECT token_hash FROM api_tokens").fetchone()[0]
        assert token not in stored
        script = TestClient(app)
        script.headers["Authorization"] = f"Bearer {token}"
        # no cookie, no CSRF token needed: a cross-site page cannot send this header
        review = script.post("/api/listings/shop/1/reviews", json={"decision": "confirmed"})
        assert review.status_code == 201 and review.json()["reviewer"] == "王五"
        assert client.delete(f"/api/tokens/{token_id}").status_code == 204
        assert script.get("/api/flagged").status_code == 401
        bad = TestClient(app, headers={"Authorization": "Bearer mgu_nope"})
        assert bad.get("/api/flagged").status_code == 401


# --- audit log --------------------------------------------------------------------------------
def test_every_review_is_audited_with_before_and_after(app, workspace) -> None:  # type: ignore[no-untyped-def]
    with client_for(app, workspace, "王五", "reviewer") as reviewer:
        reviewer.post("/api/listings/shop/1/reviews", json={"decision": "confirmed"})
        reviewer.post(
            "/api/listings/shop/1/reviews", json={"decision": "dismissed", "reason": "正品"}
        )
    with client_for(app, workspace, "主管甲", "supervisor") as supervisor:
        log = supervisor.get("/api/audit", params={"target": "listing:shop/1"}).json()
    assert [e["action"] for e in log] == ["review.dismissed", "review.confirmed"]
    latest, first = log
    assert first["before"] is None and first["after"]["decision"] == "confirmed"
    assert latest["before"]["decision"] == "confirmed"
    assert latest["after"] == {**latest["after"], "decision": "dismissed", "reviewer": "王五"}
    assert latest["actor"] == "王五"


def test_the_audit_log_refuses_updates_and_deletes(workspace) -> None:  # type: ignore[no-untyped-def]
    audit.record(workspace, "王五", "review.confirmed", "listing:shop/1", after={"x": 1})
    conn = workspace.conn()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_log SET actor = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit_log")
    assert audit.entries(workspace)[0].actor == "王五"


# --- first run and the command line ------------------------------------------------------------
def test_first_admin_is_made_once(workspace) -> None:  # type: ignore[no-untyped-def]
    password = ensure_first_admin(workspace)
    assert password and authenticate(workspace, "admin", password) is not None
    assert ensure_first_admin(workspace) is None


def add_user_cli(
    home: str, name: str, role: str, password: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "marketguard.cli",
            "users",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
            "--store",
            home,
        ],
        cwd=REPO_ROOT,
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_users_command_adds_lists_and_makes_tokens(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    added = add_user_cli(home, "张三", "supervisor", PASSWORD)
    assert added.returncode == 0, added.stderr
    again = add_user_cli(home, "张三", "admin", PASSWORD)
    assert again.returncode == 1 and "exists" in again.stderr
    weak = add_user_cli(home, "李四", "reviewer", "short")
    assert weak.returncode == 1 and "at least" in weak.stderr
    listed = run_cli("users", "list", "--store", home)
    assert listed.stdout.split("\n")[0] == "张三\tsupervisor"
    token = run_cli("users", "token", "张三", "--store", home).stdout.strip()
    assert token.startswith("mgu_")
    db = WorkspaceDb(tmp_path / "home" / "workspace.db")
    try:
        assert authenticate(db, "张三", PASSWORD) is not None
    finally:
        db.close()


def test_hostile_next_parameter_is_escaped_on_the_login_page(app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app) as client:
        body = client.get("/login", params={"next": '/"><script>alert(1)</script>'}).text
        assert "<script>alert(1)" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        javascript = client.get("/login", params={"next": "javascript:alert(1)"}).text
        assert 'name="next" value="/"' in javascript
