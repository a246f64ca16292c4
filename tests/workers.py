"""Real Celery workers for the tests: ``marketguard worker`` processes and a Redis database of a
test file's own (see DEVELOPERS.md, "Worker tests")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from marketguard.distributed.submit import answering_workers
from tests.conftest import REPO_ROOT, redis_url, run_cli


@contextmanager
def flushed_redis(db: int) -> Iterator[str]:
    """The URL of Redis database ``db``, empty before and after."""
    client = redis.Redis.from_url(redis_url(db))
    client.flushdb()
    try:
        yield redis_url(db)
    finally:
        client.flushdb()
        client.close()


class Worker:
    """``marketguard worker ARGS`` in its own process group, so that killing it kills the
    Chromium and crawl children it started too."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "marketguard.cli", "worker", "--loglevel", "INFO", *args],
                cwd=REPO_ROOT,
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL: no chance to finish, clean up or acknowledge anything."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for_workers(app: Any, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(answering_workers(app, timeout=1.0)) < count:
        assert time.monotonic() < deadline, f"{count} workers did not come up"


def crawl_summary(base_url: str, env: dict[str, str], *options: str) -> dict[str, Any]:
    """``marketguard crawl --base-url URL --json OPTIONS`` with ``env``: its summary."""
    done = run_cli("crawl", "--base-url", base_url, "--json", *options, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def crawl_in_process(base_url: str, home: Path, *options: str) -> dict[str, Any]:
    """The single-process pass's summary, whatever broker or cluster the environment names."""
    env = {"MARKETGUARD_HOME": str(home), "MARKETGUARD_BROKER_URL": "", "MARKETGUARD_ES_URL": ""}
    return crawl_summary(base_url, env, "--in-process", *options)
