"""Feed page latency: p50/p95 of ``GET /feed/v1/notices`` with many notices in the workspace
database, under concurrent requests from a load tool on loopback.

    python -m bench feed            (MG_BENCH_FEED_NOTICES=20000 by default)

The server is ``create_app`` under uvicorn in its own process (one worker, as
``marketguard serve`` runs it). The load tool is ``wrk`` (Debian package ``wrk``) when
installed, else an asyncio/httpx generator in another process. Baseline in the same run:
``GET /healthz`` under the same load (framework + store round trip, no feed query), so the
figures compare fairly on a shared machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, save

NOTICES = int(os.environ.get("MG_BENCH_FEED_NOTICES", "20000"))
OTHER_PLATFORM_SHARE = 0.2  # notices of another platform interleaved in the same table
CONNECTIONS = int(os.environ.get("MG_BENCH_FEED_CONNECTIONS", "16"))
DURATION = int(os.environ.get("MG_BENCH_FEED_SECONDS", "10"))
PAGE = 100

WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {\\"p50_us\\":%d,\\"p95_us\\":%d,\\"p99_us\\":%d,\\"requests\\":%d,"
    .. "\\"errors\\":%d,\\"non_2xx\\":%d,\\"duration_us\\":%d}\\n",
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status, summary.duration))
end
"""


def build(home: Path) -> dict[str, Any]:
    """A store and workspace with NOTICES notices; returns the platform key and cursors."""
    from api.feed import notices
    from api.feed.platforms import create_platform_account
    from api.workspace_db import open_workspace
    from evidence.archive.sqlite import SqliteArchive
    from marketguard.models import Artifact, Evidence, Flag, Listing, Review, Seller

    archive = SqliteArchive(home)
    db = open_workspace(home)
    started = time.perf_counter()
    shot = archive.put_blob(b"\x89PNG\r\n\x1a\nbench")
    keys: list[tuple[str, str]] = []
    other_every = round(1 / OTHER_PLATFORM_SHARE)
    with archive.batch():
        for n in range(NOTICES):
            platform = "shopB" if n % other_every == 0 else "shopA"
            listing = Listing(
                platform,
                str(n),
                f"https://{platform}.example/item/{n}",
                f"65W 快充充电器 {n} 号",
                price=Decimal("19.90"),
                seller=Seller(f"s{n % 997}", f"数码店{n % 997}"),
                category="charger",
            )
            evidence = Evidence(
                f"cap-{n}",
                platform,
                str(n),
                listing.url,
                http_status=200,
                artifacts=[Artifact("screenshot", "image/png", shot, 14)],
            )
            flag = Flag("CCC_MISSING", "high", "强制性认证产品未标注 3C 认证", "《认证认可条例》")
            archive.save_listing(listing, [flag], evidence)
            archive.add_review(Review(platform, str(n), "confirmed", "bench"))
            keys.append((platform, str(n)))
    stored = time.perf_counter()
    for start in range(0, len(keys), 500):
        records = [archive.get_listing(p, i) for p, i in keys[start : start + 500]]
        notices.create_notices(db, [r for r in records if r], action="下架", actor="bench")
    made = time.perf_counter()
    account = create_platform_account(db, "bench-A", "shopA")
    # A cursor 90% of the way into shopA's feed: a platform resuming deep in a long feed.
    shop_a = (
        db.conn()
        .execute("SELECT feed_seq FROM notices WHERE platform = 'shopA' ORDER BY feed_seq")
        .fetchall()
    )
    deep = notices.encode_cursor(int(shop_a[int(len(shop_a) * 0.9)][0]))
    db.close()
    archive.close()
    return {
        "api_key": account.api_key,
        "deep_cursor": deep,
        "shop_a_notices": len(shop_a),
        "store_seconds": round(stored - started, 1),
        "notice_seconds": round(made - stored, 1),
    }


def serve(home: Path, port: int) -> None:
    import uvicorn

    from api.app import create_app
    from api.workspace_db import open_workspace
    from evidence.archive.sqlite import SqliteArchive

    app = create_app(SqliteArchive(home), workspace=open_workspace(home), category_names={})
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not answer at {url}")


def wrk(
    url: str,
    headers: dict[str, str],
    script: Path,
    *,
    duration: float = DURATION,
    timeout: str | None = None,
) -> dict[str, Any]:
    cmd = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{duration}s"]
    if timeout:
        cmd += ["--timeout", timeout]
    cmd += ["-s", str(script)]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
    data = json.loads(line.split(" ", 1)[1])
    return {
        "p50_ms": data["p50_us"] / 1000,
        "p95_ms": data["p95_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "requests": data["requests"],
        "errors": data["errors"] + data["non_2xx"],
        "rps": round(data["requests"] / (data["duration_us"] / 1e6), 1),
    }


def python_load(url: str, headers: dict[str, str]) -> dict[str, Any]:
    """The fallback load tool, run in a child process (it must not share the server's GIL)."""
    cmd = [sys.executable, "-m", "bench.feed_latency", "load", url, json.dumps(headers)]
    out = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


async def _load(url: str, headers: dict[str, str]) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + DURATION
    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                response = await client.get(url)
                latencies.append(time.perf_counter() - t0)
                errors += response.status_code != 200

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2)

    return {
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / elapsed, 1),
    }


def run() -> dict[str, Any]:
    tool = "wrk" if shutil.which("wrk") else "python-httpx"
    with tempfile.TemporaryDirectory(prefix="mg-bench-feed-") as tmp:
        home = Path(tmp)
        built = build(home)
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.feed_latency", "serve", str(home), str(port)],
            cwd=REPO_ROOT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait(f"{base}/healthz")
            auth = {"Authorization": f"Bearer {built['api_key']}"}
            targets = {
                "baseline_healthz": (f"{base}/healthz", {}),
                "feed_first_page": (f"{base}/feed/v1/notices?limit={PAGE}", auth),
                "feed_deep_page": (
                    f"{base}/feed/v1/notices?limit={PAGE}&next={built['deep_cursor']}",
                    auth,
                ),
                "feed_small_page": (f"{base}/feed/v1/notices?limit=10", auth),
            }
            script = home / "report.lua"
            script.write_text(WRK_SCRIPT)
            figures = {}
            for name, (url, headers) in targets.items():
                figures[name] = (
                    wrk(url, headers, script) if tool == "wrk" else python_load(url, headers)
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
    base = figures["baseline_healthz"]
    for figure in figures.values():
        for q in ("p50", "p95"):
            ratio = figure[f"{q}_ms"] / base[f"{q}_ms"] if base[f"{q}_ms"] else None
            figure[f"{q}_vs_baseline"] = round(ratio, 2) if ratio else None
    result = {
        "tool": tool,
        "notices": NOTICES,
        "shop_a_notices": built["shop_a_notices"],
        "page_size": PAGE,
        "connections": CONNECTIONS,
        "seconds_per_target": DURATION,
        "build": {k: built[k] for k in ("store_seconds", "notice_seconds")},
        "figures": figures,
        # The machine is shared: the load average says how much else was running.
        "loadavg_after": [round(x, 1) for x in os.getloadavg()],
    }
    save("feed_latency", result)
    return result


def report(result: dict[str, Any]) -> str:
    lines = [
        f"feed latency: {result['notices']} notices ({result['shop_a_notices']} for the "
        f"measured platform), {result['connections']} connections, {result['tool']}, "
        f"{result['seconds_per_target']} s per target, load average after "
        f"{result['loadavg_after']}",
    ]
    for name, f in result["figures"].items():
        lines.append(
            f"  {name:<18} p50 {f['p50_ms']:8.2f} ms  p95 {f['p95_ms']:8.2f} ms  "
            f"p99 {f['p99_ms']:8.2f} ms  {f['rps']:8.1f} req/s  errors {f['errors']}  "
            f"vs baseline p50 ×{f['p50_vs_baseline']} p95 ×{f['p95_vs_baseline']}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(Path(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "load":
        print(json.dumps(asyncio.run(_load(sys.argv[2], json.loads(sys.argv[3])))))
