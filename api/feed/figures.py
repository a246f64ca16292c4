"""Per-platform figures: how fast a platform acknowledges, how often it takes listings down,
and how often they come back.

- ack_hours_median / ack_hours_p90: hours from a notice's creation to its first ``received``.
- takedown_rate: notices ever reported ``removed`` ÷ notices answered (removed, rejected or
  disputed at least once). Unanswered notices are counted in ``unanswered``, not in the rate.
- relisting_rate: notices reopened by a re-check (still live or re-listed) ÷ notices removed.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from api.feed.notices import is_overdue
from api.workspace_db import WorkspaceDb, from_text

ANSWERS = ("removed", "rejected", "disputed")


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 2)


def platform_figures(db: WorkspaceDb, platform: str | None = None) -> list[dict[str, Any]]:
    conn = db.conn()
    where, params = ("WHERE platform = ?", [platform]) if platform else ("", [])
    rows = conn.execute(f"SELECT * FROM notices {where}", params).fetchall()
    answered: dict[str, set[str]] = defaultdict(set)
    relisted: set[str] = set()
    for event in conn.execute(
        "SELECT e.notice_id, e.actor, e.from_status, e.to_status FROM notice_events e"
        f" JOIN notices n USING (notice_id) {where.replace('platform', 'n.platform')}",
        params,
    ):
        if event["to_status"] in ANSWERS:
            answered[event["notice_id"]].add(event["to_status"])
        if event["to_status"] == "reopened" and event["actor"] == "system":
            relisted.add(event["notice_id"])
    now = db.now()
    by_platform: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_platform[row["platform"]].append(row)
    figures = []
    for name, items in sorted(by_platform.items()):
        ack_hours = []
        for row in items:
            created, received = from_text(row["created_at"]), from_text(row["received_at"])
            if created and received:
                ack_hours.append((received - created).total_seconds() / 3600)
        ids = {row["notice_id"] for row in items}
        n_answered = sum(1 for i in ids if answered.get(i))
        n_removed = sum(1 for i in ids if "removed" in answered.get(i, ()))
        n_relisted = len(ids & relisted)
        figures.append(
            {
                "platform": name,
                "notices": len(items),
                "acknowledged": len(ack_hours),
                "ack_hours_median": round(statistics.median(ack_hours), 2) if ack_hours else None,
                "ack_hours_p90": _quantile(ack_hours, 0.9),
                "answered": n_answered,
                "unanswered": len(items) - n_answered,
                "removed": n_removed,
                "rejected": sum(1 for i in ids if "rejected" in answered.get(i, ())),
                "disputed": sum(1 for i in ids if "disputed" in answered.get(i, ())),
                "takedown_rate": round(n_removed / n_answered, 4) if n_answered else None,
                "relisted": n_relisted,
                "relisting_rate": round(n_relisted / n_removed, 4) if n_removed else None,
                "overdue": sum(1 for row in items if is_overdue(row, now)),
                "open": sum(1 for row in items if row["status"] != "closed"),
            }
        )
    return figures
