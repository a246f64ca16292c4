"""The evidence ledger on the SQLite archive: hash chain, checkpoints, append-only, tamper
findings named by the stdlib checker (evidence/verify_export.check_chain)."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from pathlib import Path

import pytest

from evidence.archive.sqlite import SqliteArchive
from evidence.ledger import (
    Ledger,
    LedgerConflictError,
    LedgerEntry,
    iter_ledger,
    next_entry,
)
from evidence.verify_export import GENESIS, check_chain, entry_hash
from marketguard.models import Artifact, Evidence


def _evidence(n: int, case_id: str = "") -> Evidence:
    return Evidence(
        capture_id=f"CAP{n:04d}",
        platform="demo",
        listing_id=str(n),
        url=f"http://shop.test/item/{n}",
        artifacts=[Artifact("metadata", "application/json", f"{n:064x}", 10)],
        case_id=case_id,
    )


@pytest.fixture
def archive(tmp_path: Path) -> SqliteArchive:
    with SqliteArchive(tmp_path) as store:
        yield store


def _chain(archive: SqliteArchive) -> list[dict]:
    return [e.to_dict() for e in iter_ledger(archive, page=3)]


def test_entries_chain_and_checkpoint_periodically(archive: SqliteArchive) -> None:
    ledger = Ledger(archive, checkpoint_every=4)
    for n in range(10):
        ledger.record_capture(_evidence(n, case_id="SH-2026-7" if n % 2 else ""))
    entries = list(iter_ledger(archive, page=3))
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert entries[0].prev_hash == GENESIS
    for prev, entry in itertools.pairwise(entries):
        assert entry.prev_hash == prev.entry_hash
        assert entry.entry_hash == entry_hash(entry.to_dict())
    checkpoints = [e for e in entries if e.kind == "checkpoint"]
    assert [c.seq for c in checkpoints] == [5, 10]
    assert checkpoints[0].payload == {
        "covers_from": 1,
        "covers_to": 4,
        "head_hash": entries[3].entry_hash,
    }
    assert checkpoints[1].payload["covers_from"] == 6
    assert archive.last_checkpoint() == checkpoints[-1]
    assert check_chain(_chain(archive)) == []
    case = archive.ledger_entries_for(case_id="SH-2026-7")
    assert [e.capture_id for e in case] == [f"CAP{n:04d}" for n in (1, 3, 5, 7, 9)]
    assert archive.ledger_entries_for(capture_id="CAP0002")[0].payload["manifest_sha256"] == (
        f"{2:064x}"
    )
    # On demand: covers what came after the last one; then nothing is new, no empty one.
    final = ledger.checkpoint()
    assert final is not None and final.payload["covers_from"] == 11
    assert final.payload["covers_to"] == 12
    assert ledger.checkpoint() is None
    assert archive.ledger_head() == final


def test_append_refuses_an_entry_that_does_not_extend_the_head(archive: SqliteArchive) -> None:
    first = next_entry(None, "capture", {"manifest_sha256": "a" * 64}, capture_id="X")
    archive.append_ledger(first)
    stale = next_entry(None, "capture", {"manifest_sha256": "b" * 64}, capture_id="Y")
    with pytest.raises(LedgerConflictError):
        archive.append_ledger(stale)
    unsealed = next_entry(first, "capture", {}, capture_id="Z")
    unsealed.payload["manifest_sha256"] = "c" * 64  # changed after sealing
    with pytest.raises(ValueError, match="not sealed"):
        archive.append_ledger(unsealed)
    assert archive.ledger_head() == first


def test_concurrent_writers_keep_one_unbroken_chain(tmp_path: Path) -> None:
    # Two archive objects on one file behave like two processes.
    stores = [SqliteArchive(tmp_path), SqliteArchive(tmp_path)]

    def write(store: SqliteArchive, base: int) -> None:
        ledger = Ledger(store, checkpoint_every=0)
        for n in range(25):
            ledger.record_capture(_evidence(base + n))

    threads = [threading.Thread(target=write, args=(s, i * 100)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = _chain(stores[0])
    assert len(entries) == 50
    assert check_chain(entries) == []
    for store in stores:
        store.close()


def test_the_table_is_append_only_for_any_client(archive: SqliteArchive) -> None:
    Ledger(archive).record_capture(_evidence(1))
    with sqlite3.connect(archive.db_path) as db:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM ledger")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE ledger SET data = '{}'")


def test_check_chain_names_each_kind_of_tampering(archive: SqliteArchive) -> None:
    ledger = Ledger(archive, checkpoint_every=0)
    for n in range(6):
        ledger.record_capture(_evidence(n))
    entries = _chain(archive)
    assert check_chain(entries) == []

    deleted = [*entries[:2], *entries[3:]]
    [problem] = check_chain(deleted)
    assert (problem.kind, problem.subject) == ("missing", "ledger entry 3")
    assert "between entry 2 and entry 4" in problem.detail

    swapped = [*entries[:1], entries[2], entries[1], *entries[3:]]
    [problem] = check_chain(swapped)
    assert problem.kind == "out_of_order"
    assert "position 2 holds entry 3" in problem.detail
    assert "position 3 holds entry 2" in problem.detail

    edited = [dict(e) for e in entries]
    edited[3] = {**edited[3], "payload": {**edited[3]["payload"], "manifest_sha256": "f" * 64}}
    [problem] = check_chain(edited)
    assert problem.kind == "altered" and problem.subject == "ledger entry 4 (capture CAP0003)"

    # A careful forger re-seals the edited entry: the next link gives it away.
    resealed = LedgerEntry.from_dict(edited[3]).sealed().to_dict()
    forged = [*entries[:3], resealed, *entries[4:]]
    [problem] = check_chain(forged)
    assert problem.subject == "link from ledger entry 4 to 5"

    # Deleting the first line of a full ledger is a missing entry too.
    [problem] = check_chain(entries[1:])
    assert (problem.kind, problem.subject) == ("missing", "ledger entry 1")
    # A segment (an export) may start anywhere.
    assert check_chain(entries[2:], full=False) == []


def test_an_unreachable_timestamp_authority_appends_nothing(archive: SqliteArchive) -> None:
    from evidence.timestamping import TimestampAuthority, TimestampError
    from tests.conftest import free_port

    tsa = TimestampAuthority(f"http://127.0.0.1:{free_port()}/tsa", timeout=2)
    ledger = Ledger(archive, tsa=tsa)
    with pytest.raises(TimestampError, match="unreachable"):
        ledger.record_capture(_evidence(1))
    assert archive.ledger_head() is None


def test_ledger_for_reads_the_settings(archive: SqliteArchive) -> None:
    from evidence.ledger import ledger_for
    from marketguard.settings import Settings

    settings = Settings.from_env(
        {
            "MARKETGUARD_TSA_URL": "http://127.0.0.1:9/tsa",
            "MARKETGUARD_LEDGER_CHECKPOINT_EVERY": "7",
            "MARKETGUARD_INVESTIGATORS": "张三，李四",
            "MARKETGUARD_CASE_ID": " SH-1 ",
        }
    )
    ledger = ledger_for(archive, settings)
    assert ledger.checkpoint_every == 7
    assert ledger.tsa is not None and ledger.tsa.url == "http://127.0.0.1:9/tsa"
    assert settings.investigators == ["张三", "李四"] and settings.case_id == "SH-1"
    assert ledger_for(archive, Settings()).tsa is None
