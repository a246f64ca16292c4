"""The embedded SQLite archive, exercised on real files in tmp_path (no mocks).

What every backend promises (versions, flags, evidence, blobs, reviews, the queue, passes,
errors, the ledger) is tested once for all backends in tests/test_archive_contract.py; this
file keeps what is SQLite's own: the file and its schema, WAL and connections, the blob folder,
batches, crash safety and the queue indexes on a big store.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from evidence.archive import open_archive
from evidence.archive.base import QueueFilter
from evidence.archive.sqlite import SCHEMA_VERSION, SqliteArchive
from marketguard.models import Review
from tests.archive_samples import flag, make_evidence, make_listing
from tests.conftest import REPO_ROOT


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[SqliteArchive]:
    store = SqliteArchive(tmp_path / "store")
    yield store
    store.close()


def keys(rows: list) -> list[str]:  # type: ignore[type-arg]
    return [row.listing_id for row in rows]


# --- opening ------------------------------------------------------------------------------------
def test_open_archive_gives_sqlite_in_wal_mode_with_files_where_documented(tmp_path: Path) -> None:
    store = open_archive(tmp_path / "home")
    try:
        assert isinstance(store, SqliteArchive)
        assert store.location == str(tmp_path / "home" / "marketguard.db")
        assert (tmp_path / "home" / "blobs").is_dir()
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "home" / "marketguard.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION


def test_reopening_keeps_data_and_a_newer_schema_is_refused(tmp_path: Path) -> None:
    with SqliteArchive(tmp_path) as store:
        store.save_listing(make_listing(1), [flag()])
    with SqliteArchive(tmp_path) as store:
        assert store.get_listing("shop", "1") is not None
    with sqlite3.connect(tmp_path / "marketguard.db") as db:
        db.execute("INSERT INTO schema_version VALUES (99, '2030-01-01')")
    with pytest.raises(RuntimeError, match="schema version 99"):
        SqliteArchive(tmp_path)


def test_closing_twice_is_harmless(tmp_path: Path) -> None:
    store = SqliteArchive(tmp_path)
    store.close()
    store.close()


def test_a_second_connection_sees_committed_writes(tmp_path: Path) -> None:
    with SqliteArchive(tmp_path) as writer, SqliteArchive(tmp_path) as reader:
        writer.save_listing(make_listing(1), [flag()])
        record = reader.get_listing("shop", "1")
        assert record is not None and record.flags[0].rule_id == "CCC_MISSING"
        reader.add_review(Review("shop", "1", "confirmed", "张三"))
        assert writer.flagged(QueueFilter())[0].decision == "confirmed"


# --- listings and versions ---------------------------------------------------------------------
def test_flags_are_replaced_on_the_current_version_and_kept_on_earlier_ones(
    archive: SqliteArchive,
) -> None:
    archive.save_listing(make_listing(1), [flag("CCC_MISSING"), flag("PRICE_LOW", "medium")])
    # same content, rules changed: the current version's flags become this save's flags
    archive.save_listing(make_listing(1), [flag("COUNTERFEIT_WORDS", "low", "高仿")])
    record = archive.get_listing("shop", "1")
    assert record is not None
    assert [(f.rule_id, f.snippet) for f in record.flags] == [("COUNTERFEIT_WORDS", "高仿")]
    assert archive.facets()["rule"] == {"COUNTERFEIT_WORDS": 1}
    assert archive.flagged(QueueFilter())[0].max_severity == "low"

    # a new version gets its own flags; version 1 keeps the ones it had
    archive.save_listing(make_listing(1, price=Decimal("5")), [flag("PRICE_LOW", "medium")])
    record = archive.get_listing("shop", "1")
    assert record is not None
    assert [f.rule_id for f in record.flags] == ["PRICE_LOW"]
    with sqlite3.connect(archive.location) as db:
        by_version = db.execute("SELECT version, rule_id FROM flags ORDER BY version").fetchall()
    assert by_version == [(1, "COUNTERFEIT_WORDS"), (2, "PRICE_LOW")]


# --- evidence ----------------------------------------------------------------------------------
def test_a_retried_capture_keeps_one_set_of_artifact_rows(archive: SqliteArchive) -> None:
    listing = make_listing(1)
    capture = make_evidence(archive, listing, "cap-1", when=1)
    archive.save_listing(listing, [flag()], capture)
    archive.save_listing(listing, [flag()], capture)
    with sqlite3.connect(archive.location) as db:
        assert db.execute("SELECT COUNT(*) FROM evidence").fetchone()[0] == 1
        assert db.execute("SELECT COUNT(*) FROM evidence_artifacts").fetchone()[0] == 2


# --- blobs -------------------------------------------------------------------------------------
def test_blobs_are_named_by_their_hash_idempotent_and_leave_no_temp_files(
    archive: SqliteArchive,
) -> None:
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(2048)
    sha = archive.put_blob(data)

    assert sha == hashlib.sha256(data).hexdigest()
    path = archive.blob_path(sha)
    assert path == archive.home / "blobs" / sha[:2] / sha
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    mtime = path.stat().st_mtime_ns
    assert archive.put_blob(data) == sha
    assert path.stat().st_mtime_ns == mtime  # not rewritten
    assert archive.read_blob(sha) == data
    assert [p.name for p in (archive.home / "blobs").rglob("*") if p.is_file()] == [sha]


def test_a_failed_blob_write_leaves_neither_the_blob_nor_its_temp_file(
    archive: SqliteArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_failure(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", disk_failure)
    with pytest.raises(OSError, match="Input/output"):
        archive.put_blob(b"half written")
    monkeypatch.undo()
    assert archive.blob_path(hashlib.sha256(b"half written").hexdigest()) is None
    assert [p for p in (archive.home / "blobs").rglob("*") if p.is_file()] == []


# --- batches -----------------------------------------------------------------------------------
def test_a_failed_write_inside_a_batch_is_undone_alone(archive: SqliteArchive) -> None:
    with archive.batch():
        archive.save_listing(make_listing(1), [flag()])
        with pytest.raises(sqlite3.IntegrityError):
            archive.save_listing(make_listing(2), [flag()], pass_id=999)
        archive.save_listing(make_listing(3), [flag()])
    assert keys(archive.flagged(QueueFilter())) == ["3", "1"]

    with pytest.raises(KeyError), archive.batch():
        archive.save_listing(make_listing(4), [flag()])
        raise KeyError("the importer gave up")
    assert archive.get_listing("shop", "4") is None


# --- crash safety ------------------------------------------------------------------------------
CRASH_WRITER = """
import sys
import threading
from decimal import Decimal
from pathlib import Path
from evidence.archive.sqlite import SqliteArchive
from marketguard.models import Flag, Listing, Seller

archive = SqliteArchive(Path(sys.argv[1]))
n = 0
while True:
    blob = archive.put_blob(f"screenshot {n}".encode())
    listing = Listing("crash", str(n), f"https://shop.example/{n}", f"充电器 {n}",
                      price=Decimal(n), seller=Seller("s", "店"), description=blob)
    flag = Flag("CCC_MISSING", "high", "无3C", "《认证认可条例》第二十七条", snippet=str(n))
    archive.save_listing(listing, [flag])
    print(n, flush=True)  # only after save_listing returned, i.e. committed
    n += 1
"""


def test_sigkill_mid_pass_loses_nothing_committed(tmp_path: Path) -> None:
    home = tmp_path / "crash"
    child = subprocess.Popen(
        [sys.executable, "-c", CRASH_WRITER, str(home)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    committed: list[int] = []
    try:
        for line in child.stdout:
            committed.append(int(line))
            if len(committed) >= 150:
                break
        else:
            pytest.fail(f"writer stopped early: {child.stderr.read() if child.stderr else ''}")
    finally:
        child.kill()  # SIGKILL: no handler, no atexit, no flush
        child.wait(timeout=30)
    committed += [int(line) for line in child.stdout.read().split()]
    assert child.returncode == -signal.SIGKILL

    with sqlite3.connect(home / "marketguard.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with SqliteArchive(home) as store:
        for n in committed:
            record = store.get_listing("crash", str(n))
            assert record is not None, n
            assert record.listing.title == f"充电器 {n}"
            assert [f.snippet for f in record.flags] == [str(n)]
            assert store.read_blob(record.listing.description) == f"screenshot {n}".encode()
        stored = store.count_flagged(QueueFilter())
        # at most the one listing whose commit finished as the signal landed, unannounced
        assert len(committed) <= stored <= len(committed) + 1
        assert store.count_flagged(QueueFilter(rule_id="CCC_MISSING")) == stored
    # The kill may land inside put_blob: its temporary file may stay behind, but no file ever
    # sits under a final name with bytes that do not hash to it.
    files = [p for p in (home / "blobs").rglob("*") if p.is_file()]
    temporary = [p for p in files if p.name.startswith(".tmp-")]
    assert len(temporary) <= 1
    for path in set(files) - set(temporary):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name


# --- a big store -------------------------------------------------------------------------------
BIG = 20_000
SEVERITIES = ("high", "medium", "low")
CATEGORIES = ("charger", "power_bank", "stroller", "electric_toy")


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteArchive]:
    """20 000 listings; listing n has a severity, category and rules derived from n."""
    store = SqliteArchive(tmp_path_factory.mktemp("big"))
    with store.batch():
        for n in range(BIG):
            flags = [flag("CCC_MISSING" if n % 2 else "PRICE_LOW", SEVERITIES[n % 3])]
            if n % 5 == 0:
                flags.append(flag("COUNTERFEIT_WORDS", "low"))
            listing = make_listing(n, category=CATEGORIES[n % 4], seller=None, attributes={})
            store.save_listing(listing, flags if n % 10 != 9 else [])
            if n % 7 == 0:
                store.add_review(Review("shop", str(n), "confirmed", "张三"))
    yield store
    store.close()


def expected_order(predicate: Callable[[int], bool] | None = None) -> list[str]:
    """Listing ids in queue order, computed in Python from how big_store built them."""
    flagged = [n for n in range(BIG) if n % 10 != 9 and (predicate is None or predicate(n))]
    rank = {"high": 0, "medium": 1, "low": 2}
    points = {"high": 45, "medium": 25, "low": 10}

    def risk(n: int) -> int:  # the score the store implies when the caller gives none
        shares = [points[SEVERITIES[n % 3]]] + ([points["low"]] if n % 5 == 0 else [])
        remaining = 100.0
        for share in shares:
            remaining -= remaining * share / 100
        return round(100 - remaining)

    return [str(n) for n in sorted(flagged, key=lambda n: (-risk(n), rank[SEVERITIES[n % 3]], -n))]


def test_deep_pages_of_a_big_store_are_exact(big_store: SqliteArchive) -> None:
    everything = expected_order()
    assert big_store.count_flagged(QueueFilter()) == len(everything) == 18_000
    for offset in (0, 9_000, 17_950, 17_990):
        page = big_store.flagged(QueueFilter(limit=50, offset=offset))
        assert keys(page) == everything[offset : offset + 50], offset


def test_deep_filtered_pages_of_a_big_store_are_exact(big_store: SqliteArchive) -> None:
    cases: list[tuple[QueueFilter, Callable[[int], bool]]] = [
        (QueueFilter(rule_id="COUNTERFEIT_WORDS"), lambda n: n % 5 == 0),
        (QueueFilter(category="stroller"), lambda n: n % 4 == 2),
        (QueueFilter(rule_id="CCC_MISSING", category="power_bank"), lambda n: n % 4 == 1),
        (QueueFilter(decision="confirmed"), lambda n: n % 7 == 0),
        (
            QueueFilter(decision="unreviewed", rule_id="PRICE_LOW"),
            lambda n: n % 2 == 0 and n % 7 != 0,
        ),
    ]
    for query, predicate in cases:
        expected = expected_order(predicate)
        assert big_store.count_flagged(query) == len(expected), query
        query.offset = len(expected) - 30
        assert keys(big_store.flagged(query)) == expected[-30:], query
    facets = big_store.facets()
    assert facets["rule"]["COUNTERFEIT_WORDS"] == len(expected_order(lambda n: n % 5 == 0))
    assert sum(facets["category"].values()) == 18_000
