"""Elasticsearch-specific behaviour: templates and mappings, Chinese search, selection by
configuration, and the spool when the cluster dies in the middle of a bulk write.

The shared Archive behaviour is in tests/test_archive_contract.py. These tests run on
osmem-server (see DEVELOPERS.md); the kill test starts its own server so it can kill it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import shutil
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from osmem_server import OsmemServer

from evidence.archive import open_archive
from evidence.archive.base import QueueFilter
from evidence.archive.config import store_config
from evidence.archive.elasticsearch import (
    ArchiveUnavailableError,
    ElasticsearchArchive,
    index_templates,
)
from evidence.archive.spool import Spool
from evidence.archive.sqlite import SqliteArchive
from evidence.ledger import Ledger
from evidence.verify import verify_archive
from marketguard.models import Artifact, Evidence, PageError, Review
from tests.conftest import osmem_client
from tests.test_archive_contract import T0, flag, make_listing


@pytest.fixture
def es_archive(osmem_clone: Any, tmp_path: Path) -> Iterator[ElasticsearchArchive]:
    store = ElasticsearchArchive(
        osmem_client(osmem_clone.url), spool_dir=tmp_path / "spool", owns_client=True
    )
    yield store
    store.close()


# --- mappings and analyzers --------------------------------------------------------------------
def test_templates_give_strict_mappings_a_binary_blob_field_and_no_lifecycle(
    es_archive: ElasticsearchArchive,
) -> None:
    client = es_archive.client
    for name in ("listings", "versions", "flags", "evidence", "blobs", "reviews", "errors"):
        template = client.indices.get_index_template(name=es_archive.index(name))
        body = template["index_templates"][0]["index_template"]
        assert body["index_patterns"] == [es_archive.index(name)]
        settings = json.dumps(body["template"].get("settings", {}))
        assert "lifecycle" not in settings  # no ILM policy may ever delete evidence
    mapping = client.indices.get_mapping(index=es_archive.index("blobs"))
    properties = mapping[es_archive.index("blobs")]["mappings"]["properties"]
    assert properties["data"]["type"] == "binary"
    listings = client.indices.get_mapping(index=es_archive.index("listings"))
    mappings = listings[es_archive.index("listings")]["mappings"]
    assert mappings["dynamic"] == "strict"
    # osmem-server has neither IK nor smartcn: the built-in cjk analyzer is chosen
    assert es_archive.analyzer == "cjk"
    assert mappings["properties"]["title"]["analyzer"] == "cjk"
    blob = es_archive.put_blob(b"\x89PNG fake screenshot")
    stored = client.get(index=es_archive.index("blobs"), id=blob)["_source"]
    assert stored["sha256"] == blob and stored["size"] == 20


def test_templates_name_ik_when_the_cluster_has_it() -> None:
    templates = index_templates("mg", "ik_max_word", "ik_smart")
    title = templates["listings"]["template"]["mappings"]["properties"]["title"]
    assert (title["analyzer"], title["search_analyzer"]) == ("ik_max_word", "ik_smart")


def test_chinese_full_text_search_finds_words_inside_titles(
    es_archive: ElasticsearchArchive,
) -> None:
    es_archive.save_listing(make_listing(1, title="公牛 65W 快充充电器 无3C认证"), [flag()])
    es_archive.save_listing(make_listing(2, title="儿童安全座椅 便携式"), [flag()])
    es_archive.save_listing(make_listing(3, title="高仿名牌手表"), [flag()])
    assert [r.listing_id for r in es_archive.search_text("充电器")] == ["1"]
    assert [r.listing_id for r in es_archive.search_text("安全座椅")] == ["2"]
    assert es_archive.search_text("洗衣机") == []


def test_document_ids_are_deterministic(es_archive: ElasticsearchArchive) -> None:
    listing = make_listing(1)
    shot = es_archive.put_blob(b"shot")
    evidence = Evidence(
        "cap-1",
        "shop",
        "1",
        listing.url,
        started_at=T0,
        artifacts=[Artifact("screenshot", "image/png", shot, 4)],
    )
    for _ in range(3):  # the same writes again: overwritten with themselves, never duplicated
        es_archive.save_listing(listing, [flag()], evidence)
        es_archive.put_blob(b"shot")
    client = es_archive.client
    assert client.get(index=es_archive.index("listings"), id="shop:1")["found"]
    assert client.get(index=es_archive.index("versions"), id="shop:1@1")["found"]
    assert client.get(index=es_archive.index("evidence"), id="cap-1")["found"]
    assert client.get(index=es_archive.index("blobs"), id=shot)["found"]
    for name in ("listings", "versions", "flags", "evidence", "blobs"):
        assert es_archive.count(name) == 1, name


def test_a_batch_is_sent_as_bulk_requests(es_archive: ElasticsearchArchive) -> None:
    with es_archive.batch():
        for n in range(120):
            es_archive.save_listing(make_listing(n), [flag()])
        es_archive.save_listing(make_listing(5, title="改过的标题"), [flag()])  # same listing again
        es_archive.record_error(PageError("https://x.example/", "timeout", "30s"))
    assert es_archive.count_flagged(QueueFilter()) == 120
    assert [v for v, _ in es_archive.listing_versions("shop", "5")] == [1, 2]
    assert len(es_archive.errors()) == 1


# --- selection by configuration ----------------------------------------------------------------
def test_sqlite_is_the_default_and_es_is_chosen_by_env_or_settings_file(tmp_path: Path) -> None:
    assert store_config(tmp_path, {}).backend == "sqlite"
    store = open_archive(tmp_path, env={})
    assert isinstance(store, SqliteArchive)
    store.close()

    env = {"MARKETGUARD_ES_URL": "http://127.0.0.1:1", "MARKETGUARD_ES_PREFIX": "mg2"}
    config = store_config(tmp_path, env)
    assert (config.backend, config.url, config.prefix) == (
        "elasticsearch",
        env["MARKETGUARD_ES_URL"],
        "mg2",
    )

    (tmp_path / "marketguard.toml").write_text(
        '[store]\nbackend = "elasticsearch"\nurl = "https://user:secret@es.example:9200"\n',
        encoding="utf-8",
    )
    config = store_config(tmp_path, {})
    assert (config.backend, config.url) == ("elasticsearch", "https://user:secret@es.example:9200")
    assert store_config(tmp_path, {"MARKETGUARD_ES_URL": ""}).backend == "sqlite"
    # nothing listens on port 1: the archive opens anyway (writes would spool), and its
    # location never shows the credentials
    store = open_archive(tmp_path, env={"MARKETGUARD_ES_URL": "http://u:pw@127.0.0.1:1"})
    assert isinstance(store, ElasticsearchArchive)
    assert "pw" not in store.location and "127.0.0.1:1" in store.location
    store.close()
    (tmp_path / "marketguard.toml").write_text('[store]\nbackend = "mongo"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="backend"):
        store_config(tmp_path, {})


# --- the spool ---------------------------------------------------------------------------------
def test_a_torn_last_line_is_cut_off_before_the_next_append(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    with spool.locked():
        spool.append({"op": "a"})
    with open(spool.path, "ab") as handle:
        handle.write(b'{"op": "half-writ')  # a process killed inside append
    assert [r["op"] for _, r in spool.pending()] == ["a"]
    with spool.locked():
        spool.append({"op": "b"})
    assert [r["op"] for _, r in spool.pending()] == ["a", "b"]
    spool.mark_replayed(0)
    assert [r["op"] for _, r in spool.pending()] == ["b"]
    spool.clear()
    assert spool.pending() == []


def dump_as_seed(server_url: str, prefix: str, folder: Path) -> None:
    """What the cluster holds durably, as an osmem seed folder: the templates, then every
    document of every index. It stands in for the data a real cluster keeps on disk across a
    crash (osmem-server keeps everything in memory, so it comes back empty otherwise)."""
    client = osmem_client(server_url)
    folder.mkdir()
    for item in client.indices.get_index_template(name=f"{prefix}-*")["index_templates"]:
        body = dict(item["index_template"])
        body.pop("composed_of", None)
        (folder / f"{item['name']}.template.json").write_text(json.dumps(body), "utf-8")
    client.indices.refresh(index=f"{prefix}-*")
    for index in client.indices.get(index=f"{prefix}-*"):
        lines = []
        after = None
        while True:
            extra = {"search_after": after} if after else {}
            hits = client.search(index=index, size=500, sort=["_id"], **extra)["hits"]["hits"]
            if not hits:
                break
            for hit in hits:
                lines.append(json.dumps({"index": {"_id": hit["_id"]}}))
                lines.append(json.dumps(hit["_source"], ensure_ascii=False))
            after = hits[-1]["sort"]
        (folder / f"{index}.index.json").write_text("{}", "utf-8")  # mappings from templates
        if lines:
            (folder / f"{index}.ndjson").write_text("\n".join(lines) + "\n", "utf-8")
    client.close()


class _KillDuringBulk(ElasticsearchArchive):
    """Kills the server shortly after a bulk request has started (armed by the test)."""

    kill: threading.Event | None = None
    server: OsmemServer | None = None

    def _bulk_chunk(self, actions: list[Any]) -> None:
        if self.kill is not None and self.server is not None and len(actions) > 100:
            server, self.kill = self.server, None
            threading.Timer(0.05, server.process.kill).start()
        super()._bulk_chunk(actions)


def port_outside_the_ephemeral_range() -> int:
    """A free port the kernel never hands out as a client's source port. While the server is
    down the client keeps connecting to its port; with a port in the ephemeral range, one of
    those attempts can connect to itself (TCP simultaneous open) and hold the port, so the
    server could not come back on it."""
    low, _ = (int(v) for v in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    for _ in range(200):
        port = random.randrange(max(1025, low - 12000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def test_a_cluster_killed_mid_bulk_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    port = port_outside_the_ephemeral_range()
    server = OsmemServer.start(japanese=False, addr=f"127.0.0.1:{port}")
    url = server.url
    archive = _KillDuringBulk(
        osmem_client(url, request_timeout=60, max_retries=1),
        spool_dir=tmp_path / "spool",
        owns_client=True,
        retry_interval=0,
    )
    restarted: OsmemServer | None = None
    try:
        # 1. acknowledged writes before the crash
        pass_id = archive.begin_pass({"keywords": ["充电器"]})
        for n in range(20):
            archive.save_listing(make_listing(n), [flag()], pass_id=pass_id)
        dump_as_seed(url, archive.prefix, tmp_path / "seed")

        # 2. a big bulk write; the server is SIGKILLed while it is being sent or applied
        archive.kill, archive.server = threading.Event(), server
        text = "详情 " * 1500  # ~7 KB per listing, so the request takes a while
        with archive.batch():
            for n in range(20, 220):
                archive.save_listing(make_listing(n, description=text), [flag()], pass_id=pass_id)
        server.process.wait(timeout=10)
        assert archive.spooled() == 200  # the whole unacknowledged bulk went to the spool

        # 3. more writes while the cluster is down: a capture with its screenshot, an error,
        # a review, a new listing version, a pass finished
        shot = archive.put_blob(b"\x89PNG screenshot taken while the cluster was down")
        listing = make_listing(400)
        capture = Evidence(
            "cap-offline",
            "shop",
            "400",
            listing.url,
            started_at=T0,
            artifacts=[Artifact("screenshot", "image/png", shot, 48)],
        )
        saved = archive.save_listing(listing, [flag()], capture, pass_id=pass_id)
        assert saved.version == 0  # decided on replay
        archive.record_error(PageError("https://x.example/1", "timeout", "30s", at=T0), pass_id)
        archive.add_review(Review("shop", "3", "confirmed", "张三", "无3C"))
        archive.save_listing(make_listing(4, title="改价后的标题"), [flag()], pass_id=pass_id)
        archive.finish_pass(pass_id, {"listings": 222})
        assert archive.read_blob(shot).startswith(b"\x89PNG")  # served from the spool
        with pytest.raises(ArchiveUnavailableError):
            archive.flagged(QueueFilter())
        assert archive.spooled() == 206

        # 4. the cluster comes back with what it had acknowledged; the next write replays
        restarted = OsmemServer.start(
            seed=[str(tmp_path / "seed")], japanese=False, addr=f"127.0.0.1:{port}"
        )
        assert restarted.url == url
        snapshot = tmp_path / "spool-copy"
        shutil.copytree(tmp_path / "spool", snapshot)
        archive.record_error(PageError("https://x.example/2", "parse", "no title", at=T0), pass_id)
        assert archive.spooled() == 0
        assert archive.spool.rejected() == []
        check_everything_once(archive, pass_id, shot)

        # 5. replaying the same spool again (a crash during replay, or a bulk that had partly
        # landed before the kill) changes nothing
        shutil.rmtree(tmp_path / "spool")
        shutil.copytree(snapshot, tmp_path / "spool")
        assert archive.replay_spool() == 206
        check_everything_once(archive, pass_id, shot)
    finally:
        archive.close()
        server.close()
        if restarted is not None:
            restarted.close()


def check_everything_once(archive: ElasticsearchArchive, pass_id: int, shot: str) -> None:
    assert archive.count_flagged(QueueFilter()) == 221
    assert archive.count("listings") == 221
    assert archive.count("versions") == 222  # listing 4 has a second version, nobody else
    for n in (0, 19, 20, 170, 219):
        record = archive.get_listing("shop", str(n))
        assert record is not None and record.version == 1, n
    record = archive.get_listing("shop", "4")
    assert record is not None and (record.version, record.listing.title) == (2, "改价后的标题")
    record = archive.get_listing("shop", "400")
    assert record is not None and [e.capture_id for e in record.evidence] == ["cap-offline"]
    assert archive.read_blob(shot).startswith(b"\x89PNG")
    assert archive.count("evidence") == 1
    review = archive.get_listing("shop", "3")
    assert review is not None and [r.reviewer for r in review.reviews] == ["张三"]
    assert archive.count_flagged(QueueFilter(decision="confirmed")) == 1
    assert sorted(e.url for e in archive.errors(pass_id)) == [
        "https://x.example/1",
        "https://x.example/2",
    ]
    finished = archive.get_pass(pass_id)
    assert finished is not None and finished.summary == {"listings": 222}
    assert finished.finished_at is not None
    assert archive.latest_pass() == finished
    top = archive.flagged(QueueFilter(limit=1))[0]
    assert (top.listing_id, top.last_seen) == ("400", T0 + timedelta(seconds=400))


# --- court-grade checks on the Elasticsearch archive -------------------------------------------
def seal_captures(archive: ElasticsearchArchive, count: int, start: int = 0) -> list[Evidence]:
    """Captures as the capture step stores them: files as blobs, a manifest listing them (the
    metadata artifact, last), the Evidence record, and a ledger entry sealing the manifest."""
    ledger = Ledger(archive, checkpoint_every=2)
    captures = []
    for n in range(start, start + count):
        listing = make_listing(n)
        shot = b"\x89PNG screenshot " + bytes([n]) * 256
        html = f"<html>listing {n}</html>".encode()
        artifacts = [
            Artifact("screenshot", "image/png", archive.put_blob(shot), len(shot)),
            Artifact("html", "text/html", archive.put_blob(html), len(html), listing.url),
        ]
        manifest = json.dumps(
            {"artifacts": [dataclasses.asdict(a) for a in artifacts]}, sort_keys=True
        ).encode()
        artifacts.append(
            Artifact("metadata", "application/json", archive.put_blob(manifest), len(manifest))
        )
        capture = Evidence(
            f"cap-{n}", "shop", str(n), listing.url, started_at=T0, artifacts=artifacts
        )
        archive.save_listing(listing, [flag()], capture)
        ledger.record_capture(capture)
        captures.append(capture)
    return captures


def test_verify_catches_a_changed_byte_a_deleted_ledger_line_and_swapped_records(
    es_archive: ElasticsearchArchive,
) -> None:
    captures = seal_captures(es_archive, 4)
    report = verify_archive(es_archive)
    assert report.ok, report.problems
    assert report.captures == 4 and report.ledger_entries == 6  # 4 captures, 2 checkpoints

    client, ledger_index = es_archive.client, es_archive.index("ledger")
    # one byte of a screenshot, changed in the cluster
    shot = captures[1].artifact("screenshot")
    assert shot is not None
    tampered = bytearray(es_archive.read_blob(shot.sha256))
    tampered[20] ^= 0x01
    client.update(
        index=es_archive.index("blobs"),
        id=shot.sha256,
        doc={"data": base64.b64encode(bytes(tampered)).decode()},
        refresh=True,
    )
    problems = verify_archive(es_archive).problems
    assert [(p.kind, p.subject) for p in problems] == [("altered", "screenshot of capture cap-1")]

    # two ledger records swapped
    second = client.get(index=ledger_index, id="2")["_source"]
    third = client.get(index=ledger_index, id="4")["_source"]
    client.index(index=ledger_index, id="2", document={**third, "position": 2}, refresh=True)
    client.index(index=ledger_index, id="4", document={**second, "position": 4}, refresh=True)
    kinds = {p.kind for p in verify_archive(es_archive).problems}
    assert "out_of_order" in kinds

    # a ledger line deleted
    client.index(index=ledger_index, id="2", document=second, refresh=True)
    client.index(index=ledger_index, id="4", document=third, refresh=True)
    client.delete(index=ledger_index, id="4", refresh=True)
    found = verify_archive(es_archive).problems
    assert any(p.kind == "missing" for p in found), found
    assert any("cap-2" in p.subject for p in found), found


def test_captures_chain_on_while_the_cluster_is_down(tmp_path: Path) -> None:
    """The ledger head is known locally, so captures made while the cluster is down are sealed
    in order, spooled, and form one valid chain with the earlier entries once replayed."""
    port = port_outside_the_ephemeral_range()
    server = OsmemServer.start(japanese=False, addr=f"127.0.0.1:{port}")
    archive = ElasticsearchArchive(
        osmem_client(server.url, request_timeout=30, max_retries=0),
        spool_dir=tmp_path / "spool",
        owns_client=True,
        retry_interval=0,
    )
    restarted: OsmemServer | None = None
    try:
        seal_captures(archive, 1)
        archive.ledger_head()  # what this process knows of the chain
        dump_as_seed(server.url, archive.prefix, tmp_path / "seed")
        server.process.kill()
        server.process.wait(timeout=10)

        seal_captures(archive, 3, start=1)
        assert archive.spooled() > 0
        head = archive.ledger_head()  # 4 captures and 2 checkpoints, sealed from the local head
        assert head is not None and (head.seq, head.kind) == (6, "checkpoint")

        restarted = OsmemServer.start(
            seed=[str(tmp_path / "seed")], japanese=False, addr=f"127.0.0.1:{port}"
        )
        archive.replay_spool()
        assert archive.spool.rejected() == []
        report = verify_archive(archive)
        assert report.ok, report.problems
        assert [e.capture_id for e in archive.ledger_entries() if e.kind == "capture"] == [
            "cap-0",
            "cap-1",
            "cap-2",
            "cap-3",
        ]
    finally:
        archive.close()
        server.close()
        if restarted is not None:
            restarted.close()


# --- bulk item statuses (a loopback stand-in: osmem-server never answers 429) -----------------
class _BulkStub:
    """Answers ``_bulk`` with per-item statuses from a script, 503 to anything else. A small
    HTTP server on 127.0.0.1 speaking just enough of the bulk API for the production client."""

    def __init__(self, script: list[dict[str, int]]) -> None:
        import http.server

        self.script = script  # per request: id -> status (201 when not named)
        self.requests: list[list[str]] = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if not self.path.startswith("/_bulk"):
                    self._answer(503, {"error": "unavailable"})
                    return
                lines = [json.loads(x) for x in raw.decode().splitlines() if x.strip()]
                actions = [line for line in lines if len(line) == 1 and "index" in line]
                ids = [a["index"]["_id"] for a in actions]
                statuses = (
                    stub.script[len(stub.requests)] if len(stub.requests) < len(stub.script) else {}
                )
                stub.requests.append(ids)
                items = []
                for doc_id in ids:
                    status = statuses.get(doc_id, 201)
                    item: dict[str, Any] = {"_index": "mg-errors", "_id": doc_id, "status": status}
                    if status >= 300:
                        item["error"] = {"type": "x", "reason": f"status {status}"}
                    items.append({"index": item})
                self._answer(
                    200, {"errors": any(i["index"]["status"] >= 300 for i in items), "items": items}
                )

            do_PUT = do_POST  # the client sends _bulk as PUT or POST

            def do_GET(self) -> None:
                self._answer(503, {"error": "unavailable"})

            do_HEAD = do_DELETE = do_GET

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _stub_archive(stub: _BulkStub, tmp_path: Path) -> ElasticsearchArchive:
    from elasticsearch import Elasticsearch

    archive = ElasticsearchArchive(
        Elasticsearch(stub.url, max_retries=0),
        spool_dir=tmp_path / "spool",
        prefix="mg",
        owns_client=True,
    )
    archive._schema_ready = True  # the stub has no index API; only _bulk is under test
    return archive


def _docs(n: int) -> Iterator[tuple[str, dict[str, Any]]]:
    for i in range(n):
        yield f"e{i}", {"url": f"https://x.example/{i}", "kind": "timeout", "message": "30s"}


def test_bulk_items_refused_with_429_are_resent_alone_until_taken(tmp_path: Path) -> None:
    stub = _BulkStub([{"e1": 429, "e3": 429}, {"e3": 429}])
    archive = _stub_archive(stub, tmp_path)
    try:
        assert archive.put_documents("errors", _docs(5), create=False) == 5
        assert stub.requests == [["e0", "e1", "e2", "e3", "e4"], ["e1", "e3"], ["e3"]]
    finally:
        archive.close()
        stub.close()


def test_a_bulk_item_the_cluster_cannot_take_now_is_unavailable_and_a_bad_one_raises(
    tmp_path: Path,
) -> None:
    from evidence.archive.elasticsearch import ApiErrorInBulk

    stub = _BulkStub([{"e2": 503}, {"e0": 400}])
    archive = _stub_archive(stub, tmp_path)
    try:
        with pytest.raises(ArchiveUnavailableError):
            archive.put_documents("errors", _docs(3), create=False)
        with pytest.raises(ApiErrorInBulk, match="e0: status 400"):
            archive.put_documents("errors", _docs(1), create=False)
    finally:
        archive.close()
        stub.close()
