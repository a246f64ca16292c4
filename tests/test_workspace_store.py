"""Archive methods the review workspace needs (SQLite): queue filters, full-text search, keyset
paging, seller history and statistics; and the schema step that adds them to an older store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from evidence.archive.base import QueueFilter
from evidence.archive.sqlite import SqliteArchive
from tests.archive_samples import W0, add_workspace_listings, flag, shop_listing


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteArchive]:
    archive = SqliteArchive(tmp_path)
    add_workspace_listings(archive)
    yield archive
    archive.close()


def ids(archive: SqliteArchive, **kwargs: object) -> list[str]:
    return [row.listing_id for row in archive.flagged(QueueFilter(**kwargs))]  # type: ignore[arg-type]


def test_filters_by_platform_region_and_first_seen(store: SqliteArchive) -> None:
    assert ids(store, platform="mall") == ["2"]
    assert ids(store, region="广东") == ["1", "3"]
    assert ids(store, region="广东 广") == ["3"]
    assert ids(store, region="%") == []  # a wildcard is a character, not a pattern
    assert ids(store, found_from=W0 + timedelta(days=7)) == ["2", "3"]
    assert ids(store, found_to=W0 + timedelta(days=7)) == ["1"]
    assert ids(store, rule_id="PRICE_TOO_LOW", region="浙江") == ["2"]
    assert store.count_flagged(QueueFilter(rule_id="PRICE_TOO_LOW", platform="shop")) == 1


def test_text_search_finds_title_seller_and_description(store: SqliteArchive) -> None:
    assert ids(store, text="快充充电") == ["1"]  # full-text (trigram) path
    assert ids(store, text="原装品质") == ["2"]  # description, only in the full-text index
    assert ids(store, text="stroller") == ["3"]  # Latin letters ignore case
    assert ids(store, text="童车") == ["3"]  # two characters: the LIKE path
    assert ids(store, text="店铺s2") == ["3"]
    assert ids(store, text='"; DROP TABLE listings; --') == []
    assert ids(store, text="%") == []
    assert ids(store, text="充电", rule_id="CCC_MISSING") == ["1"]
    assert store.count_flagged(QueueFilter(text="充电器")) == 1  # the unflagged one is not counted


def test_search_follows_a_new_version(store: SqliteArchive) -> None:
    store.save_listing(shop_listing(1, "车载点烟器"), [flag()], risk_score=90)
    assert ids(store, text="快充充电") == []
    assert ids(store, text="点烟器") == ["1"]


def test_keyset_paging_gives_the_same_rows_as_offset(tmp_path: Path) -> None:
    with SqliteArchive(tmp_path / "many") as archive, archive.batch():
        for n in range(1, 121):
            # ties on score and time: the order must still be total
            archive.save_listing(shop_listing(n, f"商品{n}"), [flag()], risk_score=n % 5 * 10)
    with SqliteArchive(tmp_path / "many") as archive:
        by_offset = [
            r.listing_id
            for p in range(4)
            for r in archive.flagged(QueueFilter(limit=30, offset=p * 30))
        ]
        by_cursor: list[str] = []
        after = None
        while True:
            page = archive.flagged(QueueFilter(limit=30, after=after, offset=999 if after else 0))
            if not page:
                break
            by_cursor += [r.listing_id for r in page]
            after = page[-1].cursor
        assert by_cursor == by_offset and len(set(by_cursor)) == 120
        rule_pages = archive.flagged(QueueFilter(rule_id="CCC_MISSING", limit=50))
        rest = archive.flagged(
            QueueFilter(rule_id="CCC_MISSING", limit=100, after=rule_pages[-1].cursor)
        )
        assert [r.listing_id for r in rule_pages + rest] == by_offset
        with pytest.raises(ValueError):
            archive.flagged(QueueFilter(after="not-a-cursor"))


def test_seller_history_lists_flagged_and_unflagged(store: SqliteArchive) -> None:
    rows = store.seller_listings("shop", "s1")
    assert [(r.listing_id, r.max_severity, r.decision) for r in rows] == [
        ("1", "high", "confirmed"),
        ("4", "none", None),
    ]
    assert store.seller_listings("mall", "s1")[0].listing_id == "2"
    assert store.seller_listings("shop", "") == []
    assert store.seller_listings("shop", "nobody") == []


def test_queue_stats_count_by_each_dimension(store: SqliteArchive) -> None:
    stats = store.queue_stats(QueueFilter())
    assert stats["category"] == {"charger": 1, "power_bank": 1, "stroller": 1}
    assert stats["platform"] == {"shop": 2, "mall": 1}
    assert stats["region"] == {"广东 广州": 1, "广东 深圳": 1, "浙江 义乌": 1}
    assert stats["rule"] == {"PRICE_TOO_LOW": 2, "CCC_MISSING": 1, "COUNTERFEIT_WORDING": 1}
    assert stats["decision"] == {"unreviewed": 2, "confirmed": 1}
    assert list(stats["week"]) == sorted(stats["week"]) and sum(stats["week"].values()) == 3
    assert len(stats["week"]) == 2
    assert store.queue_stats(QueueFilter(region="广东"))["platform"] == {"shop": 2}


def test_an_older_store_gains_seller_ids_and_the_search_index(tmp_path: Path) -> None:
    with SqliteArchive(tmp_path) as archive:
        archive.save_listing(shop_listing(1, "65W 快充充电器"), [flag()])
    db = sqlite3.connect(tmp_path / "marketguard.db")
    with db:  # as MarketGuard with schema 4 left it
        db.execute("DROP TABLE listings_fts")
        db.execute("DROP INDEX listings_by_seller")
        db.execute("ALTER TABLE listings DROP COLUMN seller_id")
        db.execute("DELETE FROM schema_version WHERE version = 5")
    db.close()
    with SqliteArchive(tmp_path) as archive:
        assert ids(archive, text="快充充电") == ["1"]
        assert [r.listing_id for r in archive.seller_listings("shop", "s1")] == ["1"]


def test_common_words_walk_the_queue_with_the_same_results(
    store: SqliteArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    import evidence.archive.sqlite as sqlite_module

    expected = {text: ids(store, text=text) for text in ("快充充电", "原装品质", "stroller")}
    monkeypatch.setattr(sqlite_module, "_COMMON", 1)  # every word counts as common
    for text, listing_ids in expected.items():
        assert ids(store, text=text) == listing_ids, text
    assert ids(store, text="不存在的词") == []
