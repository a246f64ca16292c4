"""Notices as CSV or Excel, for platforms without an integration (and for officers' files).

Listing titles and reasons are seller- or officer-written text; a cell starting with = + - @
(or a tab or carriage return) would run as a formula in a spreadsheet, so such cells get a
leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from openpyxl import Workbook

COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "通知编号"),
    ("platform", "平台"),
    ("listing_id", "商品编号"),
    ("url", "商品链接"),
    ("title", "商品标题"),
    ("seller", "卖家"),
    ("rules", "违法情形"),
    ("legal_basis", "法律依据"),
    ("requested_action", "要求措施"),
    ("created", "发出时间"),
    ("deadline", "处理期限"),
    ("status_label", "状态"),
    ("status_reason", "平台说明"),
    ("overdue", "是否逾期"),
    ("screenshot_sha256", "截图 SHA-256"),
    ("captured_at", "取证时间"),
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def flat(notice: dict[str, Any]) -> dict[str, Any]:
    listing = notice["listing"]
    seller = listing.get("seller") or {}
    evidence = notice.get("evidence") or {}
    shot = evidence.get("screenshot") or {}
    return {
        "id": notice["id"],
        "platform": notice["platform"],
        "listing_id": listing["listing_id"],
        "url": listing["url"],
        "title": listing.get("title", ""),
        "seller": seller.get("name") or seller.get("seller_id") or "",
        "rules": "；".join(f"{r['rule_id']} {r['reason']}" for r in notice["rules"]),
        "legal_basis": "；".join(notice["legal_basis"]),
        "requested_action": notice["requested_action"],
        "created": notice["created"],
        "deadline": notice["deadline"],
        "status_label": notice["status_label"],
        "status_reason": notice["status_reason"],
        "overdue": "是" if notice["overdue"] else "否",
        "screenshot_sha256": shot.get("sha256", ""),
        "captured_at": evidence.get("captured_at", ""),
    }


def to_csv(notices: Iterable[dict[str, Any]]) -> bytes:
    """UTF-8 with a byte-order mark, which spreadsheet programs need to read Chinese right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([header for _, header in COLUMNS])
    for notice in notices:
        row = flat(notice)
        writer.writerow([inert(row[key]) for key, _ in COLUMNS])
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(notices: Iterable[dict[str, Any]]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("通知")
    sheet.append([header for _, header in COLUMNS])
    for notice in notices:
        row = flat(notice)
        sheet.append([inert(row[key]) for key, _ in COLUMNS])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def export(notices: list[dict[str, Any]], fmt: str) -> bytes:
    return to_csv(notices) if fmt == "csv" else to_xlsx(notices)
