"""Move a SQLite archive into Elasticsearch, verifiably (``marketguard store migrate``).

Everything is copied as stored, not re-derived: every listing version with the flags it had,
first/last seen, the latest decision, gone marks, every capture record, every blob, every
review and error, the passes and the ledger in its storage order. Document ids are the ones
the Elasticsearch archive itself would use (listing key, ``key@version``, capture id, SHA-256,
ledger position; reviews and errors by their SQLite row id), so running the migration again
overwrites each document with itself.

Verification reads both sides afresh and compares, per kind, the number of items and a digest
(SHA-256 over the sorted canonical lines of every item). Blobs are re-read from Elasticsearch
and re-hashed, so a blob that arrived damaged is a mismatch, not a match by name.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from evidence.archive.elasticsearch import ElasticsearchArchive
from evidence.archive.es_documents import DESCRIPTION_HEAD, doc_key
from evidence.archive.sqlite import DB_NAME
from evidence.hashing import sha256_bytes

KINDS = (
    "passes",
    "listings",
    "versions",
    "flags",
    "evidence",
    "blobs",
    "reviews",
    "errors",
    "ledger",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The score a listing stored before risk scores existed gets (as SQLite's schema 4 gives it).
_SEVERITY_POINTS = {3: 45, 2: 25, 1: 10, 0: 0}


@dataclass(slots=True)
class KindCheck:
    kind: str
    source_count: int
    target_count: int
    source_digest: str
    target_digest: str

    @property
    def ok(self) -> bool:
        return (self.source_count, self.source_digest) == (self.target_count, self.target_digest)


@dataclass(slots=True)
class MigrationReport:
    source: str
    target: str
    written: dict[str, int] = field(default_factory=dict)
    corrupted_blobs: list[str] = field(default_factory=list)  # in the source; not copied
    checks: list[KindCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.corrupted_blobs and all(check.ok for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "ok": self.ok,
            "written": self.written,
            "corrupted_blobs": self.corrupted_blobs,
            "checks": [
                {
                    "kind": c.kind,
                    "source_count": c.source_count,
                    "target_count": c.target_count,
                    "source_sha256": c.source_digest,
                    "target_sha256": c.target_digest,
                    "ok": c.ok,
                }
                for c in self.checks
            ],
        }

    def text(self) -> str:
        lines = [
            f"source  {self.source}",
            f"target  {self.target}",
            "",
            f"{'kind':10} {'source':>9} {'target':>9}  {'source sha256':16}  "
            f"{'target sha256':16}  result",
        ]
        for c in self.checks:
            lines.append(
                f"{c.kind:10} {c.source_count:>9} {c.target_count:>9}  {c.source_digest[:16]}  "
                f"{c.target_digest[:16]}  {'ok' if c.ok else 'MISMATCH'}"
            )
        for sha in self.corrupted_blobs:
            lines.append(f"corrupted blob in the source, not copied: {sha}")
        lines.append("")
        lines.append("verified: every kind matches" if self.ok else "NOT VERIFIED: see above")
        return "\n".join(lines)


# --- reading the SQLite side ------------------------------------------------------------------
class SqliteSource:
    """Read-only view of a SQLite home (the file is opened with mode=ro)."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        path = self.home / DB_NAME
        if not path.is_file():
            raise FileNotFoundError(f"no SQLite archive at {path}")
        self.location = str(path)
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self.db.row_factory = sqlite3.Row
        self.columns = {row[1] for row in self.db.execute("PRAGMA table_info(listings)")}
        self.has_ledger = bool(
            self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ledger'"
            ).fetchone()
        )

    def close(self) -> None:
        self.db.close()

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[sqlite3.Row]:
        yield from self.db.execute(sql, params)

    def blob_files(self) -> Iterator[Path]:
        root = self.home / "blobs"
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file() and not path.name.startswith(".tmp-"):
                    yield path

    # documents, exactly as the Elasticsearch archive stores them
    def documents(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        return getattr(self, f"_docs_{kind}")()

    def _docs_passes(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for r in self.rows("SELECT * FROM passes ORDER BY pass_id"):
            yield (
                str(r["pass_id"]),
                {
                    "pass_id": r["pass_id"],
                    "token": f"migrated:{r['pass_id']}",
                    "started_at": r["started_at"],
                    "finished_at": r["finished_at"],
                    "settings": json.loads(r["settings"]),
                    "summary": json.loads(r["summary"]),
                },
            )

    def _docs_listings(self) -> Iterator[tuple[str, dict[str, Any]]]:
        gone = "gone_at" in self.columns
        for r in self.rows("SELECT * FROM listings ORDER BY id"):
            key = doc_key(r["platform"], r["listing_id"])
            data = json.loads(
                self.db.execute(
                    "SELECT data FROM listing_versions WHERE listing_pk = ? AND version = ?",
                    (r["id"], r["version"]),
                ).fetchone()["data"]
            )
            doc: dict[str, Any] = {
                "key": key,
                "platform": r["platform"],
                "listing_id": r["listing_id"],
                "seq": r["id"],  # SQLite's insertion order, the queue's last tie-breaker
                "version": r["version"],
                "content_hash": r["content_hash"],
                "url": r["url"],
                "title": r["title"],
                "description": data.get("description", ""),
                "description_head": data.get("description", "")[:DESCRIPTION_HEAD],
                "price": r["price"],
                "currency": r["currency"],
                "category": r["category"],
                "seller_name": r["seller_name"],
                "seller_location": r["seller_location"],
                "first_seen": r["first_seen"],
                "first_seen_us": _us(r["first_seen"]),
                "last_seen": r["last_seen"],
                "last_seen_us": _us(r["last_seen"]),
                "last_pass_id": r["last_pass_id"],
                "max_severity": r["max_severity"],
                "risk_score": r["risk_score"]
                if "risk_score" in self.columns
                else _SEVERITY_POINTS[r["max_severity"]],
                "seller_id": (data.get("seller") or {}).get("seller_id", ""),
                "flag_count": r["flag_count"],
                "rule_ids": json.loads(r["rule_ids"]),
                "search_keyword": r["search_keyword"] if "search_keyword" in self.columns else "",
            }
            review = self.db.execute(
                "SELECT id, decision, decided_at FROM reviews WHERE listing_pk = ?"
                " ORDER BY decided_at DESC, id DESC LIMIT 1",
                (r["id"],),
            ).fetchone()
            if review is not None:
                doc.update(
                    decision=review["decision"],
                    decision_at_us=_us(review["decided_at"]),
                    decision_seq=review["id"],
                )
            shot = self.db.execute(
                "SELECT a.sha256, e.started_at, e.id FROM evidence e"
                " JOIN evidence_artifacts a ON a.evidence_pk = e.id AND a.kind = 'screenshot'"
                " WHERE e.listing_pk = ? ORDER BY e.started_at DESC, e.id DESC, a.position"
                " LIMIT 1",
                (r["id"],),
            ).fetchone()
            if shot is not None:
                doc.update(
                    screenshot_sha256=shot["sha256"],
                    screenshot_at_us=_us(shot["started_at"]),
                    screenshot_seq=shot["id"],
                )
            if gone and r["gone_at"]:
                doc.update(gone_at=r["gone_at"], gone_at_us=_us(r["gone_at"]))
            yield key, doc

    def _docs_versions(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for r in self.rows(
            "SELECT l.platform, l.listing_id, v.* FROM listing_versions v"
            " JOIN listings l ON l.id = v.listing_pk ORDER BY v.listing_pk, v.version"
        ):
            key = doc_key(r["platform"], r["listing_id"])
            data = json.loads(r["data"])
            yield (
                f"{key}@{r['version']}",
                {
                    "key": key,
                    "platform": r["platform"],
                    "listing_id": r["listing_id"],
                    "version": r["version"],
                    "content_hash": r["content_hash"],
                    "seen_at": r["seen_at"],
                    "pass_id": r["pass_id"],
                    "title": data.get("title", ""),
                    "description": data.get("description", ""),
                    "data": data,
                },
            )

    def _docs_flags(self) -> Iterator[tuple[str, dict[str, Any]]]:
        # One document per version, flags or not (as the archive writes them).
        for v in self.rows(
            "SELECT l.platform, l.listing_id, v.listing_pk, v.version FROM listing_versions v"
            " JOIN listings l ON l.id = v.listing_pk ORDER BY v.listing_pk, v.version"
        ):
            key = doc_key(v["platform"], v["listing_id"])
            flags = [
                json.loads(f["data"])
                for f in self.db.execute(
                    "SELECT data FROM flags WHERE listing_pk = ? AND version = ? ORDER BY position",
                    (v["listing_pk"], v["version"]),
                )
            ]
            yield (
                f"{key}@{v['version']}",
                {
                    "key": key,
                    "platform": v["platform"],
                    "listing_id": v["listing_id"],
                    "version": v["version"],
                    "rule_ids": list(dict.fromkeys(f["rule_id"] for f in flags)),
                    "items": [
                        {
                            "position": i,
                            "rule_id": f["rule_id"],
                            "severity": f["severity"],
                            "field": f.get("field", ""),
                            "snippet": f.get("snippet", ""),
                        }
                        for i, f in enumerate(flags)
                    ],
                    "data": {"flags": flags},
                },
            )

    def _docs_evidence(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for r in self.rows(
            "SELECT l.platform, l.listing_id, e.* FROM evidence e"
            " JOIN listings l ON l.id = e.listing_pk ORDER BY e.id"
        ):
            data = json.loads(r["data"])
            yield (
                r["capture_id"],
                {
                    "key": doc_key(r["platform"], r["listing_id"]),
                    "platform": r["platform"],
                    "listing_id": r["listing_id"],
                    "capture_id": r["capture_id"],
                    "case_id": data.get("case_id", ""),
                    "version": r["version"],
                    "pass_id": r["pass_id"],
                    "started_at": r["started_at"],
                    "started_us": _us(r["started_at"]),
                    "seq": r["id"],
                    "artifacts": [
                        {
                            "kind": a["kind"],
                            "media_type": a["media_type"],
                            "sha256": a["sha256"],
                            "size": a["size"],
                            "source_url": a.get("source_url", ""),
                        }
                        for a in data.get("artifacts", [])
                    ],
                    "data": data,
                },
            )

    def _docs_reviews(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for r in self.rows(
            "SELECT l.platform, l.listing_id, r.* FROM reviews r"
            " JOIN listings l ON l.id = r.listing_pk ORDER BY r.id"
        ):
            yield (
                f"m{r['id']}",
                {
                    "key": doc_key(r["platform"], r["listing_id"]),
                    "platform": r["platform"],
                    "listing_id": r["listing_id"],
                    "decision": r["decision"],
                    "reviewer": r["reviewer"],
                    "reason": r["reason"],
                    "decided_at": r["decided_at"],
                    "decided_us": _us(r["decided_at"]),
                    "seq": r["id"],
                },
            )

    def _docs_errors(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for r in self.rows("SELECT * FROM errors ORDER BY id"):
            yield (
                f"m{r['id']}",
                {
                    "pass_id": r["pass_id"],
                    "url": r["url"],
                    "kind": r["kind"],
                    "message": r["message"],
                    "at": r["at"],
                    "at_us": _us(r["at"]),
                    "seq": r["id"],
                },
            )

    def _docs_ledger(self) -> Iterator[tuple[str, dict[str, Any]]]:
        if not self.has_ledger:
            return
        for r in self.rows("SELECT * FROM ledger ORDER BY position"):
            yield (
                str(r["position"]),
                {
                    "position": r["position"],
                    "seq": r["seq"],
                    "kind": r["kind"],
                    "capture_id": r["capture_id"],
                    "case_id": r["case_id"],
                    "entry_hash": r["entry_hash"],
                    "entry_json": r["data"],  # verbatim: the ledger is copied, never rebuilt
                },
            )


# --- fingerprints: one canonical line per item, the same function on both sides --------------
def _line(*parts: Any) -> str:
    return json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


FINGERPRINTS: dict[str, Callable[[str, dict[str, Any]], str]] = {
    "passes": lambda i, d: _line(
        i, d["pass_id"], _us(d["started_at"]), _us_or_none(d.get("finished_at")), d["summary"]
    ),
    "listings": lambda i, d: _line(
        i,
        d["version"],
        d["content_hash"],
        d["first_seen_us"],
        d["last_seen_us"],
        d["category"],
        d["max_severity"],
        d.get("risk_score", 0),
        d["rule_ids"],
        d.get("decision"),
        d.get("gone_at_us"),
        d.get("screenshot_sha256"),
    ),
    "versions": lambda i, d: _line(i, d["content_hash"], d["data"]),
    "flags": lambda i, d: _line(i, d["data"]["flags"]),
    "evidence": lambda i, d: _line(i, d["data"]),
    "reviews": lambda i, d: _line(
        d["key"], d["decision"], d["reviewer"], d["reason"], d["decided_us"]
    ),
    "errors": lambda i, d: _line(d["pass_id"], d["url"], d["kind"], d["message"], d["at_us"]),
    "ledger": lambda i, d: _line(d["position"], d["entry_json"]),
}


def _digest(lines: Iterable[str]) -> tuple[int, str]:
    ordered = sorted(lines)
    digest = hashlib.sha256()
    for line in ordered:
        digest.update(line.encode("utf-8") + b"\n")
    return len(ordered), digest.hexdigest()


# --- the migration ----------------------------------------------------------------------------
def migrate_sqlite_to_es(
    home: Path, target: ElasticsearchArchive, *, verify_only: bool = False
) -> MigrationReport:
    source = SqliteSource(home)
    report = MigrationReport(source=source.location, target=target.location)
    try:
        if not verify_only:
            for kind in KINDS:
                if kind == "blobs":
                    report.written["blobs"] = _copy_blobs(source, target, report)
                else:
                    report.written[kind] = target.put_documents(
                        kind,
                        source.documents(kind),
                        create=kind in ("evidence", "ledger"),
                    )
        report.checks = verify(source, target)
    finally:
        source.close()
    return report


def _copy_blobs(source: SqliteSource, target: ElasticsearchArchive, report: MigrationReport) -> int:
    def documents() -> Iterator[tuple[str, dict[str, Any]]]:
        for path in source.blob_files():
            data = path.read_bytes()
            if sha256_bytes(data) != path.name:
                report.corrupted_blobs.append(path.name)
                continue
            yield (
                path.name,
                {
                    "sha256": path.name,
                    "size": len(data),
                    "stored_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"),
                    "data": base64.b64encode(data).decode("ascii"),
                },
            )

    return target.put_documents("blobs", documents(), create=True)


def verify(source: SqliteSource, target: ElasticsearchArchive) -> list[KindCheck]:
    checks = []
    for kind in KINDS:
        if kind == "blobs":
            src = _digest(
                path.name
                for path in source.blob_files()
                if sha256_bytes(path.read_bytes()) == path.name
            )
            # Re-hash what the cluster holds: a name proves nothing about the bytes.
            dst = _digest(
                sha256_bytes(base64.b64decode(doc["data"])) for _, doc in target.documents("blobs")
            )
        else:
            fingerprint = FINGERPRINTS[kind]
            src = _digest(fingerprint(i, d) for i, d in source.documents(kind))
            dst = _digest(fingerprint(i, d) for i, d in target.documents(kind))
        checks.append(KindCheck(kind, src[0], dst[0], src[1], dst[1]))
    return checks


def _us(value: str) -> int:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // timedelta(microseconds=1)


def _us_or_none(value: str | None) -> int | None:
    return _us(value) if value else None
