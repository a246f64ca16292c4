"""Shared test helpers. Everything here is real: processes, sockets on 127.0.0.1, files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# MARKETGUARD_ES_URL names a real cluster for the archive contract suite only (DEVELOPERS.md);
# taken out of the environment so the rest of the suite, and the commands it starts, keep the
# default SQLite store.
REAL_ES_URL = os.environ.pop("MARKETGUARD_ES_URL", "").strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(
    *args: str, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``marketguard ...`` in a child process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "marketguard.cli", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


# --- Elasticsearch for the archive contract suite (see DEVELOPERS.md) ---------------------------
@pytest.fixture(scope="session")
def osmem_server():  # type: ignore[no-untyped-def]
    """One in-memory OpenSearch-compatible server (osmem-server) for the session, on a free
    loopback port; each test works on its own copy-on-write clone (``osmem_clone``, from the
    osmem_server pytest plugin). Overrides the plugin's fixture of the same name."""
    from osmem_server import OsmemServer

    server = OsmemServer.start(japanese=False, addr=f"127.0.0.1:{free_port()}")
    yield server
    server.close()


def osmem_client(url: str, **options: object):  # type: ignore[no-untyped-def]
    """An official Elasticsearch client for osmem-server, with the TEST-ONLY node class that
    sends plain application/json (tests/es_transport.py). Never used for MARKETGUARD_ES_URL."""
    from elasticsearch import Elasticsearch

    from tests.es_transport import PlainJsonNode

    return Elasticsearch(url, node_class=PlainJsonNode, **options)  # type: ignore[arg-type]
