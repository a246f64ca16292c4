"""Cases (案件): confirmed listings grouped under a case number with two investigators, their
estimated goods value, the referral mark (两法衔接) and the evidence package.

Cases are workspace data (``home/workspace.db``), whichever archive holds the evidence. Each
listing added keeps a snapshot of price and sales shown at that moment: the value of a case is
what the officer saw when building it, not whatever the shop shows later.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from api.accounts import audit
from api.accounts.users import list_users
from api.workspace_db import WorkspaceDb, from_text, to_text
from evidence.archive.base import Archive, ListingRecord

# 《刑法》第一百四十条 生产、销售伪劣产品罪: 销售金额五万元以上. Configurable because other
# offences (and local practice) use other amounts.
DEFAULT_REFERRAL_THRESHOLD = Decimal("50000")
PRIORITY_TARGET = 0.30  # 重点产品案件数量要占到总案件数量的30%以上 (2014 work plan)
STATUSES = ("open", "referred", "closed")

SCHEMA = """
CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    investigator_1 TEXT NOT NULL,
    investigator_2 TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'referred', 'closed')),
    note TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (investigator_1 <> investigator_2)
);
CREATE TABLE IF NOT EXISTS case_listings (
    case_id TEXT NOT NULL REFERENCES cases(case_id),
    platform TEXT NOT NULL,
    listing_id TEXT NOT NULL,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    category TEXT NOT NULL,
    seller TEXT NOT NULL,
    price TEXT,
    sales INTEGER,
    capture_id TEXT NOT NULL DEFAULT '',
    added_by TEXT NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (case_id, platform, listing_id)
);
CREATE INDEX IF NOT EXISTS case_listings_listing ON case_listings(platform, listing_id);
"""


class CaseError(ValueError):
    """A case change that breaks a rule (investigators, unconfirmed listing, unknown case)."""


@dataclass(slots=True)
class ReviewConfig:
    referral_threshold: Decimal = DEFAULT_REFERRAL_THRESHOLD
    priority_target: float = PRIORITY_TARGET

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ReviewConfig:
        env = dict(os.environ if env is None else env)
        config = cls()
        if env.get("MARKETGUARD_REFERRAL_THRESHOLD"):
            config.referral_threshold = Decimal(env["MARKETGUARD_REFERRAL_THRESHOLD"])
        return config


@dataclass(slots=True)
class CaseListing:
    platform: str
    listing_id: str
    title: str
    url: str
    category: str
    seller: str
    price: Decimal | None
    sales: int | None
    capture_id: str
    added_by: str
    added_at: datetime

    @property
    def value(self) -> Decimal | None:
        """price × sales shown; None when either is unknown."""
        if self.price is None or self.sales is None:
            return None
        return self.price * self.sales


@dataclass(slots=True)
class Case:
    case_id: str
    title: str
    investigators: tuple[str, str]
    status: str
    note: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    listings: list[CaseListing] = field(default_factory=list)

    @property
    def goods_value(self) -> Decimal:
        return sum((item.value for item in self.listings if item.value is not None), Decimal(0))

    @property
    def value_incomplete(self) -> bool:
        """Some listing shows no price or no sales: the value is a lower bound."""
        return any(item.value is None for item in self.listings)

    def referral(self, config: ReviewConfig) -> bool:
        return self.goods_value >= config.referral_threshold

    def categories(self) -> set[str]:
        return {item.category for item in self.listings if item.category}


def ensure_schema(db: WorkspaceDb) -> None:
    db.conn().executescript(SCHEMA)


def _decimal(value: str | None) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _case(conn: sqlite3.Connection, row: sqlite3.Row, db: WorkspaceDb) -> Case:
    items = conn.execute(
        "SELECT * FROM case_listings WHERE case_id = ? ORDER BY added_at, platform, listing_id",
        (row["case_id"],),
    ).fetchall()
    return Case(
        case_id=row["case_id"],
        title=row["title"],
        investigators=(row["investigator_1"], row["investigator_2"]),
        status=row["status"],
        note=row["note"],
        created_by=row["created_by"],
        created_at=from_text(row["created_at"]) or db.now(),
        updated_at=from_text(row["updated_at"]) or db.now(),
        listings=[
            CaseListing(
                i["platform"],
                i["listing_id"],
                i["title"],
                i["url"],
                i["category"],
                i["seller"],
                _decimal(i["price"]),
                i["sales"],
                i["capture_id"],
                i["added_by"],
                from_text(i["added_at"]) or db.now(),
            )
            for i in items
        ],
    )


def _check_investigators(db: WorkspaceDb, first: str, second: str) -> tuple[str, str]:
    first, second = first.strip(), second.strip()
    if not first or not second:
        raise CaseError("一个案件需要两名办案人员 (two investigators are required)")
    if first.casefold() == second.casefold():
        raise CaseError("两名办案人员不能是同一人 (the two investigators must differ)")
    known = {user.name.casefold(): user.name for user in list_users(db)}
    missing = [name for name in (first, second) if name.casefold() not in known]
    if missing:
        raise CaseError(f"办案人员必须是工作台账号: {', '.join(missing)} (unknown account)")
    return known[first.casefold()], known[second.casefold()]


def create_case(
    db: WorkspaceDb, actor: str, title: str, investigators: tuple[str, str], note: str = ""
) -> Case:
    ensure_schema(db)
    title = title.strip()
    if not title:
        raise CaseError("请填写案件名称 (a case needs a title)")
    first, second = _check_investigators(db, *investigators)
    now = db.now()
    with db.write() as conn:
        number = db.next_value(conn, f"case-{now.year}")
        case_id = f"MGC-{now.year}-{number:05d}"
        conn.execute(
            "INSERT INTO cases(case_id, title, investigator_1, investigator_2, note, created_by,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (case_id, title, first, second, note.strip(), actor, to_text(now), to_text(now)),
        )
        after = {"title": title, "investigators": [first, second], "note": note.strip()}
        audit.record(db, actor, "case.create", f"case:{case_id}", after=after, conn=conn)
        return _case(
            conn, conn.execute("SELECT * FROM cases WHERE case_id = ?", (case_id,)).fetchone(), db
        )


def get_case(db: WorkspaceDb, case_id: str) -> Case | None:
    ensure_schema(db)
    conn = db.conn()
    row = conn.execute("SELECT * FROM cases WHERE case_id = ?", (case_id,)).fetchone()
    return _case(conn, row, db) if row else None


def list_cases(db: WorkspaceDb, *, status: str | None = None) -> list[Case]:
    ensure_schema(db)
    conn = db.conn()
    sql = "SELECT * FROM cases"
    params: list[Any] = []
    if status:
        sql += " WHERE status = ?"
        params.append(status)
    rows = conn.execute(sql + " ORDER BY created_at DESC, case_id DESC", params).fetchall()
    return [_case(conn, row, db) for row in rows]


def cases_of_listing(db: WorkspaceDb, platform: str, listing_id: str) -> list[str]:
    ensure_schema(db)
    rows = db.conn().execute(
        "SELECT case_id FROM case_listings WHERE platform = ? AND listing_id = ? ORDER BY case_id",
        (platform, listing_id),
    )
    return [row[0] for row in rows]


def add_listing(db: WorkspaceDb, actor: str, case_id: str, record: ListingRecord) -> bool:
    """Add a confirmed listing; False when it is in the case already."""
    ensure_schema(db)
    listing = record.listing
    if not record.reviews or record.reviews[0].decision != "confirmed":
        raise CaseError("只有确认违法的商品才能加入案件 (only confirmed listings)")
    seller = listing.seller
    snapshot = {
        "title": listing.title,
        "url": listing.url,
        "category": listing.category,
        "seller": (seller.name or seller.seller_id) if seller else "",
        "price": str(listing.price) if listing.price is not None else None,
        "sales": listing.sales,
        "capture_id": record.evidence[0].capture_id if record.evidence else "",
    }
    now = to_text(db.now())
    with db.write() as conn:
        case = conn.execute("SELECT status FROM cases WHERE case_id = ?", (case_id,)).fetchone()
        if case is None:
            raise CaseError(f"没有案件 {case_id} (no such case)")
        cursor = conn.execute(
            "INSERT OR IGNORE INTO case_listings(case_id, platform, listing_id, title, url,"
            " category, seller, price, sales, capture_id, added_by, added_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (case_id, listing.platform, listing.listing_id, *snapshot.values(), actor, now),
        )
        if cursor.rowcount == 0:
            return False
        conn.execute("UPDATE cases SET updated_at = ? WHERE case_id = ?", (now, case_id))
        audit.record(
            db,
            actor,
            "case.add_listing",
            f"case:{case_id}",
            after={"listing": f"{listing.platform}/{listing.listing_id}"} | snapshot,
            conn=conn,
        )
    return True


def remove_listing(
    db: WorkspaceDb, actor: str, case_id: str, platform: str, listing_id: str
) -> bool:
    ensure_schema(db)
    with db.write() as conn:
        row = conn.execute(
            "SELECT * FROM case_listings WHERE case_id = ? AND platform = ? AND listing_id = ?",
            (case_id, platform, listing_id),
        ).fetchone()
        if row is None:
            return False
        conn.execute(
            "DELETE FROM case_listings WHERE case_id = ? AND platform = ? AND listing_id = ?",
            (case_id, platform, listing_id),
        )
        conn.execute(
            "UPDATE cases SET updated_at = ? WHERE case_id = ?", (to_text(db.now()), case_id)
        )
        audit.record(
            db,
            actor,
            "case.remove_listing",
            f"case:{case_id}",
            before=dict(row),
            conn=conn,
        )
    return True


def set_status(db: WorkspaceDb, actor: str, case_id: str, status: str) -> None:
    if status not in STATUSES:
        raise CaseError(f"unknown status {status!r}; one of {STATUSES}")
    ensure_schema(db)
    with db.write() as conn:
        row = conn.execute("SELECT status FROM cases WHERE case_id = ?", (case_id,)).fetchone()
        if row is None:
            raise CaseError(f"没有案件 {case_id} (no such case)")
        conn.execute(
            "UPDATE cases SET status = ?, updated_at = ? WHERE case_id = ?",
            (status, to_text(db.now()), case_id),
        )
        audit.record(
            db,
            actor,
            "case.status",
            f"case:{case_id}",
            before={"status": row["status"]},
            after={"status": status},
            conn=conn,
        )


def priority_share(cases: list[Case], priority_categories: set[str]) -> tuple[int, int]:
    """(cases with at least one listing in a priority category, cases with listings)."""
    counted = [case for case in cases if case.listings]
    priority = [case for case in counted if case.categories() & priority_categories]
    return len(priority), len(counted)


# --- the evidence package --------------------------------------------------------------------
def export_package(archive: Archive, case: Case, home: Path) -> tuple[bytes, str]:
    """(zip bytes, how it was made). The capture engineer's ``evidence.export`` (sealed ledger
    segment, manifests, verification) when it can export these captures; otherwise a zip of each
    listing's latest capture files with a manifest of SHA-256 hashes, re-read (and so checked)
    from the store."""
    capture_ids = [item.capture_id for item in case.listings if item.capture_id]
    try:
        from evidence.export import ExportError, export
    except ImportError:
        pass
    else:
        out = home / "exports" / f"{case.case_id}.zip"
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            export(
                archive,
                out,
                capture_ids=capture_ids,
                case_id=case.case_id,
                investigators=list(case.investigators),
                with_pdf=False,
            )
            return out.read_bytes(), "evidence.export"
        except (ExportError, TypeError, ValueError, OSError):
            pass  # no sealed captures yet: the plain package below still gives the files
    return _plain_package(archive, case), "workspace"


def _plain_package(archive: Archive, case: Case) -> bytes:
    buffer = io.BytesIO()
    manifest: dict[str, Any] = {
        "case_id": case.case_id,
        "title": case.title,
        "investigators": list(case.investigators),
        "goods_value_cny": str(case.goods_value),
        "listings": [],
    }
    sums: list[str] = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for item in case.listings:
            record = archive.get_listing(item.platform, item.listing_id)
            entry: dict[str, Any] = {
                "platform": item.platform,
                "listing_id": item.listing_id,
                "title": item.title,
                "url": item.url,
                "price": str(item.price) if item.price is not None else None,
                "sales": item.sales,
                "files": [],
                "flags": [],
                "reviews": [],
            }
            if record is not None:
                entry["flags"] = [flag.to_dict() for flag in record.flags]
                entry["reviews"] = [review.to_dict() for review in record.reviews]
                capture = record.evidence[0] if record.evidence else None
                if capture is not None:
                    entry["capture"] = capture.to_dict()
                    for artifact in capture.artifacts:
                        name = f"files/{artifact.sha256}"
                        try:
                            data = archive.read_blob(artifact.sha256)
                        except (FileNotFoundError, ValueError) as exc:
                            entry["files"].append({"sha256": artifact.sha256, "error": str(exc)})
                            continue
                        if name not in zf.namelist():
                            zf.writestr(name, data)
                            sums.append(f"{artifact.sha256}  {name}")
                        entry["files"].append(
                            {
                                "path": name,
                                "kind": artifact.kind,
                                "sha256": artifact.sha256,
                                "size": artifact.size,
                                "media_type": artifact.media_type,
                            }
                        )
            manifest["listings"].append(entry)
        body = json.dumps(manifest, ensure_ascii=False, indent=2, default=str).encode()
        zf.writestr("manifest.json", body)
        zf.writestr("SHA256SUMS", "\n".join(sums) + "\n")
    return buffer.getvalue()
