"""The risk score in the store: saved with the listing, ordering the queue; repeat offenders."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from evidence.archive.base import QueueFilter, implied_risk_score
from evidence.archive.sqlite import SqliteArchive
from marketguard.models import Review, Seller
from tests.test_archive_sqlite import flag, make_listing


def test_queue_is_ordered_by_risk_score_then_severity(tmp_path: Path) -> None:
    with SqliteArchive(tmp_path) as store:
        store.save_listing(make_listing(1), [flag(severity="high")], risk_score=45)
        store.save_listing(make_listing(2), [flag(severity="medium")], risk_score=90)
        store.save_listing(make_listing(3), [flag(severity="low")], risk_score=70)
        store.save_listing(make_listing(4), [], risk_score=99)  # not flagged: not queued
        rows = store.flagged(QueueFilter())
        assert [(r.listing_id, r.risk_score) for r in rows] == [("2", 90), ("3", 70), ("1", 45)]
        by_rule = store.flagged(QueueFilter(rule_id="CCC_MISSING"))
        assert [r.listing_id for r in by_rule] == ["2", "3", "1"]
        record = store.get_listing("shop", "2")
        assert record is not None and record.risk_score == 90
        # A later save with a lower score moves it down.
        store.save_listing(make_listing(2), [flag(severity="medium")], risk_score=10)
        assert [r.listing_id for r in store.flagged(QueueFilter())] == ["3", "1", "2"]


def test_scores_are_bounded_and_implied_when_missing(tmp_path: Path) -> None:
    with SqliteArchive(tmp_path) as store:
        store.save_listing(make_listing(1), [flag()], risk_score=250)
        store.save_listing(make_listing(2), [flag()], risk_score=-4)
        store.save_listing(make_listing(3), [flag(), flag("SELLER_RISK", "medium")])
        scores = {r.listing_id: r.risk_score for r in store.flagged(QueueFilter())}
    assert scores == {"1": 100, "2": 0, "3": implied_risk_score([flag(), flag("X", "medium")])}
    assert scores["3"] == 59  # 45, then 25% of the remaining 55


def test_confirmed_seller_ids_are_the_repeat_offenders(tmp_path: Path) -> None:
    with SqliteArchive(tmp_path) as store:
        for n in (1, 2, 3):
            store.save_listing(make_listing(n, seller=Seller(f"shop{n}")), [flag()])
        store.save_listing(make_listing(4, seller=None), [flag()])
        store.add_review(Review("shop", "1", "confirmed", "张三"))
        store.add_review(Review("shop", "2", "confirmed", "张三"))
        store.add_review(Review("shop", "2", "dismissed", "李四"))  # the latest decision counts
        store.add_review(Review("shop", "4", "confirmed", "张三"))  # no seller: nobody to name
        assert store.confirmed_seller_ids() == {"shop:shop1"}


def test_a_version_3_store_is_migrated_with_scores_from_severity(tmp_path: Path) -> None:
    with SqliteArchive(tmp_path) as store:
        store.save_listing(make_listing(1), [flag(severity="medium")], risk_score=80)
        store.save_listing(make_listing(2), [flag(severity="high")], risk_score=50)
    db = sqlite3.connect(tmp_path / "marketguard.db")
    with db:  # take the store back to schema 3 as an older MarketGuard left it
        for index in (
            "listings_risk_queue",
            "listings_category_risk_queue",
            "listings_decision_risk_queue",
            "listing_rules_risk_queue",
            "listing_rules_category_risk_queue",
        ):
            db.execute(f"DROP INDEX {index}")
        db.execute("ALTER TABLE listings DROP COLUMN risk_score")
        db.execute("ALTER TABLE listing_rules DROP COLUMN risk_score")
        db.execute("DELETE FROM schema_version WHERE version = 4")
    db.close()
    with SqliteArchive(tmp_path) as store:
        rows = store.flagged(QueueFilter())
        assert [(r.listing_id, r.risk_score) for r in rows] == [("2", 45), ("1", 25)]
