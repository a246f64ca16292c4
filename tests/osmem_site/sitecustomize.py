"""TEST-ONLY, for worker processes started by tests against osmem-server: with this folder on
PYTHONPATH and ``MARKETGUARD_TEST_PLAIN_JSON_ES=1``, every Elasticsearch client a process builds
(a worker, and the crawl children it starts) sends plain application/json through
tests/es_transport.PlainJsonNode, which osmem-server accepts. Never on a production path: only
tests/test_workers_on_es.py puts this folder on PYTHONPATH, and never for MARKETGUARD_ES_URL
runs against a real cluster."""

from __future__ import annotations

import os

if os.environ.get("MARKETGUARD_TEST_PLAIN_JSON_ES") == "1":
    from typing import Any

    import elasticsearch

    from tests.es_transport import PlainJsonNode

    _init = elasticsearch.Elasticsearch.__init__

    def _plain_json_init(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("node_class", PlainJsonNode)
        _init(self, *args, **kwargs)

    elasticsearch.Elasticsearch.__init__ = _plain_json_init  # type: ignore[method-assign]
