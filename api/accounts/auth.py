"""Who is asking: FastAPI dependencies ``current_user`` and ``require_role(...)``, and the CSRF
check every cookie-authenticated unsafe request passes.

Two ways in. Scripts send ``Authorization: Bearer mgu_...`` (no cookie, so no CSRF risk).
Browsers carry the session cookie; then every POST/PUT/PATCH/DELETE must also carry the
session's synchroniser token, as the ``csrf_token`` form field or the ``X-CSRF-Token`` header.
A page on another site can make the browser send the cookie but cannot read the token.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from api.accounts.sessions import COOKIE, load_session
from api.accounts.tokens import token_user
from api.accounts.users import ROLE_LABELS, Role, User
from api.workspace_db import WorkspaceDb

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LOGIN_COOKIE = "mg_login"  # pre-login nonce: the login form is CSRF-protected too
CSRF_ERROR = (
    "CSRF 校验失败：页面已过期或请求来自其他网站，请刷新页面后重试 (CSRF token missing or wrong)"
)


class LoginRequired(Exception):
    """No valid session or token: pages redirect to /login, the API answers 401."""


async def get_workspace(request: Request) -> WorkspaceDb:  # no I/O: no thread hop
    db: WorkspaceDb = request.app.state.workspace
    return db


WorkspaceDep = Annotated[WorkspaceDb, Depends(get_workspace)]


async def submitted_csrf_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)  # cached: the route reads the same form
        return value if isinstance(value, str) else ""
    return ""


async def check_csrf(request: Request, expected: str) -> None:
    submitted = await submitted_csrf_token(request)
    if not expected or not hmac.compare_digest(submitted.encode(), expected.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, CSRF_ERROR)


async def current_user(request: Request, db: WorkspaceDep) -> User:
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        user = token_user(db, authorization[7:].strip())
        if user is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "invalid or revoked API token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        request.state.user, request.state.csrf_token = user, ""
        return user
    session = load_session(db, request.cookies.get(COOKIE, ""))
    if session is None:
        raise LoginRequired()
    request.state.user, request.state.csrf_token = session.user, session.csrf_token
    if request.method not in SAFE_METHODS:
        await check_csrf(request, session.csrf_token)
    return session.user


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(role: Role) -> Callable[[User], Awaitable[User]]:
    """A dependency admitting ``role`` and every role above it, refusing others with 403."""

    async def dependency(user: CurrentUser) -> User:
        if not user.has_role(role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"需要{ROLE_LABELS[role]}或更高权限 (requires role {role} or above)",
            )
        return user

    return dependency


ReviewerUser = Annotated[User, Depends(require_role("reviewer"))]
SupervisorUser = Annotated[User, Depends(require_role("supervisor"))]
AdminUser = Annotated[User, Depends(require_role("admin"))]


def login_csrf_token(db: WorkspaceDb, nonce: str) -> str:
    """The login form's token: an HMAC of the browser's pre-login nonce (signed double-submit)."""
    return hmac.new(db.secret("login-csrf"), nonce.encode(), hashlib.sha256).hexdigest()
