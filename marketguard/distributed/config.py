"""Where the broker is and how long work may take, from the environment or marketguard.toml.

Environment variables (all optional):

- ``MARKETGUARD_BROKER_URL``: the Celery broker, e.g. ``redis://127.0.0.1:6379/0`` or
  ``amqp://guest:guest@127.0.0.1:5672//``. Unset means no workers: everything runs in-process.
- ``MARKETGUARD_VISIBILITY_TIMEOUT``: seconds before Redis hands an unacknowledged task (its
  worker died) to another worker; default 900. It must exceed the longest task: a crawl slice
  plus a capture.
- ``MARKETGUARD_CRAWL_SLICE``: seconds a crawl task crawls before it hands the rest of its job
  to a new task; default 300. Long passes are cut into slices so that no task outlives the
  visibility timeout (Redis) or RabbitMQ's consumer timeout, and a dead crawl worker costs one
  slice, not the pass.
- ``MARKETGUARD_CAPTURE_TIMEOUT``: seconds one capture may take; default 120.

The same keys may sit in a ``[workers]`` table of ``<home>/marketguard.toml`` (``broker_url``,
``visibility_timeout``, ``crawl_slice``, ``capture_timeout``) along with the beat schedules
(``[[workers.schedule]]``) and the feed jobs' intervals (``webhook_every``, ``recheck_every``,
``overdue_every``), see ``marketguard/distributed/schedule.py``; the environment wins.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marketguard.settings import Settings

SETTINGS_FILE = "marketguard.toml"


@dataclass(slots=True)
class WorkerConfig:
    broker_url: str = ""
    visibility_timeout: float = 900.0
    crawl_slice: float = 300.0
    capture_timeout: float = 120.0
    # The raw [[workers.schedule]] entries; schedule.py validates and reads them.
    schedule: list[dict[str, Any]] = field(default_factory=list)
    # Beat's feed jobs, as written ("30s", "5m", 3600); schedule.py parses them.
    webhook_every: str | float = "30s"
    recheck_every: str | float = "5m"
    overdue_every: str | float = "1h"

    @property
    def distributed(self) -> bool:
        return bool(self.broker_url)

    def check(self) -> None:
        if self.visibility_timeout <= self.crawl_slice + self.capture_timeout:
            raise ValueError(
                f"visibility timeout ({self.visibility_timeout:g} s) must exceed a crawl slice"
                f" plus a capture ({self.crawl_slice:g} + {self.capture_timeout:g} s): a task"
                " still running would be handed to a second worker"
            )


def _toml_table(home: Path) -> dict[str, Any]:
    path = Path(home) / SETTINGS_FILE
    if not path.is_file():
        return {}
    try:
        table = tomllib.loads(path.read_text("utf-8")).get("workers", {})
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from exc
    if not isinstance(table, dict):
        raise ValueError(f"{path}: [workers] must be a table")
    return table


def _seconds(value: Any, name: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, not {value!r}") from None
    if seconds <= 0:
        raise ValueError(f"{name} must be positive, not {value!r}")
    return seconds


def worker_config(home: Path | None = None, env: dict[str, str] | None = None) -> WorkerConfig:
    env = dict(os.environ if env is None else env)
    if home is None:
        home = Settings.from_env(env).home
    table = _toml_table(home)
    config = WorkerConfig()
    config.broker_url = str(table.get("broker_url", "")).strip()
    for key in ("visibility_timeout", "crawl_slice", "capture_timeout"):
        if key in table:
            setattr(config, key, _seconds(table[key], f"[workers] {key}"))
    schedule = table.get("schedule", [])
    if not isinstance(schedule, list) or not all(isinstance(s, dict) for s in schedule):
        raise ValueError("[workers] schedule must be a list of tables ([[workers.schedule]])")
    config.schedule = schedule
    for key in ("webhook_every", "recheck_every", "overdue_every"):
        if key in table:
            setattr(config, key, table[key])
    if "MARKETGUARD_BROKER_URL" in env:
        config.broker_url = env["MARKETGUARD_BROKER_URL"].strip()
    for key in ("visibility_timeout", "crawl_slice", "capture_timeout"):
        name = f"MARKETGUARD_{key.upper()}"
        if env.get(name):
            setattr(config, key, _seconds(env[name], name))
    config.check()
    return config
