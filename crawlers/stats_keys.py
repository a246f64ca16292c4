"""The pass summary, computed from Scrapy stats under the ``marketguard/`` prefix.

The summary is a stable contract (``marketguard demo --json`` prints it for scripts):
``{"listings", "flagged", "evidence", "errors", "by_rule", "store"}`` plus extra keys.
"""

from __future__ import annotations

from typing import Any

PREFIX = "marketguard/"


def pass_summary(stats: dict[str, Any]) -> dict[str, Any]:
    by_rule = {
        key.removeprefix(PREFIX + "flags/"): int(value)
        for key, value in sorted(stats.items())
        if key.startswith(PREFIX + "flags/")
    }
    errors_by_kind = {
        key.removeprefix(PREFIX + "errors/"): int(value)
        for key, value in sorted(stats.items())
        if key.startswith(PREFIX + "errors/")
    }
    return {
        "listings": int(stats.get(PREFIX + "listings", 0)),
        "flagged": int(stats.get(PREFIX + "flagged", 0)),
        "evidence": int(stats.get(PREFIX + "evidence", 0)),
        "errors": int(stats.get(PREFIX + "errors", 0)),
        "by_rule": by_rule,
        "errors_by_kind": errors_by_kind,
        "store": str(stats.get(PREFIX + "store", "")),
        "pass_id": stats.get(PREFIX + "pass_id"),
    }
