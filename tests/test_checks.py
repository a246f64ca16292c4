"""On-demand checks (``api/checks``, ``marketguard check``, ``marketguard.notify.check_result``):
an officer's URL is crawled, matched and captured at once and lands in the queue with its origin.

Real Redis (DB 11, flushed before and after each test that uses it), real worker and child
processes, a real demo shop on 127.0.0.1, real Chromium, SQLite files in tmp_path.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from api.checks.store import URL_MAX, create_check, get_check
from api.workspace_db import WorkspaceDb, open_workspace
from demo.generator import DemoListing, Marketplace, generate
from demo.server import DemoServer
from evidence.archive import open_archive
from evidence.archive.base import Archive
from marketguard.distributed.config import WorkerConfig
from tests.conftest import REPO_ROOT, redis_url, run_cli
from tests.workers import flushed_redis
from tests.workspace_accounts import sign_in

ORIGIN = "12365投诉 No.20240001"


def _redis_url() -> str:
    return redis_url(11)


@pytest.fixture
def broker() -> Iterator[str]:
    with flushed_redis(11) as url:
        yield url


@pytest.fixture(scope="module")
def market() -> Marketplace:
    return generate(seed=7, listings=40)


@pytest.fixture(scope="module")
def shop(market: Marketplace) -> Iterator[str]:
    with DemoServer(market) as server:
        yield server.url


def _planted(market: Marketplace, n: int) -> DemoListing:
    """The n-th listing with planted violations, on a plain page without injected faults."""
    return [x for x in market.listings if x.rules and not x.fault and x.layout == "plain"][n]


@pytest.fixture
def home(tmp_path: Path) -> Iterator[tuple[Archive, WorkspaceDb]]:
    archive, db = open_archive(tmp_path), open_workspace(tmp_path)
    yield archive, db
    db.close()
    archive.close()


def _client(stores: tuple[Archive, WorkspaceDb], broker_url: str) -> tuple[TestClient, str]:
    archive, db = stores
    app = create_app(archive, workspace=db, category_names={})
    app.state.worker_config = WorkerConfig(broker_url=broker_url)
    client = TestClient(app)
    return client, sign_in(client, db, "officer1", "reviewer")


def _post(client: TestClient, csrf: str, **body: Any) -> Any:
    return client.post("/api/checks", json=body, headers={"X-CSRF-Token": csrf})


def _wait_finished(client: TestClient, check_id: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        check = client.get(f"/api/checks/{check_id}").json()
        if check["state"] in ("done", "failed") or time.monotonic() > deadline:
            return check  # type: ignore[no-any-return]
        time.sleep(0.3)


def _queue_row(page: str, listing_id: str) -> str:
    """The queue page's row of ``listing_id`` (its title cell and what follows)."""
    marker = f'/{listing_id}">'
    assert marker in page, f"{listing_id} not in the queue"
    return page.split(marker, 1)[1].split("</tr>", 1)[0]


def _crawl_messages(url: str, key: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(headers, kwargs) of each message in Redis list ``key`` (kombu's JSON envelope with a
    base64 body of ``[args, kwargs, embed]``)."""
    client = redis.Redis.from_url(url)
    try:
        raw = client.lrange(key, 0, -1)
    finally:
        client.close()
    out = []
    for item in raw:
        envelope = json.loads(item)
        _, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
        out.append((envelope["headers"], kwargs))
    return out


# --- with a broker: the check is an urgent crawl message ------------------------------------------
def test_post_with_a_broker_queues_an_urgent_crawl(
    broker: str, home: tuple[Archive, WorkspaceDb]
) -> None:
    client, csrf = _client(home, broker)
    url = "http://127.0.0.1:9/item/100003"  # loopback is allowed: the demo shop lives there
    response = _post(client, csrf, url=url, origin=ORIGIN, note="消费者称为假冒")
    assert response.status_code == 201, response.text
    check = response.json()
    assert check["state"] == "queued" and check["task_id"] and check["requested_by"] == "officer1"

    messages = _crawl_messages(broker, "crawl")  # urgent: Redis's plain list, priority 0
    assert len(messages) == 1 and _crawl_messages(broker, "crawl:6") == []
    headers, kwargs = messages[0]
    assert headers["task"] == "marketguard.crawl" and headers["id"] == check["task_id"]
    assert kwargs["spider"] == "site" and kwargs["spider_args"]["url"] == url
    assert (kwargs["check_id"], kwargs["origin"], kwargs["urgent"]) == (check["id"], ORIGIN, True)

    second = _post(client, csrf, url=url + "?b=1").json()
    assert [c["id"] for c in client.get("/api/checks").json()] == [second["id"], check["id"]]
    assert client.get(f"/api/checks/{check['id']}").json()["origin"] == ORIGIN
    assert client.get("/api/checks/999").status_code == 404

    page = client.get("/checks")
    assert page.status_code == 200 and 'href="/checks"' in page.text
    assert ORIGIN in page.text and "排队中" in page.text
    from api.accounts import audit

    entries = audit.entries(home[1], action_prefix="check.submit")
    assert [e.target for e in entries] == [f"check:{second['id']}", f"check:{check['id']}"]
    assert entries[1].after["origin"] == ORIGIN and entries[1].actor == "officer1"


def test_a_broker_that_is_down_fails_the_check_with_a_reason(
    home: tuple[Archive, WorkspaceDb],
) -> None:
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    client, csrf = _client(home, f"redis://127.0.0.1:{port}/11")
    started = time.monotonic()
    check = _post(client, csrf, url="https://shop.example/item/1").json()
    assert check["state"] == "failed" and "消息代理" in check["error"]
    assert time.monotonic() - started < 30


# --- validation -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"url": "ftp://shop.example/item/1"}, "http"),
        ({"url": "javascript:alert(1)"}, "http"),
        ({"url": "https://"}, "主机"),
        ({"url": "https://shop.example/a b"}, "空格"),
        ({"url": "https://shop.example/" + "x" * URL_MAX}, "url"),
        ({"url": "https://shop.example/1", "origin": "x" * 201}, "origin"),
        ({"origin": ORIGIN}, "url"),
        ({"url": "https://shop.example/1", "extra": 1}, "extra"),
    ],
)
def test_bad_input_is_a_clear_422(
    home: tuple[Archive, WorkspaceDb], body: dict[str, Any], words: str
) -> None:
    client, csrf = _client(home, "")
    response = _post(client, csrf, **body)
    assert response.status_code == 422, response.text
    assert words in json.dumps(response.json(), ensure_ascii=False)
    assert client.get("/api/checks").json() == []  # nothing recorded, nothing started


def test_the_form_keeps_what_was_typed_and_strangers_are_refused(
    home: tuple[Archive, WorkspaceDb],
) -> None:
    client, csrf = _client(home, "")
    page = client.post(
        "/checks", data={"url": "file:///etc/passwd", "origin": ORIGIN, "csrf_token": csrf}
    )
    assert page.status_code == 422 and "只能核查 http" in page.text and ORIGIN in page.text
    anonymous = TestClient(create_app(home[0], workspace=home[1], category_names={}))
    assert anonymous.post("/api/checks", json={"url": "https://a.example/"}).status_code == 401
    assert anonymous.get("/api/checks").status_code == 401
    no_csrf = client.post("/api/checks", json={"url": "https://a.example/"})
    assert no_csrf.status_code == 403


def test_the_result_task_fills_in_the_row_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from marketguard.distributed.check_tasks import check_result

    monkeypatch.setenv("MARKETGUARD_HOME", str(tmp_path))
    db = open_workspace(tmp_path)
    check = create_check(db, "officer1", "https://shop.example/item/7", ORIGIN)
    running = check_result.apply(kwargs={"check_id": check.id, "state": "running"}).get()
    assert running["updated"] and get_check(db, check.id).state == "running"  # type: ignore[union-attr]
    done = {"check_id": check.id, "state": "done", "platform": "shop", "listing_id": "7"}
    first = check_result.apply(kwargs={**done, "rule_ids": ["R1"], "capture_id": "C1"}).get()
    row = get_check(db, check.id)
    again = check_result.apply(kwargs={**done, "state": "failed", "error": "late"}).get()
    assert first["updated"] and not again["updated"]
    assert get_check(db, check.id) == row
    # A late "running" (delivered after the result) moves nothing back.
    check_result.apply(kwargs={"check_id": check.id, "state": "running"}).get()
    assert get_check(db, check.id) == row
    assert row is not None and (row.state, row.rule_ids, row.capture_id) == ("done", ["R1"], "C1")
    db.close()


# --- without a broker: in-process ---------------------------------------------------------------
@pytest.mark.browser
def test_without_a_broker_the_check_runs_here_and_is_captured(
    tmp_path: Path, market: Marketplace, shop: str
) -> None:
    env = {"MARKETGUARD_HOME": str(tmp_path), "MARKETGUARD_BROKER_URL": ""}
    first = f"{shop}/item/{_planted(market, 0).listing_id}"
    result = run_cli("check", first, "--origin", ORIGIN, "--json", env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    check = json.loads(result.stdout.strip().splitlines()[-1])
    assert check["state"] == "done" and check["origin"] == ORIGIN, check
    assert check["listing_id"] == _planted(market, 0).listing_id and check["capture_id"]
    assert check["flagged"] and check["rule_ids"]

    # The workspace without a broker: a child process runs it, the request does not wait.
    stores = (open_archive(tmp_path), open_workspace(tmp_path))
    try:
        client, csrf = _client(stores, "")
        second = _planted(market, 1)
        started = time.monotonic()
        posted = _post(client, csrf, url=f"{shop}/item/{second.listing_id}", origin="12345热线")
        assert posted.status_code == 201 and time.monotonic() - started < 5
        finished = _wait_finished(client, posted.json()["id"], timeout=90)
        assert finished["state"] == "done", finished
        assert finished["listing_id"] == second.listing_id and finished["capture_id"]

        record = stores[0].get_listing(check["platform"], check["listing_id"])
        assert record is not None
        assert check["capture_id"] in [e.capture_id for e in record.evidence]
        queue = client.get("/").text
        assert ORIGIN in _queue_row(queue, check["listing_id"])
        assert "12345热线" in _queue_row(queue, second.listing_id)
    finally:
        stores[1].close()
        stores[0].close()


# --- end to end with a real worker ----------------------------------------------------------------
@pytest.mark.browser
def test_a_check_through_a_real_worker_lands_in_the_queue_with_its_origin(
    broker: str, tmp_path: Path, market: Marketplace, shop: str
) -> None:
    log = tmp_path / "worker.log"
    env = {**os.environ, "MARKETGUARD_BROKER_URL": broker, "MARKETGUARD_HOME": str(tmp_path)}
    with log.open("ab") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "marketguard.cli", "worker", "--pool", "threads"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its crawl children and Chromium go with it
        )
    stores = (open_archive(tmp_path), open_workspace(tmp_path))
    try:
        client, csrf = _client(stores, broker)
        target = _planted(market, 2)
        posted = _post(client, csrf, url=f"{shop}/item/{target.listing_id}", origin=ORIGIN)
        assert posted.status_code == 201, posted.text
        check = _wait_finished(client, posted.json()["id"], timeout=120)
        assert check["state"] == "done", (check, log.read_text("utf-8", "replace")[-3000:])
        assert check["listing_id"] == target.listing_id and check["flagged"]

        record = stores[0].get_listing(check["platform"], check["listing_id"])
        assert record is not None
        assert sorted(check["rule_ids"]) == sorted({f.rule_id for f in record.flags})
        assert check["capture_id"] in [e.capture_id for e in record.evidence]
        row = _queue_row(client.get("/").text, target.listing_id)
        assert ORIGIN in row and 'class="status origin"' in row
    finally:
        stores[1].close()
        stores[0].close()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=30)


BOOK_PAGE = (
    '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>新华字典 第12版</title>'
    '<script type="application/ld+json">{"@context": "https://schema.org", "@type": "Product",'
    ' "name": "新华字典 第12版 商务印书馆", "sku": "B-12", "offers": {"@type": "Offer",'
    ' "price": "39.90", "priceCurrency": "CNY"}}</script></head>'
    "<body><h1>新华字典 第12版 商务印书馆</h1><p>¥39.90</p></body></html>"
).encode()


class _BookPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(BOOK_PAGE)))
        self.end_headers()
        self.wfile.write(BOOK_PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.mark.browser
def test_a_page_no_rule_flags_is_captured_all_the_same(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BookPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/item/42"
        env = {"MARKETGUARD_HOME": str(tmp_path), "MARKETGUARD_BROKER_URL": ""}
        result = run_cli("check", url, "--json", env=env, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr[-2000:]
    check = json.loads(result.stdout.strip().splitlines()[-1])
    assert (check["state"], check["listing_id"], check["flagged"]) == ("done", "B-12", False)
    assert check["capture_id"], "an officer's check is captured whatever the rules say"


def test_the_command_with_a_broker_queues_and_prints_the_ids(broker: str, tmp_path: Path) -> None:
    env = {"MARKETGUARD_HOME": str(tmp_path), "MARKETGUARD_BROKER_URL": broker}
    result = run_cli("check", "https://shop.example/item/5", "--origin", ORIGIN, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "核查 #1 已排队" in result.stdout
    [(headers, kwargs)] = _crawl_messages(broker, "crawl")
    assert headers["id"] in result.stdout and (kwargs["check_id"], kwargs["origin"]) == (1, ORIGIN)
    bad = run_cli("check", "ftp://shop.example/", env=env)
    assert bad.returncode == 2 and "http" in bad.stderr
