"""A whole monitoring pass (demo shop -> spider -> matching -> store pipeline) written once into
SQLite and once into Elasticsearch (osmem-server): the review queue, the facets, the errors and
the pass record must agree. Each pass runs in a child process (Twisted's reactor cannot
restart inside pytest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from demo.generator import generate
from demo.server import DemoServer
from evidence.archive.base import QueueFilter
from evidence.archive.elasticsearch import ElasticsearchArchive
from evidence.archive.sqlite import SqliteArchive
from tests.conftest import REPO_ROOT, osmem_client

pytestmark = pytest.mark.e2e
KEYWORDS = "充电器,移动电源,复合肥"

# The child runs the pass as `marketguard crawl` does (crawlers.run.run_pass). For the osmem
# backend it hands the pipelines an archive whose client carries the test-only node class
# (tests/es_transport.py): the pipelines' own open_archive would build the production client.
CHILD = """
import json, sys
from pathlib import Path
import crawlers.pipelines
from crawlers.run import run_pass
from marketguard.settings import Settings

home, base_url, es_url, keywords = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
if es_url:
    from evidence.archive.elasticsearch import ElasticsearchArchive
    from tests.conftest import osmem_client
    archive = ElasticsearchArchive(osmem_client(es_url), spool_dir=home / "spool",
                                   owns_client=True)
    crawlers.pipelines.open_archive = lambda _home: archive
summary = run_pass("demo_shop", {"base_url": base_url, "keywords": keywords},
                   Settings(home=home), capture=False, progress_interval=0,
                   log_level="ERROR", incremental=False)
print(json.dumps(summary, ensure_ascii=False, default=str))
"""


def run_child(home: Path, base_url: str, es_url: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(home), base_url, es_url, KEYWORDS],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def queue(archive: SqliteArchive | ElasticsearchArchive) -> list[tuple[Any, ...]]:
    rows = archive.flagged(QueueFilter(limit=500))
    # Times differ between the two passes (each crawls at its own moment): compare the rest,
    # in a time-free order.
    return sorted(
        (r.listing_id, r.title, r.category, tuple(r.rule_ids), r.max_severity, r.risk_score)
        for r in rows
    )


def test_the_same_pass_gives_the_same_queue_on_both_backends(
    osmem_clone: Any, tmp_path: Path
) -> None:
    # No JavaScript-only pages: this pass runs without a browser.
    market = generate(seed=11, listings=40, js_share=0.0)
    with DemoServer(market) as shop:
        sqlite_summary = run_child(tmp_path / "sqlite", shop.url, "")
        es_summary = run_child(tmp_path / "es", shop.url, osmem_clone.url)
    for key in ("listings", "flagged", "errors", "by_rule"):
        assert es_summary[key] == sqlite_summary[key], key
    assert sqlite_summary["flagged"] > 0 and sqlite_summary["errors"] > 0  # faults recorded

    es = ElasticsearchArchive(
        osmem_client(osmem_clone.url), spool_dir=tmp_path / "check", owns_client=True
    )
    with SqliteArchive(tmp_path / "sqlite") as sqlite:
        try:
            assert es.spooled() == 0 and not (tmp_path / "es" / "spool" / "spool.jsonl").exists()
            assert queue(es) == queue(sqlite)
            assert len(queue(es)) == sqlite_summary["flagged"]
            assert es.facets() == sqlite.facets()
            assert sorted((e.kind, e.url) for e in es.errors()) == sorted(
                (e.kind, e.url) for e in sqlite.errors()
            )
            es_pass, sqlite_pass = es.latest_pass(), sqlite.latest_pass()
            assert es_pass is not None and sqlite_pass is not None
            assert es_pass.finished_at is not None
            assert es_pass.summary["listings"] == sqlite_pass.summary["listings"]
        finally:
            es.close()


@pytest.fixture(autouse=True)
def _no_cluster_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SQLite pass must stay on SQLite whatever the developer's environment says.
    monkeypatch.delenv("MARKETGUARD_ES_URL", raising=False)
