"""The queue under concurrent readers (SQLite): bounded counts, per-thread read connections
beside the write connection, and the "1 000+" total of the page and the JSON queue."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import count_cache
from evidence.archive import sqlite as sqlite_store
from evidence.archive.base import QueueFilter
from evidence.archive.sqlite import SqliteArchive
from marketguard.models import Review
from tests.archive_samples import shop_listing
from tests.test_api import client, store, workspace  # noqa: F401
from tests.test_workspace_store import flag

# ruff: noqa: F811  (pytest fixtures imported from test_api and used as arguments)


@pytest.fixture
def forty(tmp_path: Path) -> SqliteArchive:
    archive = SqliteArchive(tmp_path)
    with archive.batch():
        for n in range(40):
            region = "广东 深圳" if n % 2 else "浙江 义乌"
            title = f"{'插座 排插' if n % 4 == 0 else '移动电源'} 第{n}号"
            archive.save_listing(
                shop_listing(
                    n, title, location=region, category="charger" if n % 3 else "power_bank"
                ),
                [flag("CCC_MISSING") if n % 5 else flag("PRICE_TOO_LOW", "medium")],
                risk_score=n,
            )
            if n % 7 == 0:
                archive.add_review(Review("shop", str(n), "confirmed", "王五"))
    return archive


QUERIES = [
    QueueFilter(),
    QueueFilter(category="charger", region="广东"),
    QueueFilter(rule_id="CCC_MISSING", decision="unreviewed"),
    QueueFilter(text="插座"),  # two characters: the queue walk
    QueueFilter(text="移动电源"),  # full-text index
    QueueFilter(text="不存在的词"),
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: repr(q.text or q.category or q.rule_id))
@pytest.mark.parametrize("common", [2000, 5])
def test_bounded_count_is_the_count_up_to_the_limit(
    forty: SqliteArchive, query: QueueFilter, common: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # common=5 makes "移动电源" a common word, counted by walking the queue instead of the index
    monkeypatch.setattr(sqlite_store, "_COMMON", common)
    exact = forty.count_flagged(query)
    assert exact == len(forty.flagged(QueueFilter(**{**vars_of(query), "limit": 100})))
    for limit in (0, 1, 3, exact, exact + 1, 1000):
        assert forty.count_flagged_at_most(query, limit) == min(exact, limit), limit


def vars_of(query: QueueFilter) -> dict[str, object]:
    names = ("category", "rule_id", "decision", "platform", "region", "text")
    return {name: getattr(query, name) for name in names}


def test_other_threads_read_beside_a_batch_and_see_it_once_committed(
    forty: SqliteArchive,
) -> None:
    with ThreadPoolExecutor(max_workers=1) as other:
        with forty.batch():
            forty.save_listing(shop_listing(99, "新上架 移动电源"), [flag()], risk_score=100)
            # the batch's own thread sees its uncommitted write...
            assert forty.flagged(QueueFilter(limit=1))[0].listing_id == "99"
            # ...another thread reads the committed state at once instead of waiting for the
            # batch (it used to queue on the one shared connection's lock)
            seen = other.submit(lambda: forty.flagged(QueueFilter(limit=1))).result(timeout=5)
            assert seen[0].listing_id != "99"
            assert other.submit(forty.count_flagged, QueueFilter()).result(timeout=5) == 40
        after = other.submit(lambda: forty.flagged(QueueFilter(limit=1))).result(timeout=5)
        assert after[0].listing_id == "99"
        assert other.submit(forty.count_flagged, QueueFilter()).result(timeout=5) == 41


def test_concurrent_readers_use_their_own_connections_and_agree(forty: SqliteArchive) -> None:
    expected = [row.listing_id for row in forty.flagged(QueueFilter(text="插座", limit=100))]
    start = threading.Barrier(8)

    def read() -> tuple[list[str], int]:
        start.wait(timeout=5)
        rows = forty.flagged(QueueFilter(text="插座", limit=100))
        return [row.listing_id for row in rows], id(forty._reader())

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: read(), range(8)))
    assert all(ids == expected for ids, _ in results)
    assert len({conn for _, conn in results}) == 8  # one read connection per thread
    assert id(forty._reader()) not in {conn for _, conn in results}


def test_readers_cannot_write_and_close_ends_them(forty: SqliteArchive) -> None:
    import sqlite3

    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        forty._reader().execute("DELETE FROM listings")
    forty.close()
    with pytest.raises(sqlite3.ProgrammingError):
        forty.flagged(QueueFilter())
    forty.close()  # twice is harmless


def test_queue_totals_stop_at_the_cap(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # the store fixture holds 3 flagged listings; a cap of 2 shows the large-set form
    monkeypatch.setattr(count_cache, "CAP", 2)
    client.app.state.count_cache_ttl = 0  # type: ignore[attr-defined]
    assert "共 2+ 条" in client.get("/").text
    page = client.get("/api/flagged").json()
    assert (page["total"], page["total_capped"], len(page["items"])) == (2, True, 3)
    one = client.get("/api/flagged", params={"category": "power_bank"}).json()
    assert (one["total"], one["total_capped"]) == (len(one["items"]), False)
    assert f"共 {one['total']} 条" in client.get("/?category=power_bank").text


def test_total_string_groups_thousands() -> None:
    assert str(count_cache.Total(1000, True)) == "1 000+"
    assert str(count_cache.Total(999, False)) == "999"
