"""The queue's filters as query parameters, shared by the pages, the JSON API, bulk decisions,
statistics and the Excel exports, so one filtered set means the same rows everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Query, status

from evidence.archive.base import QueueFilter

TEXT_MAX = 100
DATE = r"^(\d{4}-\d{2}-\d{2})?$"
DecisionFilter = Literal["confirmed", "dismissed", "unreviewed"]


@dataclass(slots=True)
class QueueParams:
    category: str = ""
    rule: str = ""
    decision: str = ""
    platform: str = ""
    region: str = ""
    date_from: date | None = None  # first found on or after, Beijing date
    date_to: date | None = None  # first found on or before, Beijing date
    q: str = ""

    def to_filter(self, *, zone: str = "Asia/Shanghai", limit: int = 50) -> QueueFilter:
        tz = ZoneInfo(zone)
        return QueueFilter(
            category=self.category or None,
            rule_id=self.rule or None,
            decision=self.decision or None,
            platform=self.platform or None,
            region=self.region or None,
            found_from=_start(self.date_from, tz),
            found_to=_start(self.date_to + timedelta(days=1), tz) if self.date_to else None,
            text=self.q.strip() or None,
            limit=limit,
        )

    def as_query(self) -> dict[str, str]:
        """The non-empty filters as strings, for links and forms."""
        values = {
            "category": self.category,
            "rule": self.rule,
            "decision": self.decision,
            "platform": self.platform,
            "region": self.region,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "q": self.q,
        }
        return {k: v for k, v in values.items() if v}

    def describe(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.as_query().items()) or "（全部）"


def _start(day: date | None, tz: ZoneInfo) -> datetime | None:
    return datetime.combine(day, time(), tz) if day else None


def queue_params(
    category: Annotated[str, Query(max_length=100, description="catalogue category id")] = "",
    rule: Annotated[str, Query(max_length=100, description="rule id, e.g. CCC_MISSING")] = "",
    decision: Annotated[DecisionFilter | Literal[""], Query()] = "",
    platform: Annotated[str, Query(max_length=100)] = "",
    region: Annotated[
        str, Query(max_length=100, description="start of the seller's location, e.g. 广东")
    ] = "",
    date_from: Annotated[
        str, Query(pattern=DATE, description="first found on or after (Beijing date)")
    ] = "",
    date_to: Annotated[
        str, Query(pattern=DATE, description="first found on or before (Beijing date)")
    ] = "",
    q: Annotated[
        str, Query(max_length=TEXT_MAX, description="text in title, seller name or description")
    ] = "",
) -> QueueParams:
    # An empty date field of the GET form arrives as "": no bound, not an error.
    try:
        start = date.fromisoformat(date_from) if date_from else None
        end = date.fromisoformat(date_to) if date_to else None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"bad date: {exc}") from exc
    return QueueParams(category, rule, decision, platform, region, start, end, q)


QueueParamsDep = Annotated[QueueParams, Depends(queue_params)]
