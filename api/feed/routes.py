"""HTTP routes of the feed: /feed/v1/* for platforms (API key), /api/notices* and /api/feed/*
for officers (session or token)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response

from api.accounts import audit
from api.accounts.auth import AdminUser, ReviewerUser, WorkspaceDep
from api.dependencies import ArchiveDep
from api.feed import export as exports
from api.feed import notices, webhooks
from api.feed.config import FeedConfig
from api.feed.figures import platform_figures
from api.feed.platforms import (
    PlatformAccount,
    PlatformExistsError,
    account_for_key,
    create_platform_account,
    list_accounts,
    rotate_key,
)
from api.feed.schemas import (
    EnvelopeOut,
    FeedErrorOut,
    FiguresOut,
    NoticeDetailOut,
    NoticeOut,
    NoticePageOut,
    NoticesCreatedOut,
    NoticesIn,
    NotificationOut,
    OfficerMoveIn,
    PlatformCreatedOut,
    PlatformIn,
    PlatformOut,
    ReplayIn,
    ReplayOut,
    StatusIn,
    StatusOut,
)
from api.feed.states import TransitionError

platform_router = APIRouter(prefix="/feed/v1", tags=["platform feed"])
officer_router = APIRouter(tags=["notices"])

ExportFormat = Literal["csv", "xlsx"]
FEED_ERRORS = {
    401: {"description": "missing or unknown API key"},
    404: {"description": "no such notice for this platform", "model": FeedErrorOut},
}


def get_feed_config(request: Request) -> FeedConfig:
    config: FeedConfig = request.app.state.feed_config
    return config


ConfigDep = Annotated[FeedConfig, Depends(get_feed_config)]


def current_platform(request: Request, db: WorkspaceDep) -> PlatformAccount:
    """The platform account of ``Authorization: Bearer mgp_...``; 401 otherwise."""
    authorization = request.headers.get("authorization", "")
    account = None
    if authorization[:7].lower() == "bearer ":
        account = account_for_key(db, authorization[7:].strip())
    if account is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or unknown platform API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return account


PlatformDep = Annotated[PlatformAccount, Depends(current_platform)]


def feed_error(code: int, error: str, detail: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=code)


def transition_error(exc: TransitionError) -> JSONResponse:
    code = 422 if exc.code in ("unknown_status", "reason_required") else 409
    return feed_error(code, exc.code, str(exc), status=exc.current, allowed=exc.allowed)


def not_found(notice_id: str) -> JSONResponse:
    return feed_error(404, "not_found", f"no notice {notice_id} for this platform")


def attachment(data: bytes, fmt: str, stem: str) -> Response:
    return Response(
        data,
        media_type=exports.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{stem}.{fmt}"'},
    )


# --- platforms --------------------------------------------------------------------------------
@platform_router.get("/notices", response_model=EnvelopeOut, responses=FEED_ERRORS)
def pull(
    account: PlatformDep,
    db: WorkspaceDep,
    config: ConfigDep,
    added_after: datetime | None = None,
    next: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Notices about this platform's listings in feed order, oldest first. Keep ``next`` and
    pass it back to resume; a page with ``more: false`` is the end for now."""
    limit = min(limit or config.page_limit_default, config.page_limit_max)
    try:
        page = notices.pull(db, account.platform, added_after=added_after, cursor=next, limit=limit)
    except notices.BadCursorError as exc:
        return feed_error(400, "bad_cursor", str(exc))
    headers = {}
    if page.first_added:
        headers["X-TAXII-Date-Added-First"] = page.first_added
        headers["X-TAXII-Date-Added-Last"] = page.last_added or page.first_added
    # Built as text from the stored payloads (see notices.view_json); the response model above
    # documents the same shape, and tests check the two agree.
    return Response(page.envelope_json(), media_type="application/json", headers=headers)


@platform_router.get("/notices/{notice_id}", response_model=NoticeOut, responses=FEED_ERRORS)
def platform_notice(notice_id: str, account: PlatformDep, db: WorkspaceDep) -> Response:
    if notices.notice_platform(db, notice_id) != account.platform:
        return not_found(notice_id)
    return JSONResponse(NoticeOut(**notices.get_notice(db, notice_id)).model_dump(mode="json"))


@platform_router.get(
    "/notices/{notice_id}/screenshot", response_class=Response, responses=FEED_ERRORS
)
def platform_screenshot(
    notice_id: str, account: PlatformDep, db: WorkspaceDep, archive: ArchiveDep
) -> Response:
    """The full-page screenshot named in the notice; its SHA-256 is in the notice."""
    if notices.notice_platform(db, notice_id) != account.platform:
        return not_found(notice_id)
    shot = (notices.get_notice(db, notice_id).get("evidence") or {}).get("screenshot")
    if not shot:
        return feed_error(404, "no_screenshot", f"notice {notice_id} has no screenshot")
    try:
        data = archive.read_blob(shot["sha256"])
    except (FileNotFoundError, ValueError):
        return feed_error(404, "no_screenshot", "the screenshot file is not available")
    return Response(data, media_type="image/png")


@platform_router.post(
    "/notices/{notice_id}/status",
    response_model=StatusOut,
    responses={
        **FEED_ERRORS,
        409: {"description": "refused by the state machine", "model": FeedErrorOut},
        422: {"description": "unknown status, or a reason is required", "model": FeedErrorOut},
    },
)
def report(
    notice_id: str,
    body: StatusIn,
    account: PlatformDep,
    db: WorkspaceDep,
    config: ConfigDep,
) -> Response:
    """Report what the platform did: received, removed, rejected (reason), disputed (reason).
    Sending the same report again changes nothing and answers 200 with ``changed: false``."""
    try:
        notice, changed = notices.report_status(
            db,
            account.platform,
            f"platform:{account.name}",
            notice_id,
            body.status,
            body.reason,
            config,
        )
    except notices.UnknownNoticeError:
        return not_found(notice_id)
    except TransitionError as exc:
        return transition_error(exc)
    out = StatusOut(changed=changed, notice=NoticeOut(**notice))
    return JSONResponse(out.model_dump(mode="json"))


@platform_router.get("/figures", response_model=list[FiguresOut], responses=FEED_ERRORS)
def own_figures(account: PlatformDep, db: WorkspaceDep) -> list[FiguresOut]:
    return [FiguresOut(**f) for f in platform_figures(db, account.platform)]


@platform_router.get("/export", response_class=Response, responses=FEED_ERRORS)
def platform_export(
    account: PlatformDep, db: WorkspaceDep, format: ExportFormat = "csv"
) -> Response:
    _, items = notices.list_notices(db, platform=account.platform, limit=100_000)
    return attachment(exports.export(items, format), format, f"notices-{account.platform}")


# --- officers ---------------------------------------------------------------------------------
@officer_router.post(
    "/api/notices",
    response_model=NoticesCreatedOut,
    status_code=201,
    responses={
        404: {"description": "unknown listing"},
        409: {"description": "an open notice exists"},
        422: {"description": "not a confirmed violation"},
    },
)
def create(
    body: NoticesIn,
    user: ReviewerUser,
    db: WorkspaceDep,
    archive: ArchiveDep,
    config: ConfigDep,
) -> Response:
    """Notices for confirmed violations, one per listing, all or none."""
    records = []
    for key in body.listings:
        record = archive.get_listing(key.platform, key.listing_id)
        if record is None:
            return feed_error(404, "unknown_listing", f"no listing {key.platform}:{key.listing_id}")
        records.append(record)
    try:
        made = notices.create_notices(
            db, records, action=body.action, actor=user.name, note=body.note, config=config
        )
    except notices.NotConfirmedError as exc:
        return feed_error(422, "not_confirmed", str(exc))
    except notices.DuplicateNoticeError as exc:
        return feed_error(409, "open_notice_exists", str(exc), notice_ids=exc.notice_ids)
    out = NoticesCreatedOut(notices=[NoticeOut(**n) for n in made])
    return JSONResponse(out.model_dump(mode="json"), status_code=201)


@officer_router.get("/api/notices", response_model=NoticePageOut)
def officer_list(
    user: ReviewerUser,
    db: WorkspaceDep,
    platform: str | None = None,
    status_: Annotated[str | None, Query(alias="status")] = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> NoticePageOut:
    total, items = notices.list_notices(
        db, platform=platform, status=status_, overdue=overdue, limit=limit, offset=offset
    )
    return NoticePageOut(
        total=total, limit=limit, offset=offset, items=[NoticeOut(**n) for n in items]
    )


@officer_router.get("/api/notices/export", response_class=Response)
def officer_export(
    user: ReviewerUser,
    db: WorkspaceDep,
    platform: str | None = None,
    status_: Annotated[str | None, Query(alias="status")] = None,
    format: ExportFormat = "xlsx",
) -> Response:
    _, items = notices.list_notices(db, platform=platform, status=status_, limit=100_000)
    audit.record(db, user.name, "notice.export", f"platform:{platform or '*'}")
    return attachment(exports.export(items, format), format, f"notices-{platform or 'all'}")


@officer_router.get("/api/notices/{notice_id}", response_model=NoticeDetailOut)
def officer_detail(notice_id: str, user: ReviewerUser, db: WorkspaceDep) -> NoticeDetailOut:
    try:
        notice = notices.get_notice(db, notice_id)
    except notices.UnknownNoticeError as exc:
        raise HTTPException(404, f"no notice {notice_id}") from exc
    return NoticeDetailOut(
        notice=NoticeOut(**notice),
        events=notices.events(db, notice_id),  # type: ignore[arg-type]
    )


def _officer_move(
    notice_id: str,
    wanted: str,
    body: OfficerMoveIn,
    user: ReviewerUser,
    db: WorkspaceDep,
    config: FeedConfig,
) -> Response:
    try:
        notice = notices.officer_move(db, notice_id, wanted, user.name, body.reason, config)
    except notices.UnknownNoticeError:
        return feed_error(404, "not_found", f"no notice {notice_id}")
    except TransitionError as exc:
        return transition_error(exc)
    return JSONResponse(NoticeOut(**notice).model_dump(mode="json"))


@officer_router.post("/api/notices/{notice_id}/close", response_model=NoticeOut)
def close(
    notice_id: str, body: OfficerMoveIn, user: ReviewerUser, db: WorkspaceDep, config: ConfigDep
) -> Response:
    """Close a notice (final): accept a rejection, settle a dispute, or withdraw it."""
    return _officer_move(notice_id, "closed", body, user, db, config)


@officer_router.post("/api/notices/{notice_id}/reopen", response_model=NoticeOut)
def reopen(
    notice_id: str, body: OfficerMoveIn, user: ReviewerUser, db: WorkspaceDep, config: ConfigDep
) -> Response:
    """Send a rejected, disputed or removed notice back to the platform."""
    return _officer_move(notice_id, "reopened", body, user, db, config)


@officer_router.get("/api/feed/figures", response_model=list[FiguresOut])
def figures(user: ReviewerUser, db: WorkspaceDep, platform: str | None = None) -> list[FiguresOut]:
    return [FiguresOut(**f) for f in platform_figures(db, platform)]


@officer_router.get("/api/notifications", response_model=list[NotificationOut])
def officer_notifications(
    user: ReviewerUser, db: WorkspaceDep, all: bool = False
) -> list[NotificationOut]:
    """What officers should look at: reopened and overdue notices. Unread only by default."""
    return [NotificationOut(**n) for n in notices.notifications(db, unread_only=not all)]


@officer_router.post("/api/notifications/{notification_id}/read", status_code=204)
def read_notification(notification_id: int, user: ReviewerUser, db: WorkspaceDep) -> Response:
    if not notices.mark_read(db, notification_id):
        raise HTTPException(404, "no such unread notification")
    return Response(status_code=204)


@officer_router.post("/api/feed/platforms", response_model=PlatformCreatedOut, status_code=201)
def add_platform(body: PlatformIn, admin: AdminUser, db: WorkspaceDep) -> PlatformCreatedOut:
    """A platform account; its API key and webhook secret are shown only in this answer."""
    try:
        made = create_platform_account(db, body.name, body.platform, body.webhook_url)
    except PlatformExistsError as exc:
        raise HTTPException(409, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    account = made.account
    audit.record(
        db,
        admin.name,
        "platform.create",
        f"platform_account:{account.name}",
        after={"platform": account.platform, "webhook_url": account.webhook_url},
    )
    return PlatformCreatedOut(
        account_id=account.account_id,
        name=account.name,
        platform=account.platform,
        webhook_url=account.webhook_url,
        api_key=made.api_key,
        webhook_secret=account.webhook_secret,
    )


@officer_router.get("/api/feed/platforms", response_model=list[PlatformOut])
def platforms(admin: AdminUser, db: WorkspaceDep) -> list[PlatformOut]:
    return [
        PlatformOut(**{k: v for k, v in dataclasses.asdict(a).items() if k != "webhook_secret"})
        for a in list_accounts(db)
    ]


@officer_router.post("/api/feed/platforms/{account_id}/rotate-key")
def rotate_platform_key(account_id: int, admin: AdminUser, db: WorkspaceDep) -> dict[str, str]:
    """A new API key for a platform account, shown once; the old key stops working now."""
    key = rotate_key(db, account_id)
    if key is None:
        raise HTTPException(404, f"no platform account {account_id}")
    audit.record(db, admin.name, "platform.rotate_key", f"platform_account:{account_id}")
    return {"api_key": key}


@officer_router.get("/api/feed/deliveries")
def deliveries(
    admin: AdminUser, db: WorkspaceDep, status_: Annotated[str | None, Query(alias="status")] = None
) -> list[dict[str, object]]:
    """Webhook deliveries, newest first; ``?status=dead`` for the dead letters."""
    return webhooks.list_deliveries(db, status=status_)


@officer_router.post("/api/feed/deliveries/replay", response_model=ReplayOut)
def replay(body: ReplayIn, admin: AdminUser, db: WorkspaceDep) -> ReplayOut:
    """Queue dead deliveries again (all, some ids, or one account's)."""
    statuses = ("dead", "delivered") if body.include_delivered else ("dead",)
    count = webhooks.replay(
        db,
        admin.name,
        delivery_ids=body.delivery_ids,
        account_id=body.account_id,
        statuses=statuses,
    )
    return ReplayOut(replayed=count)
