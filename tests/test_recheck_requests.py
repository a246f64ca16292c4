"""Officers' re-check requests (复查申请) are carried out: each becomes exactly one on-demand
check of the listing's page, queued for the workers with a broker, run here without one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.checks.rechecks import start_requested_rechecks
from api.checks.store import get_check, list_checks
from api.decisions import rechecks, request_recheck
from api.feed.config import FeedConfig
from api.feed.worker import run_once
from api.workspace_db import open_workspace
from demo.generator import generate
from demo.server import DemoServer
from evidence.archive import open_archive
from marketguard.distributed.app import make_app
from marketguard.distributed.config import WorkerConfig
from marketguard.models import Listing
from tests.test_checks import _crawl_messages
from tests.workers import flushed_redis

DB = 7


@pytest.fixture
def broker() -> Iterator[str]:
    with flushed_redis(DB) as url:
        yield url


def test_a_request_becomes_one_urgent_check_on_the_workers(tmp_path: Path, broker: str) -> None:
    archive, db = open_archive(tmp_path), open_workspace(tmp_path)
    listing = Listing(
        platform="shop", listing_id="7", url="http://127.0.0.1:9/item/7", title="充电器"
    )
    archive.save_listing(listing, [])
    request_recheck(db, "officer1", "shop", "7", "商家称已下架")
    request_recheck(db, "officer1", "shop", "unknown", "不存在的商品")
    app = make_app(WorkerConfig(broker_url=broker))

    first = start_requested_rechecks(db, archive, celery_app=app)
    again = start_requested_rechecks(db, archive, celery_app=app)

    assert len(first.checks) == 1 and again.checks == []
    check = get_check(db, first.checks[0])
    assert check is not None and check.url == listing.url and check.task_id
    assert check.origin.startswith("复查申请 #") and check.note == "商家称已下架"
    assert check.requested_by == "officer1"
    messages = _crawl_messages(broker, "crawl")  # the urgent list
    assert [kwargs["check_id"] for _, kwargs in messages] == [check.id]
    assert messages[0][1]["spider_args"]["url"] == listing.url
    open_requests = rechecks(db, open_only=True)
    assert [(r.listing_id) for r in open_requests] == ["unknown"]  # no listing: left open
    archive.close()
    db.close()


@pytest.mark.browser
def test_without_a_broker_serves_feed_round_runs_the_check_here(tmp_path: Path) -> None:
    market = generate(seed=7, listings=30)
    planted = next(x for x in market.listings if x.rules and not x.fault and x.layout == "plain")
    archive, db = open_archive(tmp_path), open_workspace(tmp_path)
    with DemoServer(market) as shop:
        url = f"{shop.url}/item/{planted.listing_id}"
        archive.save_listing(Listing(platform="p", listing_id="1", url=url, title="x"), [])
        request_recheck(db, "officer2", "p", "1", "复查")
        run_once(db, archive, FeedConfig(), tmp_path)
        deadline = time.monotonic() + 120
        while (check := list_checks(db)[0]).state not in ("done", "failed"):
            assert time.monotonic() < deadline, "the check did not finish"
            time.sleep(0.2)
    assert check.state == "done", check.error
    assert check.capture_id and check.origin.startswith("复查申请 #")
    assert rechecks(db, open_only=True) == []
    archive.close()
    db.close()
