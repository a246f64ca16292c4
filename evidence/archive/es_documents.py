"""Encoding between MarketGuard's models and the Elasticsearch archive's documents.

Times go in twice: as text (``ts``, the same fixed-precision UTC form SQLite stores) for
``date`` fields, and as integer microseconds since the epoch (``us``) for exact ordering.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from evidence.archive.base import FlaggedRow, PassRecord
from evidence.ledger import LedgerEntry
from marketguard.models import SEVERITY_ORDER

SEVERITY_NAMES = {rank: name for name, rank in SEVERITY_ORDER.items()}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def doc_key(platform: str, listing_id: str) -> str:
    """The listing's document id: unambiguous even when the parts contain ':' or '@'."""
    return f"{quote(platform, safe='')}:{quote(listing_id, safe='')}"


def us(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1)


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def ts(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def flagged_row(source: dict[str, Any]) -> FlaggedRow:
    return FlaggedRow(
        platform=source["platform"],
        listing_id=source["listing_id"],
        title=source["title"],
        url=source["url"],
        price=source.get("price"),
        currency=source["currency"],
        category=source["category"],
        seller_name=source["seller_name"],
        seller_location=source["seller_location"],
        rule_ids=list(source["rule_ids"]),
        max_severity=SEVERITY_NAMES.get(source["max_severity"], "none"),
        risk_score=source.get("risk_score", 0),
        flag_count=source["flag_count"],
        first_seen=from_us(source["first_seen_us"]),
        last_seen=from_us(source["last_seen_us"]),
        decision=source.get("decision"),
        screenshot_sha256=source.get("screenshot_sha256"),
        seller_id=source.get("seller_id", ""),
        cursor=make_cursor(source),
    )


# The queue's sort key, in the order of ElasticsearchArchive._QUEUE_SORT. The listing key goes
# last: it may contain "~" (quote() leaves it alone), the other parts never do.
def make_cursor(source: dict[str, Any]) -> str:
    return "~".join(
        str(v)
        for v in (
            source.get("risk_score", 0),
            source["max_severity"],
            source["last_seen_us"],
            source["seq"],
            source["key"],
        )
    )


def parse_cursor(cursor: str) -> list[Any]:
    """search_after values from a FlaggedRow.cursor; ValueError for anything else."""
    try:
        risk, severity, last_seen_us, seq, key = cursor.split("~", 4)
        values: list[Any] = [int(risk), int(severity), int(last_seen_us), int(seq), key]
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"not a queue cursor of this store: {cursor!r}") from exc
    if not key:
        raise ValueError(f"not a queue cursor of this store: {cursor!r}")
    return values


DESCRIPTION_HEAD = 8000  # characters; at most 32 000 UTF-8 bytes, under Lucene's term limit


def wildcard_literal(text: str) -> str:
    """``text`` as a wildcard pattern matching itself anywhere (star, question mark and
    backslash escaped)."""
    escaped = text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")
    return f"*{escaped}*"


def canonical(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def ledger_entry(source: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry.from_dict(json.loads(source["entry_json"]))


def pass_record(source: dict[str, Any]) -> PassRecord:
    return PassRecord(
        pass_id=int(source["pass_id"]),
        started_at=parse(source["started_at"]),
        finished_at=parse(source["finished_at"]) if source.get("finished_at") else None,
        summary=source.get("summary") or {},
    )
