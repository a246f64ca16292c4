"""Workers across machines share an Elasticsearch store: two real worker processes writing a
pass into osmem-server (or the real cluster of MARKETGUARD_ES_URL, see DEVELOPERS.md) give the
queue the single-process pass gives in SQLite, with one capture per flagged listing."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.generator import generate
from demo.server import DemoServer
from evidence.archive.elasticsearch import ElasticsearchArchive
from evidence.archive.sqlite import SqliteArchive
from marketguard.cli import watchlist_search_terms
from marketguard.distributed.app import make_app
from marketguard.distributed.config import WorkerConfig
from marketguard.distributed.submit import run_summary, submit_crawl, wait_idle
from marketguard.settings import Settings
from tests.conftest import REAL_ES_URL, REPO_ROOT, osmem_client
from tests.test_pass_on_es import queue
from tests.workers import Worker, crawl_in_process, flushed_redis, wait_for_workers

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

DB = 10
# A prefix of its own: on a real cluster (MARKETGUARD_ES_URL) nothing else is touched.
PREFIX = f"mgworkers-{secrets.token_hex(4)}"


@pytest.fixture
def broker() -> Iterator[str]:
    with flushed_redis(DB) as url:
        yield url


@pytest.fixture
def es_url(request: pytest.FixtureRequest) -> str:
    if REAL_ES_URL:
        return REAL_ES_URL
    return str(request.getfixturevalue("osmem_clone").url)


def _es_archive(url: str, spool: Path) -> ElasticsearchArchive:
    if REAL_ES_URL:
        from elasticsearch import Elasticsearch

        client = Elasticsearch(url, request_timeout=30)
    else:
        client = osmem_client(url, request_timeout=30)
    return ElasticsearchArchive(client, spool_dir=spool, prefix=PREFIX, owns_client=True)


def test_two_workers_on_one_elasticsearch_store_equal_the_single_process_pass(
    tmp_path: Path, broker: str, es_url: str
) -> None:
    market = generate(seed=5, listings=30, js_share=0.0)
    env: dict[str, str] = {
        "MARKETGUARD_BROKER_URL": broker,
        "MARKETGUARD_ES_URL": es_url,
        "MARKETGUARD_ES_PREFIX": PREFIX,
    }
    if not REAL_ES_URL:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT / "tests" / "osmem_site"), str(REPO_ROOT)]
        )
        env["MARKETGUARD_TEST_PLAIN_JSON_ES"] = "1"
    # Two machines: homes of their own, no shared folder; the store is Elasticsearch.
    workers = [
        Worker(
            {**env, "MARKETGUARD_HOME": str(tmp_path / f"machine-{n}")},
            tmp_path / f"worker-{n}.log",
            "--name",
            f"es{n}@test",
        )
        for n in (1, 2)
    ]
    app = make_app(WorkerConfig(broker_url=broker))
    try:
        with DemoServer(market) as shop:
            crawl_in_process(shop.url, tmp_path / "single")
            wait_for_workers(app, 2, timeout=90)
            keywords = ",".join(watchlist_search_terms(Settings()))
            task = submit_crawl(app, "demo_shop", {"base_url": shop.url, "keywords": keywords})
            wait_idle(app, timeout=300)
    finally:
        for worker in workers:
            worker.stop()
    es = _es_archive(es_url, tmp_path / "check-spool")
    with SqliteArchive(tmp_path / "single") as sqlite:
        try:
            summary = run_summary(es, f"crawl-{task}")
            assert summary["flagged"] > 3
            assert summary["evidence"] == summary["flagged"]
            assert queue(es) == queue(sqlite)
            captures = es.capture_ids()
            assert len(captures) == len(set(captures)) == summary["flagged"]
        finally:
            es.close()
