"""Scheduling with Celery beat, end to end: a real Redis (DB 12), a real ``marketguard beat``
process, a real notify worker process, ``marketguard serve`` processes, real SQLite files and
a real loopback webhook receiver."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from api.feed import notices, webhooks
from api.feed.platforms import create_platform_account
from api.workspace_db import open_workspace
from evidence.archive.sqlite import SqliteArchive
from marketguard.distributed.app import make_app
from marketguard.distributed.config import WorkerConfig, worker_config
from marketguard.distributed.schedule import (
    ScheduleError,
    beat_schedule,
    crawl_jobs,
    parse_interval,
)
from marketguard.models import Flag, Listing, Review, Seller
from tests.conftest import REPO_ROOT, free_port, redis_url, run_cli
from tests.platform_client import WebhookReceiver

SCHEDULE_TOML = """
[workers]
webhook_every = "1h"
overdue_every = "1h"
recheck_every = "1h"

[[workers.schedule]]
site = "demo"
category = "charger"
every = "2s"
capture = false

[[workers.schedule]]
site = "demo"
category = "power_bank"
keywords = ["充电宝"]
base_url = "http://127.0.0.1:9/"
"""


def _redis_url() -> str:
    return redis_url(12)


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(_redis_url())
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _env(home: Path, broker_url: str = "") -> dict[str, str]:
    env = {**os.environ, "MARKETGUARD_HOME": str(home), "MARKETGUARD_BROKER_URL": broker_url}
    env.pop("MARKETGUARD_ES_URL", None)
    return env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait(what: str, done: Callable[[], bool], timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.2)
    tail = log.read_text("utf-8", errors="replace")[-3000:] if log else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def _messages(client: redis.Redis, queue: str) -> list[dict[str, Any]]:
    """Every message waiting in ``queue``, across kombu's per-priority lists."""
    found = []
    for key in sorted(client.keys(f"{queue}*")):
        if key.decode() != queue and not key.decode().startswith(f"{queue}:"):
            continue
        for raw in client.lrange(key, 0, -1):
            message = json.loads(raw)
            _args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
            found.append({"list": key.decode(), "message": message, "kwargs": kwargs})
    return found


# --- beat --------------------------------------------------------------------------------------
def test_beat_sends_a_due_crawl_to_the_crawl_queue(tmp_path: Path, broker: redis.Redis) -> None:
    (tmp_path / "marketguard.toml").write_text(SCHEDULE_TOML, "utf-8")
    log = tmp_path / "beat.log"
    beat = _start(["marketguard.cli", "beat"], _env(tmp_path, _redis_url()), log)
    try:
        _wait("a crawl message", lambda: bool(_messages(broker, "crawl")), 45, log)
    finally:
        _stop(beat)
    sent = _messages(broker, "crawl")
    # Routine priority: kombu keeps priority 6 in its own list, behind urgent checks (priority
    # 0, the plain "crawl" list).
    assert {item["list"] for item in sent} == {"crawl:6"}, sent
    first = sent[0]
    assert first["message"]["headers"]["task"] == "marketguard.crawl"
    assert first["message"]["properties"]["priority"] == 6
    assert first["message"]["properties"]["delivery_info"]["routing_key"] == "crawl"
    assert first["kwargs"] == {
        "spider": "site",
        "spider_args": {"site": "demo", "keywords": "充电器,电源适配器", "sites_dir": ""},
        "capture": False,
        "incremental": True,
        "origin": "schedule:demo/charger",
        "check_id": None,
        "urgent": False,
    }
    # The daily entry is not due yet, nor are the hourly feed jobs.
    assert {item["kwargs"]["origin"] for item in sent} == {"schedule:demo/charger"}
    assert not _messages(broker, "notify") and not _messages(broker, "recheck")
    assert list(tmp_path.glob("celerybeat-schedule*")), "beat keeps its state in the home"


def test_beat_dry_run_prints_the_schedule_and_refuses_to_run_without_a_broker(
    tmp_path: Path,
) -> None:
    (tmp_path / "marketguard.toml").write_text(SCHEDULE_TOML, "utf-8")
    env = {"MARKETGUARD_HOME": str(tmp_path), "MARKETGUARD_BROKER_URL": ""}
    dry = run_cli("beat", "--dry-run", env=env, timeout=120)
    assert dry.returncode == 0, dry.stderr
    jobs = {job["name"]: job for job in json.loads(dry.stdout)}
    assert jobs["schedule:demo/power_bank"]["kwargs"]["spider"] == "demo_shop"
    assert jobs["schedule:demo/power_bank"]["kwargs"]["spider_args"] == {
        "base_url": "http://127.0.0.1:9/",
        "keywords": "充电宝",
    }
    assert jobs["schedule:demo/power_bank"]["every_seconds"] == 86_400
    assert (
        jobs["feed:webhooks"]["queue"] == "notify"
        and jobs["feed:webhooks"]["every_seconds"] == 3600
    )
    assert jobs["feed:rechecks"]["task"] == "marketguard.recheck.run"
    assert jobs["feed:rechecks"]["queue"] == "recheck"
    refused = run_cli("beat", env=env, timeout=120)
    assert refused.returncode == 2 and "no broker configured" in refused.stderr
    (tmp_path / "marketguard.toml").write_text(
        '[[workers.schedule]]\nsite = "demo"\ncategory = "charger"\nevery = "daily"\n', "utf-8"
    )
    bad = run_cli("beat", "--dry-run", env=env, timeout=120)
    assert bad.returncode == 2
    assert "[[workers.schedule]] #1 (site 'demo', category 'charger'): every" in bad.stderr


# --- schedule validation (in-process: pure functions over the config) --------------------------
def _jobs(*entries: dict[str, Any]) -> list[Any]:
    return crawl_jobs(WorkerConfig(schedule=list(entries)))


def test_intervals() -> None:
    assert parse_interval("1d", "x") == 86_400
    assert parse_interval("6h", "x") == 21_600
    assert parse_interval("30m", "x") == 1_800
    assert parse_interval("45s", "x") == 45
    assert parse_interval("1h30m", "x") == 5_400
    assert parse_interval(90, "x") == 90
    for bad in ("daily", "5", "1w", "", "-1h", "0s", True, None):
        with pytest.raises(ScheduleError, match=r"^x: "):
            parse_interval(bad, "x")


def test_schedule_entries_are_checked_with_errors_naming_entry_and_field() -> None:
    good = {"site": "demo", "category": "charger"}
    (job,) = _jobs(good)
    assert job.every == 86_400 and job.capture and job.origin == "schedule:demo/charger"
    cases = [
        ({"site": "nosuch", "category": "charger"}, r"#1 \(site 'nosuch'.*site: unknown site"),
        ({"site": "demo", "category": "toaster"}, r"#1 .*category: unknown category 'toaster'"),
        ({**good, "every": "1 fortnight"}, r"#1 .*every: '1 fortnight' is not an interval"),
        ({**good, "evry": "1d"}, r"#1 .*unknown field evry"),
        ({**good, "keywords": "a,b"}, r"#1 .*keywords must be"),
        ({**good, "capture": "yes"}, r"#1 .*capture must be true or false"),
        ({**good, "base_url": "ftp://x"}, r"#1 .*base_url must be an http"),
        ({"category": "charger"}, r"#1: site is required"),
        ({"site": "demo"}, r"#1 \(site 'demo'\): category is required"),
    ]
    for entry, message in cases:
        with pytest.raises(ScheduleError, match=message):
            _jobs(entry)
    with pytest.raises(ScheduleError, match=r"#2 .*a second entry for demo/charger"):
        _jobs(good, {**good, "every": "6h"})
    with pytest.raises(ScheduleError, match=r"^\[workers\] recheck_every: "):
        beat_schedule(make_app(WorkerConfig()), WorkerConfig(recheck_every="soon"))


def test_feed_job_intervals_come_from_the_workers_table(tmp_path: Path) -> None:
    (tmp_path / "marketguard.toml").write_text(
        '[workers]\nwebhook_every = "10s"\nrecheck_every = 600\n', "utf-8"
    )
    config = worker_config(tmp_path, env={})
    schedule = beat_schedule(make_app(config), config)
    assert schedule["feed:webhooks"]["schedule"].total_seconds() == 10
    assert schedule["feed:rechecks"]["schedule"].total_seconds() == 600
    assert schedule["feed:overdue"]["schedule"].total_seconds() == 3600
    assert schedule["feed:webhooks"]["options"]["queue"] == "notify"
    assert schedule["feed:overdue"]["options"]["queue"] == "notify"


# --- the feed's work on a real worker / not in serve -----------------------------------------
def _home_with_a_notice(home: Path, webhook_url: str, listing_id: str = "1") -> None:
    """A confirmed violation on platform shopA and a notice about it: one pending webhook."""
    archive = SqliteArchive(home)
    db = open_workspace(home)
    try:
        listing = Listing(
            "shopA",
            listing_id,
            f"http://127.0.0.1:9/item/{listing_id}",
            f"充电器 {listing_id}",
            seller=Seller("seller-1", "店铺1"),
        )
        archive.save_listing(listing, [Flag("CCC_MISSING", "high", "未标注 3C 认证", "条例")])
        archive.add_review(Review("shopA", listing_id, "confirmed", "王五"))
        if not any(a.platform == "shopA" for a in _accounts(db)):
            create_platform_account(db, "甲平台", "shopA", webhook_url)
        record = archive.get_listing("shopA", listing_id)
        assert record is not None
        notices.create_notices(db, [record], action="下架", actor="王五")
    finally:
        db.close()
        archive.close()


def _accounts(db: Any) -> list[Any]:
    from api.feed.platforms import list_accounts

    return list(list_accounts(db))


def _delivery_statuses(home: Path) -> list[str]:
    db = open_workspace(home)
    try:
        return [d["status"] for d in webhooks.list_deliveries(db)]
    finally:
        db.close()


def test_a_notify_worker_delivers_webhooks_once(tmp_path: Path, broker: redis.Redis) -> None:
    with WebhookReceiver("") as receiver:
        _home_with_a_notice(tmp_path, receiver.url)
        db = open_workspace(tmp_path)
        (account,) = _accounts(db)
        db.close()
        receiver.secret = account.webhook_secret
        log = tmp_path / "worker.log"
        worker = _start(
            ["marketguard.cli", "worker", "--queues", "notify", "--pool", "solo"],
            _env(tmp_path, _redis_url()),
            log,
        )
        sender = make_app(WorkerConfig(broker_url=_redis_url()))
        try:
            sender.send_task("marketguard.notify.deliver_webhooks", queue="notify")
            _wait("the webhook", lambda: len(receiver.events) == 1, 60, log)
            # A second run (beat's next tick, or a redelivery) sends only what is new.
            _home_with_a_notice(tmp_path, receiver.url, listing_id="2")
            sender.send_task("marketguard.notify.deliver_webhooks", queue="notify")
            sender.send_task("marketguard.notify.deliver_webhooks", queue="notify")
            _wait("the second webhook", lambda: len(receiver.events) == 2, 30, log)
            _wait("the queue to drain", lambda: not _messages(broker, "notify"), 30, log)
            time.sleep(1.0)
        finally:
            _stop(worker)
            sender.close()
    assert receiver.requests == 2 and receiver.bad_signatures == 0
    assert [e["notice"]["listing"]["listing_id"] for e in receiver.events] == ["1", "2"]
    assert _delivery_statuses(tmp_path) == ["delivered", "delivered"]


def test_serve_with_a_broker_leaves_the_feed_to_the_workers(tmp_path: Path) -> None:
    """The same home served twice: without a broker serve sends the pending webhook itself;
    with one it must not (beat and the notify workers do, and both would send it twice)."""
    with WebhookReceiver("") as with_broker, WebhookReceiver("") as without_broker:
        homes = {"broker": tmp_path / "a", "plain": tmp_path / "b"}
        _home_with_a_notice(homes["broker"], with_broker.url)
        _home_with_a_notice(homes["plain"], without_broker.url)
        ports = {name: free_port() for name in homes}
        servers = {
            name: _start(
                ["marketguard.cli", "serve", "--port", str(ports[name])],
                _env(home, _redis_url() if name == "broker" else ""),
                tmp_path / f"{name}.log",
            )
            for name, home in homes.items()
        }
        try:
            for name in homes:
                _wait(
                    f"serve ({name})",
                    lambda n=name: _answers(f"http://127.0.0.1:{ports[n]}/login"),  # type: ignore[misc]
                    60,
                    tmp_path / f"{name}.log",
                )
            # Serve's feed thread works at once on start, then every 5 s.
            _wait("serve's own delivery", lambda: without_broker.requests == 1, 30)
            time.sleep(6.0)
        finally:
            for server in servers.values():
                _stop(server)
    assert with_broker.requests == 0
    assert _delivery_statuses(homes["broker"]) == ["pending"]
    assert "notify/recheck" in (tmp_path / "broker.log").read_text("utf-8")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def test_feed_tasks_run_in_process_and_tell_transient_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from marketguard.distributed import feed_tasks

    monkeypatch.setenv("MARKETGUARD_HOME", str(tmp_path))
    _home_with_a_notice(tmp_path, "http://127.0.0.1:9/hook")
    assert feed_tasks.mark_overdue.apply().get() == {"overdue": []}  # deadline is 48 h away
    assert feed_tasks.run_rechecks.apply().get() == {"closed": 0, "reopened": 0, "undecided": 0}
    assert feed_tasks.is_transient(sqlite3.OperationalError("database is locked"))
    assert feed_tasks.is_transient(ConnectionRefusedError())
    assert not feed_tasks.is_transient(sqlite3.OperationalError("no such table: notices"))
    assert not feed_tasks.is_transient(KeyError("x"))
    assert [feed_tasks.backoff(n) for n in (0, 1, 2, 10)] == [2, 4, 8, 60]
