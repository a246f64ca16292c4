"""Elasticsearch bulk indexing: documents per second, bulk against one-by-one in the same run.

    python -m bench es_bulk

Against osmem-server (an in-memory OpenSearch-compatible server from the test extra, started
here on a free loopback port) unless MARKETGUARD_ES_URL names a real cluster, in which case the
benchmark writes under a throw-away index prefix and deletes it afterwards.

Measured, each as documents (or listings) per second and as a ratio to its baseline:

- raw documents: ``_bulk`` in requests of 500 against one ``index`` request per document;
- the archive: ``save_listing`` inside ``batch()`` (bulk) against ``save_listing`` one by one
  (each a read and a bulk request of three documents), and against SQLite one by one;
- spool replay: listings saved while the cluster was unreachable, then replayed.

Absolute figures depend on the machine and its load; the ratios are the point.
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import save
from evidence.archive.elasticsearch import ElasticsearchArchive
from evidence.archive.sqlite import SqliteArchive
from marketguard.models import Flag, Listing, Seller

RAW_DOCS = 3000
LISTINGS = 600
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _listing(n: int, run: str) -> Listing:
    return Listing(
        platform=f"bench-{run}",
        listing_id=str(n),
        url=f"https://shop.example/item/{n}",
        title=f"65W 快充充电器 氮化镓 双口 {n}",
        price=Decimal("19.90"),
        seller=Seller(seller_id=f"s{n % 50}", name=f"数码店{n % 50}", location="广东 深圳"),
        attributes={"品牌": "无", "3C认证": "无", "型号": f"GaN-{n}"},
        description="全新正品 支持 PD 快充 " * 20,
        category="charger",
        crawled_at=T0 + timedelta(seconds=n),
    )


FLAGS = [Flag("CCC_MISSING", "high", "强制性认证产品未标注 3C 认证", "《认证认可条例》第二十七条")]


def _rate(count: int, fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return count / (time.perf_counter() - start)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run() -> dict[str, Any]:
    real = os.environ.get("MARKETGUARD_ES_URL", "").strip()
    server = None
    if real:
        from elasticsearch import Elasticsearch

        def client() -> Any:
            return Elasticsearch(real, request_timeout=60)

        target = "elasticsearch " + real.split("@")[-1]
    else:
        from osmem_server import OsmemServer

        # The in-memory server refuses the client's compatible-with media type; the test
        # suite's plain-JSON node class is used for it (never for a real cluster).
        from tests.es_transport import PlainJsonNode

        server = OsmemServer.start(japanese=False, addr=f"127.0.0.1:{_free_port()}")
        url = server.url

        def client() -> Any:
            from elasticsearch import Elasticsearch

            return Elasticsearch(url, node_class=PlainJsonNode, request_timeout=60)

        target = f"osmem-server {server.version}"
    prefix = f"mgbench-{secrets.token_hex(3)}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = _measure(client, prefix, Path(tmp))
    finally:
        if real:
            cleaner = client()
            cleaner.options(ignore_status=404).indices.delete(index=f"{prefix}-*")
            for item in cleaner.indices.get_index_template(name=f"{prefix}-*")["index_templates"]:
                cleaner.indices.delete_index_template(name=item["name"])
        if server is not None:
            server.close()
    result["target"] = target
    save("es_bulk", result)
    return result


def _measure(client: Callable[[], Any], prefix: str, tmp: Path) -> dict[str, Any]:
    es = client()
    doc = _listing(0, "raw").to_dict()
    raw_index = f"{prefix}-raw"
    es.indices.create(index=raw_index)
    single_n = RAW_DOCS // 6

    def single() -> None:
        for n in range(single_n):
            es.index(index=raw_index, id=f"one-{n}", document=doc)

    def bulk() -> None:
        for lo in range(0, RAW_DOCS, 500):
            operations: list[dict[str, Any]] = []
            for n in range(lo, min(lo + 500, RAW_DOCS)):
                operations += [{"index": {"_index": raw_index, "_id": f"bulk-{n}"}}, doc]
            response = es.bulk(operations=operations)
            assert not response["errors"]

    raw_single = _rate(single_n, single)
    raw_bulk = _rate(RAW_DOCS, bulk)

    archive = ElasticsearchArchive(client(), spool_dir=tmp / "spool", prefix=prefix)
    one_n = LISTINGS // 3

    def one_by_one() -> None:
        for n in range(one_n):
            archive.save_listing(_listing(n, "one"), FLAGS)

    def batched() -> None:
        for lo in range(0, LISTINGS, 200):
            with archive.batch():
                for n in range(lo, min(lo + 200, LISTINGS)):
                    archive.save_listing(_listing(n, "batch"), FLAGS)

    es_one = _rate(one_n, one_by_one)
    es_batch = _rate(LISTINGS, batched)

    sqlite = SqliteArchive(tmp / "sqlite")

    def sqlite_one() -> None:
        for n in range(one_n):
            sqlite.save_listing(_listing(n, "sqlite"), FLAGS)

    sqlite_rate = _rate(one_n, sqlite_one)
    sqlite.close()

    # Spool: the same writes against a closed port (spooled to disk), then replayed in bulk.
    offline = ElasticsearchArchive(
        _unreachable_client(),
        spool_dir=tmp / "spool-offline",
        prefix=prefix,
        retry_interval=3600,
    )

    def spool_writes() -> None:
        for n in range(one_n):
            offline.save_listing(_listing(n, "spool"), FLAGS)

    spool_rate = _rate(one_n, spool_writes)
    replayer = ElasticsearchArchive(client(), spool_dir=tmp / "spool-offline", prefix=prefix)
    replay_rate = _rate(one_n, lambda: replayer.replay_spool())
    assert replayer.count("listings") >= LISTINGS + 2 * one_n
    for store in (archive, offline, replayer):
        store.close()
    es.close()
    return {
        "raw_documents": RAW_DOCS,
        "raw_single_docs_per_s": round(raw_single, 1),
        "raw_bulk_docs_per_s": round(raw_bulk, 1),
        "raw_bulk_vs_single": round(raw_bulk / raw_single, 2),
        "listings": LISTINGS,
        "archive_one_by_one_listings_per_s": round(es_one, 1),
        "archive_batch_listings_per_s": round(es_batch, 1),
        "archive_batch_vs_one_by_one": round(es_batch / es_one, 2),
        "sqlite_one_by_one_listings_per_s": round(sqlite_rate, 1),
        "es_one_by_one_vs_sqlite": round(es_one / sqlite_rate, 2),
        "spool_listings_per_s": round(spool_rate, 1),
        "replay_listings_per_s": round(replay_rate, 1),
    }


def _unreachable_client() -> Any:
    from elasticsearch import Elasticsearch

    # A port nobody listens on: every request fails at connect, as with a cluster that is down.
    return Elasticsearch(f"http://127.0.0.1:{_free_port()}", max_retries=0, request_timeout=2)


def report(result: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"Elasticsearch bulk indexing ({result['target']})",
            f"  raw documents: bulk {result['raw_bulk_docs_per_s']}/s vs one request per"
            f" document {result['raw_single_docs_per_s']}/s -> x{result['raw_bulk_vs_single']}",
            f"  archive save_listing: batch (bulk) {result['archive_batch_listings_per_s']}/s vs"
            f" one by one {result['archive_one_by_one_listings_per_s']}/s ->"
            f" x{result['archive_batch_vs_one_by_one']}",
            f"  one by one, Elasticsearch vs SQLite: {result['archive_one_by_one_listings_per_s']}"
            f"/s vs {result['sqlite_one_by_one_listings_per_s']}/s ->"
            f" x{result['es_one_by_one_vs_sqlite']}",
            f"  cluster down: spooled {result['spool_listings_per_s']}/s, replayed"
            f" {result['replay_listings_per_s']}/s",
        ]
    )
