"""A monitoring pass on real Celery workers (real Redis, real worker processes, real Chromium)
gives what the single-process pass gives, and a worker killed mid-capture loses nothing and
duplicates nothing."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo.generator import generate
from demo.references import add_references
from demo.server import DemoServer, _Handler
from marketguard.cli import watchlist_search_terms
from marketguard.distributed.app import make_app
from marketguard.distributed.config import WorkerConfig
from marketguard.distributed.submit import submit_crawl, wait_idle
from marketguard.settings import Settings
from tests.conftest import redis_url, run_cli
from tests.workers import (
    Worker,
    crawl_in_process,
    crawl_summary,
    flushed_redis,
    wait_for_workers,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

DB = 14
SEED = 23
LISTINGS = 48


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {
        "MARKETGUARD_BROKER_URL": redis_url(DB),
        "MARKETGUARD_HOME": str(home),
        **extra,
    }


@pytest.fixture
def broker() -> Iterator[str]:
    with flushed_redis(DB) as url:
        yield url


def _store_view(home: Path) -> dict[str, Any]:
    db = sqlite3.connect(home / "marketguard.db")
    try:
        listings = {
            row[0]: (row[1], tuple(sorted(json.loads(row[2]))), row[3])
            for row in db.execute("SELECT listing_id, category, rule_ids, risk_score FROM listings")
        }
        evidence = [
            row[0]
            for row in db.execute(
                "SELECT l.listing_id FROM evidence e JOIN listings l ON l.id = e.listing_pk"
            )
        ]
        errors = sorted((row[0], row[1]) for row in db.execute("SELECT kind, url FROM errors"))
        captures_sealed = db.execute(
            "SELECT COUNT(*) FROM ledger WHERE kind = 'capture'"
        ).fetchone()[0]
    finally:
        db.close()
    return {
        "listings": listings,
        "evidence": evidence,
        "errors": errors,
        "captures_sealed": captures_sealed,
    }


def test_a_pass_over_two_workers_equals_the_single_process_pass(
    tmp_path: Path, broker: str
) -> None:
    market = generate(seed=SEED, listings=LISTINGS)
    single, spread = tmp_path / "single", tmp_path / "spread"
    for home in (single, spread):
        add_references(market, home)
    app = make_app(WorkerConfig(broker_url=broker))
    workers = [
        Worker(_env(spread), tmp_path / f"worker-{n}.log", "--name", f"w{n}@test") for n in (1, 2)
    ]
    try:
        with DemoServer(market) as shop:
            summary_alone = crawl_in_process(shop.url, single)
            wait_for_workers(app, 2)
            summary_spread = crawl_summary(shop.url, _env(spread))
    finally:
        for worker in workers:
            worker.stop()
    for key in ("listings", "flagged", "evidence", "errors", "by_rule"):
        assert summary_spread[key] == summary_alone[key], key
    assert summary_alone["flagged"] > 5 and summary_alone["evidence"] == summary_alone["flagged"]

    a, b = _store_view(single), _store_view(spread)
    assert b["listings"] == a["listings"]  # same listings, categories, rules and risk scores
    assert sorted(b["evidence"]) == sorted(a["evidence"])  # one capture per flagged listing
    assert len(set(b["evidence"])) == len(b["evidence"])
    assert b["captures_sealed"] == len(b["evidence"])
    assert [kind for kind, _ in b["errors"]] == [kind for kind, _ in a["errors"]]
    # Both workers took part.
    db = sqlite3.connect(spread / "marketguard.db")
    owners = {row[0].split(":")[1] for row in db.execute("SELECT owner FROM work_log")}
    db.close()
    assert {str(w.pid) for w in workers} <= owners
    verified = run_cli("evidence", "verify", env={"MARKETGUARD_HOME": str(spread)})
    assert verified.returncode == 0, verified.stdout + verified.stderr


class _SlowForBrowsers(_Handler):
    """Product pages answer a browser (the evidence capture) after a pause, so that a test
    can kill a capture worker while it is in the middle of a capture."""

    delay = 3.0

    def _answer(self, *, send_body: bool) -> None:
        if "Chrome" in (self.headers.get("User-Agent") or "") and self.path.startswith("/item/"):
            time.sleep(self.delay)
        super()._answer(send_body=send_body)


def _claimed_not_done(home: Path) -> list[str]:
    path = home / "marketguard.db"
    if not path.exists():
        return []
    db = sqlite3.connect(path, timeout=10)
    try:
        return [
            row[0]
            for row in db.execute(
                "SELECT key FROM work_log WHERE key LIKE 'capture:%' AND done_at IS NULL"
            )
        ]
    except sqlite3.OperationalError:  # not migrated yet
        return []
    finally:
        db.close()


def test_a_worker_killed_mid_capture_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, broker: str
) -> None:
    market = generate(seed=SEED, listings=24)
    home = tmp_path / "home"
    # Redis hands the dead worker's captures out again after the visibility timeout; short
    # here so the test is quick (it must still exceed a crawl slice plus a capture).
    timing = {
        "MARKETGUARD_CRAWL_SLICE": "8",
        "MARKETGUARD_CAPTURE_TIMEOUT": "10",
        "MARKETGUARD_VISIBILITY_TIMEOUT": "20",
    }
    env = _env(home, **timing)
    app = make_app(
        WorkerConfig(broker_url=broker, crawl_slice=8, capture_timeout=10, visibility_timeout=20)
    )
    logs = tmp_path
    main = Worker(env, logs / "main.log", "--queues", "crawl,match,store", "--name", "main@test")
    doomed = Worker(env, logs / "doomed.log", "--queues", "capture", "--name", "doomed@test")
    rescuer: Worker | None = None
    try:
        with DemoServer(market) as shop:
            shop._server.RequestHandlerClass = _SlowForBrowsers
            wait_for_workers(app, 2)
            submit_crawl(
                app,
                "demo_shop",
                {"base_url": shop.url, "keywords": ",".join(watchlist_search_terms(Settings()))},
                origin="test",
            )
            deadline = time.monotonic() + 120
            while not (in_flight := _claimed_not_done(home)):
                assert time.monotonic() < deadline, "no capture started"
                time.sleep(0.05)
            doomed.kill()  # SIGKILL, Chromium with it: no chance to clean up or acknowledge
            rescuer = Worker(
                env, logs / "rescuer.log", "--queues", "capture", "--name", "rescuer@test"
            )
            waiter = threading.Thread(target=wait_idle, args=(app, 240.0), daemon=True)
            waiter.start()
            waiter.join(250)
            assert not waiter.is_alive()
    finally:
        for worker in (main, doomed, rescuer):
            if worker is not None:
                worker.stop()
    truth = market.ground_truth()
    view = _store_view(home)
    readable = {
        lid for lid, t in truth.items() if t.get("fault") not in ("broken_html", "http_500")
    }
    assert set(view["listings"]) == readable  # nothing lost
    flagged = {lid for lid, (_, rules, _) in view["listings"].items() if rules}
    assert flagged and sorted(view["evidence"]) == sorted(flagged)  # one capture each
    assert view["captures_sealed"] == len(flagged)  # no second capture sealed
    # The capture the dead worker held was done by the rescuer.
    db = sqlite3.connect(home / "marketguard.db")
    owners = dict(db.execute("SELECT key, owner FROM work_log WHERE done_at IS NOT NULL"))
    db.close()
    assert all(str(rescuer.pid) in owners[key] for key in in_flight if key in owners)
    assert set(in_flight) <= set(owners)
    verified = run_cli("evidence", "verify", env={"MARKETGUARD_HOME": str(home)})
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_crawl_cut_into_slices_and_a_crawl_worker_killed_mid_slice_lose_nothing(
    tmp_path: Path, broker: str
) -> None:
    """Each crawl task crawls for one slice and hands the rest of its job on; a crawl worker
    killed with SIGKILL (its Scrapy child with it) has its slice delivered again."""
    market = generate(seed=SEED, listings=LISTINGS, js_share=0.0)
    home = tmp_path / "home"
    timing = {
        "MARKETGUARD_CRAWL_SLICE": "2",
        "MARKETGUARD_CAPTURE_TIMEOUT": "5",
        "MARKETGUARD_VISIBILITY_TIMEOUT": "20",
    }
    env = _env(home, **timing)
    app = make_app(
        WorkerConfig(broker_url=broker, crawl_slice=2, capture_timeout=5, visibility_timeout=20)
    )
    doomed = Worker(env, tmp_path / "doomed.log", "--queues", "crawl", "--name", "doomed@test")
    rest = Worker(env, tmp_path / "rest.log", "--queues", "match,store", "--name", "rest@test")
    rescuer: Worker | None = None
    try:
        with DemoServer(market) as shop:
            wait_for_workers(app, 2)
            keywords = ",".join(watchlist_search_terms(Settings()))
            task = submit_crawl(
                app, "demo_shop", {"base_url": shop.url, "keywords": keywords}, capture=False
            )
            deadline = time.monotonic() + 60
            while not _stored(home):  # the first slice is crawling and dispatching
                assert time.monotonic() < deadline, "nothing was stored"
                time.sleep(0.05)
            doomed.kill()
            rescuer = Worker(
                env, tmp_path / "rescuer.log", "--queues", "crawl", "--name", "rescuer@test"
            )
            wait_idle(app, timeout=240)
    finally:
        for worker in (doomed, rest, rescuer):
            if worker is not None:
                worker.stop()
    truth = market.ground_truth()
    readable = {
        lid for lid, t in truth.items() if t.get("fault") not in ("broken_html", "http_500")
    }
    view = _store_view(home)
    assert set(view["listings"]) == readable  # nothing lost
    db = sqlite3.connect(home / "marketguard.db")
    passes = [json.loads(row[0]) for row in db.execute("SELECT settings FROM passes")]
    stores = db.execute("SELECT COUNT(*) FROM work_log WHERE key LIKE 'store:%'").fetchone()[0]
    db.close()
    assert stores == len(readable)  # each listing stored once for the job
    assert len(passes) >= 2 and {p["job"] for p in passes} == {f"crawl-{task}"}


def _stored(home: Path) -> int:
    path = home / "marketguard.db"
    if not path.exists():
        return 0
    db = sqlite3.connect(path, timeout=10)
    try:
        return int(db.execute("SELECT COUNT(*) FROM listings").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()
