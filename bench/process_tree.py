"""Memory of a process and of the browser processes under it, read from /proc (Linux).

Chromium runs as a dozen processes (browser, zygotes, GPU/utility, one renderer per site
instance) that share pages of memory: summing their RSS counts the shared pages once per
process and so overstates the total, PSS (``smaps_rollup``) splits each shared page between its
sharers and sums to what the tree really holds. Both are reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
BROWSER_NAMES = ("chromium", "chrome", "headless_shell", "chrome_crashpad")


@dataclass(slots=True)
class TreeMemory:
    browser_processes: int
    browser_rss_mb: float
    browser_pss_mb: float
    root_rss_mb: float  # the root process itself (the Python crawler)
    driver_rss_mb: float = 0.0  # Playwright's node driver between Python and the browser


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and ")", so split at the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def descendants(pid: int) -> list[int]:
    children = _children_map()
    found: list[int] = []
    stack = list(children.get(pid, []))
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(children.get(child, []))
    return found


def _field_kb(path: Path, name: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def is_browser(pid: int) -> bool:
    try:
        comm = (PROC / str(pid) / "comm").read_text().strip()
        exe = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return False
    name = os.path.basename(exe)
    return comm.startswith(BROWSER_NAMES) or name.startswith(BROWSER_NAMES)


def _comm(pid: int) -> str:
    try:
        return (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


def tree_memory(root: int) -> TreeMemory:
    tree = descendants(root)
    browsers = [pid for pid in tree if is_browser(pid)]
    drivers = [pid for pid in tree if _comm(pid).startswith("node")]
    rss = sum(_field_kb(PROC / str(pid) / "status", "VmRSS:") for pid in browsers)
    pss = sum(_field_kb(PROC / str(pid) / "smaps_rollup", "Pss:") for pid in browsers)
    own = _field_kb(PROC / str(root) / "status", "VmRSS:")
    return TreeMemory(
        browser_processes=len(browsers),
        browser_rss_mb=round(rss / 1024, 1),
        browser_pss_mb=round(pss / 1024, 1),
        root_rss_mb=round(own / 1024, 1),
        driver_rss_mb=round(
            sum(_field_kb(PROC / str(pid) / "status", "VmRSS:") for pid in drivers) / 1024, 1
        ),
    )
