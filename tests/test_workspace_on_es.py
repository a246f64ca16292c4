"""The review workspace served from the Elasticsearch archive (osmem-server): the same pages and
JSON API the officers use on SQLite, reading listings, evidence and blobs from the cluster."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.workspace_db import WorkspaceDb
from evidence.archive.elasticsearch import ElasticsearchArchive
from marketguard.models import Artifact, Evidence
from tests.conftest import osmem_client
from tests.test_archive_contract import T0, flag, make_listing
from tests.workspace_accounts import sign_in

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def es_store(osmem_clone: Any, tmp_path: Path) -> Iterator[ElasticsearchArchive]:
    archive = ElasticsearchArchive(
        osmem_client(osmem_clone.url), spool_dir=tmp_path / "spool", owns_client=True
    )
    shot = archive.put_blob(PNG)
    one = make_listing(1, title="65W 快充充电器 无3C")
    capture = Evidence(
        "cap-1",
        "shop",
        "1",
        one.url,
        started_at=T0 + timedelta(hours=1),
        artifacts=[Artifact("screenshot", "image/png", shot, len(PNG))],
    )
    archive.save_listing(one, [flag()], capture, risk_score=80)
    archive.save_listing(make_listing(2, category="power_bank"), [flag("PRICE_LOW", "medium")])
    with archive.batch():
        for n in range(100, 160):
            archive.save_listing(make_listing(n), [flag("PRICE_LOW", "low")], risk_score=5)
    yield archive
    archive.close()


@pytest.fixture
def client(es_store: ElasticsearchArchive, tmp_path: Path) -> Iterator[TestClient]:
    workspace = WorkspaceDb(tmp_path / "workspace.db")
    app = create_app(es_store, workspace=workspace, timezone="Asia/Shanghai")
    with TestClient(app) as test_client:
        test_client.headers["X-CSRF-Token"] = sign_in(test_client, workspace, "王五", "reviewer")
        yield test_client
    workspace.close()


def test_queue_detail_review_and_screenshot_come_from_the_cluster(
    client: TestClient, es_store: ElasticsearchArchive
) -> None:
    page = client.get("/api/flagged?limit=50").json()
    assert page["total"] == 62
    assert [item["listing_id"] for item in page["items"][:2]] == ["1", "2"]
    rest = client.get(f"/api/flagged?limit=50&after={page['next']}").json()
    seen = [i["listing_id"] for i in page["items"]] + [i["listing_id"] for i in rest["items"]]
    assert len(seen) == 62 == len(set(seen)) and rest["next"] is None

    assert client.get("/api/flagged?category=power_bank").json()["total"] == 1
    html = client.get("/listings/shop/1")
    assert html.status_code == 200 and "65W 快充充电器" in html.text

    response = client.post("/api/listings/shop/2/reviews", json={"decision": "confirmed"})
    assert response.status_code == 201
    confirmed = client.get("/api/flagged?decision=confirmed").json()
    assert [item["listing_id"] for item in confirmed["items"]] == ["2"]

    shot = es_store.get_listing("shop", "1")
    assert shot is not None
    sha = shot.evidence[0].artifacts[0].sha256
    blob = client.get(f"/blobs/{sha}")
    assert blob.status_code == 200 and hashlib.sha256(blob.content).hexdigest() == sha

    # bytes changed inside the cluster are refused, not shown
    es_store.client.update(
        index=es_store.index("blobs"),
        id=sha,
        doc={"data": base64.b64encode(PNG[:-1] + b"\x00").decode()},
        refresh=True,
    )
    assert client.get(f"/blobs/{sha}").status_code == 500
