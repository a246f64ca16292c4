"""The platform collaboration feed over real SQLite files, real ASGI (TestClient) and real
loopback HTTP servers for webhooks and re-checks. Time moves by a test clock."""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from api.accounts import audit
from api.accounts.tokens import create_token
from api.accounts.users import create_user
from api.app import create_app
from api.feed import notices, recheck, webhooks
from api.feed.config import FeedConfig
from api.feed.platforms import create_platform_account
from api.feed.schemas import EnvelopeOut
from api.workspace_db import WorkspaceDb
from evidence.archive.sqlite import SqliteArchive
from marketguard.models import Artifact, Evidence, Flag, Listing, Review, Seller, utcnow
from tests.conftest import run_cli
from tests.platform_client import PlatformClient, WebhookReceiver, verify_signature
from tests.workspace_accounts import PASSWORD, sign_in

HOSTILE_TITLE = '=HYPERLINK("http://evil.example","点我")<script>alert(1)</script>'


class Clock:
    def __init__(self) -> None:
        self.now = utcnow().replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class ListingPages:
    """The platform's product pages on loopback: each path answers the status set for it."""

    def __init__(self) -> None:
        self.status: dict[str, int] = {}
        pages = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code = pages.status.get(self.path, 404)
                body = "<html><body>商品详情</body></html>".encode()
                if code == 200 and self.path.endswith("-gone"):
                    body = "<html><body>该商品已下架</body></html>".encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class World:
    archive: SqliteArchive
    db: WorkspaceDb
    clock: Clock
    config: FeedConfig
    pages: ListingPages
    officer: TestClient
    admin: TestClient
    shop_a: PlatformClient
    shop_b: PlatformClient
    secret_a: str
    app: Any


def save(archive: SqliteArchive, pages: ListingPages, platform: str, n: int, **kw: Any) -> None:
    seller = kw.pop("seller", Seller(f"seller-{n}", f"店铺{n}"))
    image = kw.pop("image", f"image-{platform}-{n}".encode())
    listing = Listing(
        platform,
        str(n),
        f"{pages.base}/{platform}/item/{n}",
        kw.pop("title", f"充电器 {n}"),
        seller=seller,
    )
    shot = archive.put_blob(b"\x89PNG\r\n\x1a\n" + f"{platform}{n}".encode())
    picture = archive.put_blob(image)
    evidence = Evidence(
        f"cap-{platform}-{n}",
        platform,
        str(n),
        listing.url,
        http_status=200,
        artifacts=[
            Artifact("screenshot", "image/png", shot, 20),
            Artifact("image", "image/jpeg", picture, len(image), "https://img.example/1.jpg"),
        ],
    )
    archive.save_listing(
        listing,
        [Flag("CCC_MISSING", "high", "未标注 3C 认证", "《认证认可条例》第二十七条")],
        evidence,
    )


def token(db: WorkspaceDb, name: str, role: str) -> str:
    return create_token(db, create_user(db, name, role, PASSWORD), "tests")[1]


def confirm(archive: SqliteArchive, platform: str, n: int) -> None:
    archive.add_review(Review(platform, str(n), "confirmed", "王五"))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = Clock()
    pages = ListingPages()
    archive = SqliteArchive(tmp_path / "store")
    db = WorkspaceDb(tmp_path / "workspace.db", clock=clock)
    config = FeedConfig(
        webhook_max_attempts=3,
        webhook_backoff=timedelta(seconds=10),
        recheck_delay=timedelta(days=7),
    )
    for n in range(1, 7):
        save(archive, pages, "shopA", n, title=HOSTILE_TITLE if n == 1 else f"充电器 {n}")
        confirm(archive, "shopA", n)
    save(archive, pages, "shopB", 9)
    confirm(archive, "shopB", 9)
    save(archive, pages, "shopA", 7)  # flagged, never confirmed
    made_a = create_platform_account(db, "甲平台", "shopA")
    made_b = create_platform_account(db, "乙平台", "shopB")
    app = create_app(archive, workspace=db, feed_config=config, category_names={})
    # Officers' scripts use API tokens: the test clock moves days ahead, past any session.
    officer = TestClient(app, headers={"Authorization": f"Bearer {token(db, '王五', 'reviewer')}"})
    admin = TestClient(app, headers={"Authorization": f"Bearer {token(db, '管理员', 'admin')}"})
    yield World(
        archive,
        db,
        clock,
        config,
        pages,
        officer,
        admin,
        PlatformClient(TestClient(app), made_a.api_key),
        PlatformClient(TestClient(app), made_b.api_key),
        made_a.account.webhook_secret,
        app,
    )
    pages.close()
    db.close()
    archive.close()


def send(world: World, *keys: tuple[str, int], action: str = "下架") -> list[dict[str, Any]]:
    response = world.officer.post(
        "/api/notices",
        json={
            "listings": [{"platform": p, "listing_id": str(n)} for p, n in keys],
            "action": action,
        },
    )
    assert response.status_code == 201, response.text
    return list(response.json()["notices"])


# --- making notices ---------------------------------------------------------------------------
def test_a_notice_carries_what_the_platform_needs_to_check_it(world: World) -> None:
    (notice,) = send(world, ("shopA", 2), action="删除链接")
    assert notice["id"].startswith("MGN-") and notice["status"] == "new"
    assert notice["listing"]["url"] == f"{world.pages.base}/shopA/item/2"
    assert notice["listing"]["listing_id"] == "2"
    assert notice["rules"][0]["rule_id"] == "CCC_MISSING"
    assert notice["legal_basis"] == ["《认证认可条例》第二十七条"]
    assert notice["requested_action"] == "删除链接"
    deadline = datetime.fromisoformat(notice["deadline"])
    assert deadline - datetime.fromisoformat(notice["created"]) == timedelta(hours=24)
    shot = notice["evidence"]["screenshot"]
    assert len(shot["sha256"]) == 64 and notice["evidence"]["captured_at"]
    image = world.shop_a.get(shot["url"])
    assert image.status_code == 200
    assert image.content == world.archive.read_blob(shot["sha256"])
    log = audit.entries(world.db, target=f"notice:{notice['id']}")
    assert log[0].action == "notice.create" and log[0].actor == "王五"


def test_only_confirmed_listings_get_notices_and_only_once(world: World) -> None:
    unconfirmed = world.officer.post(
        "/api/notices", json={"listings": [{"platform": "shopA", "listing_id": "7"}]}
    )
    assert unconfirmed.status_code == 422 and unconfirmed.json()["error"] == "not_confirmed"
    batch = world.officer.post(
        "/api/notices",
        json={
            "listings": [
                {"platform": "shopA", "listing_id": "2"},
                {"platform": "shopA", "listing_id": "7"},
            ]
        },
    )
    assert batch.status_code == 422
    assert notices.list_notices(world.db)[0] == 0  # all or none
    unknown = world.officer.post(
        "/api/notices", json={"listings": [{"platform": "shopA", "listing_id": "404"}]}
    )
    assert unknown.status_code == 404
    send(world, ("shopA", 2))
    again = world.officer.post(
        "/api/notices", json={"listings": [{"platform": "shopA", "listing_id": "2"}]}
    )
    assert again.status_code == 409 and again.json()["error"] == "open_notice_exists"
    bad_action = world.officer.post(
        "/api/notices",
        json={"listings": [{"platform": "shopA", "listing_id": "3"}], "action": "罚款"},
    )
    assert bad_action.status_code == 422


def test_notices_need_a_signed_in_officer_with_csrf(world: World) -> None:
    anonymous = TestClient(world.app)
    body = {"listings": [{"platform": "shopA", "listing_id": "2"}]}
    assert anonymous.post("/api/notices", json=body).status_code == 401
    browser = TestClient(world.app)
    csrf = sign_in(browser, world.db, "李四", "reviewer")
    assert browser.post("/api/notices", json=body).status_code == 403
    made = browser.post("/api/notices", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    # a platform key is not an officer credential
    as_platform = TestClient(world.app, headers=world.shop_a.headers)
    assert as_platform.post("/api/notices", json=body).status_code == 401
    # platform accounts and dead letters are for admins only
    assert world.officer.get("/api/feed/deliveries").status_code == 403
    made = world.officer.post("/api/feed/platforms", json={"name": "x", "platform": "y"})
    assert made.status_code == 403


# --- isolation --------------------------------------------------------------------------------
def test_a_platform_never_sees_another_platforms_notices(world: World) -> None:
    (notice_a,) = send(world, ("shopA", 2))
    (notice_b,) = send(world, ("shopB", 9))
    assert [n["id"] for n in world.shop_a.pull_new()] == [notice_a["id"]]
    assert [n["id"] for n in world.shop_b.pull_new()] == [notice_b["id"]]
    # platform A asking for B's notice, its screenshot, or reporting on it: as if it did not exist
    b_path = f"/feed/v1/notices/{notice_b['id']}"
    for path in (b_path, f"{b_path}/screenshot"):
        refused = world.shop_a.get(path)
        assert refused.status_code == 404 and refused.json()["error"] == "not_found"
    report = world.shop_a.report(notice_b["id"], "received")
    assert report.status_code == 404
    assert notices.get_notice(world.db, notice_b["id"])["status"] == "new"
    export = world.shop_a.get("/feed/v1/export?format=csv").content.decode("utf-8-sig")
    assert notice_a["id"] in export and notice_b["id"] not in export
    assert [f["platform"] for f in world.shop_a.get("/feed/v1/figures").json()] == ["shopA"]
    # no key, a wrong key, an officer's token
    anonymous = TestClient(world.app)
    assert anonymous.get("/feed/v1/notices").status_code == 401
    wrong = TestClient(world.app, headers={"Authorization": "Bearer mgp_guess"})
    assert wrong.get("/feed/v1/notices").status_code == 401


# --- pull ------------------------------------------------------------------------------------
def test_pull_pages_with_a_resumable_idempotent_cursor(world: World) -> None:
    made = []
    for n in range(1, 6):
        made += send(world, ("shopA", n))
        world.clock.advance(seconds=1)
    client = world.shop_a
    first = client.page(limit=2).json()
    assert first["more"] is True
    assert [o["id"] for o in first["objects"]] == [m["id"] for m in made[:2]]
    # the same request again gives the same page: pulls are idempotent
    assert client.page(limit=2).json() == first
    second = client.page(limit=2, cursor=first["next"]).json()
    assert client.page(limit=2, cursor=first["next"]).json() == second
    third = client.page(limit=2, cursor=second["next"]).json()
    assert third["more"] is False
    ids = [o["id"] for page in (first, second, third) for o in page["objects"]]
    assert ids == [m["id"] for m in made]
    # at the end: nothing, and the cursor stays where it was
    end = client.page(limit=2, cursor=third["next"]).json()
    assert end == {"more": False, "next": third["next"], "objects": []}
    (late,) = send(world, ("shopA", 6))
    resumed = client.page(limit=2, cursor=third["next"]).json()
    assert [o["id"] for o in resumed["objects"]] == [late["id"]]
    headers = client.page(limit=2).headers
    assert headers["X-TAXII-Date-Added-First"] == made[0]["date_added"]
    after = client.page(limit=10, added_after=made[2]["date_added"]).json()
    assert [o["id"] for o in after["objects"]] == [m["id"] for m in made[3:]] + [late["id"]]
    # the page is spliced from stored JSON text: it must match the documented model and the
    # notice as read one by one (hostile title included)
    envelope = EnvelopeOut.model_validate_json(client.page(limit=10).content)
    for obj in envelope.objects:
        assert obj.model_dump(mode="json") == notices.get_notice(world.db, obj.id)
    assert envelope.objects[0].listing.title == HOSTILE_TITLE
    bad = client.page(cursor="not-a-cursor")
    assert bad.status_code == 400 and bad.json()["error"] == "bad_cursor"


def test_the_platform_client_pulls_everything_once(world: World) -> None:
    made = [n["id"] for n in send(world, *[("shopA", n) for n in range(1, 6)])]
    assert [n["id"] for n in world.shop_a.pull_new(limit=2)] == made
    assert len(world.shop_a.pages) == 3
    assert world.shop_a.pull_new(limit=2) == []


# --- acknowledgements and the state machine ---------------------------------------------------
def test_reports_follow_the_state_machine(world: World) -> None:
    (notice,) = send(world, ("shopA", 2))
    nid, client = notice["id"], world.shop_a
    early = client.report(nid, "removed")
    assert early.status_code == 409
    assert early.json() == {
        "error": "invalid_transition",
        "detail": "cannot go from new to removed (report received first)",
        "status": "new",
        "allowed": ["received"],
    }
    received = client.report(nid, "received")
    assert received.status_code == 200 and received.json()["changed"] is True
    again = client.report(nid, "received")
    assert again.status_code == 200 and again.json()["changed"] is False
    no_reason = client.report(nid, "rejected")
    assert no_reason.status_code == 422 and no_reason.json()["error"] == "reason_required"
    unknown = client.report(nid, "deleted")
    assert unknown.status_code == 422
    removed = client.report(nid, "removed")
    assert removed.json()["notice"]["status"] == "removed"
    assert client.report(nid, "removed").json()["changed"] is False  # idempotent
    assert client.report(nid, "received").json()["changed"] is False  # a late retry
    assert client.report(nid, "rejected", "不同意").status_code == 409
    closed = world.officer.post(f"/api/notices/{nid}/close", json={"reason": "平台已处理"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    after = client.report(nid, "disputed", "再议")
    assert after.status_code == 409 and after.json()["error"] == "notice_closed"
    reopen = world.officer.post(f"/api/notices/{nid}/reopen", json={"reason": "x"})
    assert reopen.status_code == 409 and reopen.json()["error"] == "notice_closed"
    detail = world.officer.get(f"/api/notices/{nid}").json()
    assert [(e["from_status"], e["to_status"]) for e in detail["events"]] == [
        ("", "new"),
        ("new", "received"),
        ("received", "removed"),
        ("removed", "closed"),
    ]
    assert detail["events"][1]["actor"] == "platform:甲平台"


def test_a_rejection_keeps_its_reason_and_a_conflicting_repeat_is_refused(world: World) -> None:
    (notice,) = send(world, ("shopA", 3))
    world.shop_a.report(notice["id"], "received")
    rejected = world.shop_a.report(notice["id"], "rejected", "  商品有 3C 证书，见附件  ")
    assert rejected.json()["notice"]["status_reason"] == "商品有 3C 证书，见附件"
    repeat = world.shop_a.report(notice["id"], "rejected", "商品有 3C 证书，见附件")
    assert repeat.json()["changed"] is False
    conflict = world.shop_a.report(notice["id"], "rejected", "另一个理由")
    assert conflict.status_code == 409 and conflict.json()["error"] == "conflicting_report"
    # the officer disagrees and sends it back; the platform must receive it again
    reopened = world.officer.post(
        f"/api/notices/{notice['id']}/reopen", json={"reason": "证书已注销"}
    )
    assert reopened.json()["status"] == "reopened" and reopened.json()["reopen_count"] == 1
    assert world.shop_a.report(notice["id"], "removed").status_code == 409
    assert world.shop_a.report(notice["id"], "received").json()["changed"] is True


def test_overdue_notices_are_marked_once_and_officers_told(world: World) -> None:
    (slow,) = send(world, ("shopA", 2), action="删除链接")  # 24 h
    (done,) = send(world, ("shopA", 3), action="删除链接")
    world.shop_a.report(done["id"], "received")
    world.shop_a.report(done["id"], "removed")
    world.clock.advance(hours=25)
    assert world.shop_a.get(f"/feed/v1/notices/{slow['id']}").json()["overdue"] is True
    assert world.shop_a.get(f"/feed/v1/notices/{done['id']}").json()["overdue"] is False
    assert notices.mark_overdue(world.db) == [slow["id"]]
    assert notices.mark_overdue(world.db) == []
    overdue = world.officer.get("/api/notices", params={"overdue": True}).json()
    assert [n["id"] for n in overdue["items"]] == [slow["id"]]
    told = world.officer.get("/api/notifications").json()
    assert [(n["kind"], n["notice_id"]) for n in told] == [("notice.overdue", slow["id"])]


# --- webhooks --------------------------------------------------------------------------------
def test_webhooks_are_signed_retried_dead_lettered_and_replayed(world: World) -> None:
    made = world.admin.post(
        "/api/feed/platforms", json={"name": "甲平台推送", "platform": "shopA", "webhook_url": ""}
    ).json()
    assert made["api_key"].startswith("mgp_")
    with WebhookReceiver(
        made["webhook_secret"], now=lambda: world.clock.now.timestamp(), failures=3
    ) as receiver:
        from api.feed.platforms import set_webhook

        set_webhook(world.db, made["account_id"], receiver.url)
        (notice,) = send(world, ("shopA", 2))
        # attempt 1 fails; the next is not due before the backoff
        assert webhooks.deliver_due(world.db, world.config).failed == 1
        assert webhooks.deliver_due(world.db, world.config) == webhooks.DeliveryReport()
        world.clock.advance(seconds=10)
        assert webhooks.deliver_due(world.db, world.config).failed == 1
        world.clock.advance(seconds=19)
        assert webhooks.deliver_due(world.db, world.config) == webhooks.DeliveryReport()
        world.clock.advance(seconds=1)  # 10 s, then 20 s: doubled
        assert webhooks.deliver_due(world.db, world.config).dead == 1
        dead = world.admin.get("/api/feed/deliveries", params={"status": "dead"}).json()
        assert [(d["notice_id"], d["attempts"], d["last_error"]) for d in dead] == [
            (notice["id"], 3, "HTTP 500")
        ]
        assert receiver.events == [] and receiver.requests == 3
        replay = world.admin.post("/api/feed/deliveries/replay", json={})
        assert replay.json() == {"replayed": 1}
        assert webhooks.deliver_due(world.db, world.config).delivered == 1
        assert receiver.bad_signatures == 0
        (event,) = receiver.events
        assert event["event"] == "notice.created" and event["notice"]["id"] == notice["id"]
        # a replay of an already delivered event carries the same delivery id: deduplicated
        world.admin.post("/api/feed/deliveries/replay", json={"include_delivered": True})
        webhooks.deliver_due(world.db, world.config)
        assert len(receiver.events) == 1 and receiver.requests == 5
    assert world.admin.get("/api/feed/deliveries", params={"status": "dead"}).json() == []
    actions = [e.action for e in audit.entries(world.db)]
    assert "webhook.dead" in actions and "webhook.replay" in actions


def test_the_signature_covers_timestamp_and_body() -> None:
    secret, body = "whsec_test", b'{"event":"notice.created"}'
    header = webhooks.sign(secret, 1_700_000_000, body)
    assert verify_signature(secret, header, body, now=1_700_000_100)
    assert not verify_signature(secret, header, body + b" ", now=1_700_000_100)
    assert not verify_signature("whsec_other", header, body, now=1_700_000_100)
    assert not verify_signature(secret, header, body, now=1_700_000_000 + 301)  # too old
    forged = header.replace("t=1700000000", "t=1700000200")
    assert not verify_signature(secret, forged, body, now=1_700_000_200)


def test_a_webhook_nobody_listens_to_is_dead_lettered(world: World) -> None:
    made = create_platform_account(world.db, "断线平台", "shopA", "http://127.0.0.1:9/hook")
    send(world, ("shopA", 4))
    for _ in range(3):
        webhooks.deliver_due(world.db, world.config)
        world.clock.advance(minutes=5)
    (dead,) = webhooks.list_deliveries(world.db, status="dead")
    assert dead["account_id"] == made.account.account_id
    assert "ConnectError" in dead["last_error"]


# --- re-check (回头看) ------------------------------------------------------------------------
def removed(world: World, n: int) -> dict[str, Any]:
    (notice,) = send(world, ("shopA", n))
    world.shop_a.report(notice["id"], "received")
    world.shop_a.report(notice["id"], "removed")
    return notice


def test_a_listing_still_live_reopens_its_notice_and_officers_are_told(world: World) -> None:
    notice = removed(world, 2)
    assert [n["id"] for n in world.shop_a.pull_new()] == [notice["id"]]
    world.pages.status["/shopA/item/2"] = 200  # the platform said removed; it is not
    assert recheck.run_rechecks(world.db, world.archive, world.config) == recheck.RecheckReport()
    world.clock.advance(days=7, seconds=1)
    report = recheck.run_rechecks(world.db, world.archive, world.config)
    assert report == recheck.RecheckReport(reopened=1)
    after = notices.get_notice(world.db, notice["id"])
    assert after["status"] == "reopened" and after["recheck_result"] == "live"
    assert "仍可访问" in after["status_reason"]
    (told,) = world.officer.get("/api/notifications").json()
    assert told["kind"] == "notice.reopened" and told["notice_id"] == notice["id"]
    assert any(e.action == "notice.reopened" for e in audit.entries(world.db))
    # the platform's resumed pull sees it again, with a later date_added
    again = world.shop_a.pull_new()
    assert [n["id"] for n in again] == [notice["id"]]
    assert again[0]["date_added"] > notice["date_added"]


def test_a_listing_really_gone_closes_its_notice(world: World) -> None:
    gone = removed(world, 3)  # 404
    world.pages.status["/shopA/item/4-gone"] = 200
    world.clock.advance(days=8)
    assert recheck.run_rechecks(world.db, world.archive, world.config).closed == 1
    assert notices.get_notice(world.db, gone["id"])["status"] == "closed"


def test_a_page_saying_removed_counts_as_gone_and_errors_decide_nothing(world: World) -> None:
    import httpx

    with httpx.Client() as http:
        world.pages.status["/x-gone"] = 200
        assert recheck.check_listing_url(f"{world.pages.base}/x-gone", http).verdict == "gone"
        world.pages.status["/x"] = 503
        assert recheck.check_listing_url(f"{world.pages.base}/x", http).verdict == "unknown"
        assert recheck.check_listing_url("http://127.0.0.1:9/", http).verdict == "unknown"
    notice = removed(world, 5)
    world.pages.status["/shopA/item/5"] = 503
    world.clock.advance(days=8)
    assert recheck.run_rechecks(world.db, world.archive, world.config).undecided == 1
    after = notices.get_notice(world.db, notice["id"])
    assert after["status"] == "removed" and after["recheck_result"] == "unknown: HTTP 503"
    assert recheck.run_rechecks(world.db, world.archive, world.config).undecided == 0  # later


@pytest.mark.parametrize("same", ["seller", "image"])
def test_the_same_seller_or_image_in_a_new_listing_reopens(world: World, same: str) -> None:
    notice = removed(world, 6)  # its page is gone (404)
    world.clock.advance(days=1)
    if same == "seller":
        save(world.archive, world.pages, "shopA", 60, seller=Seller("seller-6", "换名店铺"))
    else:
        other = Seller("other")
        save(world.archive, world.pages, "shopA", 61, seller=other, image=b"image-shopA-6")
    world.clock.advance(days=7)
    assert recheck.run_rechecks(world.db, world.archive, world.config).reopened == 1
    after = notices.get_notice(world.db, notice["id"])
    assert after["recheck_result"] == "relisted"
    assert ("同一卖家" if same == "seller" else "相同图片") in after["status_reason"]


# --- figures and exports ----------------------------------------------------------------------
def test_per_platform_figures(world: World) -> None:
    a2, a3, a4 = (send(world, ("shopA", n))[0] for n in (2, 3, 4))
    send(world, ("shopB", 9))
    world.clock.advance(hours=2)
    for notice in (a2, a3, a4):
        world.shop_a.report(notice["id"], "received")
    world.clock.advance(hours=2)
    world.shop_a.report(a2["id"], "removed")
    world.shop_a.report(a3["id"], "removed")
    world.shop_a.report(a4["id"], "rejected", "已有证书")
    world.pages.status["/shopA/item/2"] = 200  # a2 comes back
    world.clock.advance(days=8)
    recheck.run_rechecks(world.db, world.archive, world.config)
    figures = {f["platform"]: f for f in world.officer.get("/api/feed/figures").json()}
    a, b = figures["shopA"], figures["shopB"]
    assert (a["notices"], a["acknowledged"], a["ack_hours_median"]) == (3, 3, 2.0)
    assert (a["removed"], a["rejected"], a["answered"]) == (2, 1, 3)
    assert a["takedown_rate"] == round(2 / 3, 4)
    assert (a["relisted"], a["relisting_rate"]) == (1, 0.5)
    assert (b["notices"], b["acknowledged"], b["ack_hours_median"], b["takedown_rate"]) == (
        1,
        0,
        None,
        None,
    )
    assert b["overdue"] == 1


def test_csv_and_excel_exports_keep_text_inert(world: World) -> None:
    send(world, ("shopA", 1), ("shopA", 2))
    raw = world.officer.get("/api/notices/export", params={"format": "csv", "platform": "shopA"})
    assert raw.headers["content-type"].startswith("text/csv")
    assert raw.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Chinese right
    rows = list(csv.reader(io.StringIO(raw.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["通知编号", "平台", "商品编号"]
    titles = {row[2]: row[4] for row in rows[1:]}
    assert titles["1"] == "'" + HOSTILE_TITLE  # a formula is text, not a formula
    xlsx = world.officer.get("/api/notices/export", params={"format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][0] == "通知编号" and len(values) == 3
    hostile = next(row for row in values if row[2] == "1")
    assert hostile[4] == "'" + HOSTILE_TITLE
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


def test_feed_command_adds_platforms_replays_and_exports(world: World, tmp_path: Path) -> None:
    home = str(tmp_path)  # the world's workspace.db lives here
    added = run_cli("feed", "platform-add", "丙平台", "--platform", "shopC", "--store", home)
    assert added.returncode == 0, added.stderr
    key = next(line.split()[1] for line in added.stdout.splitlines() if line.startswith("api_key"))
    assert key.startswith("mgp_")
    again = run_cli("feed", "platform-add", "丙平台", "--platform", "x", "--store", home)
    assert again.returncode == 1
    create_platform_account(world.db, "死信平台", "shopA", "http://127.0.0.1:9/hook")
    send(world, ("shopA", 2))
    for _ in range(3):
        webhooks.deliver_due(world.db, world.config)
        world.clock.advance(minutes=5)
    replayed = run_cli("feed", "replay", "--store", home)
    assert replayed.returncode == 0 and "replayed 1" in replayed.stdout
    assert webhooks.list_deliveries(world.db, status="dead") == []
    out = tmp_path / "notices.xlsx"
    exported = run_cli("feed", "export", "--format", "xlsx", "--output", str(out), "--store", home)
    assert exported.returncode == 0, exported.stderr
    assert load_workbook(out).active.max_row == 2


def test_a_rotated_key_replaces_the_old_one(world: World) -> None:
    old = world.shop_a.headers["Authorization"]
    accounts = world.admin.get("/api/feed/platforms").json()
    (account,) = [a for a in accounts if a["name"] == "甲平台"]
    assert "webhook_secret" not in account
    rotated = world.admin.post(f"/api/feed/platforms/{account['account_id']}/rotate-key")
    path = f"/api/feed/platforms/{account['account_id']}/rotate-key"
    assert world.officer.post(path).status_code == 403
    new = TestClient(world.app, headers={"Authorization": f"Bearer {rotated.json()['api_key']}"})
    assert new.get("/feed/v1/notices").status_code == 200
    stale = TestClient(world.app, headers={"Authorization": old})
    assert stale.get("/feed/v1/notices").status_code == 401


def test_the_serving_app_delivers_webhooks_in_the_background(tmp_path: Path) -> None:
    archive = SqliteArchive(tmp_path / "store")
    db = WorkspaceDb(tmp_path / "workspace.db")
    pages = ListingPages()
    try:
        save(archive, pages, "shopA", 1)
        confirm(archive, "shopA", 1)
        made = create_platform_account(db, "甲平台", "shopA")
        with WebhookReceiver(made.account.webhook_secret) as receiver:
            from api.feed.platforms import set_webhook

            set_webhook(db, made.account.account_id, receiver.url)
            config = FeedConfig(worker_interval=0.05)
            app = create_app(archive, workspace=db, feed_config=config, feed_worker=True)
            with TestClient(app) as client:  # the lifespan starts and stops the worker
                client.headers["Authorization"] = f"Bearer {token(db, '王五', 'reviewer')}"
                body = {"listings": [{"platform": "shopA", "listing_id": "1"}]}
                assert client.post("/api/notices", json=body).status_code == 201
                deadline = time.monotonic() + 20
                while not receiver.events and time.monotonic() < deadline:
                    time.sleep(0.05)
            assert [e["event"] for e in receiver.events] == ["notice.created"]
    finally:
        pages.close()
        db.close()
        archive.close()
