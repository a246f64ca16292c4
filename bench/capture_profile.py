"""Where one evidence capture's time and CPU go: wall time per step and CPU per process.

Captures typical demo listing pages with one Chromium and reused tabs (the default capturer),
with timers around each step of ``_CaptureRun`` and CPU read from ``/proc`` for every process
under this one, grouped by kind: this Python process, the Playwright driver, Chromium's browser
process, its renderers, its GPU/compositor process, its network service, the demo shop.

Step times are summed over captures running at once, so with concurrency N they add up to
about N times the wall time. CPU of a process that exited during the run (a renderer Chromium
replaced) is not in its own row: it moves to its parent's children time, which is not read.

    python -m bench capture_profile [captures] [concurrency]
"""

from __future__ import annotations

import asyncio
import collections
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench.common import demo_shop, save
from demo.generator import generate
from evidence import capture as capture_module
from evidence.archive.sqlite import SqliteArchive
from evidence.browser import BrowserSession
from evidence.capture import Capturer, _CaptureRun
from evidence.ledger import Ledger
from evidence.network_log import NetworkLog
from marketguard.settings import Settings

_STEPS: dict[str, float] = collections.defaultdict(float)


def _timed(
    name: str, fn: Callable[..., Coroutine[Any, Any, Any]]
) -> Callable[..., Coroutine[Any, Any, Any]]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            _STEPS[name] += time.perf_counter() - started

    return wrapper


def _instrument() -> None:
    """Timers around the capture's steps, for this process only (a benchmark, not the app)."""
    _CaptureRun.run = _timed("whole capture", _CaptureRun.run)  # type: ignore[method-assign]
    _CaptureRun._load = _timed("navigate + settle", _CaptureRun._load)  # type: ignore[method-assign]
    NetworkLog.wait_for_idle = _timed(  # type: ignore[method-assign]
        "  of which network-idle wait", NetworkLog.wait_for_idle
    )
    _CaptureRun._preserve_page = _timed(  # type: ignore[method-assign]
        "screenshots + DOM", _CaptureRun._preserve_page
    )
    capture_module.take_screenshots = _timed(  # type: ignore[assignment]
        "  of which the two screenshots", capture_module.take_screenshots
    )
    NetworkLog.exchanges = _timed("response bodies", NetworkLog.exchanges)  # type: ignore[method-assign]
    _CaptureRun._store_images = _timed(  # type: ignore[method-assign]
        "listing images", _CaptureRun._store_images
    )
    _CaptureRun._store_web_archive = _timed(  # type: ignore[method-assign]
        "WARC + WACZ", _CaptureRun._store_web_archive
    )
    _CaptureRun.flush_writes = _timed(  # type: ignore[method-assign]
        "blob writes (waited for)", _CaptureRun.flush_writes
    )
    BrowserSession.release_tab = _timed(  # type: ignore[method-assign]
        "tab wipe (background)", BrowserSession.release_tab
    )


def _kind(pid: int, cmd: str) -> str:
    if pid == os.getpid():
        return "python (this process)"
    if "--type=renderer" in cmd:
        return "chromium renderer"
    if "--type=gpu-process" in cmd:
        return "chromium gpu/compositor"
    if "NetworkService" in cmd:
        return "chromium network service"
    if "--type=zygote" in cmd:
        return "chromium zygote"
    if "--type=" in cmd:
        return "chromium other"
    if "chrom" in cmd:
        return "chromium browser process"
    if "demo" in cmd:
        return "demo shop"
    return "playwright driver"


def _cpu_by_kind() -> dict[str, float]:
    tick = os.sysconf("SC_CLK_TCK")
    table: dict[int, tuple[int, float, str]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{name}/stat").read_text()
            cmd = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        own = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        table[int(name)] = (int(fields[1]), own, cmd.decode(errors="replace"))
    ours = {os.getpid()}
    grew = True
    while grew:
        grew = False
        for pid, (parent, _, _) in table.items():
            if parent in ours and pid not in ours:
                ours.add(pid)
                grew = True
    out: dict[str, float] = collections.defaultdict(float)
    for pid in ours:
        out[_kind(pid, table[pid][2])] += table[pid][1]
    return out


async def _profile(jobs: list[tuple[str, str, list[str]]], concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        archive = SqliteArchive(Path(tmp))
        try:
            async with Capturer(
                Settings.from_env(),
                archive.put_blob,
                ledger=Ledger(archive),
                concurrency=concurrency,
            ) as capturer:

                async def one(job: tuple[str, str, list[str]]) -> None:
                    url, listing_id, images = job
                    await capturer.capture(
                        url=url, platform="demo", listing_id=listing_id, image_urls=images
                    )

                await asyncio.gather(*(one(j) for j in jobs[:3]))  # warm up the tabs
                _STEPS.clear()
                cpu_before = _cpu_by_kind()
                started = time.perf_counter()
                await asyncio.gather(*(one(j) for j in jobs[3:]))
                seconds = time.perf_counter() - started
                cpu_after = _cpu_by_kind()
        finally:
            archive.close()
    n = len(jobs) - 3
    cpu = {
        kind: round((cpu_after[kind] - cpu_before.get(kind, 0.0)) / n * 1000, 1)
        for kind in sorted(cpu_after)
    }
    return {
        "captures": n,
        "concurrency": concurrency,
        "seconds": round(seconds, 2),
        "per_s": round(n / seconds, 2),
        "step_ms_per_capture": {k: round(v / n * 1000, 1) for k, v in _STEPS.items()},
        "cpu_ms_per_capture": cpu,
        "cpu_ms_per_capture_total": round(sum(cpu.values()), 1),
    }


def run(captures: int = 40, concurrency: int = 2) -> dict[str, Any]:
    _instrument()
    market = generate(seed=7, listings=300, faults=False)
    with demo_shop(300) as base:
        jobs = [
            (f"{base}/item/{x.listing_id}", x.listing_id, [f"/img/{n}" for n in x.images])
            for x in market.listings[: captures + 3]
        ]
        load_before = os.getloadavg()[0]
        result = asyncio.run(_profile(jobs, concurrency))
    result["load_before"] = load_before
    result["load_after"] = os.getloadavg()[0]
    save("capture_profile", result)
    return result


def report(result: dict[str, Any]) -> str:
    lines = [
        f"capture profile: {result['captures']} captures at concurrency {result['concurrency']},"
        f" {result['per_s']}/s, load average {result['load_before']:.1f}",
        "  wall time per capture, by step (summed over concurrent captures):",
    ]
    lines += [f"    {k:32s} {v:7.1f} ms" for k, v in result["step_ms_per_capture"].items()]
    lines.append("  CPU per capture, by process:")
    lines += [f"    {k:32s} {v:7.1f} ms" for k, v in result["cpu_ms_per_capture"].items()]
    lines.append(f"    {'total':32s} {result['cpu_ms_per_capture_total']:7.1f} ms")
    return "\n".join(lines)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    print(report(run(*args)))
