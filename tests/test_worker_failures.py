"""Transient errors are retried with backoff until the work is done; permanent ones are recorded
against the listing once and never retried forever (real Redis, a real worker process)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence.archive.sqlite import SqliteArchive
from marketguard.distributed.app import make_app
from marketguard.distributed.config import WorkerConfig
from marketguard.distributed.submit import wait_idle
from marketguard.models import Flag, Listing
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
