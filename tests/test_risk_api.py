"""The workspace shows the risk score: a column of the queue, a line on the detail page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.test_api import client, store, workspace  # noqa: F401  (fixtures)


def test_queue_shows_scores_highest_first(client: TestClient) -> None:  # noqa: F811
    body = client.get("/").text
    assert "<th>风险分</th>" in body
    scores = re.findall(r'<td class="num risk"[^>]*>(\d+)</td>', body)
    assert scores == ["45", "25", "10"]  # severities high, medium, low with no caller score


def test_detail_page_explains_the_score(client: TestClient) -> None:  # noqa: F811
    body = client.get("/listings/shop/1").text
    assert "风险分：45/100" in body
    assert re.search(r'风险分构成：<code class="rule">CCC_MISSING</code> \+45', body)
    unflagged = client.get("/listings/shop/4").text
    assert "风险分构成" not in unflagged
