"""Review pages beyond the queue and the listing: bulk decisions, re-check requests, evidence
verification, cases (案件), statistics and the audit log. Forms post back and redirect (no
script on any page); every change goes through ``api.decisions`` / ``api.cases``, which write
the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import cases as case_store
from api import count_cache
from api.accounts import audit
from api.accounts.auth import ReviewerUser, SupervisorUser, WorkspaceDep
from api.accounts.users import list_users
from api.charts import bar_chart, column_chart, share_gauge
from api.decisions import DecisionError, bulk_decide, decide
from api.dependencies import ArchiveDep, TemplatesDep, app_zone, listing_or_404
from api.evidence_check import check_capture, record_check
from api.i18n import label, t
from api.queue_params import DATE, TEXT_MAX, QueueParamsDep, queue_params
from api.spreadsheets import content_disposition
from api.statistics import StatisticsDep
from api.templating import listing_path, query_string
from evidence.archive.base import Archive

router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)

AUDIT_PAGE = 100


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


def _message(request: Request, templates: Any, text: str, code: int) -> Response:
    return templates.TemplateResponse(request, "message.html", {"message": text}, status_code=code)


# --- decisions ----------------------------------------------------------------------------------
@router.post("/bulk")
def bulk_form(
    request: Request,
    user: ReviewerUser,
    archive: ArchiveDep,
    workspace: WorkspaceDep,
    templates: TemplatesDep,
    action: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    category: Annotated[str, Form(max_length=100)] = "",
    rule: Annotated[str, Form(max_length=100)] = "",
    decision: Annotated[str, Form(max_length=20)] = "",
    platform: Annotated[str, Form(max_length=100)] = "",
    region: Annotated[str, Form(max_length=100)] = "",
    date_from: Annotated[str, Form(pattern=DATE)] = "",
    date_to: Annotated[str, Form(pattern=DATE)] = "",
    q: Annotated[str, Form(max_length=TEXT_MAX)] = "",
) -> Response:
    """The decision on every listing the queue's filters (carried as hidden fields) select."""
    if decision not in ("", "confirmed", "dismissed", "unreviewed"):
        return _message(request, templates, f"未知审核状态 {decision}", 422)
    params = queue_params(category, rule, decision, platform, region, date_from, date_to, q)  # type: ignore[arg-type]
    query = params.to_filter(zone=app_zone(request))
    try:
        result = bulk_decide(archive, workspace, user.name, query, action, reason)
    except DecisionError as exc:
        return _message(request, templates, f"批量处理未执行：{exc}", 422)
    count_cache.invalidate(request.app.state)
    outcome = "too-many" if result.truncated else f"done-{result.applied}-{result.skipped}"
    return _see_other("/" + query_string(params.as_query() | {"bulk": outcome}))


@router.post("/listings/{platform}/{listing_id}/rechecks")
def recheck_form(
    platform: str,
    listing_id: str,
    user: ReviewerUser,
    archive: ArchiveDep,
    workspace: WorkspaceDep,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    record = listing_or_404(archive, platform, listing_id)
    decide(archive, workspace, user.name, record, "recheck", reason)
    return _see_other(f"{listing_path(platform, listing_id)}?reviewed=1#review")


@router.get("/listings/{platform}/{listing_id}/verify")
def verify_page(
    request: Request,
    platform: str,
    listing_id: str,
    user: ReviewerUser,
    archive: ArchiveDep,
    workspace: WorkspaceDep,
    templates: TemplatesDep,
) -> Response:
    record = listing_or_404(archive, platform, listing_id)
    checks = [check_capture(archive, capture) for capture in record.evidence[:5]]
    for check in checks:
        record_check(workspace, user.name, check)
    return templates.TemplateResponse(
        request, "verify.html", {"listing": record.listing, "checks": checks}
    )


@router.post("/listings/{platform}/{listing_id}/case")
def add_to_case_form(
    request: Request,
    platform: str,
    listing_id: str,
    user: ReviewerUser,
    archive: ArchiveDep,
    workspace: WorkspaceDep,
    templates: TemplatesDep,
    case_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    record = listing_or_404(archive, platform, listing_id)
    try:
        case_store.add_listing(workspace, user.name, case_id, record)
    except case_store.CaseError as exc:
        return _message(request, templates, str(exc), 422)
    return _see_other(f"/cases/{case_id}")


# --- cases --------------------------------------------------------------------------------------
@router.get("/cases")
def cases_page(
    request: Request,
    user: ReviewerUser,
    workspace: WorkspaceDep,
    templates: TemplatesDep,
    error: str = "",
) -> Response:
    config = request.app.state.review_config
    cases = case_store.list_cases(workspace)
    context = {
        "cases": cases,
        "config": config,
        "users": [u.name for u in list_users(workspace)],
        "error": error,
    }
    return templates.TemplateResponse(request, "cases.html", context)


@router.post("/cases")
def create_case_form(
    request: Request,
    user: ReviewerUser,
    workspace: WorkspaceDep,
    templates: TemplatesDep,
    title: Annotated[str, Form(max_length=200)] = "",
    investigator_1: Annotated[str, Form(max_length=100)] = "",
    investigator_2: Annotated[str, Form(max_length=100)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        case = case_store.create_case(
            workspace, user.name, title, (investigator_1, investigator_2), note
        )
    except case_store.CaseError as exc:
        return _message(request, templates, str(exc), 422)
    return _see_other(f"/cases/{case.case_id}")


@router.get("/cases/{case_id}")
def case_page(
    request: Request,
    case_id: str,
    user: ReviewerUser,
    workspace: WorkspaceDep,
    templates: TemplatesDep,
) -> Response:
    case = case_store.get_case(workspace, case_id)
    if case is None:
        return templates.TemplateResponse(
            request, "not_found.html", {"what": f"案件 {case_id}"}, status_code=404
        )
    context = {
        "case": case,
        "config": request.app.state.review_config,
        "statuses": case_store.STATUSES,
    }
    return templates.TemplateResponse(request, "case.html", context)


@router.post("/cases/{case_id}/listings/remove")
def remove_from_case_form(
    case_id: str,
    user: ReviewerUser,
    workspace: WorkspaceDep,
    platform: Annotated[str, Form()] = "",
    listing_id: Annotated[str, Form()] = "",
) -> Response:
    case_store.remove_listing(workspace, user.name, case_id, platform, listing_id)
    return _see_other(f"/cases/{case_id}")


@router.post("/cases/{case_id}/status")
def case_status_form(
    request: Request,
    case_id: str,
    user: ReviewerUser,
    workspace: WorkspaceDep,
    templates: TemplatesDep,
    status_value: Annotated[str, Form(alias="status")] = "",
) -> Response:
    try:
        case_store.set_status(workspace, user.name, case_id, status_value)
    except case_store.CaseError as exc:
        return _message(request, templates, str(exc), 422)
    return _see_other(f"/cases/{case_id}")


@router.get("/cases/{case_id}/export")
def case_export(
    request: Request,
    case_id: str,
    user: ReviewerUser,
    archive: ArchiveDep,
    workspace: WorkspaceDep,
) -> Response:
    return export_case_response(request, archive, workspace, user.name, case_id)


def export_case_response(
    request: Request, archive: Archive, workspace: Any, actor: str, case_id: str
) -> Response:
    case = case_store.get_case(workspace, case_id)
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case {case_id}")
    body, made_by = case_store.export_package(archive, case, workspace.path.parent)
    audit.record(
        workspace,
        actor,
        "case.export",
        f"case:{case_id}",
        after={"bytes": len(body), "made_by": made_by, "listings": len(case.listings)},
    )
    return Response(
        body,
        media_type="application/zip",
        headers={
            "Content-Disposition": content_disposition(f"{case_id}-证据包.zip"),
            "X-Export-Made-By": made_by,
        },
    )


# --- statistics -----------------------------------------------------------------------------------
@router.get("/stats")
def stats_page(
    request: Request,
    user: ReviewerUser,
    archive: ArchiveDep,
    templates: TemplatesDep,
    params: QueueParamsDep,
    figures: StatisticsDep,
) -> Response:
    names = request.app.state.category_names
    charts = {
        "category": bar_chart(
            {names.get(k, k or "未分类"): v for k, v in figures.counts["category"].items()},
            title=label("stat", "category"),
        ),
        "platform": bar_chart(figures.counts["platform"], title=label("stat", "platform")),
        "region": bar_chart(
            {k or "—": v for k, v in figures.counts["region"].items()},
            title=label("stat", "region"),
        ),
        "rule": bar_chart(figures.counts["rule"], title=label("stat", "rule")),
        "decision": bar_chart(
            {label("decision", k): v for k, v in figures.counts["decision"].items()},
            title=label("stat", "decision"),
        ),
        "week": column_chart(figures.counts["week"], title=label("stat", "week")),
        "priority": share_gauge(figures.priority_share, figures.target, title=t("stats.priority")),
    }
    context = {
        "figures": figures,
        "charts": charts,
        "filters": params.as_query(),
        "params": params,
        "facets": _facets(request, archive),
    }
    return templates.TemplateResponse(request, "stats.html", context)


def _facets(request: Request, archive: Archive) -> dict[str, dict[str, int]]:
    from api.pages import cached_facets

    return cached_facets(request, archive)


# --- audit ----------------------------------------------------------------------------------------
@router.get("/audit")
def audit_page(
    request: Request,
    user: SupervisorUser,
    workspace: WorkspaceDep,
    templates: TemplatesDep,
    actor: Annotated[str, Query(max_length=100)] = "",
    action: Annotated[str, Query(max_length=100)] = "",
    target: Annotated[str, Query(max_length=300)] = "",
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    entries = audit.entries(
        workspace,
        actor=actor or None,
        action_prefix=action or None,
        target=target or None,
        before_id=before_id,
        limit=AUDIT_PAGE,
    )
    filters = {"actor": actor, "action": action, "target": target}
    context = {
        "entries": entries,
        "filters": {k: v for k, v in filters.items() if v},
        "older": entries[-1].entry_id if len(entries) == AUDIT_PAGE else None,
    }
    return templates.TemplateResponse(request, "audit.html", context)
