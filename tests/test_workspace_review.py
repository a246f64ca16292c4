"""The review workspace's decisions, cases, statistics, audit and exports over a real
SqliteArchive and workspace database, through real ASGI (TestClient)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from api.accounts.users import create_user
from api.app import create_app
from api.cases import ReviewConfig
from api.workspace_db import WorkspaceDb
from marketguard.models import Flag, Seller

# ruff: noqa: F811  (pytest fixtures imported from test_api and used as arguments)
from tests.test_api import (  # noqa: F401
    CATEGORY_NAMES,
    SCRIPT,
    Store,
    client,
    listing,
    store,
    titles_in_order,
    workspace,
)
from tests.workspace_accounts import PASSWORD, sign_in


def xlsx_rows(body: bytes, sheet: int = 0) -> list[tuple[object, ...]]:
    book = load_workbook(io.BytesIO(body), read_only=True)
    return [tuple(row) for row in book.worksheets[sheet].iter_rows(values_only=True)]


def audit_entries(http: TestClient, **params: str) -> list[dict]:  # type: ignore[type-arg]
    # the reviewer cannot read the audit log; a supervisor's token can
    return list(http.get("/api/audit", params=params).json())


@pytest.fixture
def supervisor(store: Store, workspace: WorkspaceDb) -> TestClient:
    app = create_app(store.archive, workspace=workspace, category_names=CATEGORY_NAMES)
    test_client = TestClient(app)
    test_client.headers["X-CSRF-Token"] = sign_in(test_client, workspace, "赵主管", "supervisor")
    return test_client


# --- queue filters, search and the JSON cursor ----------------------------------------------------
def test_queue_filters_by_platform_region_dates_and_text(client: TestClient) -> None:
    assert titles_in_order(client.get("/?q=充电宝").text) == ["2"]
    assert titles_in_order(client.get("/?q=高仿").text) == ["1", "3"]  # description and title
    assert titles_in_order(client.get("/?region=广东&platform=shop").text) == ["1", "2", "3"]
    assert titles_in_order(client.get("/?region=浙江").text) == []
    assert titles_in_order(client.get("/?date_from=2000-01-01&date_to=&q=").text) == [
        "1",
        "2",
        "3",
    ]
    assert titles_in_order(client.get("/?date_to=2000-01-01").text) == []
    assert client.get("/?date_from=yesterday").status_code == 422


def test_json_queue_pages_with_a_cursor(client: TestClient) -> None:
    first = client.get("/api/flagged", params={"limit": 2}).json()
    assert [i["listing_id"] for i in first["items"]] == ["1", "2"] and first["total"] == 3
    rest = client.get("/api/flagged", params={"limit": 2, "after": first["next"]}).json()
    assert [i["listing_id"] for i in rest["items"]] == ["3"] and rest["next"] is None
    uncounted = client.get("/api/flagged", params={"q": "婴儿推车", "total": "false"}).json()
    assert uncounted["total"] is None and [i["listing_id"] for i in uncounted["items"]] == ["3"]
    assert client.get("/api/flagged", params={"after": "x~y"}).status_code == 422


# --- decisions ------------------------------------------------------------------------------------
def test_confirm_recheck_and_their_audit_entries(
    client: TestClient,
    supervisor: TestClient,
    store: Store,
) -> None:
    page = client.post(
        "/listings/shop/2/reviews",
        data={"decision": "confirmed", "reason": "价格异常"},
        follow_redirects=False,
    )
    assert page.status_code == 303
    recheck = client.post("/api/listings/shop/2/rechecks", json={"reason": "店铺已改价"})
    assert recheck.status_code == 201 and recheck.json()["requested_by"] == "王五"
    entries = audit_entries(supervisor, target="listing:shop/2")
    assert [e["action"] for e in entries] == ["review.recheck", "review.confirmed"]
    assert entries[1]["actor"] == "王五" and entries[1]["before"] is None
    assert entries[1]["after"]["decision"] == "confirmed"
    assert entries[0]["before"] == {"open_rechecks": 0}
    detail = client.get("/listings/shop/2").text
    assert "店铺已改价" in detail and "复查申请" in detail
    assert client.get("/api/rechecks").json()[0]["listing_id"] == "2"
    # the audit page shows them to a supervisor, not to a reviewer
    audit_page = supervisor.get("/audit", params={"target": "listing:shop/2"})
    assert audit_page.status_code == 200 and "review.confirmed" in audit_page.text
    assert "价格异常" in audit_page.text
    assert client.get("/audit").status_code == 403
    assert client.get("/api/export/audit.xlsx").status_code == 403


def test_bulk_decision_over_a_filtered_set(
    client: TestClient,
    supervisor: TestClient,
    store: Store,
) -> None:
    refused = client.post("/api/bulk-decisions", json={"action": "dismissed", "rule": "PRICE_LOW"})
    assert refused.status_code == 422  # a dismissal needs a reason
    too_many = client.post(
        "/api/bulk-decisions", params={"limit": 1}, json={"action": "confirmed", "region": "广东"}
    ).json()
    assert too_many["truncated"] and too_many["applied"] == 0
    assert client.get("/api/flagged", params={"decision": "confirmed"}).json()["total"] == 0
    result = client.post(
        "/api/bulk-decisions",
        json={"action": "dismissed", "reason": "正规渠道", "q": "充电"},
    ).json()
    assert result == {"matched": 2, "applied": 2, "skipped": 0, "truncated": False, "limit": 1000}
    again = client.post(
        "/api/bulk-decisions", json={"action": "dismissed", "reason": "正规渠道", "q": "充电"}
    ).json()
    assert again["skipped"] == 2 and again["applied"] == 0
    assert titles_in_order(client.get("/?decision=dismissed").text) == ["1", "2"]
    summary = audit_entries(supervisor, action="bulk.")
    assert (
        summary[-1]["before"]["filter"] == {"text": "充电"} and summary[-1]["after"]["applied"] == 2
    )
    per_listing = audit_entries(supervisor, action="review.dismissed")
    assert {e["target"] for e in per_listing} == {"listing:shop/1", "listing:shop/2"}
    assert all(e["after"]["via"] == "bulk" for e in per_listing)
    # the form path: hidden filters, redirect back with the outcome shown
    page = client.post(
        "/bulk", data={"action": "confirmed", "category": "stroller"}, follow_redirects=True
    )
    assert "批量处理完成：执行 1 条" in page.text
    assert titles_in_order(client.get("/?decision=confirmed").text) == ["3"]


# --- cases ----------------------------------------------------------------------------------------
def test_case_with_two_investigators_value_referral_and_package(
    client: TestClient,
    supervisor: TestClient,
    store: Store,
    workspace: WorkspaceDb,
) -> None:
    create_user(workspace, "李四", "reviewer", PASSWORD)
    assert (
        client.post(
            "/api/cases", json={"title": "充电器案", "investigators": ["王五", "王五"]}
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/api/cases", json={"title": "充电器案", "investigators": ["王五", "路人"]}
        ).status_code
        == 422
    )
    made = client.post("/api/cases", json={"title": "充电器案", "investigators": ["王五", "李四"]})
    assert made.status_code == 201
    case_id = made.json()["case_id"]
    assert re.fullmatch(r"MGC-\d{4}-00001", case_id)
    # only confirmed listings join a case
    refused = client.post(
        f"/api/cases/{case_id}/listings", json={"platform": "shop", "listing_id": "1"}
    )
    assert refused.status_code == 422
    store.archive.save_listing(
        listing(1, "65W 快充充电器", "charger", sales=3000, price=Decimal("19.90")),
        [Flag("CCC_MISSING", "high", "未标注 3C", "依据")],
        store.evidence,
    )
    client.post("/api/listings/shop/1/reviews", json={"decision": "confirmed"})
    added = client.post(
        f"/api/cases/{case_id}/listings", json={"platform": "shop", "listing_id": "1"}
    ).json()
    assert Decimal(added["goods_value"]) == Decimal("59700.00")  # 19.90 × 3000
    assert added["referral"] is True and not added["value_incomplete"]
    assert added["listings"][0]["capture_id"] == "cap-1"
    page = client.get(f"/cases/{case_id}").text
    assert "达到移送标准（两法衔接）" in page and "¥59,700.00" in page and "王五、李四" in page
    # the package holds the screenshot and a manifest naming its hash
    package = client.get(f"/cases/{case_id}/export")
    assert package.status_code == 200 and package.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(package.content)) as zf:
        names = zf.namelist()
        if package.headers["x-export-made-by"] == "workspace":
            manifest = json.loads(zf.read("manifest.json"))
            assert manifest["case_id"] == case_id
            assert f"files/{store.screenshot_sha}" in names
            assert store.screenshot_sha in zf.read("SHA256SUMS").decode()
    assert [e["action"] for e in audit_entries(supervisor, target=f"case:{case_id}")] == [
        "case.export",
        "case.add_listing",
        "case.create",
    ]
    cases_xlsx = xlsx_rows(client.get("/api/export/cases.xlsx").content)
    assert cases_xlsx[1][0] == case_id and cases_xlsx[1][6] == "是"


def test_referral_threshold_is_configurable(store: Store, workspace: WorkspaceDb) -> None:
    app = create_app(
        store.archive,
        workspace=workspace,
        category_names=CATEGORY_NAMES,
        review_config=ReviewConfig(referral_threshold=Decimal("100")),
    )
    with TestClient(app) as c:
        c.headers["X-CSRF-Token"] = sign_in(c, workspace, "王五", "reviewer")
        create_user(workspace, "李四", "reviewer", PASSWORD)
        c.post("/api/listings/shop/2/reviews", json={"decision": "confirmed"})
        case = c.post("/api/cases", json={"title": "移动电源", "investigators": ["王五", "李四"]})
        case_id = case.json()["case_id"]
        body = c.post(
            f"/api/cases/{case_id}/listings", json={"platform": "shop", "listing_id": "2"}
        ).json()
        # no sales shown: the value is unknown, a lower bound of 0, not a referral
        assert body["value_incomplete"] and body["referral"] is False
        assert body["referral_threshold"] == "100"


# --- statistics and exports ----------------------------------------------------------------
def test_statistics_counts_charts_and_priority_share(
    client: TestClient,
    workspace: WorkspaceDb,
) -> None:
    stats = client.get("/api/stats").json()
    assert stats["total"] == 3
    assert stats["counts"]["category"] == {"charger": 1, "power_bank": 1, "stroller": 1}
    assert stats["counts"]["platform"] == {"shop": 3}
    assert stats["counts"]["rule"]["CCC_MISSING"] == 1
    assert stats["cases"] == 0 and stats["priority_target"] == 0.3
    page = client.get("/stats")
    assert page.status_code == 200
    assert page.text.count("<svg") == 7 and "<script" not in page.text
    assert "重点产品案件占比" in page.text
    create_user(workspace, "李四", "reviewer", PASSWORD)
    client.post("/api/listings/shop/3/reviews", json={"decision": "confirmed"})
    case_id = client.post(
        "/api/cases", json={"title": "童车", "investigators": ["王五", "李四"]}
    ).json()["case_id"]
    client.post(f"/api/cases/{case_id}/listings", json={"platform": "shop", "listing_id": "3"})
    stats = client.get("/api/stats").json()
    assert (stats["cases"], stats["priority_cases"], stats["meets_target"]) == (1, 1, True)
    sheets = load_workbook(io.BytesIO(client.get("/api/export/stats.xlsx").content)).sheetnames
    assert "按类目" in sheets and "重点产品案件占比" in sheets


def test_queue_export_follows_the_filters_and_defuses_formulas(
    client: TestClient,
    store: Store,
) -> None:
    store.archive.save_listing(
        listing(9, '=HYPERLINK("http://evil")充电器', "charger"),
        [Flag("CCC_MISSING", "high", "未标注 3C", "依据")],
    )
    response = client.get("/api/export/queue.xlsx", params={"category": "charger"})
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    rows = xlsx_rows(response.content)
    assert rows[0][0] == "风险分"
    titles = sorted(str(row[4]) for row in rows[1:])
    assert len(titles) == 2 and any(t.startswith("'=HYPERLINK") for t in titles)
    assert xlsx_rows(response.content, 1)[1][0] == "category=charger"


# --- detail context and verification ------------------------------------------------------
def test_detail_shows_seller_history_images_and_verification(
    client: TestClient,
    store: Store,
) -> None:
    other = listing(
        20, "同店另一款充电器", "charger", seller=Seller("s1", "数码店1", location="广东")
    )
    store.archive.save_listing(other, [Flag("CCC_MISSING", "high", "未标注 3C", "依据")])
    client.post("/api/listings/shop/20/reviews", json={"decision": "confirmed"})
    flagged_image = listing(21, "图片盗用", "charger", image_urls=["https://img.example/a.jpg"])
    store.archive.save_listing(
        flagged_image,
        [
            Flag(
                "IMAGE_SHARED_ACROSS_SHOPS",
                "medium",
                "同一图片出现在 3 家店铺",
                "依据",
                snippet="店铺 s7、s9",
                field="image:https://img.example/a.jpg",
            )
        ],
    )
    detail = client.get("/listings/shop/1").text
    assert "同店另一款充电器" in detail and "该卖家已有 1 条确认违法记录" in detail
    context = client.get("/api/listings/shop/1/context").json()
    assert [r["listing_id"] for r in context["seller_history"]] == ["20"]
    assert context["seller_confirmed"] == 1
    images = client.get("/api/listings/shop/21/context").json()["images"]
    assert images[0]["flags"][0]["rule_id"] == "IMAGE_SHARED_ACROSS_SHOPS"
    assert "店铺 s7、s9" in client.get("/listings/shop/21").text
    assert "最新取证记录尚未校验" in client.get("/listings/shop/1").text
    checks = client.get("/api/listings/shop/1/verify").json()
    assert checks[0]["capture_id"] == "cap-1" and checks[0]["files_ok"] is True
    # the detail page shows the last check, who ran it and when, without re-hashing
    assert "最近一次校验：王五" in client.get("/listings/shop/1").text
    # a changed byte in the screenshot shows as a failed check, not a crash
    path = store.archive.blob_path(store.screenshot_sha)
    assert path is not None
    path.write_bytes(path.read_bytes() + b"x")
    checks = client.get("/api/listings/shop/1/verify").json()
    assert checks[0]["files_ok"] is False and checks[0]["ok"] is False
    page = client.get("/listings/shop/1/verify").text
    assert "校验未通过" in page and "文件内容与哈希不符" in page
    status = client.get("/listings/shop/1").text.split('id="verify-status"')[1][:400]
    assert "校验未通过" in status


def test_hostile_text_stays_inert_on_the_new_pages(
    client: TestClient,
    store: Store,
    workspace: WorkspaceDb,
) -> None:
    create_user(workspace, "李四", "reviewer", PASSWORD)
    client.post("/api/listings/shop/1/reviews", json={"decision": "confirmed"})
    case_id = client.post(
        "/api/cases", json={"title": SCRIPT, "investigators": ["王五", "李四"], "note": SCRIPT}
    ).json()["case_id"]
    client.post(f"/api/cases/{case_id}/listings", json={"platform": "shop", "listing_id": "1"})
    client.post("/api/listings/shop/1/rechecks", json={"reason": SCRIPT})
    for path in (f"/cases/{case_id}", "/cases", "/listings/shop/1", f"/?q={SCRIPT}", "/stats"):
        body = client.get(path).text
        assert "<script" not in body, path
        if path != "/stats":  # the statistics page shows no seller or case text
            assert "&lt;script&gt;" in body, path


def test_openapi_documents_the_review_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/flagged",
        "/api/bulk-decisions",
        "/api/cases",
        "/api/cases/{case_id}/export",
        "/api/stats",
        "/api/export/queue.xlsx",
        "/api/listings/{platform}/{listing_id}/context",
        "/api/listings/{platform}/{listing_id}/verify",
        "/api/rechecks",
    ):
        assert path in paths, path
    params = {p["name"] for p in paths["/api/flagged"]["get"]["parameters"]}
    assert {"q", "platform", "region", "date_from", "date_to", "after"} <= params


def test_text_catalogue_covers_the_templates_and_falls_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pathlib import Path

    from api import i18n

    used = set()
    for template in (Path(__file__).parent.parent / "api" / "templates").glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_.]+)["']""", template.read_text()))
    assert used and not used - set(i18n.TEXT_ZH_CN), used - set(i18n.TEXT_ZH_CN)
    monkeypatch.setitem(i18n.LOCALES, "en", (i18n.ZH_CN, {"nav.queue": "Review queue"}))
    assert i18n.t("nav.queue", "en") == "Review queue"
    assert i18n.t("nav.cases", "en") == "案件"  # missing in the locale: Chinese, never blank
    assert i18n.t("queue.total", n=3) == "共 3 条"
    assert i18n.t("no.such.key") == "no.such.key"
