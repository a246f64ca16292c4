"""Evidence captures per second: one Chromium reused for every capture, against a fresh browser
launched for each capture (the baseline), in the same run over the same demo listing pages.

Each capture is the full evidence set of a typical listing page: full-page and first-screen
screenshots, HTML as served, DOM, the listing's images at full resolution, every response as
WARC in a WACZ, the metadata manifest, all hashed, written to a real SQLite archive and sealed
in its ledger. The reused browser is measured twice: with reusable wiped tabs (the default)
and with a fresh browser context per capture (``isolation="context"``, the previous default).

    python -m bench screenshots [captures]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import demo_shop, save
from demo.generator import generate
from evidence.archive.sqlite import SqliteArchive
from evidence.capture import Capturer
from evidence.ledger import Ledger
from marketguard.settings import Settings


def _cpu_seconds() -> float:
    """CPU time of this process and every descendant (Chromium, the demo shop), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        parents[int(name)] = int(fields[1])
        # utime + stime + cutime + cstime: a reaped child's time moves to its parent
        cpu[int(name)] = sum(int(v) for v in fields[11:15]) / tick
    ours = {os.getpid()}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in ours and pid not in ours:
                ours.add(pid)
                grew = True
    own = os.times()
    return (
        sum(cpu[p] for p in ours if p != os.getpid())
        + own.user
        + own.system
        + own.children_user
        + own.children_system
    )


Job = tuple[str, str, list[str]]  # url, listing id, image urls


async def _reused(
    jobs: list[Job], settings: Settings, archive: SqliteArchive, isolation: str
) -> float:
    started = time.perf_counter()
    async with Capturer(
        settings, archive.put_blob, ledger=Ledger(archive), isolation=isolation
    ) as capturer:
        await asyncio.gather(
            *(
                capturer.capture(url=u, platform="demo", listing_id=i, image_urls=images)
                for u, i, images in jobs
            )
        )
    return time.perf_counter() - started


async def _fresh_each(jobs: list[Job], settings: Settings, archive: SqliteArchive) -> float:
    started = time.perf_counter()
    for url, listing_id, images in jobs:
        async with Capturer(
            settings, archive.put_blob, concurrency=1, ledger=Ledger(archive)
        ) as capturer:
            await capturer.capture(
                url=url, platform="demo", listing_id=listing_id, image_urls=images
            )
    return time.perf_counter() - started


def _measure(label: str, n: int, run: Any) -> dict[str, Any]:
    cpu = _cpu_seconds()
    seconds = run()
    cpu = _cpu_seconds() - cpu
    return {
        "captures": n,
        "seconds": round(seconds, 2),
        "per_s": round(n / seconds, 2),
        "cpu_s_per_capture": round(cpu / n, 3),
    }


def run(captures: int = 60, listings: int = 300) -> dict[str, Any]:
    settings = Settings.from_env()
    market = generate(seed=7, listings=listings, faults=False)
    with demo_shop(listings) as base, tempfile.TemporaryDirectory() as tmp:
        jobs = [
            (f"{base}/item/{x.listing_id}", x.listing_id, [f"/img/{n}" for n in x.images])
            for x in market.listings[:captures]
        ]
        archive = SqliteArchive(Path(tmp))
        asyncio.run(_reused(jobs[:3], settings, archive, "tab"))  # warm caches, fonts, shop
        fresh_n = max(5, captures // 4)
        result: dict[str, Any] = {
            "captures": captures,
            "concurrency": settings.capture_concurrency,
            "load_before": os.getloadavg()[0],
            "reused_browser": _measure(
                "tab", captures, lambda: asyncio.run(_reused(jobs, settings, archive, "tab"))
            ),
            "reused_browser_fresh_context": _measure(
                "context",
                captures,
                lambda: asyncio.run(_reused(jobs, settings, archive, "context")),
            ),
            "browser_per_capture": _measure(
                "fresh",
                fresh_n,
                lambda: asyncio.run(_fresh_each(jobs[:fresh_n], settings, archive)),
            ),
            "load_after": os.getloadavg()[0],
        }
        archive.close()
    base_rate = result["browser_per_capture"]["per_s"]
    result["ratio"] = round(result["reused_browser"]["per_s"] / base_rate, 2)
    result["ratio_fresh_context"] = round(
        result["reused_browser_fresh_context"]["per_s"] / base_rate, 2
    )
    save("screenshots", result)
    return result


def report(result: dict[str, Any]) -> str:
    r = result["reused_browser"]
    c = result["reused_browser_fresh_context"]
    f = result["browser_per_capture"]

    def line(label: str, x: dict[str, Any]) -> str:
        return (
            f"  {label:36s} {x['per_s']:5} captures/s ({x['captures']} in {x['seconds']} s,"
            f" {x['cpu_s_per_capture']} CPU-s each)\n"
        )

    return (
        "evidence captures (2 screenshots + HTML + DOM + images + WACZ + manifest + ledger),"
        f" concurrency {result['concurrency']}, load average {result['load_before']:.1f}:\n"
        + line("one browser, reused wiped tabs:", r)
        + line("one browser, fresh context each:", c)
        + line("browser launched per capture:", f)
        + f"  ratio {result['ratio']}x (tabs), {result['ratio_fresh_context']}x (contexts)"
    )


if __name__ == "__main__":
    print(report(run(int(sys.argv[1]) if len(sys.argv) > 1 else 60)))
