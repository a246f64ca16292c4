"""Helpers shared by the benchmarks: a demo shop in its own process, JSON results, ratios."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results"


@contextmanager
def demo_shop(
    listings: int, *, seed: int = 7, faults: bool = False, js_share: float | None = None
) -> Iterator[str]:
    """Serve the demo shop from a separate process so it does not share the crawler's GIL."""
    cmd = [
        sys.executable,
        "-m",
        "demo",
        "--listings",
        str(listings),
        "--seed",
        str(seed),
        "--port",
        "0",
    ]
    if not faults:
        cmd.append("--no-faults")
    if js_share is not None:
        cmd += ["--js-share", str(js_share)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("DEMO_URL "):
            raise RuntimeError(f"demo shop did not start: {line!r}")
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_json(cmd: list[str], *, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a child process that prints one JSON object as its last stdout line."""
    proc = subprocess.run(
        cmd,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def save(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(
        json.dumps({"machine": machine(), **result}, ensure_ascii=False, indent=2) + "\n"
    )
    return path
