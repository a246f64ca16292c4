"""The certificate registry: CCC certificates imported from CSV into home/registry.db.

    marketguard registry import FILE.csv     (columns below; header row required)
    marketguard registry show NUMBER

Columns (header names, English or Chinese): number/证书编号, holder/持证人, product/产品名称,
models/型号 (separated by ; , 、 / | or new lines), status/证书状态 (valid/有效, suspended/暂停,
revoked/撤销, cancelled/注销, expired/过期), issued/发证日期, expires/有效期至, and optionally
maker/生产者. The file may be UTF-8 (with or without BOM) or GB18030 (what Excel in China
writes). Each row is upserted by number; a bad row is reported with its line number and
skipped, never half-imported. ``load_registry`` gives the in-memory lookup a pass hands to the
matching engine (matching.context.CertificateRegistry).
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from matching.context import CERTIFICATE_STATUSES, CertificateRecord, CertificateRegistry

DB_NAME = "registry.db"

_COLUMNS = {
    "number": ("number", "证书编号", "证书号", "certificate", "certificate_number"),
    "holder": ("holder", "持证人", "证书持有人", "委托人"),
    "product": ("product", "产品名称", "产品", "product_name"),
    "models": ("models", "型号", "产品型号", "型号规格", "model"),
    "status": ("status", "证书状态", "状态"),
    "issued": ("issued", "发证日期", "颁证日期", "issue_date"),
    "expires": ("expires", "有效期至", "截止日期", "expiry_date", "valid_until"),
    "maker": ("maker", "生产者", "生产企业", "制造商"),
}
_REQUIRED = ("number", "holder", "product", "status")
_STATUS = {
    "valid": "valid",
    "有效": "valid",
    "suspended": "suspended",
    "暂停": "suspended",
    "revoked": "revoked",
    "撤销": "revoked",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "注销": "cancelled",
    "expired": "expired",
    "过期": "expired",
    "已过期": "expired",
}
_MODEL_SPLIT = re.compile(r"[;；,，、/|\n]+")
_NUMBER = re.compile(r"^[0-9]{16}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS certificates (
    number   TEXT PRIMARY KEY,
    holder   TEXT NOT NULL,
    product  TEXT NOT NULL,
    models   TEXT NOT NULL,      -- one model per line
    status   TEXT NOT NULL,
    issued   TEXT,
    expires  TEXT,
    maker    TEXT NOT NULL DEFAULT '',
    imported_at TEXT NOT NULL
)
"""


class RegistryImportError(ValueError):
    """The file cannot be imported at all (unreadable, no header, a required column missing)."""


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    problems: list[str] = field(default_factory=list)  # "line 7: ..." for skipped rows


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RegistryImportError("the file is neither UTF-8 nor GB18030 text")


def _day(text: str, column: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{column}: not a date: {text!r}")


def parse_csv(raw: bytes) -> Iterator[tuple[int, CertificateRecord | str]]:
    """(line number, record) for good rows, (line number, problem) for bad ones."""
    reader = csv.reader(io.StringIO(_decode(raw), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise RegistryImportError("the file is empty") from None
    except csv.Error as exc:
        raise RegistryImportError(f"not CSV: {exc}") from None
    names = [h.strip().lower() for h in header]
    index: dict[str, int] = {}
    for column, aliases in _COLUMNS.items():
        for alias in aliases:
            if alias.lower() in names:
                index[column] = names.index(alias.lower())
                break
    missing = [c for c in _REQUIRED if c not in index]
    if missing:
        raise RegistryImportError(
            f"missing column(s) {', '.join(missing)}; header was {', '.join(header)}"
        )
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line += 1
            yield line, f"not CSV: {exc}"
            continue
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue

        def cell(column: str, row: list[str] = row) -> str:
            i = index.get(column)
            return row[i].strip() if i is not None and i < len(row) else ""

        try:
            number = cell("number").replace(" ", "")
            if not _NUMBER.match(number):
                raise ValueError(f"number: expected 16 digits, got {number!r}")
            status = _STATUS.get(cell("status").lower())
            if status is None:
                raise ValueError(
                    f"status: {cell('status')!r} is not one of {', '.join(CERTIFICATE_STATUSES)}"
                )
            if not cell("holder") or not cell("product"):
                raise ValueError("holder and product must not be empty")
            models = tuple(m.strip() for m in _MODEL_SPLIT.split(cell("models")) if m.strip())
            record = CertificateRecord(
                number=number,
                holder=cell("holder"),
                product=cell("product"),
                models=models,
                status=status,  # type: ignore[arg-type]
                issued=_day(cell("issued"), "issued"),
                expires=_day(cell("expires"), "expires"),
                maker=cell("maker"),
            )
        except ValueError as exc:
            yield line, str(exc)
            continue
        yield line, record


def _connect(home: Path) -> sqlite3.Connection:
    home.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(home / DB_NAME)
    db.execute(_SCHEMA)
    return db


def import_csv(home: Path, path: Path) -> ImportReport:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RegistryImportError(f"cannot read {path}: {exc}") from None
    report = ImportReport()
    rows: list[CertificateRecord] = []
    for line, item in parse_csv(raw):
        if isinstance(item, str):
            report.problems.append(f"line {line}: {item}")
        else:
            rows.append(item)
    now = datetime.now().astimezone().isoformat()
    db = _connect(home)
    try:
        with db:  # one transaction: the registry never holds half a file
            db.executemany(
                "INSERT INTO certificates"
                " (number, holder, product, models, status, issued, expires, maker, imported_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(number) DO UPDATE SET holder = excluded.holder,"
                " product = excluded.product, models = excluded.models,"
                " status = excluded.status, issued = excluded.issued,"
                " expires = excluded.expires, maker = excluded.maker,"
                " imported_at = excluded.imported_at",
                [_row(r, now) for r in rows],
            )
    finally:
        db.close()
    report.imported = len(rows)
    return report


def _row(r: CertificateRecord, now: str) -> tuple[object, ...]:
    return (
        r.number,
        r.holder,
        r.product,
        "\n".join(r.models),
        r.status,
        r.issued.isoformat() if r.issued else None,
        r.expires.isoformat() if r.expires else None,
        r.maker,
        now,
    )


def records(home: Path) -> Iterable[CertificateRecord]:
    if not (home / DB_NAME).exists():
        return []
    db = _connect(home)
    try:
        rows = db.execute(
            "SELECT number, holder, product, models, status, issued, expires, maker"
            " FROM certificates"
        ).fetchall()
    finally:
        db.close()
    return [
        CertificateRecord(
            number=n,
            holder=h,
            product=p,
            models=tuple(m for m in models.split("\n") if m),
            status=s,
            issued=date.fromisoformat(i) if i else None,
            expires=date.fromisoformat(e) if e else None,
            maker=maker,
        )
        for n, h, p, models, s, i, e, maker in rows
    ]


def load_registry(home: Path) -> CertificateRegistry | None:
    """The registry for a pass, or None when nothing was imported (the rules stay silent)."""
    registry = CertificateRegistry(records(home))
    return registry if registry else None
