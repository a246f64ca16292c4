"""Transient errors are retried with backoff until the work is done; permanent ones are recorded
against the listing once and never retried forever (real Redis, a real worker process)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from evidence.archive.sqlite import SqliteArchive
from marketguard.distributed.app import make_app
from marketguard.distributed.config import WorkerConfig
from marketguard.distributed.submit import submit_crawl, wait_idle
from marketguard.models import Flag, Listing
from tests.conftest import redis_url, run_cli
from tests.workers import Worker, flushed_redis, wait_for_workers

DB = 15


@pytest.fixture
def broker() -> Iterator[str]:
    with flushed_redis(DB) as url:
        yield url


@pytest.fixture
def worker(tmp_path: Path, broker: str) -> Iterator[Path]:
    home = tmp_path / "home"
    SqliteArchive(home).close()  # the store exists (migrated) before the worker opens it
    env = {"MARKETGUARD_BROKER_URL": broker, "MARKETGUARD_HOME": str(home)}
    process = Worker(
        env, tmp_path / "worker.log", "--queues", "match,store", "--name", "failures@test"
    )
    try:
        wait_for_workers(make_app(WorkerConfig(broker_url=broker)), 1)
        yield home
    finally:
        process.stop()


def _listing(n: int) -> Listing:
    return Listing(
        platform="shop",
        listing_id=str(n),
        url=f"http://127.0.0.1:9/item/{n}",
        title=f"快充充电器 {n}",
        price="19.90",
    )


def _store_payload(n: int) -> dict[str, object]:
    flag = Flag(
        rule_id="CCC_MISSING",
        severity="high",
        reason="未见3C标志",
        legal_basis="《强制性产品认证管理规定》",
        snippet="充电器",
    )
    return {
        "run": "test-run",
        "pass_id": None,
        "listing": _listing(n).to_dict(),
        "flags": [flag.to_dict()],
        "risk_score": 60,
        "errors": [],
    }


def test_a_store_locked_for_a_while_is_waited_out_and_written_once(
    worker: Path, broker: str
) -> None:
    app = make_app(WorkerConfig(broker_url=broker))
    locker = sqlite3.connect(
        worker / "marketguard.db", isolation_level=None, check_same_thread=False
    )
    locker.execute("BEGIN EXCLUSIVE")  # the store is "down" for writers: longer than busy wait
    app.send_task("marketguard.store", kwargs=_store_payload(1))
    release = threading.Timer(14.0, lambda: locker.execute("ROLLBACK"))
    release.start()
    try:
        wait_idle(app, timeout=120)
    finally:
        release.join()
        locker.close()
    db = sqlite3.connect(worker / "marketguard.db")
    rows = db.execute("SELECT listing_id, flag_count FROM listings").fetchall()
    flags = db.execute("SELECT COUNT(*) FROM flags").fetchone()[0]
    task_errors = db.execute("SELECT COUNT(*) FROM errors WHERE kind = 'task'").fetchone()[0]
    db.close()
    assert rows == [("1", 1)] and flags == 1
    assert task_errors == 0
    log = (worker.parent / "worker.log").read_text(errors="replace")
    assert "retrying" in log  # it was really refused at first, then retried


def test_a_task_that_cannot_succeed_is_recorded_once_and_not_retried(
    worker: Path, broker: str
) -> None:
    app = make_app(WorkerConfig(broker_url=broker))
    broken = _store_payload(2)
    broken["flags"] = [{**broken["flags"][0], "severity": "apocalyptic"}]  # type: ignore[index]
    app.send_task("marketguard.store", kwargs=broken)
    app.send_task("marketguard.match", kwargs={"listing": {"url": "http://127.0.0.1:9/x"}})
    wait_idle(app, timeout=60)
    time.sleep(3)  # a retry would have been scheduled by now (first backoff: 2 s)
    wait_idle(app, timeout=60)
    db = sqlite3.connect(worker / "marketguard.db")
    errors = db.execute("SELECT url, message FROM errors WHERE kind = 'task'").fetchall()
    listings = db.execute("SELECT COUNT(*) FROM listings").fetchone()[0]
    db.close()
    assert listings == 0
    assert sorted(url for url, _ in errors) == [
        "http://127.0.0.1:9/item/2",
        "http://127.0.0.1:9/x",
    ]
    assert any("apocalyptic" in message for _, message in errors)


class _Hanging(BaseHTTPRequestHandler):
    """A marketplace whose every page takes longer than any slice."""

    def do_GET(self) -> None:
        time.sleep(30)

    def log_message(self, format: str, *args: object) -> None:
        return


def test_a_crawl_job_that_finds_nothing_stops_with_a_recorded_error(
    tmp_path: Path, broker: str
) -> None:
    """A marketplace whose every page hangs: slices that find nothing, or cannot even close in
    time, grow (2 s, 4 s, then the longest the visibility timeout allows: 12 - 4 = 8 s), and
    the longest one stops the job with one recorded error: never an endless loop."""
    home = tmp_path / "home"
    SqliteArchive(home).close()
    env = {
        "MARKETGUARD_BROKER_URL": broker,
        "MARKETGUARD_HOME": str(home),
        "MARKETGUARD_CRAWL_SLICE": "2",
        "MARKETGUARD_CAPTURE_TIMEOUT": "4",
        "MARKETGUARD_VISIBILITY_TIMEOUT": "12",
    }
    app = make_app(
        WorkerConfig(broker_url=broker, crawl_slice=2, capture_timeout=4, visibility_timeout=12)
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hanging)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    crawler = Worker(env, tmp_path / "crawl.log", "--queues", "crawl", "--name", "slices@test")
    try:
        wait_for_workers(app, 1)
        url = f"http://127.0.0.1:{server.server_address[1]}"
        submit_crawl(app, "demo_shop", {"base_url": url, "keywords": "充电器"}, capture=False)
        wait_idle(app, timeout=120)
    finally:
        crawler.stop()
        server.shutdown()
    db = sqlite3.connect(home / "marketguard.db")
    errors = [row[0] for row in db.execute("SELECT message FROM errors WHERE kind = 'task'")]
    slices = db.execute("SELECT COUNT(*) FROM passes").fetchone()[0]
    db.close()
    assert len(errors) == 1 and "stopped: a slice of 8 s" in errors[0], errors
    assert slices == 3  # 2 s, 4 s, 8 s


def test_worker_settings_that_cannot_work_are_refused_with_the_reason(tmp_path: Path) -> None:
    from marketguard.distributed.config import worker_config

    (tmp_path / "marketguard.toml").write_text(
        '[workers]\nbroker_url = "redis://127.0.0.1:6379/3"\ncrawl_slice = 600\n', "utf-8"
    )
    # A 600 s slice plus a 120 s capture stay inside the default 900 s visibility timeout.
    assert worker_config(tmp_path, env={}).broker_url == "redis://127.0.0.1:6379/3"
    # The environment wins over the file; a task longer than the visibility timeout is refused.
    with pytest.raises(ValueError, match="must exceed a crawl slice plus a capture"):
        worker_config(tmp_path, env={"MARKETGUARD_VISIBILITY_TIMEOUT": "700"})
    with pytest.raises(ValueError, match="MARKETGUARD_CRAWL_SLICE must be a number"):
        worker_config(tmp_path, env={"MARKETGUARD_CRAWL_SLICE": "five minutes"})
    (tmp_path / "marketguard.toml").write_text("[workers]\ncrawl_slice = -1\n", "utf-8")
    with pytest.raises(ValueError, match=r"\[workers\] crawl_slice must be positive"):
        worker_config(tmp_path, env={})
    (tmp_path / "marketguard.toml").write_text("[workers\n", "utf-8")
    with pytest.raises(ValueError, match="not valid TOML"):
        worker_config(tmp_path, env={})


def test_the_worker_command_refuses_without_a_broker_or_with_an_unknown_queue(
    tmp_path: Path,
) -> None:
    home = {"MARKETGUARD_HOME": str(tmp_path)}
    alone = run_cli("worker", env={**home, "MARKETGUARD_BROKER_URL": ""})
    assert alone.returncode == 2 and "no broker configured" in alone.stderr
    wrong = run_cli(
        "worker",
        "--queues",
        "crawl,captures",
        env={**home, "MARKETGUARD_BROKER_URL": redis_url(DB)},
    )
    assert wrong.returncode == 2 and "unknown queues captures" in wrong.stderr
