"""Login and logout pages; JSON routes for the signed-in user, API tokens, users and audit."""

from __future__ import annotations

import dataclasses
import hmac
import secrets
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.accounts import audit
from api.accounts.auth import (
    LOGIN_COOKIE,
    AdminUser,
    CurrentUser,
    ReviewerUser,
    SupervisorUser,
    WorkspaceDep,
    login_csrf_token,
)
from api.accounts.passwords import WeakPasswordError, generate_password
from api.accounts.sessions import COOKIE, LIFETIME, create_session, end_session
from api.accounts.tokens import create_token, list_tokens, revoke_token
from api.accounts.users import (
    NAME_MAX,
    Role,
    UserExistsError,
    authenticate,
    create_user,
    list_users,
)
from api.dependencies import TemplatesDep

pages = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)
router = APIRouter(tags=["accounts"])


def safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would turn the login page into a phishing aid."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_page(
    request: Request,
    templates: TemplatesDep,
    db: WorkspaceDep,
    next_path: str,
    error: str = "",
    status_code: int = 200,
) -> Response:
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    context = {
        "login_csrf": login_csrf_token(db, nonce),
        "next": safe_next(next_path),
        "error": error,
        "name_max": NAME_MAX,
    }
    response = templates.TemplateResponse(request, "login.html", context, status_code=status_code)
    response.set_cookie(
        LOGIN_COOKIE, nonce, httponly=True, samesite="strict", secure=_secure(request), path="/"
    )
    return response


@pages.get("/login")
def login_form(
    request: Request, templates: TemplatesDep, db: WorkspaceDep, next: str = "/"
) -> Response:
    return _login_page(request, templates, db, next)


@pages.post("/login")
def login(
    request: Request,
    templates: TemplatesDep,
    db: WorkspaceDep,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    expected = login_csrf_token(db, nonce) if nonce else ""
    if not expected or not hmac.compare_digest(csrf_token.encode(), expected.encode()):
        return _login_page(
            request, templates, db, next, "页面已过期，请重新登录。", status.HTTP_403_FORBIDDEN
        )
    user = authenticate(db, name, password)
    if user is None:
        audit.record(db, name.strip()[:NAME_MAX] or "?", "login.failed", f"user:{name.strip()}")
        return _login_page(
            request, templates, db, next, "用户名或密码错误。", status.HTTP_401_UNAUTHORIZED
        )
    token = create_session(db, user)
    audit.record(db, user.name, "login", f"user:{user.name}")
    response = RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@pages.post("/logout")
def logout(request: Request, user: CurrentUser, db: WorkspaceDep) -> Response:
    end_session(db, request.cookies.get(COOKIE, ""))
    audit.record(db, user.name, "logout", f"user:{user.name}")
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, path="/")
    return response


# --- JSON --------------------------------------------------------------------------------------
class MeOut(BaseModel):
    name: str
    role: str
    csrf_token: str  # "" when authenticated by API token (no CSRF needed)


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(default="script", max_length=100)


class TokenCreatedOut(BaseModel):
    token_id: int
    label: str
    token: str  # shown once


class TokenOut(BaseModel):
    token_id: int
    label: str
    created_at: str
    last_used: str | None
    revoked: bool


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=NAME_MAX)
    role: Role
    password: str | None = None  # None: a one-time password is generated and returned


class UserOut(BaseModel):
    name: str
    role: str
    one_time_password: str | None = None


class AuditOut(BaseModel):
    entry_id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: Any
    after: Any


@router.get("/api/me", response_model=MeOut)
def me(request: Request, user: CurrentUser) -> MeOut:
    return MeOut(name=user.name, role=user.role, csrf_token=request.state.csrf_token)


@router.post("/api/tokens", response_model=TokenCreatedOut, status_code=201)
def new_token(body: TokenIn, user: ReviewerUser, db: WorkspaceDep) -> TokenCreatedOut:
    """A token for scripts acting as you: ``Authorization: Bearer <token>``. Shown only now."""
    token_id, token = create_token(db, user, body.label)
    audit.record(db, user.name, "token.create", f"token:{token_id}", after={"label": body.label})
    return TokenCreatedOut(token_id=token_id, label=body.label, token=token)


@router.get("/api/tokens", response_model=list[TokenOut])
def tokens(user: ReviewerUser, db: WorkspaceDep) -> list[TokenOut]:
    return [TokenOut(**dataclasses.asdict(info)) for info in list_tokens(db, user)]


@router.delete("/api/tokens/{token_id}", status_code=204)
def delete_token(token_id: int, user: ReviewerUser, db: WorkspaceDep) -> Response:
    if not revoke_token(db, user, token_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such live token of yours")
    audit.record(db, user.name, "token.revoke", f"token:{token_id}")
    return Response(status_code=204)


@router.get("/api/users", response_model=list[UserOut])
def users(admin: AdminUser, db: WorkspaceDep) -> list[UserOut]:
    return [UserOut(name=u.name, role=u.role) for u in list_users(db)]


@router.post("/api/users", response_model=UserOut, status_code=201)
def add_user(body: UserIn, admin: AdminUser, db: WorkspaceDep) -> UserOut:
    password = body.password or generate_password()
    try:
        user = create_user(db, body.name, body.role, password)
    except UserExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except (WeakPasswordError, ValueError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    audit.record(db, admin.name, "user.create", f"user:{user.name}", after={"role": user.role})
    return UserOut(
        name=user.name, role=user.role, one_time_password=None if body.password else password
    )


@router.get("/api/audit", response_model=list[AuditOut])
def audit_log(
    supervisor: SupervisorUser,
    db: WorkspaceDep,
    target: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    """The audit log, newest first (supervisors and admins). Page with ``before_id``."""
    found = audit.entries(
        db, target=target, actor=actor, action_prefix=action, before_id=before_id, limit=limit
    )
    return [AuditOut(**dataclasses.asdict(entry)) for entry in found]
