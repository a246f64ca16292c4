"""Settings shared by every part, read from the environment with sane single-machine defaults.

Environment variables (all optional):

- ``MARKETGUARD_HOME``: the store folder (SQLite database and blobs); default ``./var``.
- ``MARKETGUARD_CHROMIUM``: the Chromium executable; default ``/usr/bin/chromium`` (Debian's).
  Playwright's own browser download is never used.
- ``MARKETGUARD_CATALOGUE`` / ``MARKETGUARD_RULES``: YAML files replacing the bundled ones.
- ``MARKETGUARD_CAPTURE_CONCURRENCY``: browser pages captured at once; default 2 (chosen from
  measurements on the 2-core machine: docs/benchmarks.md, "Evidence captures").
- ``MARKETGUARD_INVESTIGATORS``: the two investigators named in extraction records,
  comma-separated (the first is the capture's operator). ``MARKETGUARD_CASE_ID``: case number
  stamped on captures. ``MARKETGUARD_TSA_URL`` / ``MARKETGUARD_TSA_CA``: RFC 3161 timestamp
  authority and its CA certificate (PEM). ``MARKETGUARD_LEDGER_CHECKPOINT_EVERY``: default 100.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CHROMIUM = "/usr/bin/chromium"

# Why each flag: as root Chromium refuses to start without --no-sandbox; the closed network
# here refuses Chromium's background connections (updates, safe browsing, sync), which would
# otherwise add failed requests and noise to every capture.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


@dataclass(slots=True)
class Settings:
    home: Path = field(default_factory=lambda: Path("var"))
    chromium: str = DEFAULT_CHROMIUM
    catalogue: Path | None = None
    rules: Path | None = None
    capture_concurrency: int = 2
    viewport: tuple[int, int] = (1280, 800)
    locale: str = "zh-CN"
    timezone: str = "Asia/Shanghai"
    # Evidence (docs/evidence.md): who captures, for which case, and the optional RFC 3161
    # timestamp authority with its CA certificate (PEM) for checking its tokens.
    investigators: list[str] = field(default_factory=list)
    case_id: str = ""
    tsa_url: str = ""
    tsa_ca_file: Path | None = None
    ledger_checkpoint_every: int = 100

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        s = cls()
        if env.get("MARKETGUARD_HOME"):
            s.home = Path(env["MARKETGUARD_HOME"])
        if env.get("MARKETGUARD_CHROMIUM"):
            s.chromium = env["MARKETGUARD_CHROMIUM"]
        if env.get("MARKETGUARD_CATALOGUE"):
            s.catalogue = Path(env["MARKETGUARD_CATALOGUE"])
        if env.get("MARKETGUARD_RULES"):
            s.rules = Path(env["MARKETGUARD_RULES"])
        if env.get("MARKETGUARD_CAPTURE_CONCURRENCY"):
            s.capture_concurrency = max(1, int(env["MARKETGUARD_CAPTURE_CONCURRENCY"]))
        if env.get("MARKETGUARD_INVESTIGATORS"):
            names = env["MARKETGUARD_INVESTIGATORS"].replace("，", ",").split(",")
            s.investigators = [n.strip() for n in names if n.strip()]
        if env.get("MARKETGUARD_CASE_ID"):
            s.case_id = env["MARKETGUARD_CASE_ID"].strip()
        if env.get("MARKETGUARD_TSA_URL"):
            s.tsa_url = env["MARKETGUARD_TSA_URL"].strip()
        if env.get("MARKETGUARD_TSA_CA"):
            s.tsa_ca_file = Path(env["MARKETGUARD_TSA_CA"])
        if env.get("MARKETGUARD_LEDGER_CHECKPOINT_EVERY"):
            s.ledger_checkpoint_every = max(0, int(env["MARKETGUARD_LEDGER_CHECKPOINT_EVERY"]))
        return s


def chromium_launch_options(executable: str = DEFAULT_CHROMIUM) -> dict[str, Any]:
    """Options for Playwright's ``chromium.launch`` (used by scrapy-playwright and by capture)."""
    args = list(CHROMIUM_ARGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    return {"executable_path": executable, "headless": True, "args": args}
