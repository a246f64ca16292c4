"""A whole monitoring pass (crawl, match, capture, store) on Celery workers against the
single-process pass, in the same run, on the same demo shop.

Modes, each on a fresh store:

- ``single``: ``marketguard crawl --in-process`` (one process, one Chromium), timed as a user
  would (command start to end, start-up included);
- ``workers_1`` / ``workers_2``: one or two ``marketguard worker`` processes, started and
  answering before the clock starts; timed from submitting the crawl to the last store (every
  queue empty, nothing unacknowledged).

Listings per second and the ratios to ``single`` are the figures. Redis: the running one
(or ``MARKETGUARD_BENCH_REDIS``), database 9, flushed before each mode.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, demo_shop, run_json, save

REDIS = os.environ.get("MARKETGUARD_BENCH_REDIS", "redis://127.0.0.1:6379/9")


def _flush() -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    client.flushdb()
    client.close()


def _single(url: str, home: Path, capture: bool) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "marketguard.cli",
        "crawl",
        "--base-url",
        url,
        "--json",
        "--in-process",
    ]
    if not capture:
        cmd.append("--no-capture")
    start = time.perf_counter()
    summary = run_json(cmd, env={"MARKETGUARD_HOME": str(home), "MARKETGUARD_BROKER_URL": ""})
    summary["seconds"] = time.perf_counter() - start
    return summary


def _on_workers(url: str, home: Path, workers: int, capture: bool) -> dict[str, Any]:
    from evidence.archive import open_archive
    from marketguard.cli import watchlist_search_terms
    from marketguard.distributed.app import make_app
    from marketguard.distributed.config import WorkerConfig
    from marketguard.distributed.submit import (
        answering_workers,
        run_summary,
        submit_crawl,
        wait_idle,
    )
    from marketguard.settings import Settings

    _flush()
    env = {**os.environ, "MARKETGUARD_HOME": str(home), "MARKETGUARD_BROKER_URL": REDIS}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "marketguard.cli",
                "worker",
                "--loglevel",
                "WARNING",
                "--name",
                f"bench{n}@%h",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for n in range(workers)
    ]
    app = make_app(WorkerConfig(broker_url=REDIS))
    try:
        deadline = time.monotonic() + 120
        while len(answering_workers(app, 1.0)) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not answer")
        keywords = ",".join(watchlist_search_terms(Settings()))
        start = time.perf_counter()
        task = submit_crawl(
            app,
            "demo_shop",
            {"base_url": url, "keywords": keywords},
            capture=capture,
            origin="bench",
        )
        wait_idle(app, timeout=3600, settle=0.5)
        seconds = time.perf_counter() - start - 0.5  # the settle wait is not work
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
    archive = open_archive(home)
    try:
        summary = run_summary(archive, f"crawl-{task}")
    finally:
        archive.close()
    summary["seconds"] = seconds
    return summary


def run(listings: int = 400, *, capture: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = {"listings": listings, "capture": capture, "modes": {}}
    with (
        demo_shop(listings, faults=False, js_share=0.0) as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        runs = {
            "single": lambda: _single(url, Path(tmp) / "single", capture),
            "workers_1": lambda: _on_workers(url, Path(tmp) / "w1", 1, capture),
            "workers_2": lambda: _on_workers(url, Path(tmp) / "w2", 2, capture),
        }
        for name, go in runs.items():
            summary = go()
            result["modes"][name] = {
                "listings": summary["listings"],
                "flagged": summary["flagged"],
                "evidence": summary["evidence"],
                "seconds": round(summary["seconds"], 2),
                "listings_per_s": round(summary["listings"] / summary["seconds"], 2),
            }
    base = result["modes"]["single"]["listings_per_s"]
    for mode in result["modes"].values():
        mode["ratio_to_single"] = round(mode["listings_per_s"] / base, 2)
    save("workers" if capture else "workers_no_capture", result)
    return result


def report(result: dict[str, Any]) -> str:
    captures = "on" if result["capture"] else "off"
    lines = [f"whole pass, {result['listings']} listings, captures {captures}:"]
    for name, mode in result["modes"].items():
        lines.append(
            f"  {name:<10} {mode['listings_per_s']:>7} listings/s ({mode['seconds']:.1f} s,"
            f" {mode['flagged']} flagged, {mode['evidence']} captured) x{mode['ratio_to_single']}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    no_capture = "--no-capture" in sys.argv
    print(report(run(n, capture=not no_capture)))
