"""Crawl + match + store (evidence off) against plain Scrapy fetching the same pages.

Both run in their own process against the same demo shop (served from a third process), one
after the other, in the same run; the figure that matters is the ratio. Goal: the pipeline
keeps at least 70% of plain Scrapy's listings per second.

The ratio is measured on a shop without JavaScript pages (js_share 0): plain Scrapy cannot render
them, so with them the two would not fetch "the same pages". The default mix, with a browser
rendering one page in ten, is measured too and reported on its own.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import demo_shop, run_json, save
from demo.generator import generate


def run(listings: int = 10_000, *, with_js_mix: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = {"listings": listings}
    with demo_shop(listings, js_share=0.0) as url, tempfile.TemporaryDirectory() as tmp:
        market = generate(seed=7, listings=listings, faults=False, js_share=0.0)
        urls = market.all_urls(url)
        urls_file = Path(tmp) / "urls.txt"
        urls_file.write_text("\n".join(urls))

        plain = run_json([sys.executable, "-m", "bench.plain_crawl", str(urls_file)])
        pipeline = run_json(
            [sys.executable, "-m", "bench.pipeline_crawl", url, str(Path(tmp) / "store")]
        )

    n = pipeline["listings"]
    plain_rate = n / plain["elapsed"]
    pipe_rate = n / pipeline["elapsed_seconds"]
    result.update(
        {
            "pages": len(urls),
            "plain_scrapy": {
                "pages": plain["pages"],
                "seconds": plain["elapsed"],
                "listings_per_s": round(plain_rate, 1),
            },
            "pipeline": {
                "listings": n,
                "flagged": pipeline["flagged"],
                "errors": pipeline["errors"],
                "seconds": pipeline["elapsed_seconds"],
                "listings_per_s": round(pipe_rate, 1),
            },
            "ratio": round(pipe_rate / plain_rate, 3),
            "goal_ratio": 0.70,
        }
    )
    if with_js_mix:
        with demo_shop(listings) as url, tempfile.TemporaryDirectory() as tmp:
            mixed = run_json(
                [sys.executable, "-m", "bench.pipeline_crawl", url, str(Path(tmp) / "store")]
            )
        result["pipeline_default_js_mix"] = {
            "listings": mixed["listings"],
            "seconds": mixed["elapsed_seconds"],
            "listings_per_s": round(mixed["listings"] / mixed["elapsed_seconds"], 1),
        }
    save("crawl_pass", result)
    return result


def report(result: dict[str, Any]) -> str:
    p, b = result["pipeline"], result["plain_scrapy"]
    lines = [
        f"crawl+match+store, {result['listings']} listings, {result['pages']} pages,"
        " evidence off, no JS pages:",
        f"  plain Scrapy (empty callback): {b['listings_per_s']} listings/s ({b['seconds']:.1f} s)",
        f"  MarketGuard pipeline:          {p['listings_per_s']} listings/s ({p['seconds']:.1f} s)",
        f"  ratio {result['ratio']:.2f} (goal >= {result['goal_ratio']:.2f})",
    ]
    if "pipeline_default_js_mix" in result:
        m = result["pipeline_default_js_mix"]
        lines.append(
            f"  default mix with JS pages via Chromium: {m['listings_per_s']} listings/s"
            f" ({m['seconds']:.1f} s)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    listings = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    print(report(run(listings)))
