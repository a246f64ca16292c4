"""TEST-ONLY transport adjustment for osmem-server. Never imported by production code.

The official ``elasticsearch`` 9.x client sends ``Content-Type`` and ``Accept`` as
``application/vnd.elasticsearch+json; compatible-with=9`` (and ``+x-ndjson`` for bulk).
osmem-server, an in-memory OpenSearch-compatible server, answers those with 406. This node class
rewrites the two headers back to the plain media types just before the bytes go on the wire;
the body, the API calls and everything else stay as the real client makes them. It is used only
for the osmem-server backend of the test suite, never when ``MARKETGUARD_ES_URL`` points at a
real cluster (see DEVELOPERS.md).
"""

from __future__ import annotations

import re
from typing import Any

from elastic_transport import HttpHeaders, Urllib3HttpNode
from elastic_transport._node import NodeApiResponse

_COMPAT = re.compile(r"application/vnd\.elasticsearch\+([a-z-]+); compatible-with=\d+")


class PlainJsonNode(Urllib3HttpNode):
    """Urllib3HttpNode that sends ``application/json`` / ``application/x-ndjson``."""

    def perform_request(  # type: ignore[override]
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        **kwargs: Any,
    ) -> NodeApiResponse:
        if headers is not None:
            headers = headers.copy()
            for name in ("content-type", "accept"):
                if name in headers:
                    headers[name] = _COMPAT.sub(r"application/\1", headers[name])
        return super().perform_request(method, target, body=body, headers=headers, **kwargs)
