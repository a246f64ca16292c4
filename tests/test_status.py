"""Queue depths and workers (``marketguard/distributed/status.py``), ``marketguard status`` and the
admins' page, against the real Redis on 127.0.0.1:6379 (DB 13, flushed before and after each
test) and a real worker process; an unreachable broker is a free port nobody listens on."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from api.workspace_db import WorkspaceDb
from evidence.archive.sqlite import SqliteArchive
from marketguard.distributed.app import QUEUES, make_app, priority
from marketguard.distributed.config import WorkerConfig
from marketguard.distributed.status import queue_depths, status, status_for, workers
from marketguard.models import PageError
from tests.conftest import REPO_ROOT, free_port, redis_url, run_cli
from tests.workers import flushed_redis
from tests.workspace_accounts import sign_in


def _redis_url() -> str:
    return redis_url(13)


@pytest.fixture
def broker() -> Iterator[str]:
    with flushed_redis(13) as url:
        yield url


def _app(url: str):  # type: ignore[no-untyped-def]
    return make_app(WorkerConfig(broker_url=url))


def _unreachable_url() -> str:
    return f"redis://:secret@127.0.0.1:{free_port()}/13"


# --- queue depths -------------------------------------------------------------------------------
def test_depths_sum_every_priority_list_and_count_unacknowledged(broker: str) -> None:
    app = _app(broker)
    # Every priority a sender may use, so each of Redis's per-priority lists holds messages.
    for n in range(10):
        app.send_task("marketguard.match", args=[n], queue="match", priority=n)
    for level in ("urgent", "routine"):
        app.send_task("marketguard.capture", args=[level], priority=priority(app, level))
    keys = {k.decode() for k in redis.Redis.from_url(broker).keys("match*")}
    assert keys == {"match", "match:3", "match:6", "match:9"}  # what the counts must sum

    depths = queue_depths(app)
    assert set(depths) == set(QUEUES)
    assert (depths["match"].waiting, depths["capture"].waiting) == (10, 2)
    assert all(depths[q].waiting == 0 for q in ("crawl", "store", "notify", "recheck"))
    assert all(d.unacked == 0 for d in depths.values())

    # A consumer that took a message and has not acknowledged it: in flight, not waiting.
    with app.connection_for_write() as conn:
        channel = conn.channel()
        message = channel.basic_get("match", no_ack=False)
        assert message is not None
        result = status(app, timeout=0.5)
        assert result.reachable and result.configured and not result.error
        assert (result.queues["match"].waiting, result.queues["match"].unacked) == (9, 1)
        assert result.unacked_total == 1
        assert result.workers == []
        channel.close()  # unacknowledged: kombu puts it back
    assert queue_depths(app)["match"] == queue_depths(app)["match"].__class__("match", 10, 0)


# --- workers ------------------------------------------------------------------------------------
def _start_worker(url: str, home: Path, name: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MARKETGUARD_BROKER_URL": url, "MARKETGUARD_HOME": str(home)}
    options = ["--queues", "match,store", "--pool", "solo", "--name", name, "--loglevel", "WARNING"]
    return subprocess.Popen(
        [sys.executable, "-m", "marketguard.cli", "worker", *options],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_a_running_worker_is_counted_and_gone_once_stopped(broker: str, tmp_path: Path) -> None:
    app = _app(broker)
    name = f"w1@{socket.gethostname()}"
    worker = _start_worker(broker, tmp_path, name)
    try:
        deadline = time.monotonic() + 40
        found = []
        while time.monotonic() < deadline and not found:
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            found = workers(app, timeout=1.0)
        assert [w.name for w in found] == [name]
        assert found[0].queues == ["match", "store"] and found[0].active == 0
        result = status(app, timeout=1.0)
        assert result.workers_per_queue() == {
            "crawl": 0,
            "capture": 0,
            "match": 1,
            "store": 1,
            "notify": 0,
            "recheck": 0,
        }
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert workers(app, timeout=1.0) == []


# --- unreachable and unconfigured ---------------------------------------------------------------
def test_an_unreachable_broker_is_a_quick_status_not_a_traceback() -> None:
    started = time.monotonic()
    result = status(_app(_unreachable_url()), timeout=1.0)
    assert time.monotonic() - started < 3
    assert result.configured and not result.reachable and result.error
    assert "secret" not in result.broker and "**" in result.broker
    assert result.queues == {} and result.workers == []


def test_a_broker_that_accepts_but_never_answers_times_out() -> None:
    with socket.socket() as silent:  # the kernel completes the handshake; nobody replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/13"
        started = time.monotonic()
        result = status(_app(url), timeout=1.0)
        assert time.monotonic() - started < 4
    assert not result.reachable and result.error


def test_no_broker_configured_means_in_process() -> None:
    result = status_for(WorkerConfig(broker_url=""))
    assert not result.configured and not result.reachable


# --- marketguard status -------------------------------------------------------------------------
def test_status_command_exit_codes_and_json(broker: str, tmp_path: Path) -> None:
    home = {"MARKETGUARD_HOME": str(tmp_path)}
    _app(broker).send_task("marketguard.crawl", args=[], queue="crawl")

    ok = run_cli("status", "--json", env={**home, "MARKETGUARD_BROKER_URL": broker}, timeout=60)
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["reachable"] and data["configured"]
    assert {q["queue"]: q["waiting"] for q in data["queues"]}["crawl"] == 1

    table = run_cli("status", env={**home, "MARKETGUARD_BROKER_URL": broker}, timeout=60)
    assert table.returncode == 0 and "等待 waiting" in table.stdout and "crawl 抓取" in table.stdout

    down = run_cli(
        "status", "--json", env={**home, "MARKETGUARD_BROKER_URL": _unreachable_url()}, timeout=60
    )
    assert down.returncode == 1 and json.loads(down.stdout)["reachable"] is False

    # The broker may also come from [workers] in marketguard.toml; unset everywhere: in-process.
    none = run_cli("status", env={**home, "MARKETGUARD_BROKER_URL": ""}, timeout=60)
    assert none.returncode == 2 and "单机模式" in none.stdout
    (tmp_path / "marketguard.toml").write_text(f'[workers]\nbroker_url = "{broker}"\n', "utf-8")
    toml = run_cli("status", "--json", env=home | {"MARKETGUARD_BROKER_URL": ""}, timeout=60)
    assert toml.returncode == 2  # the environment wins, even empty
    env = {k: v for k, v in os.environ.items() if k != "MARKETGUARD_BROKER_URL"} | home
    from_toml = subprocess.run(
        [sys.executable, "-m", "marketguard.cli", "status", "--json"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert from_toml.returncode == 0, from_toml.stderr


# --- the admins' page ---------------------------------------------------------------------------
@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[tuple[SqliteArchive, WorkspaceDb]]:
    archive = SqliteArchive(tmp_path / "store")
    db = WorkspaceDb(tmp_path / "workspace.db")
    yield archive, db
    db.close()
    archive.close()


def _client(
    workspace: tuple[SqliteArchive, WorkspaceDb], url: str, role: str, name: str = ""
) -> TestClient:
    archive, db = workspace
    app = create_app(archive, workspace=db, category_names={})
    app.state.worker_config = WorkerConfig(broker_url=url)
    client = TestClient(app)
    sign_in(client, db, name or f"{role}1", role)
    return client


def test_admin_page_shows_queues_and_task_errors(
    broker: str, workspace: tuple[SqliteArchive, WorkspaceDb]
) -> None:
    _app(broker).send_task("marketguard.capture", args=[], priority=0)
    workspace[0].record_error(PageError("https://shop.example/item/9", "task", "捕获失败：超时"))
    workspace[0].record_error(PageError("https://shop.example/item/8", "timeout", "not a task"))
    client = _client(workspace, broker, "admin")

    page = client.get("/admin/workers")
    assert page.status_code == 200
    assert 'href="/admin/workers"' in page.text  # in the admin's navigation
    capture_row = page.text.split('id="queue-capture"')[1].split("</tr>")[0]
    assert '<td class="num">1</td>' in capture_row
    assert "没有工作进程应答" in page.text
    assert "捕获失败：超时" in page.text and "not a task" not in page.text

    data = client.get("/api/admin/queues").json()
    assert data["reachable"] and {q["queue"]: q["waiting"] for q in data["queues"]}["capture"] == 1


def test_admin_page_when_broker_down_or_absent(
    workspace: tuple[SqliteArchive, WorkspaceDb],
) -> None:
    started = time.monotonic()
    down = _client(workspace, _unreachable_url(), "admin").get("/admin/workers")
    assert time.monotonic() - started < 5
    assert down.status_code == 200 and "消息代理不可达" in down.text and "secret" not in down.text

    alone = _client(workspace, "", "admin", "admin2")
    assert "单机模式：所有工作在本进程内完成" in alone.get("/admin/workers").text
    assert alone.get("/api/admin/queues").json()["configured"] is False


def test_reviewers_and_supervisors_may_not_see_it(
    workspace: tuple[SqliteArchive, WorkspaceDb],
) -> None:
    for role in ("reviewer", "supervisor"):
        client = _client(workspace, _unreachable_url(), role)
        assert client.get("/admin/workers").status_code == 403
        assert client.get("/api/admin/queues").status_code == 403
        assert 'href="/admin/workers"' not in client.get("/").text
    anonymous = TestClient(create_app(workspace[0], workspace=workspace[1], category_names={}))
    assert anonymous.get("/api/admin/queues").status_code == 401
    assert anonymous.get("/admin/workers", follow_redirects=False).status_code == 303
