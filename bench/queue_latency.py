"""Review queue latency: p50/p95 of the queue page (HTML) and the JSON queue with 100 000
listings in the SQLite store, under concurrent requests from a load tool on loopback.

    python -m bench queue          (MG_BENCH_QUEUE_LISTINGS=100000 by default)

Goal (issue 6): queue p95 <= 100 ms. The server is ``create_app`` under uvicorn in its own
process (one worker, as ``marketguard serve`` runs it), signed in with an API token. The load
tool is ``wrk`` when installed, else the asyncio/httpx generator of ``bench.feed_latency`` in a
child process. Baseline in the same run: ``GET /healthz`` under the same load. Totals are
counted on every request (``MG_BENCH_QUEUE_COUNT_TTL=0``, the default here) unless a cache
time is given, so the figures are the queries' own.

Targets: the first page, a filtered page, a full-text search (trigram index) and a short
(two-character) search, a page 90% deep by keyset cursor, and for comparison the JSON queue 90%
deep by OFFSET.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.common import REPO_ROOT, save
from bench.feed_latency import CONNECTIONS, WRK_SCRIPT, _free_port, _wait, python_load, wrk

LISTINGS = int(os.environ.get("MG_BENCH_QUEUE_LISTINGS", "100000"))
DURATION = int(os.environ.get("MG_BENCH_QUEUE_SECONDS", "8"))
GOAL_P95_MS = 100.0
# The queue's totals are kept 15 s per filter in a running server (api/count_cache.py); the
# bench counts on every request unless told otherwise, so it measures the queries themselves.
COUNT_TTL = float(os.environ.get("MG_BENCH_QUEUE_COUNT_TTL", "0"))

CATEGORIES = [
    ("charger", "快充充电器"),
    ("power_bank", "移动电源"),
    ("plug_socket", "插座 排插"),
    ("stroller", "婴儿推车"),
    ("electric_toy", "电动玩具车"),
    ("wire_cable", "电线电缆"),
    ("compound_fertilizer", "复合肥"),
    ("baby_bottle", "奶瓶 奶嘴"),
]
RULES = [
    ("CCC_MISSING", "high"),
    ("PRICE_TOO_LOW", "medium"),
    ("COUNTERFEIT_WORDING", "low"),
    ("SELLER_RISK", "low"),
    ("BRAND_LOOKALIKE", "medium"),
]
REGIONS = ["广东 深圳", "广东 广州", "浙江 义乌", "福建 莆田", "江苏 苏州", "河北 白沟", "上海"]
PLATFORMS = ["shopA", "shopB", "shopC"]


def build(home: Path) -> dict[str, Any]:
    from api.accounts.tokens import create_token
    from api.accounts.users import create_user
    from api.workspace_db import open_workspace
    from evidence.archive.base import QueueFilter
    from evidence.archive.sqlite import SqliteArchive
    from marketguard.models import Flag, Listing, Review, Seller, utcnow

    rng = random.Random(6)
    archive = SqliteArchive(home)
    started = time.perf_counter()
    t0 = utcnow() - timedelta(days=120)
    with archive.batch():
        for n in range(LISTINGS):
            category, words = CATEGORIES[n % len(CATEGORIES)]
            platform = PLATFORMS[n % len(PLATFORMS)]
            seller = n % 5000
            listing = Listing(
                platform,
                str(n),
                f"https://{platform}.example/item/{n}",
                f"{words} 第{n}号 {rng.choice(['正品', '高仿', '原装', '特价'])}",
                price=Decimal(rng.randint(5, 500)),
                sales=rng.randint(0, 5000),
                seller=Seller(f"s{seller}", f"店铺{seller}", location=REGIONS[seller % 7]),
                category=category,
                description=f"{words} {rng.choice(['免3C', '国标', '工厂直销', '出口转内销'])}",
                crawled_at=t0 + timedelta(minutes=n),
            )
            rules = rng.sample(RULES, rng.randint(1, 3))
            flags = [Flag(rule, severity, "原因", "依据") for rule, severity in rules]  # type: ignore[arg-type]
            archive.save_listing(listing, flags, risk_score=rng.randint(5, 99))
            if n % 10 == 0:
                archive.add_review(Review(platform, str(n), "confirmed", "bench"))
    stored = time.perf_counter()
    deep = archive.flagged(QueueFilter(limit=1, offset=int(LISTINGS * 0.9)))[0].cursor
    archive.close()
    db = open_workspace(home)
    user = create_user(db, "bench", "reviewer", "bench-password-123")
    _, token = create_token(db, user, "bench")
    db.close()
    return {"token": token, "deep": deep, "store_seconds": round(stored - started, 1)}


def serve(home: Path, port: int) -> None:
    import uvicorn

    from api.app import create_app
    from api.workspace_db import open_workspace
    from evidence.archive.sqlite import SqliteArchive

    names = {category: words for category, words in CATEGORIES}
    app = create_app(SqliteArchive(home), workspace=open_workspace(home), category_names=names)
    app.state.count_cache_ttl = COUNT_TTL
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def run() -> dict[str, Any]:
    tool = "wrk" if shutil.which("wrk") else "python-httpx"
    with tempfile.TemporaryDirectory(prefix="mg-bench-queue-") as tmp:
        # MG_BENCH_QUEUE_HOME keeps the built store between runs (building takes minutes).
        home = Path(os.environ.get("MG_BENCH_QUEUE_HOME") or tmp)
        marker = home / "bench-queue.json"
        if marker.is_file():
            built = json.loads(marker.read_text())
        else:
            built = build(home)
            marker.write_text(json.dumps(built))
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.queue_latency", "serve", str(home), str(port)],
            cwd=REPO_ROOT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait(f"{base}/healthz")
            auth = {"Authorization": f"Bearer {built['token']}"}
            deep = quote(built["deep"], safe="")
            targets = {
                "baseline_healthz": f"{base}/healthz",
                "page_first": f"{base}/",
                "page_filtered": f"{base}/?category=charger&region={quote('广东')}",
                "page_search": f"{base}/?q={quote('移动电源')}",
                "page_deep_keyset": f"{base}/?after={deep}&start={int(LISTINGS * 0.9)}",
                "json_first": f"{base}/api/flagged?limit=50",
                "json_rule_decision": f"{base}/api/flagged?rule=CCC_MISSING&decision=unreviewed",
                "json_search_short": f"{base}/api/flagged?q={quote('插座')}",
                "json_deep_keyset": f"{base}/api/flagged?after={deep}",
                "json_deep_offset": f"{base}/api/flagged?offset={int(LISTINGS * 0.9)}",
            }
            script = home / "report.lua"
            script.write_text(WRK_SCRIPT)
            # warm the page cache and the facet cache once, as a running server would be
            for url in targets.values():
                _wait_auth(url, auth)
            # the fallback load generator is a child process reading its duration from here
            os.environ.setdefault("MG_BENCH_FEED_SECONDS", str(DURATION))
            figures = {}
            for name, url in targets.items():
                # requests of the previous target still queued in the server would be
                # counted against this one: wait until the server answers again
                _wait(f"{base}/healthz", timeout=120)
                headers = {} if name == "baseline_healthz" else auth
                figures[name] = (
                    _wrk(url, headers, script) if tool == "wrk" else python_load(url, headers)
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
    baseline = figures["baseline_healthz"]
    for figure in figures.values():
        for q in ("p50", "p95"):
            ratio = figure[f"{q}_ms"] / baseline[f"{q}_ms"] if baseline[f"{q}_ms"] else None
            figure[f"{q}_vs_baseline"] = round(ratio, 2) if ratio else None
    queue = {k: v for k, v in figures.items() if k != "baseline_healthz"}
    result = {
        "tool": tool,
        "listings": LISTINGS,
        "seconds_per_target": DURATION,
        "count_cache_seconds": COUNT_TTL,
        "connections": CONNECTIONS,
        "store_build_seconds": built["store_seconds"],
        "goal_p95_ms": GOAL_P95_MS,
        "goal_met": {k: v["p95_ms"] <= GOAL_P95_MS for k, v in queue.items()},
        "figures": figures,
        "loadavg_after": [round(x, 1) for x in os.getloadavg()],
    }
    save("queue_latency", result)
    return result


def _wrk(url: str, headers: dict[str, str], script: Path) -> dict[str, Any]:
    # a slow answer is a latency to report, not a socket error: wrk's 2 s default timeout
    # would drop exactly the requests the percentiles are about
    return wrk(url, headers, script, duration=DURATION, timeout="30s")


def _wait_auth(url: str, headers: dict[str, str]) -> None:
    import httpx

    response = httpx.get(url, headers=headers, timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:200]}")


def report(result: dict[str, Any]) -> str:
    lines = [
        f"queue latency: {result['listings']} listings, {result['connections']} connections, "
        f"{result['tool']}, {result['seconds_per_target']} s per target, count cache "
        f"{result.get('count_cache_seconds', 15.0)} s, goal p95 <= "
        f"{result['goal_p95_ms']:.0f} ms, load average after {result['loadavg_after']}",
    ]
    for name, f in result["figures"].items():
        lines.append(
            f"  {name:<19} p50 {f['p50_ms']:8.2f} ms  p95 {f['p95_ms']:8.2f} ms  "
            f"{f['rps']:7.1f} req/s  errors {f['errors']}  "
            f"vs baseline p50 ×{f['p50_vs_baseline']} p95 ×{f['p95_vs_baseline']}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(Path(sys.argv[2]), int(sys.argv[3]))
