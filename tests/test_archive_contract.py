"""The Archive contract, run on every backend: SQLite always, Elasticsearch through osmem-server
always, and a real Elasticsearch cluster when MARKETGUARD_ES_URL is set (see DEVELOPERS.md).

Only what the protocol promises is asserted here; backend internals (SQLite files and pragmas,
Elasticsearch mappings and the spool) have their own test files.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from evidence.archive.base import BlobCorruptedError, QueueFilter, UnknownListingError
from evidence.archive.elasticsearch import ElasticsearchArchive
from evidence.archive.sqlite import SqliteArchive
from evidence.ledger import LedgerConflictError, next_entry
from marketguard.models import (
    PageError,
    Review,
)
from tests.archive_samples import (
    T0,
    W0,
    add_workspace_listings,
    flag,
    make_evidence,
    make_listing,
    shop_listing,
)
from tests.conftest import REAL_ES_URL, osmem_client

REAL_ES = REAL_ES_URL
BACKENDS = ["sqlite", "osmem", *(["elasticsearch"] if REAL_ES else [])]

Store = SqliteArchive | ElasticsearchArchive


@pytest.fixture(params=BACKENDS)
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = open_backend(request, tmp_path)
    yield store
    store.close()


def open_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    kind = request.param
    if kind == "sqlite":
        return SqliteArchive(tmp_path / "store")
    if kind == "osmem":
        clone = request.getfixturevalue("osmem_clone")
        return ElasticsearchArchive(
            osmem_client(clone.url, request_timeout=30),
            spool_dir=tmp_path / "spool",
            owns_client=True,
        )
    # A real cluster: the production client, untouched; a fresh index prefix per test, removed
    # afterwards (only indices and templates under that prefix).
    from elasticsearch import Elasticsearch

    prefix = f"mgtest-{secrets.token_hex(4)}"
    client = Elasticsearch(REAL_ES, request_timeout=30)

    def cleanup() -> None:
        cleaner = Elasticsearch(REAL_ES, request_timeout=30)
        cleaner.options(ignore_status=404).indices.delete(index=f"{prefix}-*")
        for template in cleaner.indices.get_index_template(name=f"{prefix}-*")["index_templates"]:
            cleaner.indices.delete_index_template(name=template["name"])
        cleaner.close()

    request.addfinalizer(cleanup)
    return ElasticsearchArchive(
        client, spool_dir=tmp_path / "spool", prefix=prefix, owns_client=True
    )


def keys(rows: list) -> list[str]:  # type: ignore[type-arg]
    return [row.listing_id for row in rows]


def tamper_blob(archive: Store, sha: str, data: bytes) -> None:
    """Replace a stored blob's bytes behind the archive's back, as an attacker with access to
    the storage would."""
    if isinstance(archive, SqliteArchive):
        path = archive.blob_path(sha)
        assert path is not None
        path.write_bytes(data)
        return
    archive.client.update(
        index=archive.index("blobs"),
        id=sha,
        doc={"data": base64.b64encode(data).decode()},
        refresh=True,
    )


# --- listings and versions ---------------------------------------------------------------------
def test_same_content_keeps_one_version_and_moves_last_seen(archive: Store) -> None:
    first = archive.save_listing(make_listing(1, seconds=0), [flag()])
    again = archive.save_listing(make_listing(1, seconds=3600, search_keyword="充电头"), [flag()])

    assert (first.version, first.changed) == (1, True)
    assert (again.version, again.changed) == (1, False)
    record = archive.get_listing("shop", "1")
    assert record is not None
    assert record.version == 1
    assert record.first_seen == T0
    assert record.last_seen == T0 + timedelta(hours=1)
    assert len(archive.listing_versions("shop", "1")) == 1
    # an older crawl arriving late never moves last_seen back
    archive.save_listing(make_listing(1, seconds=60), [flag()])
    record = archive.get_listing("shop", "1")
    assert record is not None and record.last_seen == T0 + timedelta(hours=1)


def test_changed_price_makes_version_two_and_keeps_version_one(archive: Store) -> None:
    archive.save_listing(make_listing(1, seconds=0), [flag()])
    saved = archive.save_listing(make_listing(1, seconds=60, price=Decimal("9.90")), [flag()])

    assert (saved.version, saved.changed) == (2, True)
    versions = archive.listing_versions("shop", "1")
    assert [(v, lst.price) for v, lst in versions] == [(1, Decimal("19.90")), (2, Decimal("9.90"))]
    record = archive.get_listing("shop", "1")
    assert record is not None
    assert record.version == 2
    assert record.listing.price == Decimal("9.90")
    assert record.first_seen == T0
    assert record.listing.seller == make_listing(1).seller
    assert record.listing.attributes == {"品牌": "无", "3C认证": "无"}


def test_flags_are_replaced_on_the_current_version_and_kept_on_earlier_ones(
    archive: Store,
) -> None:
    archive.save_listing(make_listing(1), [flag("CCC_MISSING"), flag("PRICE_LOW", "medium")])
    archive.save_listing(make_listing(1), [flag("COUNTERFEIT_WORDS", "low", "高仿")])
    record = archive.get_listing("shop", "1")
    assert record is not None
    assert [(f.rule_id, f.snippet) for f in record.flags] == [("COUNTERFEIT_WORDS", "高仿")]
    assert archive.facets()["rule"] == {"COUNTERFEIT_WORDS": 1}
    assert archive.flagged(QueueFilter())[0].max_severity == "low"

    archive.save_listing(make_listing(1, price=Decimal("5")), [flag("PRICE_LOW", "medium")])
    record = archive.get_listing("shop", "1")
    assert record is not None
    assert [f.rule_id for f in record.flags] == ["PRICE_LOW"]
    assert record.flags[0] == flag("PRICE_LOW", "medium")  # a flag round-trips whole


def test_a_recategorised_listing_moves_between_category_filters(archive: Store) -> None:
    archive.save_listing(make_listing(1, category="charger"), [flag()])
    saved = archive.save_listing(make_listing(1, category="power_bank"), [flag()])
    assert not saved.changed
    for query in (QueueFilter(category="power_bank"), QueueFilter("power_bank", "CCC_MISSING")):
        assert keys(archive.flagged(query)) == ["1"], query
    for query in (QueueFilter(category="charger"), QueueFilter("charger", "CCC_MISSING")):
        assert archive.flagged(query) == [], query
    record = archive.get_listing("shop", "1")
    assert record is not None and record.listing.category == "power_bank"


def test_a_listing_whose_flags_go_away_leaves_the_queue(archive: Store) -> None:
    archive.save_listing(make_listing(1), [flag()])
    archive.save_listing(make_listing(1), [])
    assert archive.flagged(QueueFilter()) == []
    assert archive.count_flagged(QueueFilter(rule_id="CCC_MISSING")) == 0
    assert archive.facets() == {"category": {}, "rule": {}}
    assert archive.get_listing("shop", "1") is not None


def test_listing_ids_with_separators_do_not_collide(archive: Store) -> None:
    archive.save_listing(make_listing(1, platform="a:b", listing_id="c"), [flag()])
    archive.save_listing(make_listing(2, platform="a", listing_id="b:c"), [flag("PRICE_LOW")])
    one, two = archive.get_listing("a:b", "c"), archive.get_listing("a", "b:c")
    assert one is not None and two is not None
    assert (one.flags[0].rule_id, two.flags[0].rule_id) == ("CCC_MISSING", "PRICE_LOW")


def test_bad_input_is_refused_before_anything_is_written(archive: Store) -> None:
    with pytest.raises(ValueError, match="severity"):
        archive.save_listing(make_listing(1), [flag(severity="urgent")])
    other = make_listing(2)
    with pytest.raises(ValueError, match="shop:2"):
        archive.save_listing(make_listing(1), [flag()], make_evidence(archive, other, "c1", 0))
    assert archive.get_listing("shop", "1") is None


# --- evidence ----------------------------------------------------------------------------------
def test_evidence_round_trips_newest_first_and_a_retried_capture_is_kept_once(
    archive: Store,
) -> None:
    listing = make_listing(1)
    older = make_evidence(archive, listing, "cap-older", when=1)
    newer = make_evidence(archive, listing, "cap-newer", when=2)
    archive.save_listing(listing, [flag()], older)
    archive.save_listing(listing, [flag()], newer)
    archive.save_listing(listing, [flag()], newer)

    record = archive.get_listing("shop", "1")
    assert record is not None
    assert record.evidence == [newer, older]
    screenshot = newer.artifact("screenshot")
    assert screenshot is not None
    assert archive.flagged(QueueFilter())[0].screenshot_sha256 == screenshot.sha256
    assert archive.get_evidence("cap-older") == older
    assert archive.get_evidence("nope") is None
    assert archive.capture_ids() == ["cap-older", "cap-newer"]
    assert archive.capture_ids("CASE-1") == ["cap-older"]


def test_an_older_capture_saved_late_does_not_replace_the_queue_screenshot(archive: Store) -> None:
    listing = make_listing(1)
    newer = make_evidence(archive, listing, "cap-newer", when=4)
    older = make_evidence(archive, listing, "cap-older", when=1)
    archive.save_listing(listing, [flag()], newer)
    archive.save_listing(listing, [flag()], older)
    shot = newer.artifact("screenshot")
    assert shot is not None
    assert archive.flagged(QueueFilter())[0].screenshot_sha256 == shot.sha256


# --- blobs -------------------------------------------------------------------------------------
def test_blobs_are_named_by_their_hash_and_idempotent(archive: Store) -> None:
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(2048)
    sha = archive.put_blob(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert archive.put_blob(data) == sha
    assert archive.read_blob(sha) == data
    assert archive.read_blob(archive.put_blob(b"")) == b""


@pytest.mark.parametrize(
    "name",
    ["../../marketguard.db", "A" * 64, "a" * 63, "a" * 65, "g" * 64, "", "a" * 62 + "/x"],
)
def test_blob_names_that_are_not_sha256_hex_are_rejected(archive: Store, name: str) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        archive.read_blob(name)
    with pytest.raises(ValueError, match="SHA-256"):
        archive.blob_path(name)


def test_missing_and_corrupted_blobs_are_reported_not_served(archive: Store) -> None:
    with pytest.raises(FileNotFoundError):
        archive.read_blob("0" * 64)
    assert archive.blob_path("0" * 64) is None

    sha = archive.put_blob(b"original screenshot")
    tamper_blob(archive, sha, b"tampered screenshot")
    with pytest.raises(BlobCorruptedError, match="corrupted"):
        archive.read_blob(sha)


# --- reviews -----------------------------------------------------------------------------------
def test_reviews_are_appended_and_the_latest_decides_the_queue_status(archive: Store) -> None:
    archive.save_listing(make_listing(1), [flag()])
    archive.add_review(Review("shop", "1", "confirmed", "张三", "无3C", decided_at=T0))
    archive.add_review(
        Review("shop", "1", "dismissed", "李四", "证书有效", decided_at=T0 + timedelta(hours=1))
    )
    record = archive.get_listing("shop", "1")
    assert record is not None
    assert [(r.decision, r.reviewer, r.reason) for r in record.reviews] == [
        ("dismissed", "李四", "证书有效"),
        ("confirmed", "张三", "无3C"),
    ]
    assert archive.flagged(QueueFilter())[0].decision == "dismissed"
    assert archive.count_flagged(QueueFilter(decision="dismissed")) == 1
    assert archive.count_flagged(QueueFilter(decision="confirmed")) == 0
    # a decision dated earlier than the latest one is kept but does not decide
    archive.add_review(Review("shop", "1", "confirmed", "王五", decided_at=T0 - timedelta(days=1)))
    assert archive.flagged(QueueFilter())[0].decision == "dismissed"
    # saving the listing again keeps its decision
    archive.save_listing(make_listing(1, price=Decimal("1")), [flag()])
    assert archive.flagged(QueueFilter())[0].decision == "dismissed"


def test_bad_reviews_are_refused(archive: Store) -> None:
    archive.save_listing(make_listing(1), [flag()])
    with pytest.raises(UnknownListingError):
        archive.add_review(Review("shop", "404", "confirmed", "张三"))
    with pytest.raises(ValueError, match="decision"):
        archive.add_review(Review("shop", "1", "maybe", "张三"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reviewer"):
        archive.add_review(Review("shop", "1", "confirmed", "   "))
    record = archive.get_listing("shop", "1")
    assert record is not None and record.reviews == []


def test_concurrent_reviewers_lose_no_decision(archive: Store) -> None:
    """Two threads record reviews of the same listing at once: every review is kept, and the
    queue shows the latest decision (optimistic concurrency on Elasticsearch)."""
    archive.save_listing(make_listing(1), [flag()])
    failures: list[BaseException] = []

    def reviewer(name: str, offset: int) -> None:
        try:
            for i in range(8):
                when = T0 + timedelta(minutes=2 * i + offset)
                decision = "confirmed" if offset else "dismissed"
                archive.add_review(Review("shop", "1", decision, name, decided_at=when))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=reviewer, args=(n, o)) for n, o in (("甲", 0), ("乙", 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    record = archive.get_listing("shop", "1")
    assert record is not None and len(record.reviews) == 16
    assert record.reviews[0].reviewer == "乙"
    assert archive.flagged(QueueFilter())[0].decision == "confirmed"


# --- the queue ---------------------------------------------------------------------------------
@pytest.fixture
def queue_store(archive: Store) -> Store:
    plan = [  # n, severity, category, rule
        (0, "low", "charger", "PRICE_LOW"),
        (1, "high", "charger", "CCC_MISSING"),
        (2, "medium", "power_bank", "COUNTERFEIT_WORDS"),
        (3, "high", "power_bank", "CCC_MISSING"),
        (4, "low", "stroller", "PRICE_LOW"),
        (5, "medium", "charger", "PRICE_LOW"),
        (6, "high", "stroller", "COUNTERFEIT_WORDS"),
        (7, None, "charger", None),
        (8, "medium", "stroller", "CCC_MISSING"),
        (9, "high", "charger", "COUNTERFEIT_WORDS"),
    ]
    for n, severity, category, rule in plan:
        flags = [] if severity is None else [flag(rule, severity)]  # type: ignore[arg-type]
        archive.save_listing(make_listing(n, category=category), flags)
    archive.add_review(Review("shop", "9", "confirmed", "张三"))
    archive.add_review(Review("shop", "2", "dismissed", "张三", "正品"))
    return archive


def test_queue_orders_by_severity_then_newest(queue_store: Store) -> None:
    rows = queue_store.flagged(QueueFilter())
    assert keys(rows) == ["9", "6", "3", "1", "8", "5", "2", "4", "0"]
    assert queue_store.count_flagged(QueueFilter()) == 9
    top = rows[0]
    assert (top.max_severity, top.rule_ids, top.flag_count, top.seller_name) == (
        "high",
        ["COUNTERFEIT_WORDS"],
        1,
        "数码店2",
    )
    assert top.price == "19.90"


def test_queue_filters_combine_and_counts_agree(queue_store: Store) -> None:
    cases = [
        (QueueFilter(category="charger"), ["9", "1", "5", "0"]),
        (QueueFilter(rule_id="CCC_MISSING"), ["3", "1", "8"]),
        (QueueFilter(rule_id="PRICE_LOW", category="charger"), ["5", "0"]),
        (QueueFilter(decision="confirmed"), ["9"]),
        (QueueFilter(decision="dismissed"), ["2"]),
        (QueueFilter(decision="unreviewed", category="charger"), ["1", "5", "0"]),
        (QueueFilter(rule_id="COUNTERFEIT_WORDS", decision="unreviewed"), ["6"]),
        (QueueFilter(category="fertilizer"), []),
    ]
    for query, expected in cases:
        assert keys(queue_store.flagged(query)) == expected, query
        assert queue_store.count_flagged(query) == len(expected), query
    with pytest.raises(ValueError, match="decision"):
        queue_store.flagged(QueueFilter(decision="pending"))


def test_queue_pages_cover_everything_once(queue_store: Store) -> None:
    pages = [keys(queue_store.flagged(QueueFilter(limit=4, offset=o))) for o in (0, 4, 8, 12)]
    assert pages == [["9", "6", "3", "1"], ["8", "5", "2", "4"], ["0"], []]


def test_deep_pages_past_the_result_window_are_exact(queue_store: Store) -> None:
    """On Elasticsearch a page past index.max_result_window is reached with search_after; the
    window is lowered here so that path runs on a small store."""
    if isinstance(queue_store, ElasticsearchArchive):
        import evidence.archive.elasticsearch as es_module

        window, walk = es_module._MAX_WINDOW, es_module._WALK_PAGE
        es_module._MAX_WINDOW, es_module._WALK_PAGE = 3, 2
    try:
        everything = ["9", "6", "3", "1", "8", "5", "2", "4", "0"]
        for offset in range(0, 10):
            page = keys(queue_store.flagged(QueueFilter(limit=2, offset=offset)))
            assert page == everything[offset : offset + 2], offset
        query = QueueFilter(decision="unreviewed", limit=3, offset=4)
        assert keys(queue_store.flagged(query)) == ["5", "4", "0"]
    finally:
        if isinstance(queue_store, ElasticsearchArchive):
            es_module._MAX_WINDOW, es_module._WALK_PAGE = window, walk


def test_facets_count_flagged_listings(queue_store: Store) -> None:
    assert queue_store.facets() == {
        "category": {"charger": 4, "power_bank": 2, "stroller": 3},
        "rule": {"CCC_MISSING": 3, "COUNTERFEIT_WORDS": 3, "PRICE_LOW": 3},
    }


def test_threads_read_while_one_thread_writes(archive: Store) -> None:
    failures: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                rows = archive.flagged(QueueFilter(limit=20))
                if rows:
                    assert archive.get_listing("shop", rows[0].listing_id) is not None
                archive.facets()
        except BaseException as exc:
            failures.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        for n in range(60):
            archive.save_listing(make_listing(n), [flag()])
    finally:
        done.set()
        for thread in readers:
            thread.join(timeout=30)
    assert failures == []
    assert archive.count_flagged(QueueFilter()) == 60


# --- passes and errors -------------------------------------------------------------------------
def test_passes_begin_finish_and_latest(archive: Store) -> None:
    assert archive.latest_pass() is None
    first = archive.begin_pass({"keywords": ["充电器"]})
    second = archive.begin_pass()
    assert second > first
    archive.finish_pass(first, {"listings": 3, "by_rule": {"CCC_MISSING": 1}})

    record = archive.get_pass(first)
    assert record is not None
    assert record.summary == {"listings": 3, "by_rule": {"CCC_MISSING": 1}}
    assert record.finished_at is not None and record.finished_at >= record.started_at
    latest = archive.latest_pass()
    assert latest is not None and latest.pass_id == second and latest.finished_at is None
    assert archive.get_pass(999) is None
    with pytest.raises(LookupError):
        archive.finish_pass(999, {})


def test_errors_are_kept_per_pass_newest_first(archive: Store) -> None:
    one, two = archive.begin_pass(), archive.begin_pass()
    archive.record_error(PageError("https://a.example/1", "timeout", "30s", at=T0), one)
    archive.record_error(
        PageError("https://a.example/2", "parse", "no title", at=T0 + timedelta(minutes=1)), two
    )
    archive.record_error(
        PageError("https://a.example/3", "image", "bad", at=T0 + timedelta(minutes=2)), two
    )
    archive.record_error(PageError("https://a.example/4", "http_status", "503", at=T0))

    assert [e.url[-1] for e in archive.errors(two)] == ["3", "2"]
    assert [(e.kind, e.message, e.at) for e in archive.errors(one)] == [("timeout", "30s", T0)]
    assert [e.url[-1] for e in archive.errors()] == ["3", "2", "4", "1"]
    assert len(archive.errors(limit=2)) == 2
    # listings point at their pass; an unknown pass is refused (SQLite: by its foreign key)
    archive.save_listing(make_listing(1), [flag()], pass_id=two)
    with pytest.raises((sqlite3.IntegrityError, ValueError)):
        archive.save_listing(make_listing(2), [flag()], pass_id=999)
    assert archive.get_listing("shop", "2") is None


# --- incremental passes ------------------------------------------------------------------------
def test_touch_and_mark_gone(archive: Store) -> None:
    archive.save_listing(make_listing(1, seconds=0, search_keyword="充电器"), [flag()])
    archive.save_listing(make_listing(2, seconds=0, search_keyword="充电器"), [flag()])
    archive.save_listing(make_listing(3, seconds=0, search_keyword="童车"), [flag()])
    later = T0 + timedelta(hours=2)
    assert archive.touch_listing("shop", "1", later) is True
    assert archive.touch_listing("shop", "404", later) is False
    marked = archive.mark_gone(
        "shop", not_seen_since=T0 + timedelta(hours=1), search_keywords=["充电器"], gone_at=later
    )
    assert marked == 1
    states = archive.listing_states("shop")
    assert sorted(states) == ["1", "2", "3"]
    assert states["1"].last_seen == later and states["1"].gone_at is None
    assert states["2"].gone_at == later and states["2"].search_keyword == "充电器"
    assert states["3"].gone_at is None
    # flagged and never captured: an incremental pass must still capture it
    assert states["3"].needs_evidence is True
    three = make_listing(3, seconds=0, search_keyword="童车")
    archive.save_listing(three, [flag()], make_evidence(archive, three, "cap-3", when=1))
    archive.save_listing(make_listing(1, seconds=0, search_keyword="充电器"), [])
    states = archive.listing_states("shop")
    assert (states["3"].needs_evidence, states["1"].needs_evidence) == (False, False)
    record = archive.get_listing("shop", "2")
    assert record is not None and record.gone_at == later
    archive.save_listing(make_listing(2, seconds=9000, search_keyword="充电器"), [flag()])
    assert archive.listing_states("shop")["2"].gone_at is None


# --- the evidence ledger -----------------------------------------------------------------------
def test_the_ledger_appends_in_order_and_refuses_a_stale_head(archive: Store) -> None:
    assert archive.ledger_head() is None
    first = next_entry(None, "capture", {"manifest_sha256": "a" * 64}, capture_id="c1")
    archive.append_ledger(first)
    second = next_entry(
        first, "capture", {"manifest_sha256": "b" * 64}, capture_id="c2", case_id="CASE-9"
    )
    archive.append_ledger(second)
    check = next_entry(second, "checkpoint", {"head": second.entry_hash})
    archive.append_ledger(check)

    with pytest.raises(LedgerConflictError):
        archive.append_ledger(next_entry(first, "capture", {}, capture_id="late"))
    unsealed = next_entry(check, "capture", {})
    unsealed.payload = {"edited": True}
    with pytest.raises(ValueError, match="sealed"):
        archive.append_ledger(unsealed)

    head = archive.ledger_head()
    assert head is not None and head.to_dict() == check.to_dict()
    assert [e.seq for e in archive.ledger_entries()] == [1, 2, 3]
    assert [e.seq for e in archive.ledger_entries(after_position=1, limit=1)] == [2]
    assert [e.capture_id for e in archive.ledger_entries_for(capture_id="c2")] == ["c2"]
    assert [e.seq for e in archive.ledger_entries_for(case_id="CASE-9")] == [2]
    last = archive.last_checkpoint()
    assert last is not None and last.entry_hash == check.entry_hash
    for entry in archive.ledger_entries():
        assert entry.entry_hash == entry.computed_hash()


# --- risk score and repeat offenders -----------------------------------------------------------
def test_the_risk_score_orders_the_queue_and_confirmed_sellers_are_listed(archive: Store) -> None:
    archive.save_listing(make_listing(1), [flag()], risk_score=30)
    archive.save_listing(make_listing(2), [flag("PRICE_LOW", "low")], risk_score=90)
    archive.save_listing(make_listing(3), [flag()])  # no score given: implied by severity (45)
    archive.save_listing(make_listing(4), [], risk_score=80)  # not flagged: not in the queue
    archive.save_listing(make_listing(5), [flag()], risk_score=250)  # bounded to 100
    rows = archive.flagged(QueueFilter())
    assert [(r.listing_id, r.risk_score) for r in rows] == [
        ("5", 100),
        ("2", 90),
        ("3", 45),
        ("1", 30),
    ]
    record = archive.get_listing("shop", "2")
    assert record is not None and record.risk_score == 90
    assert archive.confirmed_seller_ids() == set()
    archive.add_review(Review("shop", "2", "confirmed", "张三"))
    archive.add_review(Review("shop", "3", "dismissed", "张三"))
    archive.save_listing(make_listing(6, seller=None), [flag()])
    archive.add_review(Review("shop", "6", "confirmed", "张三"))  # no seller: left out
    assert archive.confirmed_seller_ids() == {"shop:s2"}


# --- the review workspace's queue: filters, text, keyset pages, seller history, statistics ----
@pytest.fixture
def workspace_store(archive: Store) -> Store:
    add_workspace_listings(archive)
    return archive


def ids(archive: Store, **kwargs: object) -> list[str]:
    return [row.listing_id for row in archive.flagged(QueueFilter(**kwargs))]  # type: ignore[arg-type]


def test_queue_filters_by_platform_region_and_first_seen(workspace_store: Store) -> None:
    store = workspace_store
    assert ids(store, platform="mall") == ["2"]
    assert ids(store, region="广东") == ["1", "3"]
    assert ids(store, region="广东 广") == ["3"]
    assert ids(store, region="%") == []
    assert ids(store, found_from=W0 + timedelta(days=7)) == ["2", "3"]
    assert ids(store, found_to=W0 + timedelta(days=7)) == ["1"]
    assert ids(store, rule_id="PRICE_TOO_LOW", region="浙江") == ["2"]
    assert store.count_flagged(QueueFilter(rule_id="PRICE_TOO_LOW", platform="shop")) == 1


def test_queue_text_search_finds_title_seller_and_description(workspace_store: Store) -> None:
    store = workspace_store
    assert ids(store, text="快充充电") == ["1"]
    assert ids(store, text="原装品质") == ["2"]
    assert ids(store, text="stroller") == ["3"]  # Latin letters ignore case
    assert ids(store, text="童车") == ["3"]
    assert ids(store, text="店铺s2") == ["3"]
    assert ids(store, text='"; DROP TABLE listings; --') == []
    assert ids(store, text="%") == [] and ids(store, text="*") == []
    assert ids(store, text="充电", rule_id="CCC_MISSING") == ["1"]
    assert store.count_flagged(QueueFilter(text="充电器")) == 1
    store.save_listing(shop_listing(1, "车载点烟器"), [flag()], risk_score=90)
    assert ids(store, text="快充充电") == []
    assert ids(store, text="点烟器") == ["1"]


def test_keyset_pages_give_the_same_rows_as_offset(archive: Store) -> None:
    for n in range(1, 61):
        # ties on score and time: the order must still be total
        listing = shop_listing(n, f"商品{n}")
        listing.crawled_at = W0 + timedelta(minutes=n // 3)
        archive.save_listing(listing, [flag()], risk_score=n % 5 * 10)
    by_offset = [
        r.listing_id
        for p in range(3)
        for r in archive.flagged(QueueFilter(limit=20, offset=p * 20))
    ]
    by_cursor: list[str] = []
    after = None
    while True:
        page = archive.flagged(QueueFilter(limit=20, after=after, offset=999 if after else 0))
        if not page:
            break
        by_cursor += [r.listing_id for r in page]
        after = page[-1].cursor
    assert by_cursor == by_offset and len(set(by_cursor)) == 60
    first = archive.flagged(QueueFilter(rule_id="CCC_MISSING", limit=25))
    rest = archive.flagged(QueueFilter(rule_id="CCC_MISSING", limit=100, after=first[-1].cursor))
    assert [r.listing_id for r in first + rest] == by_offset
    with pytest.raises(ValueError):
        archive.flagged(QueueFilter(after="not-a-cursor"))


def test_seller_history_lists_flagged_and_unflagged(workspace_store: Store) -> None:
    rows = workspace_store.seller_listings("shop", "s1")
    assert [(r.listing_id, r.max_severity, r.decision, r.seller_id) for r in rows] == [
        ("1", "high", "confirmed", "s1"),
        ("4", "none", None, "s1"),
    ]
    assert workspace_store.seller_listings("mall", "s1")[0].listing_id == "2"
    assert workspace_store.seller_listings("shop", "") == []
    assert workspace_store.seller_listings("shop", "nobody") == []


def test_queue_stats_count_by_each_dimension(workspace_store: Store) -> None:
    stats = workspace_store.queue_stats(QueueFilter())
    assert stats["category"] == {"charger": 1, "power_bank": 1, "stroller": 1}
    assert list(stats["platform"].items()) == [("shop", 2), ("mall", 1)]
    assert stats["region"] == {"广东 广州": 1, "广东 深圳": 1, "浙江 义乌": 1}
    assert stats["rule"] == {"PRICE_TOO_LOW": 2, "CCC_MISSING": 1, "COUNTERFEIT_WORDING": 1}
    assert stats["decision"] == {"unreviewed": 2, "confirmed": 1}
    assert stats["week"] == {"2026-W45": 1, "2026-W46": 2}  # ISO weeks; W0 is a Monday
    assert workspace_store.queue_stats(QueueFilter(region="广东"))["platform"] == {"shop": 2}


def test_every_backend_implements_the_whole_protocol() -> None:
    """A method added to the Archive protocol must be added to every backend (same
    parameters), or this fails before any caller does."""
    import inspect

    from evidence.archive.base import Archive

    methods = [n for n, v in vars(Archive).items() if callable(v) and not n.startswith("_")]
    assert "save_listing" in methods and "append_ledger" in methods
    for backend in (SqliteArchive, ElasticsearchArchive):
        for name in methods:
            assert hasattr(backend, name), f"{backend.__name__} lacks {name}"
            wanted = list(inspect.signature(getattr(Archive, name)).parameters)
            got = list(inspect.signature(getattr(backend, name)).parameters)
            assert got == wanted, f"{backend.__name__}.{name}{got} != protocol {wanted}"


def test_work_is_claimed_once_done_once_and_a_dead_owner_lease_runs_out(archive: Store) -> None:
    key = "capture:run-1:shop:42:abc"
    assert archive.claim_work(key, "worker-a", lease_seconds=60).state == "claimed"
    # Another worker (the task delivered twice) must wait while the lease holds...
    assert archive.claim_work(key, "worker-b", lease_seconds=60).state == "busy"
    # ...the owner itself may claim again (its own task redelivered to it)...
    assert archive.claim_work(key, "worker-a", lease_seconds=60).state == "claimed"
    archive.finish_work(key, "worker-a", {"capture_id": "c-1"})
    # ...and once done, everyone gets the recorded result instead of doing it again.
    done = archive.claim_work(key, "worker-b", lease_seconds=60)
    assert (done.state, done.result) == ("done", {"capture_id": "c-1"})

    other = "capture:run-1:shop:43:def"
    assert archive.claim_work(other, "worker-a", lease_seconds=0.2).state == "claimed"
    time.sleep(0.3)  # worker-a died holding it: the lease runs out
    assert archive.claim_work(other, "worker-b", lease_seconds=60).state == "claimed"
    assert archive.claim_work(other, "worker-a", lease_seconds=60).state == "busy"
    archive.finish_work(other, "worker-b", {"capture_id": "c-2"})
    archive.finish_work("capture:run-2:shop:42:abc", "worker-c", {"capture_id": "c-3"})
    archive.claim_work("capture:run-1:shop:44:ghi", "worker-c", lease_seconds=60)  # not done
    got = archive.work_results("capture:run-1:")
    assert sorted(r["capture_id"] for r in got) == ["c-1", "c-2"]
