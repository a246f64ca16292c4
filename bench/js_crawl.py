"""JavaScript pages at scale: pages per second through Chromium, and the browser's memory.

    python -m bench js [PAGES]          (default 2 000)

Two monitoring passes (crawl + match + store, evidence off), one after the other in the same run,
each against its own demo shop of PAGES listings served from another process:

- baseline: every listing page is plain HTML (js_share 0), fetched by Scrapy's HTTP client;
- JavaScript: every listing page fills its price in with a script (js_share 1), so each one is
  fetched, found empty and rendered again in the crawl's one Chromium (scrapy-playwright, one
  context, PLAYWRIGHT_MAX_PAGES_PER_CONTEXT tabs).

While each pass runs, the benchmark samples every 0.5 s the memory of the Chromium processes
under the crawl process (RSS summed, and PSS, which counts shared pages once) and of the crawl
process itself, and the listings stored so far. "Bounded" means the browser's memory at the end
of the pass is near its memory early in the pass (after warm-up), not growing with the pages.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, demo_shop, save
from bench.process_tree import tree_memory

SAMPLE_EVERY = 0.5  # seconds


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM listings").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:  # the schema is being created
        return 0


def crawl_with_samples(base_url: str, store: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One pass in a child process; its summary and the memory samples taken while it ran."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.pipeline_crawl", base_url, str(store)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    samples: list[dict[str, Any]] = []
    started = time.monotonic()
    db = store / "marketguard.db"

    def sample() -> None:
        while proc.poll() is None:
            memory = tree_memory(proc.pid)
            samples.append(
                {
                    "t": round(time.monotonic() - started, 2),
                    "stored": _stored(db),
                    "browser_processes": memory.browser_processes,
                    "browser_rss_mb": memory.browser_rss_mb,
                    "browser_pss_mb": memory.browser_pss_mb,
                    "python_rss_mb": memory.root_rss_mb,
                    "driver_rss_mb": memory.driver_rss_mb,
                }
            )
            time.sleep(SAMPLE_EVERY)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    sampler.join(timeout=5)
    if proc.returncode != 0:
        raise RuntimeError(f"crawl failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1]), samples


def memory_profile(samples: list[dict[str, Any]], total: int, key: str) -> dict[str, Any]:
    """Start (first sample past 10 % of the pages: browser launched and warmed up), end (last
    sample while pages were still being crawled, before the browser shuts down), peak, and the
    growth from start to end."""
    running = [s for s in samples if s["browser_processes"] > 0]
    if not running:
        return {}
    warm = [s for s in running if s["stored"] >= total * 0.10] or running
    crawling = [s for s in running if s["stored"] < total] or running
    start, end = warm[0], crawling[-1]
    peak = max(running, key=lambda s: s[key])

    def mean_between(low: float, high: float) -> float | None:
        window = [s[key] for s in crawling if total * low <= s["stored"] < total * high]
        return round(sum(window) / len(window), 1) if window else None

    return {
        # Chromium's memory swings by a few hundred MB with its own collections: the means of
        # the second and the last quarter of the pages say more about growth than two samples.
        "mean_25_50pct_mb": mean_between(0.25, 0.50),
        "mean_75_100pct_mb": mean_between(0.75, 1.01),
        "start_mb": start[key],
        "start_at_pages": start["stored"],
        "end_mb": end[key],
        "end_at_pages": end["stored"],
        "peak_mb": peak[key],
        "peak_at_pages": peak["stored"],
        "growth_mb": round(end[key] - start[key], 1),
    }


def run(pages: int = 2_000) -> dict[str, Any]:
    result: dict[str, Any] = {"pages": pages}
    with tempfile.TemporaryDirectory() as tmp:
        with demo_shop(pages, js_share=0.0) as url:
            plain, plain_samples = crawl_with_samples(url, Path(tmp) / "plain")
        with demo_shop(pages, js_share=1.0) as url:
            js, js_samples = crawl_with_samples(url, Path(tmp) / "js")
    plain_rate = plain["listings"] / plain["elapsed_seconds"]
    js_rate = js["listings"] / js["elapsed_seconds"]
    result.update(
        {
            "http_baseline": {
                "listings": plain["listings"],
                "seconds": plain["elapsed_seconds"],
                "listings_per_s": round(plain_rate, 1),
                "python_rss_mb": memory_profile(
                    [{**s, "browser_processes": 1} for s in plain_samples],
                    plain["listings"],
                    "python_rss_mb",
                ),
            },
            "javascript": {
                "listings": js["listings"],
                "errors": js["errors"],
                "errors_by_kind": js.get("errors_by_kind", {}),
                "seconds": js["elapsed_seconds"],
                "listings_per_s": round(js_rate, 1),
                "browser_processes_max": max(
                    (s["browser_processes"] for s in js_samples), default=0
                ),
                "browser_rss_mb": memory_profile(js_samples, js["listings"], "browser_rss_mb"),
                "browser_pss_mb": memory_profile(js_samples, js["listings"], "browser_pss_mb"),
                "python_rss_mb": memory_profile(js_samples, js["listings"], "python_rss_mb"),
                "driver_rss_mb": memory_profile(js_samples, js["listings"], "driver_rss_mb"),
            },
            "js_to_http_ratio": round(js_rate / plain_rate, 3),
            "samples": js_samples,
        }
    )
    save("js_crawl", result)
    return result


def report(result: dict[str, Any]) -> str:
    http, js = result["http_baseline"], result["javascript"]
    rss, pss, py = js["browser_rss_mb"], js["browser_pss_mb"], js["python_rss_mb"]

    def line(name: str, m: dict[str, Any]) -> str:
        return (
            f"  {name:<22} start {m['start_mb']:>7.1f} MB (@{m['start_at_pages']})"
            f"  end {m['end_mb']:>7.1f} MB (@{m['end_at_pages']})"
            f"  peak {m['peak_mb']:>7.1f} MB (@{m['peak_at_pages']})  growth {m['growth_mb']:+.1f}"
            f"  mean 25-50% {m['mean_25_50pct_mb']} MB, 75-100% {m['mean_75_100pct_mb']} MB"
        )

    return "\n".join(
        [
            f"JavaScript pages through Chromium, {result['pages']} listings, evidence off:",
            f"  plain HTTP baseline: {http['listings_per_s']} listings/s ({http['seconds']:.1f} s)",
            f"  JavaScript pages:    {js['listings_per_s']} listings/s ({js['seconds']:.1f} s),"
            f" {js['listings']} stored, {js['errors']} errors",
            f"  ratio JS/HTTP {result['js_to_http_ratio']:.3f};"
            f" at most {js['browser_processes_max']} Chromium processes",
            line("Chromium RSS (summed)", rss),
            line("Chromium PSS", pss),
            line("crawler Python RSS", py),
            line("Playwright driver RSS", js["driver_rss_mb"]),
        ]
    )


if __name__ == "__main__":
    pages = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000
    print(report(run(pages)))
