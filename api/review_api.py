"""JSON for what the review pages do: listing context (seller history, image matches,
re-checks, cases), verification, re-check requests, bulk decisions, cases and their evidence
package, statistics, and the Excel exports of every filtered list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import Response

from api import cases as case_store
from api import count_cache
from api.accounts import audit
from api.accounts.auth import ReviewerUser, SupervisorUser, WorkspaceDep
from api.decisions import DecisionError, bulk_decide, decide, rechecks
from api.dependencies import ArchiveDep, app_zone, listing_or_404
from api.evidence_check import check_capture, record_check
from api.i18n import label
from api.pages import SELLER_HISTORY, _risk_model, listing_images, seller_listings
from api.queue_params import QueueParamsDep, queue_params
from api.review_pages import export_case_response
from api.review_schemas import (
    BulkIn,
    BulkOut,
    CaseIn,
    CaseListingIn,
    CaseListingOut,
    CaseOut,
    CaseStatusIn,
    ImageOut,
    ListingContextOut,
    RecheckIn,
    RecheckOut,
    SellerListingOut,
    StatsOut,
    VerifyOut,
)
from api.schemas import FlagOut
from api.spreadsheets import XLSX, content_disposition, workbook
from api.statistics import DIMENSIONS, StatisticsDep
from api.templating import listing_path
from evidence.archive.base import Archive, FlaggedRow, QueueFilter

router = APIRouter()
NOT_FOUND = {404: {"description": "No such listing or case"}}
EXPORT_MAX = 100_000  # rows in one queue export
XLSX_RESPONSE = {200: {"content": {XLSX: {}}, "description": "an Excel workbook"}}


# --- listing context and verification -------------------------------------------------------------
@router.get(
    "/api/listings/{platform}/{listing_id}/context",
    response_model=ListingContextOut,
    responses=NOT_FOUND,
    tags=["listings"],
)
def listing_context(
    platform: str,
    listing_id: str,
    user: ReviewerUser,
    archive: ArchiveDep,
    workspace: WorkspaceDep,
) -> ListingContextOut:
    """What the detail page shows beside the stored record: the score's parts, the seller's
    other listings, the images with their matches, re-check requests and cases."""
    record = listing_or_404(archive, platform, listing_id)
    seller_id = record.listing.seller.seller_id if record.listing.seller else ""
    history = [
        row
        for row in seller_listings(archive, platform, seller_id, SELLER_HISTORY + 1)
        if row.listing_id != listing_id
    ][:SELLER_HISTORY]
    return ListingContextOut(
        risk_score=record.risk_score,
        risk_contributions=list(_risk_model().score(record.flags).contributions),
        seller_history=[_seller_row(row) for row in history],
        seller_confirmed=sum(1 for row in history if row.decision == "confirmed"),
        images=[
            ImageOut(
                url=image["url"],
                sha256=image["sha256"],
                flags=[FlagOut.model_validate(f.to_dict()) for f in image["flags"]],
            )
            for image in listing_images(record)
        ],
        rechecks=[
            RecheckOut.model_validate(r, from_attributes=True)
            for r in rechecks(workspace, platform, listing_id)
        ],
        cases=case_store.cases_of_listing(workspace, platform, listing_id),
    )


def _seller_row(row: FlaggedRow) -> SellerListingOut:
    return SellerListingOut(
        platform=row.platform,
        listing_id=row.listing_id,
        title=row.title,
        max_severity=row.max_severity,  # type: ignore[arg-type]
        risk_score=row.risk_score,
        decision=row.decision,
        rule_ids=row.rule_ids,
        last_seen=row.last_seen,
        detail_url=listing_path(row.platform, row.listing_id),
    )


@router.get(
    "/api/listings/{platform}/{listing_id}/verify",
    response_model=list[VerifyOut],
    responses=NOT_FOUND,
    tags=["listings"],
)
def verify_listing(
    platform: str,
    listing_id: str,
    user: ReviewerUser,
    archive: ArchiveDep,
    workspace: WorkspaceDep,
) -> list[VerifyOut]:
    """Re-hash every file of the listing's captures (newest five) and, when available, run
    ``evidence verify`` for each capture (the sealed ledger chain)."""
    record = listing_or_404(archive, platform, listing_id)
    checks = [check_capture(archive, capture) for capture in record.evidence[:5]]
    for check in checks:
        record_check(workspace, user.name, check)
    return [VerifyOut.model_validate(check.to_dict()) for check in checks]


# --- decisions ----------------------------------------------------------------------------------
@router.post(
    "/api/listings/{platform}/{listing_id}/rechecks",
    response_model=RecheckOut,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
    tags=["decisions"],
)
def add_recheck(
    platform: str,
    listing_id: str,
    body: RecheckIn,
    user: ReviewerUser,
    archive: ArchiveDep,
    workspace: WorkspaceDep,
) -> RecheckOut:
    """Ask for the listing to be crawled and captured again (复查)."""
    record = listing_or_404(archive, platform, listing_id)
    decide(archive, workspace, user.name, record, "recheck", body.reason)
    return RecheckOut.model_validate(
        rechecks(workspace, platform, listing_id, limit=1)[0], from_attributes=True
    )


@router.get("/api/rechecks", response_model=list[RecheckOut], tags=["decisions"])
def list_rechecks(
    user: ReviewerUser,
    workspace: WorkspaceDep,
    open_only: bool = True,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[RecheckOut]:
    """Re-check requests, newest first (open ones only unless ``open_only=false``)."""
    return [
        RecheckOut.model_validate(r, from_attributes=True)
        for r in rechecks(workspace, open_only=open_only, limit=limit)
    ]


@router.post(
    "/api/bulk-decisions",
    response_model=BulkOut,
    tags=["decisions"],
    responses={422: {"description": "bad action or filter"}},
)
def bulk(
    request: Request,
    body: BulkIn,
    user: ReviewerUser,
    archive: ArchiveDep,
    workspace: WorkspaceDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> BulkOut:
    """One decision on every listing the filters select; nothing at all (``truncated``) when
    they select more than ``limit``. Listings already in that state are skipped."""
    params = queue_params(
        body.category,
        body.rule,
        body.decision,
        body.platform,
        body.region,
        body.date_from,
        body.date_to,
        body.q,
    )
    try:
        result = bulk_decide(
            archive,
            workspace,
            user.name,
            params.to_filter(zone=app_zone(request)),
            body.action,
            body.reason,
            limit=limit,
        )
    except DecisionError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    count_cache.invalidate(request.app.state)
    return BulkOut(
        matched=result.matched,
        applied=result.applied,
        skipped=result.skipped,
        truncated=result.truncated,
        limit=limit,
    )


# --- cases ----------------------------------------------------------------------------------------
def case_out(case: case_store.Case, config: case_store.ReviewConfig) -> CaseOut:
    return CaseOut(
        case_id=case.case_id,
        title=case.title,
        investigators=case.investigators,
        status=case.status,  # type: ignore[arg-type]
        note=case.note,
        created_by=case.created_by,
        created_at=case.created_at,
        updated_at=case.updated_at,
        goods_value=case.goods_value,
        value_incomplete=case.value_incomplete,
        referral=case.referral(config),
        referral_threshold=config.referral_threshold,
        listings=[
            CaseListingOut(
                platform=i.platform,
                listing_id=i.listing_id,
                title=i.title,
                url=i.url,
                category=i.category,
                seller=i.seller,
                price=i.price,
                sales=i.sales,
                value=i.value,
                capture_id=i.capture_id,
                added_by=i.added_by,
                added_at=i.added_at,
            )
            for i in case.listings
        ],
    )


def _case(workspace: Any, case_id: str) -> case_store.Case:
    case = case_store.get_case(workspace, case_id)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case {case_id}")
    return case


@router.get("/api/cases", response_model=list[CaseOut], tags=["cases"])
def list_cases(request: Request, user: ReviewerUser, workspace: WorkspaceDep) -> list[CaseOut]:
    config = request.app.state.review_config
    return [case_out(case, config) for case in case_store.list_cases(workspace)]


@router.post(
    "/api/cases", response_model=CaseOut, status_code=status.HTTP_201_CREATED, tags=["cases"]
)
def create_case(
    request: Request, body: CaseIn, user: ReviewerUser, workspace: WorkspaceDep
) -> CaseOut:
    """A new case (案件) with its number (MGC-<year>-<n>) and two investigators (accounts)."""
    try:
        case = case_store.create_case(
            workspace, user.name, body.title, body.investigators, body.note
        )
    except case_store.CaseError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return case_out(case, request.app.state.review_config)


@router.get("/api/cases/{case_id}", response_model=CaseOut, responses=NOT_FOUND, tags=["cases"])
def get_case(
    request: Request, case_id: str, user: ReviewerUser, workspace: WorkspaceDep
) -> CaseOut:
    return case_out(_case(workspace, case_id), request.app.state.review_config)


@router.post(
    "/api/cases/{case_id}/listings", response_model=CaseOut, responses=NOT_FOUND, tags=["cases"]
)
def add_case_listing(
    request: Request,
    case_id: str,
    body: CaseListingIn,
    user: ReviewerUser,
    archive: ArchiveDep,
    workspace: WorkspaceDep,
) -> CaseOut:
    """Add a confirmed listing (422 for one not confirmed); adding it twice changes nothing."""
    _case(workspace, case_id)
    record = listing_or_404(archive, body.platform, body.listing_id)
    try:
        case_store.add_listing(workspace, user.name, case_id, record)
    except case_store.CaseError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return case_out(_case(workspace, case_id), request.app.state.review_config)


@router.delete(
    "/api/cases/{case_id}/listings/{platform}/{listing_id}",
    response_model=CaseOut,
    responses=NOT_FOUND,
    tags=["cases"],
)
def remove_case_listing(
    request: Request,
    case_id: str,
    platform: str,
    listing_id: str,
    user: ReviewerUser,
    workspace: WorkspaceDep,
) -> CaseOut:
    _case(workspace, case_id)
    case_store.remove_listing(workspace, user.name, case_id, platform, listing_id)
    return case_out(_case(workspace, case_id), request.app.state.review_config)


@router.put(
    "/api/cases/{case_id}/status", response_model=CaseOut, responses=NOT_FOUND, tags=["cases"]
)
def case_status(
    request: Request,
    case_id: str,
    body: CaseStatusIn,
    user: ReviewerUser,
    workspace: WorkspaceDep,
) -> CaseOut:
    _case(workspace, case_id)
    case_store.set_status(workspace, user.name, case_id, body.status)
    return case_out(_case(workspace, case_id), request.app.state.review_config)


@router.get(
    "/api/cases/{case_id}/export",
    responses={**NOT_FOUND, 200: {"content": {"application/zip": {}}}},
    response_class=Response,
    tags=["cases"],
)
def case_export(
    request: Request,
    case_id: str,
    user: ReviewerUser,
    archive: ArchiveDep,
    workspace: WorkspaceDep,
) -> Response:
    """The case's evidence package (zip): ``evidence.export`` when available, else the captured
    files with a manifest and SHA256SUMS. Header ``X-Export-Made-By`` says which."""
    return export_case_response(request, archive, workspace, user.name, case_id)


# --- statistics -----------------------------------------------------------------------------------
@router.get("/api/stats", response_model=StatsOut, tags=["statistics"])
def stats(user: ReviewerUser, figures: StatisticsDep) -> StatsOut:
    """Counts of the filtered flagged listings by category, platform, region, rule, decision
    and ISO week of first sighting; the share of cases on priority products vs the target."""
    return StatsOut(
        total=figures.total,
        counts=figures.counts,
        cases=figures.cases,
        priority_cases=figures.priority_cases,
        priority_share=figures.priority_share,
        priority_target=figures.target,
        meets_target=figures.meets_target,
        referrals=figures.referrals,
    )


# --- Excel exports --------------------------------------------------------------------------------
def _xlsx(body: bytes, filename: str) -> Response:
    return Response(
        body, media_type=XLSX, headers={"Content-Disposition": content_disposition(filename)}
    )


def _queue_rows(archive: Archive, query: QueueFilter, names: dict[str, str]) -> Iterator[list[Any]]:
    after: str | None = None
    sent = 0
    while sent < EXPORT_MAX:
        query.after, query.limit = after, 1000
        page = archive.flagged(query)
        for row in page:
            yield [
                row.risk_score,
                label("severity", row.max_severity),
                row.platform,
                row.listing_id,
                row.title,
                row.price,
                names.get(row.category, row.category),
                row.seller_name,
                row.seller_location,
                row.rule_ids,
                label("decision", row.decision),
                row.first_seen,
                row.last_seen,
                row.url,
                row.screenshot_sha256 or "",
            ]
        sent += len(page)
        if len(page) < 1000:
            return
        after = page[-1].cursor


QUEUE_HEADER = (
    "风险分",
    "严重程度",
    "平台",
    "商品编号",
    "标题",
    "价格",
    "类目",
    "卖家",
    "卖家所在地",
    "规则",
    "审核状态",
    "首次发现",
    "最近发现",
    "链接",
    "截图 SHA-256",
)


@router.get(
    "/api/export/queue.xlsx", response_class=Response, responses=XLSX_RESPONSE, tags=["exports"]
)
def export_queue(
    request: Request,
    user: ReviewerUser,
    archive: ArchiveDep,
    workspace: WorkspaceDep,
    params: QueueParamsDep,
) -> Response:
    """The filtered queue (same filters as /api/flagged), in queue order, up to 100 000 rows."""
    query = params.to_filter(zone=app_zone(request))
    names = request.app.state.category_names
    body = workbook(
        [
            ("待审队列", QUEUE_HEADER, _queue_rows(archive, query, names)),
            ("筛选条件", ("条件",), [[params.describe()]]),
        ],
        timezone=app_zone(request),
    )
    audit.record(
        workspace,
        user.name,
        "export.queue",
        "queue",
        after={"filter": params.as_query(), "bytes": len(body)},
    )
    return _xlsx(body, "待审队列.xlsx")


@router.get(
    "/api/export/cases.xlsx", response_class=Response, responses=XLSX_RESPONSE, tags=["exports"]
)
def export_cases(request: Request, user: ReviewerUser, workspace: WorkspaceDep) -> Response:
    config = request.app.state.review_config
    cases = case_store.list_cases(workspace)
    summary = [
        [
            c.case_id,
            c.title,
            c.investigators,
            label("case_status", c.status),
            len(c.listings),
            float(c.goods_value),
            "是" if c.referral(config) else "否",
            c.created_by,
            c.created_at,
        ]
        for c in cases
    ]
    items = [
        [
            c.case_id,
            i.platform,
            i.listing_id,
            i.title,
            i.seller,
            i.category,
            float(i.price) if i.price is not None else "",
            i.sales if i.sales is not None else "",
            float(i.value) if i.value is not None else "",
            i.capture_id,
            i.url,
        ]
        for c in cases
        for i in c.listings
    ]
    body = workbook(
        [
            (
                "案件",
                (
                    "案件编号",
                    "案件名称",
                    "办案人员",
                    "状态",
                    "商品数",
                    "估算货值",
                    "达到移送标准",
                    "创建人",
                    "创建时间",
                ),
                summary,
            ),
            (
                "涉案商品",
                (
                    "案件编号",
                    "平台",
                    "商品编号",
                    "标题",
                    "卖家",
                    "类目",
                    "价格",
                    "销量",
                    "货值",
                    "取证编号",
                    "链接",
                ),
                items,
            ),
        ],
        timezone=app_zone(request),
    )
    return _xlsx(body, "案件.xlsx")


@router.get(
    "/api/export/stats.xlsx", response_class=Response, responses=XLSX_RESPONSE, tags=["exports"]
)
def export_stats(
    request: Request, user: ReviewerUser, params: QueueParamsDep, figures: StatisticsDep
) -> Response:
    sheets: list[tuple[str, tuple[str, ...], Any]] = [
        (label("stat", name), (label("stat", name), "数量"), list(figures.counts[name].items()))
        for name in DIMENSIONS
    ]
    sheets.append(
        (
            "重点产品案件占比",
            ("案件总数", "重点产品案件", "占比", "目标", "筛选条件"),
            [
                [
                    figures.cases,
                    figures.priority_cases,
                    round(figures.priority_share, 4),
                    figures.target,
                    params.describe(),
                ]
            ],
        )
    )
    return _xlsx(workbook(sheets, timezone=app_zone(request)), "统计.xlsx")


@router.get(
    "/api/export/audit.xlsx", response_class=Response, responses=XLSX_RESPONSE, tags=["exports"]
)
def export_audit(
    request: Request,
    user: SupervisorUser,
    workspace: WorkspaceDep,
    actor: str = "",
    action: str = "",
    target: str = "",
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> Response:
    """The audit log (supervisors), newest first, with the same filters as the audit page."""
    entries = audit.entries(
        workspace,
        actor=actor or None,
        action_prefix=action or None,
        target=target or None,
        limit=limit,
    )
    rows = [
        [e.entry_id, e.at, e.actor, e.action, e.target, _json(e.before), _json(e.after)]
        for e in entries
    ]
    body = workbook(
        [("审计日志", ("编号", "时间", "操作人", "操作", "对象", "操作前", "操作后"), rows)],
        timezone=app_zone(request),
    )
    return _xlsx(body, "审计日志.xlsx")


def _json(value: Any) -> str:
    import json

    return (
        "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    )
