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


# --- Redis, the Celery broker of the worker tests ---------------------------------------------
_redis_base: str | None = None


def redis_base() -> str:
    """The running Redis on 127.0.0.1:6379 when it answers, else a ``redis-server`` (Debian's)
    started for this test session on a free port, keeping nothing on disk."""
    global _redis_base
    if _redis_base is not None:
        return _redis_base
    import atexit
    import time

    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
        _redis_base = "redis://127.0.0.1:6379"
        return _redis_base
    except redis.RedisError:
        pass
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(server.terminate)
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.RedisError:
            time.sleep(0.1)
    else:
        raise RuntimeError("redis-server did not start")
    _redis_base = f"redis://127.0.0.1:{port}"
    return _redis_base


def redis_url(db: int) -> str:
    """A Redis database of its own for one test file (they run in parallel in development)."""
    return f"{redis_base()}/{db}"
