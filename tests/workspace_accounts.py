"""Test helper: make an account and sign a TestClient in through the real login form."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from api.accounts.users import create_user
from api.workspace_db import WorkspaceDb

PASSWORD = "correct horse battery"


def login_form_token(client: TestClient) -> str:
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def sign_in(client: TestClient, db: WorkspaceDb, name: str, role: str) -> str:
    """Create ``name`` with ``role``, log in, and return the session's CSRF token."""
    create_user(db, name, role, PASSWORD)
    response = client.post(
        "/login",
        data={"name": name, "password": PASSWORD, "csrf_token": login_form_token(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:500]
    token = client.get("/api/me").json()["csrf_token"]
    assert token
    return str(token)
