"""Evidence captures per second: one Chromium reused for every capture, against a fresh browser
launched for each capture, in the same run over the same demo listing pages.

Each capture is the full evidence set (full-page screenshot, HTML as served, DOM, images,
metadata, all hashed and written to a real archive).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import demo_shop, save
from demo.generator import generate
from evidence.archive import open_archive
from evidence.capture import Capturer
from marketguard.settings import Settings


async def _reused(urls: list[str], settings: Settings, put_blob: Any) -> float:
    started = time.perf_counter()
    async with Capturer(settings, put_blob) as capturer:
        await asyncio.gather(
            *(
                capturer.capture(url=u, platform="demo", listing_id=str(i))
                for i, u in enumerate(urls)
            )
        )
    return time.perf_counter() - started


async def _fresh_each(urls: list[str], settings: Settings, put_blob: Any) -> float:
    started = time.perf_counter()
    for i, url in enumerate(urls):
        async with Capturer(settings, put_blob, concurrency=1) as capturer:
            await capturer.capture(url=url, platform="demo", listing_id=str(i))
    return time.perf_counter() - started


def run(captures: int = 60, listings: int = 300) -> dict[str, Any]:
    settings = Settings.from_env()
    market = generate(seed=7, listings=listings, faults=False)
    with demo_shop(listings) as base, tempfile.TemporaryDirectory() as tmp:
        ids = [x.listing_id for x in market.listings][:captures]
        urls = [f"{base}/item/{i}" for i in ids]
        archive = open_archive(Path(tmp))
        asyncio.run(_reused(urls[:3], settings, archive.put_blob))  # warm caches, fonts, shop
        reused = asyncio.run(_reused(urls, settings, archive.put_blob))
        fresh_n = max(5, captures // 4)
        fresh = asyncio.run(_fresh_each(urls[:fresh_n], settings, archive.put_blob))
        archive.close()
    result = {
        "captures": captures,
        "concurrency": settings.capture_concurrency,
        "reused_browser": {"seconds": round(reused, 2), "per_s": round(captures / reused, 2)},
        "browser_per_capture": {
            "captures": fresh_n,
            "seconds": round(fresh, 2),
            "per_s": round(fresh_n / fresh, 2),
        },
    }
    result["ratio"] = round(
        result["reused_browser"]["per_s"] / result["browser_per_capture"]["per_s"], 2
    )
    save("screenshots", result)
    return result


def report(result: dict[str, Any]) -> str:
    r, f = result["reused_browser"], result["browser_per_capture"]
    return (
        "evidence captures (full-page screenshot + HTML + DOM + images + metadata),"
        f" concurrency {result['concurrency']}:\n"
        f"  one browser reused:  {r['per_s']} captures/s"
        f" ({result['captures']} in {r['seconds']} s)\n"
        f"  browser per capture: {f['per_s']} captures/s ({f['captures']} in {f['seconds']} s)\n"
        f"  ratio {result['ratio']}x"
    )


if __name__ == "__main__":
    print(report(run(int(sys.argv[1]) if len(sys.argv) > 1 else 60)))
