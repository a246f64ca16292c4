"""Excel (.xlsx) exports of the workspace's lists, written with openpyxl in write-only mode so a
long queue streams row by row instead of building a workbook in memory.

Seller text that starts like a formula (``=``, ``+``, ``-``, ``@``) is written with a leading
apostrophe (``api.feed.export.inert``): a spreadsheet must not run what a seller typed.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from api.feed.export import inert

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell_value(value: Any, zone: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(zone).replace(tzinfo=None)
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if value is None:
        return ""
    return inert(value) if isinstance(value, str) else value


def workbook(
    sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[Any]]]],
    *,
    timezone: str = "Asia/Shanghai",
) -> bytes:
    """One sheet per (title, header, rows); times shown in ``timezone``."""
    zone = ZoneInfo(timezone)
    book = Workbook(write_only=True)
    bold = Font(bold=True)
    for title, header, rows in sheets:
        sheet = book.create_sheet(title=title[:31])
        head = []
        for name in header:
            cell = WriteOnlyCell(sheet, value=name)
            cell.font = bold
            head.append(cell)
        sheet.append(head)
        for row in rows:
            sheet.append([_cell_value(value, zone) for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def content_disposition(filename: str) -> str:
    """An ASCII fallback name plus the UTF-8 one (RFC 6266), so Chinese names survive."""
    from urllib.parse import quote

    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
