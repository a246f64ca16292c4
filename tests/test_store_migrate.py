"""`marketguard store migrate --from sqlite --to es`: a SQLite archive copied into Elasticsearch
(osmem-server here), verified kind by kind, idempotent, and a tampered copy is caught."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from evidence.archive.base import FlaggedRow, QueueFilter
from evidence.archive.elasticsearch import ElasticsearchArchive
from evidence.archive.migrate import KINDS, migrate_sqlite_to_es
from evidence.archive.sqlite import SqliteArchive
from evidence.ledger import Ledger
from marketguard import cli
from marketguard.commands import store as store_command
from marketguard.models import Artifact, PageError, Review
from tests.conftest import osmem_client
from tests.test_archive_contract import T0, flag, make_evidence, make_listing


def uncursored(rows: list[FlaggedRow]) -> list[FlaggedRow]:
    return [dataclasses.replace(row, cursor="") for row in rows]


@pytest.fixture
def sqlite_home(tmp_path: Path) -> Path:
    """A small archive with every kind of record: versions, flags, captures and their blobs,
    reviews, errors, passes, a gone mark and a ledger with a checkpoint."""
    home = tmp_path / "home"
    with SqliteArchive(home) as store:
        first = store.begin_pass({"keywords": ["充电器"]})
        ledger = Ledger(store, checkpoint_every=3)
        for n in range(12):
            listing = make_listing(n, search_keyword="充电器", category=["charger", "toy"][n % 2])
            evidence = make_evidence(store, listing, f"cap-{n}", when=n) if n % 3 == 0 else None
            if evidence is not None:
                manifest = json.dumps({"capture_id": evidence.capture_id}).encode()
                evidence.artifacts.append(
                    Artifact(
                        "metadata", "application/json", store.put_blob(manifest), len(manifest)
                    )
                )
            flags = [flag()] if n % 4 else [flag("PRICE_LOW", "medium"), flag("X_RULE", "low")]
            store.save_listing(listing, flags if n != 11 else [], evidence, first)
            if evidence is not None:
                ledger.record_capture(evidence)
        store.save_listing(make_listing(5, price=Decimal("1.00"), seconds=900), [flag()], None)
        store.add_review(Review("shop", "1", "confirmed", "张三", "无3C", decided_at=T0))
        store.add_review(Review("shop", "1", "dismissed", "李四", decided_at=T0 + timedelta(1)))
        store.record_error(PageError("https://x.example/", "timeout", "30s", at=T0), first)
        store.finish_pass(first, {"listings": 12})
        store.begin_pass()
        store.mark_gone("shop", not_seen_since=T0 + timedelta(seconds=2), gone_at=T0)
    return home


@pytest.fixture
def target(osmem_clone: Any, tmp_path: Path) -> Iterator[ElasticsearchArchive]:
    store = ElasticsearchArchive(
        osmem_client(osmem_clone.url), spool_dir=tmp_path / "spool", owns_client=True
    )
    yield store
    store.close()


def test_migration_copies_everything_and_verifies_it(
    sqlite_home: Path, target: ElasticsearchArchive
) -> None:
    report = migrate_sqlite_to_es(sqlite_home, target)
    assert report.ok, report.text()
    assert [c.kind for c in report.checks] == list(KINDS)
    counts = {c.kind: c.target_count for c in report.checks}
    assert counts["listings"] == 12 and counts["versions"] == 13 and counts["ledger"] >= 5
    assert counts["blobs"] == 12 and counts["evidence"] == 4 and counts["reviews"] == 2

    # what the workspace sees is the same on both backends
    with SqliteArchive(sqlite_home) as source:
        for query in (QueueFilter(limit=100), QueueFilter(category="toy"), QueueFilter("charger")):
            # cursors are each backend's own; everything else must be equal
            assert uncursored(target.flagged(query)) == uncursored(source.flagged(query)), query
        assert target.facets() == source.facets()
        for n in range(12):
            assert target.get_listing("shop", str(n)) == source.get_listing("shop", str(n)), n
        assert target.listing_versions("shop", "5") == source.listing_versions("shop", "5")
        assert target.errors() == source.errors()
        assert target.latest_pass() == source.latest_pass()
        assert target.ledger_entries() == source.ledger_entries()
        assert target.capture_ids() == source.capture_ids()
        assert target.listing_states("shop") == source.listing_states("shop")
        shot = source.get_evidence("cap-3")
        assert shot is not None
        for artifact in shot.artifacts:
            assert target.read_blob(artifact.sha256) == source.read_blob(artifact.sha256)

    # new writes continue on the migrated archive, after the migrated ones
    assert target.begin_pass() == 3
    target.save_listing(make_listing(99, seconds=5000), [flag()])
    assert target.flagged(QueueFilter(limit=1))[0].listing_id == "99"


def test_a_second_run_changes_nothing_and_a_tampered_copy_is_caught(
    sqlite_home: Path, target: ElasticsearchArchive
) -> None:
    first = migrate_sqlite_to_es(sqlite_home, target)
    again = migrate_sqlite_to_es(sqlite_home, target)
    assert first.ok and again.ok
    assert [c.target_digest for c in first.checks] == [c.target_digest for c in again.checks]
    assert target.count("listings") == 12 and target.count("versions") == 13

    # someone edits a stored version in the cluster; verification names the kind
    target.client.update(
        index=target.index("versions"),
        id="shop:5@1",
        doc={"data": {"title": "改过的标题"}},
        refresh=True,
    )
    checked = migrate_sqlite_to_es(sqlite_home, target, verify_only=True)
    assert not checked.ok
    assert [c.kind for c in checked.checks if not c.ok] == ["versions"]
    assert "MISMATCH" in checked.text()


def test_the_cli_prints_the_report_and_fails_on_a_mismatch(
    sqlite_home: Path,
    target: ElasticsearchArchive,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The command opens the configured cluster; here it gets the osmem-server one (whose client
    # needs the test-only node, which the command never builds itself).
    monkeypatch.setattr(store_command, "open_es_target", lambda home, url, prefix: target)
    monkeypatch.setattr(target, "close", lambda: None)
    argv = ["store", "migrate", "--from", "sqlite", "--to", "es", "--store", str(sqlite_home)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "verified: every kind matches" in out and "listings" in out

    target.client.delete(index=target.index("blobs"), id=target.documents("blobs").__next__()[0])
    target._dirty.add("blobs")
    assert cli.main([*argv, "--verify-only", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [c["kind"] for c in report["checks"] if not c["ok"]] == ["blobs"]


def test_migrating_a_folder_without_an_archive_is_a_clear_error(
    tmp_path: Path,
    target: ElasticsearchArchive,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(store_command, "open_es_target", lambda home, url, prefix: target)
    monkeypatch.setattr(target, "close", lambda: None)
    argv = ["store", "migrate", "--from", "sqlite", "--to", "es", "--store", str(tmp_path)]
    assert cli.main(argv) == 2
    assert "no SQLite archive" in capsys.readouterr().err


def test_store_replay_reports_what_still_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from evidence.archive import open_archive
    from tests.test_archive_elasticsearch import port_outside_the_ephemeral_range

    argv = ["store", "replay", "--store", str(tmp_path)]
    assert cli.main(argv) == 0
    assert "SQLite" in capsys.readouterr().out

    # a cluster that is down: the write is spooled on disk and the command says so
    url = f"http://127.0.0.1:{port_outside_the_ephemeral_range()}"
    monkeypatch.setenv("MARKETGUARD_ES_URL", url)
    archive = open_archive(tmp_path)
    assert isinstance(archive, ElasticsearchArchive)
    archive.save_listing(make_listing(1), [flag()])
    archive.close()
    assert cli.main(argv) == 1
    assert "1 writes wait" in capsys.readouterr().err
