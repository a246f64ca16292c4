"""The review workspace over a real SqliteArchive, driven through real ASGI with TestClient."""

from __future__ import annotations

import hashlib
import html
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from api.app import create_app
from api.workspace_db import WorkspaceDb
from evidence.archive.sqlite import SqliteArchive
from marketguard.models import (
    Artifact,
    Evidence,
    Flag,
    Listing,
    PageError,
    Seller,
    utcnow,
)
from tests.workspace_accounts import sign_in

T0 = utcnow().replace(microsecond=0) - timedelta(days=1)
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
JS_URL = "javascript:alert(1)"
BEIJING = ZoneInfo("Asia/Shanghai")
CATEGORY_NAMES = {"charger": "手机充电器/电源适配器", "power_bank": "移动电源", "stroller": "童车"}


def png_bytes() -> bytes:
    image = Image.new("RGB", (120, 80), "white")
    ImageDraw.Draw(image).rectangle((10, 10, 110, 70), outline="red", width=3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class Store:
    archive: SqliteArchive
    screenshot_sha: str
    html_sha: str
    evidence: Evidence


def listing(n: int, title: str, category: str, **fields: object) -> Listing:
    item = Listing(
        platform="shop",
        listing_id=str(n),
        url=f"https://shop.example/item/{n}",
        title=title,
        price=Decimal("19.90"),
        seller=Seller(f"s{n}", f"数码店{n}", "https://shop.example/store/1", "广东 深圳", 4.2, 30),
        category=category,
        crawled_at=T0 + timedelta(minutes=n),
    )
    for name, value in fields.items():
        setattr(item, name, value)
    return item


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    archive = SqliteArchive(tmp_path / "store")
    shot = png_bytes()
    html = b"<html><script>alert('captured page')</script></html>"
    screenshot_sha, html_sha = archive.put_blob(shot), archive.put_blob(html)

    hostile = listing(
        1,
        f"{SCRIPT}65W 快充充电器",
        "charger",
        url=JS_URL,
        seller=Seller("s1", IMG, JS_URL, "广东 深圳", 3.1, 12),
        attributes={"3C认证": "无", f"<b>品牌</b>{IMG}": SCRIPT},
        description=f"全新正品 {SCRIPT} 高仿",
        image_urls=[JS_URL, "https://img.example/1.jpg"],
    )
    evidence = Evidence(
        capture_id="cap-1",
        platform="shop",
        listing_id="1",
        url="https://shop.example/item/1",
        final_url="https://shop.example/item/1?spm=1",
        http_status=200,
        started_at=T0 + timedelta(hours=2),
        finished_at=T0 + timedelta(hours=2, seconds=5),
        browser_version="Chromium 131.0.6778.85",
        user_agent="Mozilla/5.0 test",
        viewport="1280x800",
        tool_version="marketguard 0.1.0",
        artifacts=[
            Artifact("screenshot", "image/png", screenshot_sha, len(shot)),
            Artifact("html", "text/html", html_sha, len(html), "https://shop.example/item/1"),
        ],
    )
    archive.save_listing(
        hostile,
        [
            Flag(
                "CCC_MISSING",
                "high",
                "强制性认证产品未标注 3C 认证",
                "《认证认可条例》第二十七条",
                snippet="3C认证: 无",
                field="attributes.3C认证",
            )
        ],
        evidence,
    )
    archive.save_listing(
        listing(2, "20000mAh 充电宝 超低价", "power_bank"),
        [Flag("PRICE_LOW", "medium", "价格远低于正品", "《产品质量法》第五条", snippet="¥9.9")],
    )
    archive.save_listing(
        listing(3, "婴儿推车 高仿大牌", "stroller"),
        [
            Flag(
                "COUNTERFEIT_WORDS", "low", "标题含仿冒用语", "《产品质量法》第五条", snippet="高仿"
            )
        ],
    )
    archive.save_listing(listing(4, "正规品牌充电器", "charger"), [])
    yield Store(archive, screenshot_sha, html_sha, evidence)
    archive.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[WorkspaceDb]:
    db = WorkspaceDb(tmp_path / "workspace.db")
    yield db
    db.close()


@pytest.fixture
def client(store: Store, workspace: WorkspaceDb) -> Iterator[TestClient]:
    """Signed in as the reviewer 王五; every request carries the session's CSRF token."""
    app = create_app(
        store.archive,
        workspace=workspace,
        category_names=CATEGORY_NAMES,
        timezone="Asia/Shanghai",
    )
    with TestClient(app) as test_client:
        test_client.headers["X-CSRF-Token"] = sign_in(test_client, workspace, "王五", "reviewer")
        yield test_client


def titles_in_order(html: str) -> list[str]:
    return re.findall(r'<td class="title">\s*<a href="/listings/shop/(\d+)">', html)


# --- the queue page ----------------------------------------------------------------------------
def test_queue_lists_flagged_listings_highest_severity_first(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert titles_in_order(response.text) == ["1", "2", "3"]  # 4 is not flagged
    body = response.text
    assert "共 3 条" in body
    assert "待审核" in body and "CCC_MISSING" in body
    assert '<option value="charger">手机充电器/电源适配器 (1)</option>' in body  # facet, count
    assert "¥19.90" in body and "数码店2" in body


def test_queue_filters_by_category_rule_and_decision(client: TestClient, store: Store) -> None:
    assert titles_in_order(client.get("/?category=power_bank").text) == ["2"]
    assert titles_in_order(client.get("/?rule=COUNTERFEIT_WORDS").text) == ["3"]
    assert titles_in_order(client.get("/?rule=CCC_MISSING&category=stroller").text) == []
    client.post("/api/listings/shop/2/reviews", json={"decision": "confirmed"})
    assert titles_in_order(client.get("/?decision=confirmed").text) == ["2"]
    assert titles_in_order(client.get("/?decision=unreviewed").text) == ["1", "3"]
    assert client.get("/?decision=maybe").status_code == 422


def test_queue_pages_through_many_listings(store: Store, client: TestClient) -> None:
    for n in range(100, 160):
        store.archive.save_listing(
            listing(n, f"充电器 {n}", "charger"), [Flag("PRICE_LOW", "low", "低价", "依据")]
        )
    first = client.get("/").text
    assert len(titles_in_order(first)) == 50
    assert "第 1–50 条" in first
    next_link = re.search(r'<a rel="next" href="([^"]+)"', first)
    assert next_link, "a keyset link to the next page"
    second = client.get(html.unescape(next_link.group(1))).text
    assert "第 51–63 条" in second and 'rel="next"' not in second
    rest = titles_in_order(second)
    assert len(rest) == 13
    assert not set(rest) & set(titles_in_order(first))
    assert rest[-1] == "3"  # oldest of the low-severity listings, last overall
    # a cursor that is not one of ours falls back to the first page instead of failing
    assert titles_in_order(client.get("/?after=bogus").text) == titles_in_order(first)
    assert client.get("/?start=-1").status_code == 422


# --- the detail page ---------------------------------------------------------------------------
def test_detail_page_shows_reasons_legal_basis_snippet_and_evidence(
    client: TestClient, store: Store
) -> None:
    response = client.get("/listings/shop/1")
    assert response.status_code == 200
    body = response.text
    for expected in (
        "强制性认证产品未标注 3C 认证",
        "《认证认可条例》第二十七条",
        '<mark class="snippet">3C认证: 无</mark>',
        "attributes.3C认证",
        store.screenshot_sha,
        store.html_sha,
        f'<img src="/blobs/{store.screenshot_sha}"',
        "Chromium 131.0.6778.85",
        "image/png",
        "text/html",
        f"{store.evidence.artifacts[0].size:,} 字节",
        "cap-1",
        # capture start in Beijing time, and exactly in UTC
        (T0 + timedelta(hours=2)).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        (T0 + timedelta(hours=2)).isoformat(),
        "店铺评分",
        "3.1",
        "开店天数",
        "广东 深圳",
        "https://img.example/1.jpg",
    ):
        assert expected in body, expected
    assert 'rel="noopener noreferrer nofollow"' in body


def test_unknown_listing_is_404_on_page_and_api(client: TestClient) -> None:
    page = client.get("/listings/shop/999")
    assert page.status_code == 404
    assert "未找到" in page.text
    assert client.get("/api/listings/shop/999").status_code == 404
    response = client.post("/api/listings/shop/999/reviews", json={"decision": "confirmed"})
    assert response.status_code == 404
    form = client.post(
        "/listings/shop/999/reviews",
        data={"decision": "confirmed"},
        follow_redirects=False,
    )
    assert form.status_code == 404


# --- evidence files ----------------------------------------------------------------------------
def test_screenshot_is_served_as_png_whose_bytes_hash_to_its_name(
    client: TestClient, store: Store
) -> None:
    response = client.get(f"/blobs/{store.screenshot_sha}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert hashlib.sha256(response.content).hexdigest() == store.screenshot_sha
    assert Image.open(io.BytesIO(response.content)).size == (120, 80)


def test_a_captured_html_page_is_a_download_never_a_page_of_ours(
    client: TestClient, store: Store
) -> None:
    response = client.get(f"/blobs/{store.html_sha}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment")
    assert hashlib.sha256(response.content).hexdigest() == store.html_sha


@pytest.mark.parametrize(
    "name", ["..%2Fmarketguard.db", "A" * 64, "a" * 63, "z" * 64, "0" * 64, "x.png"]
)
def test_bad_or_unknown_blob_names_are_404(client: TestClient, name: str) -> None:
    assert client.get(f"/blobs/{name}").status_code == 404


def test_a_tampered_evidence_file_is_refused(client: TestClient, store: Store) -> None:
    path = store.archive.blob_path(store.screenshot_sha)
    assert path is not None
    path.write_bytes(png_bytes()[:-10] + b"0123456789")
    response = client.get(f"/blobs/{store.screenshot_sha}")
    assert response.status_code == 500
    assert "校验失败" in response.json()["detail"]


# --- reviews -----------------------------------------------------------------------------------
def test_confirming_through_the_form_redirects_and_is_shown(client: TestClient) -> None:
    response = client.post(
        "/listings/shop/1/reviews",
        data={"decision": "confirmed", "reason": "未见 3C 标志"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/listings/shop/1?reviewed=1#review"
    page = client.get(response.headers["location"]).text
    assert "审核结果已记录" in page
    assert "<td>王五</td>" in page and "未见 3C 标志" in page
    assert '<span class="status status-confirmed">确认违法</span>' in page
    assert "确认违法" in client.get("/?decision=confirmed").text
    assert titles_in_order(client.get("/?decision=confirmed").text) == ["1"]


def test_dismissing_through_the_form_needs_a_reason(client: TestClient) -> None:
    response = client.post(
        "/listings/shop/2/reviews",
        data={"decision": "dismissed", "reason": "  "},
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert "驳回时请填写理由" in response.text
    assert client.get("/api/listings/shop/2").json()["reviews"] == []

    response = client.post(
        "/listings/shop/2/reviews",
        data={"decision": "dismissed", "reason": "价格为促销价"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    reviews = client.get("/api/listings/shop/2").json()["reviews"]
    assert [(r["decision"], r["reviewer"], r["reason"]) for r in reviews] == [
        ("dismissed", "王五", "价格为促销价")
    ]


def test_the_form_refuses_a_missing_or_unknown_decision(client: TestClient) -> None:
    missing = client.post("/listings/shop/1/reviews", data={"reason": "x"})
    assert missing.status_code == 422 and "请选择" in missing.text
    assert 'name="reviewer"' not in missing.text  # the reviewer is the account, not a field
    bad = client.post("/listings/shop/1/reviews", data={"decision": "delete"})
    assert bad.status_code == 422 and "请选择" in bad.text
    assert client.get("/api/listings/shop/1").json()["reviews"] == []


def test_reviews_through_json_are_recorded_and_shown(client: TestClient) -> None:
    response = client.post(
        "/api/listings/shop/3/reviews",
        json={"decision": "dismissed", "reason": "“高仿”为店铺名称"},
    )
    assert response.status_code == 201
    created = response.json()
    assert (created["decision"], created["reviewer"]) == ("dismissed", "王五")
    detail = client.get("/api/listings/shop/3").json()
    assert detail["reviews"][0]["reason"] == "“高仿”为店铺名称"
    assert "<td>王五</td>" in client.get("/listings/shop/3").text
    flagged = client.get("/api/flagged", params={"decision": "dismissed"}).json()
    assert [item["listing_id"] for item in flagged["items"]] == ["3"]


@pytest.mark.parametrize(
    "body",
    [
        {"decision": "approve"},
        {},
        {"decision": "dismissed"},
        {"decision": "dismissed", "reason": "   "},
        {"decision": "confirmed", "reason": "x" * 2001},
        {"decision": "confirmed", "role": "admin"},
        # the reviewer is the signed-in account: a typed name is refused, not recorded
        {"decision": "confirmed", "reviewer": "张三"},
    ],
)
def test_bad_review_json_is_422_and_records_nothing(client: TestClient, body: dict) -> None:  # type: ignore[type-arg]
    assert client.post("/api/listings/shop/1/reviews", json=body).status_code == 422
    assert client.get("/api/listings/shop/1").json()["reviews"] == []


# --- the JSON API ------------------------------------------------------------------------------
def test_api_flagged_pages_and_filters(client: TestClient, store: Store) -> None:
    data = client.get("/api/flagged").json()
    assert data["total"] == 3
    assert [i["listing_id"] for i in data["items"]] == ["1", "2", "3"]
    first = data["items"][0]
    assert first["max_severity"] == "high"
    assert first["rule_ids"] == ["CCC_MISSING"]
    assert first["screenshot_sha256"] == store.screenshot_sha
    assert first["detail_url"] == "/listings/shop/1"
    assert first["decision"] is None

    page = client.get("/api/flagged", params={"limit": 1, "offset": 1}).json()
    assert (page["total"], [i["listing_id"] for i in page["items"]]) == (3, ["2"])
    only = client.get("/api/flagged", params={"category": "stroller"}).json()
    assert [i["listing_id"] for i in only["items"]] == ["3"]
    by_rule = client.get("/api/flagged", params={"rule": "PRICE_LOW", "category": ""}).json()
    assert [i["listing_id"] for i in by_rule["items"]] == ["2"]
    for bad in (
        {"limit": 0},
        {"limit": 501},
        {"offset": -1},
        {"offset": 10**20},
        {"decision": "pending"},
    ):
        assert client.get("/api/flagged", params=bad).status_code == 422, bad
    assert client.get("/api/facets").json() == {
        "category": {"charger": 1, "power_bank": 1, "stroller": 1},
        "rule": {"CCC_MISSING": 1, "COUNTERFEIT_WORDS": 1, "PRICE_LOW": 1},
    }


def test_api_listing_detail(client: TestClient, store: Store) -> None:
    data = client.get("/api/listings/shop/1").json()
    assert set(data) == {
        "listing",
        "version",
        "first_seen",
        "last_seen",
        "flags",
        "evidence",
        "reviews",
    }
    assert data["listing"]["title"] == f"{SCRIPT}65W 快充充电器"  # JSON carries the raw text
    assert data["listing"]["price"] == "19.90"
    assert data["listing"]["seller"]["rating"] == 3.1
    assert data["flags"][0]["legal_basis"] == "《认证认可条例》第二十七条"
    capture = data["evidence"][0]
    assert capture["browser_version"] == "Chromium 131.0.6778.85"
    assert [(a["kind"], a["sha256"], a["blob_url"]) for a in capture["artifacts"]] == [
        ("screenshot", store.screenshot_sha, f"/blobs/{store.screenshot_sha}"),
        ("html", store.html_sha, f"/blobs/{store.html_sha}"),
    ]
    assert data["reviews"] == []


def test_latest_pass_summary_and_errors_page(client: TestClient, store: Store) -> None:
    assert client.get("/api/passes/latest").status_code == 404
    assert "尚未进行过监测" in client.get("/errors").text

    old = store.archive.begin_pass()
    store.archive.record_error(PageError("https://shop.example/old", "timeout", "旧错误"), old)
    store.archive.finish_pass(old, {"listings": 1})
    current = store.archive.begin_pass({"keywords": ["充电器"]})
    store.archive.record_error(
        PageError("https://shop.example/item/77", "http_status", "HTTP 503"), current
    )
    store.archive.record_error(PageError(JS_URL, "parse", SCRIPT), current)
    store.archive.finish_pass(current, {"listings": 4, "errors_by_kind": {"http_status": 1}})

    latest = client.get("/api/passes/latest").json()
    assert latest["pass_id"] == current
    assert latest["summary"] == {"listings": 4, "errors_by_kind": {"http_status": 1}}
    assert latest["finished_at"] is not None

    page = client.get("/errors").text
    assert f"第 {current} 轮监测" in page
    assert "HTTP 503" in page and "HTTP 状态错误" in page
    assert "旧错误" not in page  # only the latest pass
    assert "旧错误" in client.get(f"/errors?pass_id={old}").text
    assert client.get("/errors?pass_id=999").status_code == 404
    assert SCRIPT not in page and 'href="javascript:' not in page


def test_healthz_and_openapi_contract(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    spec = client.get("/openapi.json").json()
    assert {
        "/api/flagged",
        "/api/listings/{platform}/{listing_id}",
        "/api/listings/{platform}/{listing_id}/reviews",
        "/api/passes/latest",
    } <= set(spec["paths"])
    review_in = spec["components"]["schemas"]["ReviewIn"]
    assert review_in["properties"]["decision"]["enum"] == ["confirmed", "dismissed"]
    assert "/" not in spec["paths"]  # HTML pages are not part of the API contract


# --- hostile seller text -----------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/listings/shop/1", "/?category=charger"])
def test_hostile_listing_text_is_rendered_inert(client: TestClient, path: str) -> None:
    response = client.get(path)
    body = response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert SCRIPT not in body
    assert IMG not in body
    assert "<script" not in body.lower()  # the workspace has no scripts at all
    assert not re.search(r"""href\s*=\s*["']?\s*javascript:""", body, re.IGNORECASE)
    assert "onerror=alert(1)>" not in body


def test_javascript_urls_are_shown_as_text_not_links(client: TestClient) -> None:
    body = client.get("/listings/shop/1").text
    assert (
        f'<span class="unsafe-url" title="非 http/https 链接，仅显示文字">{JS_URL}</span>' in body
    )
    assert '<a href="https://img.example/1.jpg" rel="noopener noreferrer nofollow"' in body
    assert "&lt;b&gt;品牌&lt;/b&gt;" in body  # attribute keys are escaped too


def test_every_response_carries_a_strict_policy(client: TestClient, store: Store) -> None:
    for path in ("/", "/listings/shop/1", "/api/flagged", f"/blobs/{store.screenshot_sha}"):
        headers = client.get(path).headers
        policy = headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "unsafe-inline" not in policy and "script-src" not in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    css = client.get("/static/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "http://" not in css.text and "https://" not in css.text
