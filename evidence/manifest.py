"""The per-capture metadata JSON: the extraction record and the manifest of every other file.

It is written last and stored as an artifact itself, so its SHA-256 (kept in the Evidence
row) seals the list of hashes inside it: change any file, or the list, and a hash disagrees.
The fields follow what an electronic-data extraction record (电子数据提取笔录) asks for: what,
when and by which clock, with which tool, browser and system, by whom, and each file's
format, size and hash.
"""

from __future__ import annotations

import contextlib
import functools
import json
import platform as platform_info
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

from evidence.hashing import ALGORITHM
from marketguard.models import Artifact
from marketguard.settings import Settings

METADATA_MEDIA_TYPE = "application/json"
FORMAT = "marketguard-capture/2"
CLOCK_SOURCE = (
    "system clock of the capturing machine, UTC; not a trusted timestamp"
    " (compare the server's Date header in response_headers)"
)


@dataclass(slots=True)
class CaptureMetadata:
    capture_id: str
    platform: str
    listing_id: str
    url: str
    final_url: str
    http_status: int | None
    started_at: datetime
    finished_at: datetime
    browser_name: str
    browser_version: str
    user_agent: str
    viewport: str
    locale: str
    timezone: str
    os: str
    host: str
    tool: str
    operator: str
    artifacts: list[Artifact]
    errors: list[str] = field(default_factory=list)
    redirects: list[str] = field(default_factory=list)
    server_address: str = ""
    response_headers: dict[str, str] = field(default_factory=dict)
    tls: dict[str, Any] | None = None
    procedure: list[str] = field(default_factory=list)
    investigators: list[str] = field(default_factory=list)
    case_id: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "capture_id": self.capture_id,
            "case_id": self.case_id,
            "title": self.title,
            "platform": self.platform,
            "listing_id": self.listing_id,
            "url": self.url,
            "final_url": self.final_url,
            "redirects": self.redirects,
            "http_status": self.http_status,
            "server_address": self.server_address,
            "response_headers": self.response_headers,
            "tls": self.tls,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "clock_source": CLOCK_SOURCE,
            "browser": {"name": self.browser_name, "version": self.browser_version},
            "user_agent": self.user_agent,
            "viewport": self.viewport,
            "locale": self.locale,
            "timezone": self.timezone,
            "os": self.os,
            "host": self.host,
            "tool": self.tool,
            "operator": self.operator,
            "investigators": self.investigators,
            "environment": self.environment,
            "procedure": self.procedure,
            "hash_algorithm": ALGORITHM,
            "artifacts": [
                {
                    "kind": a.kind,
                    "media_type": a.media_type,
                    "size": a.size,
                    "sha256": a.sha256,
                    **({"source_url": a.source_url} if a.source_url else {}),
                }
                for a in self.artifacts
            ],
            "errors": self.errors,
        }

    def to_json_bytes(self) -> bytes:
        # Stable key order and UTF-8 (Chinese kept readable), so the file diffs and reads well.
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=2, sort_keys=False)
        return (text + "\n").encode("utf-8")


@functools.cache
def _static_environment() -> dict[str, str]:
    synced = Path("/run/systemd/timesync/synchronized").exists()
    try:
        playwright_version = package_metadata.version("playwright")
    except package_metadata.PackageNotFoundError:
        playwright_version = "unknown"
    return {
        "os": platform_info.platform(),
        "os_release": _os_release(),
        "host": platform_info.node(),
        "python": platform_info.python_version(),
        "playwright": playwright_version,
        "machine_timezone": time.strftime("%Z (UTC%z)"),
        "clock_source": CLOCK_SOURCE
        + ("; systemd-timesyncd reports the clock synchronised" if synced else ""),
    }


def _os_release() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    return ""


def local_address_towards(server_address: str) -> str:
    """The machine's own address on the route to the server (no packet is sent)."""
    host = server_address.rsplit(":", 1)[0].strip("[]")
    if not host:
        return ""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((host, 9))
            return str(sock.getsockname()[0])
    except OSError:
        return ""


def capture_environment(
    settings: Settings, user_agent: str, browser: str, server_address: str = ""
) -> dict[str, str]:
    """The capture environment as the extraction record states it (all strings)."""
    width, height = settings.viewport
    return {
        **_static_environment(),
        "browser": browser,
        "user_agent": user_agent,
        "viewport": f"{width}x{height}",
        "browser_timezone": settings.timezone,
        "browser_locale": settings.locale,
        "network": (
            f"direct connection from {local_address_towards(server_address) or 'unknown'}"
            f" to {server_address}; no proxy configured"
            if server_address
            else "unknown (no server address reported)"
        ),
    }
