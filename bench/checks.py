"""On-demand check latency: from ``POST /api/checks`` to the listing stored and captured.

    python -m bench checks          (MG_BENCH_CHECKS=10 checks of different listings)

Set-up: the demo shop in its own process, ``marketguard serve`` (a subprocess, with the broker
configured) and one ``marketguard worker --pool threads`` on all queues, Redis DB 8 (flushed
before and after; MG_BENCH_CHECKS_REDIS overrides it). One check is sent first and left out of
the figures (the worker's first capture launches Chromium); then the checks go one at a time,
so the figures are latency, not queueing.

Measured per check:

- ``queued``: the POST's round trip. The workspace answers after the broker has accepted the
  crawl message (the send is synchronous), so this is "request to message in the broker".
- ``done``: request to the check's row reading ``done`` (polled every 50 ms), which the workers
  write after the store step: the listing is stored, captured and in the queue by then.

Baseline in the same run: ``marketguard crawl --url URL --json --full`` in-process (one fresh
process per page, as an officer without workers would run it) for the same pages.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import REPO_ROOT, demo_shop, run_json, save

CHECKS = int(os.environ.get("MG_BENCH_CHECKS", "10"))
REDIS_URL = os.environ.get("MG_BENCH_CHECKS_REDIS", "redis://127.0.0.1:6379/8")
LISTINGS = 60
SEED = 7
POLL = 0.05
TIMEOUT = 180.0


def _pages(count: int) -> list[str]:
    """Item paths of plain-layout listings without injected faults, planted ones first."""
    from demo.generator import generate

    market = generate(seed=SEED, listings=LISTINGS, faults=False)
    plain = [x for x in market.listings if x.layout == "plain"]
    plain.sort(key=lambda x: not x.rules)
    return [f"/item/{x.listing_id}" for x in plain[: count + 1]]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _token(home: Path) -> str:
    from api.accounts.tokens import create_token
    from api.accounts.users import create_user
    from api.workspace_db import open_workspace

    db = open_workspace(home)
    try:
        user = create_user(db, "bench", "reviewer", "bench password 123")
        return create_token(db, user, "bench")[1]
    finally:
        db.close()


def _flush() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer")
        time.sleep(0.2)


def _wait_worker(timeout: float = 90) -> None:
    from marketguard.distributed.app import make_app
    from marketguard.distributed.config import WorkerConfig
    from marketguard.distributed.status import workers

    app = make_app(WorkerConfig(broker_url=REDIS_URL))
    deadline = time.monotonic() + timeout
    while not workers(app, timeout=1.0):
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not come up")


def _one_check(client: httpx.Client, url: str, origin: str) -> dict[str, float]:
    started = time.perf_counter()
    response = client.post("/api/checks", json={"url": url, "origin": origin})
    queued = time.perf_counter() - started
    response.raise_for_status()
    check_id = response.json()["id"]
    while True:
        check = client.get(f"/api/checks/{check_id}").json()
        if check["state"] in ("done", "failed"):
            break
        if time.perf_counter() - started > TIMEOUT:
            raise RuntimeError(f"check {check_id} still {check['state']} after {TIMEOUT:g} s")
        time.sleep(POLL)
    if check["state"] != "done" or not check["capture_id"]:
        raise RuntimeError(f"check {check_id} ended {check}")
    return {"queued": queued, "done": time.perf_counter() - started}


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def run() -> dict[str, Any]:
    paths = _pages(CHECKS)
    with (
        tempfile.TemporaryDirectory(prefix="mg-bench-checks-") as tmp,
        demo_shop(LISTINGS, seed=SEED) as shop,
    ):
        home = Path(tmp) / "home"
        home.mkdir()
        token = _token(home)
        _flush()
        env = {**os.environ, "MARKETGUARD_HOME": str(home), "MARKETGUARD_BROKER_URL": REDIS_URL}
        port = _free_port()
        logs = Path(tmp)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for name, args in (
                ("serve", ["serve", "--port", str(port)]),
                ("worker", ["worker", "--pool", "threads", "--loglevel", "WARNING"]),
            ):
                with (logs / f"{name}.log").open("wb") as out:
                    procs.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "marketguard.cli", *args],
                            cwd=REPO_ROOT,
                            env=env,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        )
                    )
            base = f"http://127.0.0.1:{port}"
            _wait_http(f"{base}/healthz")
            _wait_worker()
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                cold = _one_check(client, shop + paths[0], "bench warm-up")
                runs = [
                    _one_check(client, shop + path, f"12365投诉 No.{n}")
                    for n, path in enumerate(paths[1:], 1)
                ]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    os.killpg(proc.pid, 15)
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, 9)
            _flush()

        baseline_home = Path(tmp) / "baseline"
        baseline_env = {"MARKETGUARD_HOME": str(baseline_home), "MARKETGUARD_BROKER_URL": ""}
        baseline = []
        for path in paths[1:]:
            started = time.perf_counter()
            cmd = [sys.executable, "-m", "marketguard.cli", "crawl", "--url", shop + path]
            summary = run_json([*cmd, "--json", "--full"], env=baseline_env)
            baseline.append(time.perf_counter() - started)
            if summary["listings"] != 1:
                raise RuntimeError(f"baseline crawl of {path} found {summary}")

    queued = [r["queued"] for r in runs]
    done = [r["done"] for r in runs]
    result = {
        "checks": len(runs),
        "queued_median_s": statistics.median(queued),
        "queued_p95_s": _p95(queued),
        "done_median_s": statistics.median(done),
        "done_p95_s": _p95(done),
        "first_check_done_s": cold["done"],
        "baseline_crawl_url_median_s": statistics.median(baseline),
        "baseline_crawl_url_p95_s": _p95(baseline),
        "runs": runs,
        "baseline_runs": baseline,
    }
    result["path"] = str(save("checks", result))
    return result


def report(result: dict[str, Any]) -> str:
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:8.0f} ms"

    lines = [
        f"== on-demand checks: {result['checks']} checks, one worker process (threads) ==",
        f"{'':34}{'median':>11} {'p95':>11}",
        f"{'POST -> crawl message in broker':34}"
        f"{ms(result['queued_median_s'])} {ms(result['queued_p95_s'])}",
        f"{'POST -> done (stored, captured)':34}"
        f"{ms(result['done_median_s'])} {ms(result['done_p95_s'])}",
        f"{'baseline: crawl --url in-process':34}"
        f"{ms(result['baseline_crawl_url_median_s'])} {ms(result['baseline_crawl_url_p95_s'])}",
        f"first check (worker's Chromium cold): {ms(result['first_check_done_s']).strip()}",
        f"written to {result['path']}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()), flush=True)
