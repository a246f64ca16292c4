"""The default store: one SQLite file plus a content-addressed folder of blobs.

Layout under ``home``::

    marketguard.db            listings, versions, flags, evidence, reviews, errors, passes
    blobs/<aa>/<sha256>       artifact bytes, named by the SHA-256 of those bytes

Every ``save_listing`` is one transaction, so a crash mid-pass loses only the listing being
written. The ``listings`` table carries a denormalised queue key (severity, last seen, rules,
latest decision) so the review queue reads an index instead of joining flags and reviews; those
columns are rewritten in the same transaction as the rows they summarise. See docs/store.md.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evidence.archive.base import (
    SHA256_HEX,
    BlobCorruptedError,
    FlaggedRow,
    ListingRecord,
    ListingState,
    PassRecord,
    QueueFilter,
    SavedListing,
    UnknownListingError,
    WorkClaim,
    check_evidence,
    check_flags,
    clamp_risk_score,
)
from evidence.hashing import sha256_bytes
from evidence.ledger import LedgerEntry, check_extends
from marketguard.models import (
    SEVERITY_ORDER,
    Evidence,
    Flag,
    Listing,
    PageError,
    Review,
    utcnow,
)

DB_NAME = "marketguard.db"
SCHEMA_VERSION = 6
DECISIONS = ("confirmed", "dismissed")
SEVERITY_NAMES = {rank: name for name, rank in SEVERITY_ORDER.items()}

# Queue columns (category and the sort key) repeat in the rule index (listing_rules) so that a
# page filtered by rule, or by rule and category, is an index walk in queue order rather than a
# sort of every listing carrying the rule.
_SCHEMA_V1 = """
CREATE TABLE passes (
    pass_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    settings    TEXT NOT NULL DEFAULT '{}',
    summary     TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE listings (
    id                INTEGER PRIMARY KEY,
    platform          TEXT NOT NULL,
    listing_id        TEXT NOT NULL,
    version           INTEGER NOT NULL,
    content_hash      TEXT NOT NULL,
    url               TEXT NOT NULL,
    title             TEXT NOT NULL,
    price             TEXT,
    currency          TEXT NOT NULL,
    category          TEXT NOT NULL,
    seller_name       TEXT NOT NULL,
    seller_location   TEXT NOT NULL,
    first_seen        TEXT NOT NULL,
    last_seen         TEXT NOT NULL,
    last_pass_id      INTEGER REFERENCES passes(pass_id),
    max_severity      INTEGER NOT NULL,  -- 3 high, 2 medium, 1 low, 0 not flagged
    flag_count        INTEGER NOT NULL,
    rule_ids          TEXT NOT NULL,     -- JSON list, for display
    decision          TEXT,              -- latest review decision (cache of reviews)
    UNIQUE (platform, listing_id)
);
CREATE INDEX listings_queue
    ON listings (max_severity DESC, last_seen DESC, id DESC) WHERE max_severity > 0;
CREATE INDEX listings_category_queue
    ON listings (category, max_severity DESC, last_seen DESC, id DESC) WHERE max_severity > 0;
CREATE INDEX listings_decision_queue
    ON listings (decision, max_severity DESC, last_seen DESC, id DESC) WHERE max_severity > 0;

CREATE TABLE listing_versions (
    listing_pk   INTEGER NOT NULL REFERENCES listings(id),
    version      INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    seen_at      TEXT NOT NULL,
    pass_id      INTEGER REFERENCES passes(pass_id),
    data         TEXT NOT NULL,          -- Listing.to_dict() as first seen with this content
    PRIMARY KEY (listing_pk, version)
) WITHOUT ROWID;

CREATE TABLE flags (
    id          INTEGER PRIMARY KEY,
    listing_pk  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    rule_id     TEXT NOT NULL,
    severity    TEXT NOT NULL,
    data        TEXT NOT NULL,           -- Flag.to_dict()
    FOREIGN KEY (listing_pk, version) REFERENCES listing_versions (listing_pk, version)
);
CREATE INDEX flags_by_version ON flags (listing_pk, version, position);

CREATE TABLE listing_rules (
    listing_pk   INTEGER NOT NULL REFERENCES listings(id),
    rule_id      TEXT NOT NULL,
    category     TEXT NOT NULL,
    max_severity INTEGER NOT NULL,
    last_seen    TEXT NOT NULL,
    PRIMARY KEY (listing_pk, rule_id)
) WITHOUT ROWID;
CREATE INDEX listing_rules_queue
    ON listing_rules (rule_id, max_severity DESC, last_seen DESC, listing_pk DESC);
CREATE INDEX listing_rules_category_queue
    ON listing_rules (rule_id, category, max_severity DESC, last_seen DESC, listing_pk DESC);

CREATE TABLE evidence (
    id          INTEGER PRIMARY KEY,
    capture_id  TEXT NOT NULL UNIQUE,
    listing_pk  INTEGER NOT NULL REFERENCES listings(id),
    version     INTEGER NOT NULL,
    pass_id     INTEGER REFERENCES passes(pass_id),
    started_at  TEXT NOT NULL,
    data        TEXT NOT NULL            -- Evidence.to_dict(), the capture record as made
);
CREATE INDEX evidence_by_listing ON evidence (listing_pk, started_at DESC, id DESC);

CREATE TABLE evidence_artifacts (
    evidence_pk INTEGER NOT NULL REFERENCES evidence(id),
    position    INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    source_url  TEXT NOT NULL,
    PRIMARY KEY (evidence_pk, position)
) WITHOUT ROWID;
CREATE INDEX evidence_artifacts_by_sha256 ON evidence_artifacts (sha256);

CREATE TABLE reviews (
    id          INTEGER PRIMARY KEY,
    listing_pk  INTEGER NOT NULL REFERENCES listings(id),
    decision    TEXT NOT NULL CHECK (decision IN ('confirmed', 'dismissed')),
    reviewer    TEXT NOT NULL CHECK (reviewer <> ''),
    reason      TEXT NOT NULL,
    decided_at  TEXT NOT NULL
);
CREATE INDEX reviews_by_listing ON reviews (listing_pk, decided_at DESC, id DESC);

CREATE TABLE errors (
    id       INTEGER PRIMARY KEY,
    pass_id  INTEGER REFERENCES passes(pass_id),
    url      TEXT NOT NULL,
    kind     TEXT NOT NULL,
    message  TEXT NOT NULL,
    at       TEXT NOT NULL
);
CREATE INDEX errors_by_pass ON errors (pass_id, at DESC, id DESC);
"""

# Incremental passes: whether a complete pass still found a listing, and under which keyword (a
# pass over some keywords only judges the listings those keywords found).
_SCHEMA_V2 = """
ALTER TABLE listings ADD COLUMN gone_at TEXT;
ALTER TABLE listings ADD COLUMN search_keyword TEXT NOT NULL DEFAULT '';
UPDATE listings SET search_keyword = COALESCE((
    SELECT json_extract(v.data, '$.search_keyword') FROM listing_versions v
    WHERE v.listing_pk = listings.id AND v.version = listings.version), '')
"""

# The evidence ledger (evidence/ledger.py). ``position`` is the storage order verify walks;
# ``data`` is the entry's JSON as sealed. The triggers make the table append-only for every
# client of the file, not just this class; someone with the file can still drop them, which is
# why verify recomputes the chain instead of trusting the table. A list: trigger bodies hold ";".
_SCHEMA_V3 = [
    """CREATE TABLE ledger (
        position    INTEGER PRIMARY KEY,
        seq         INTEGER NOT NULL,
        kind        TEXT NOT NULL,
        capture_id  TEXT NOT NULL,
        case_id     TEXT NOT NULL,
        entry_hash  TEXT NOT NULL,
        data        TEXT NOT NULL
    )""",
    "CREATE INDEX ledger_by_capture ON ledger (capture_id) WHERE capture_id <> ''",
    "CREATE INDEX ledger_by_case ON ledger (case_id) WHERE case_id <> ''",
    "CREATE INDEX ledger_checkpoints ON ledger (kind, position)",
    """CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
       BEGIN SELECT RAISE(ABORT, 'the evidence ledger is append-only'); END""",
    """CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
       BEGIN SELECT RAISE(ABORT, 'the evidence ledger is append-only'); END""",
    "ALTER TABLE evidence ADD COLUMN case_id TEXT NOT NULL DEFAULT ''",
    "CREATE INDEX evidence_by_case ON evidence (case_id, started_at, id) WHERE case_id <> ''",
]

# The risk score (matching/risk.py) orders the queue. Listings stored before it get the score
# their severity implies on its own (45/25/10), which keeps their old relative order.
_SCHEMA_V4 = [
    "ALTER TABLE listings ADD COLUMN risk_score INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE listing_rules ADD COLUMN risk_score INTEGER NOT NULL DEFAULT 0",
    """UPDATE listings SET risk_score =
         CASE max_severity WHEN 3 THEN 45 WHEN 2 THEN 25 WHEN 1 THEN 10 ELSE 0 END""",
    """UPDATE listing_rules SET risk_score =
         (SELECT l.risk_score FROM listings l WHERE l.id = listing_rules.listing_pk)""",
    """CREATE INDEX listings_risk_queue ON listings
         (risk_score DESC, max_severity DESC, last_seen DESC, id DESC) WHERE max_severity > 0""",
    """CREATE INDEX listings_category_risk_queue ON listings
         (category, risk_score DESC, max_severity DESC, last_seen DESC, id DESC)
         WHERE max_severity > 0""",
    """CREATE INDEX listings_decision_risk_queue ON listings
         (decision, risk_score DESC, max_severity DESC, last_seen DESC, id DESC)
         WHERE max_severity > 0""",
    """CREATE INDEX listing_rules_risk_queue ON listing_rules
         (rule_id, risk_score DESC, max_severity DESC, last_seen DESC, listing_pk DESC)""",
    """CREATE INDEX listing_rules_category_risk_queue ON listing_rules
         (rule_id, category, risk_score DESC, max_severity DESC, last_seen DESC,
          listing_pk DESC)""",
]

# The review workspace: the seller's id as a column (seller history is an index lookup), a
# trigram full-text index over title, seller name and description (substring search in Chinese
# without a word segmenter; rowid = listings.id), and first_seen for the date filter.
_SCHEMA_V5 = [
    "ALTER TABLE listings ADD COLUMN seller_id TEXT NOT NULL DEFAULT ''",
    """UPDATE listings SET seller_id = COALESCE((
         SELECT json_extract(v.data, '$.seller.seller_id') FROM listing_versions v
         WHERE v.listing_pk = listings.id AND v.version = listings.version), '')""",
    "CREATE INDEX listings_by_seller ON listings (platform, seller_id) WHERE seller_id <> ''",
    """CREATE VIRTUAL TABLE listings_fts USING fts5
         (title, seller_name, description, tokenize = 'trigram')""",
    """INSERT INTO listings_fts (rowid, title, seller_name, description)
         SELECT l.id, l.title, l.seller_name,
                COALESCE(json_extract(v.data, '$.description'), '')
           FROM listings l JOIN listing_versions v
             ON v.listing_pk = l.id AND v.version = l.version""",
]

# version -> script (or statement list) bringing the schema from version - 1 to version
# Once-only work of the Celery workers: a capture done is recorded here with its evidence, so
# a task delivered twice (its worker died before acknowledging it) captures once.
_SCHEMA_V6 = [
    """CREATE TABLE work_log (
        key          TEXT PRIMARY KEY,
        owner        TEXT NOT NULL,
        lease_until  REAL NOT NULL,
        done_at      TEXT,
        result       TEXT
    )""",
]

_MIGRATIONS: dict[int, str | list[str]] = {
    1: _SCHEMA_V1,
    2: _SCHEMA_V2,
    3: _SCHEMA_V3,
    4: _SCHEMA_V4,
    5: _SCHEMA_V5,
    6: _SCHEMA_V6,
}


class SqliteArchive:
    """The Archive protocol over stdlib sqlite3 and a blob folder.

    Writes go through one connection behind a lock (the crawl writes from one thread, decisions
    from the web app's). Reads use a read-only connection per thread, so the web app's thread
    pool reads side by side (WAL: readers never wait for each other or for a writer) instead of
    queueing on the write lock; a read sees every commit made before it started. Inside a
    ``batch`` its own thread reads through the write connection, so it sees its uncommitted
    writes; other threads see the state before the batch until it commits. Other processes may
    open the same file; the busy timeout makes their writes wait instead of failing.
    """

    # batch() is a transaction (all or nothing), not just a buffer.
    transactional_batch = True

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.blob_root = self.home / "blobs"
        self.blob_root.mkdir(exist_ok=True)
        self.db_path = self.home / DB_NAME
        self.location = str(self.db_path)
        self._lock = threading.RLock()
        self._in_batch = False
        self._batch_thread: int | None = None
        self._closed = False
        self._local = threading.local()
        # A reader lives as long as its thread (held by the thread-local); this set only lets
        # close() reach the readers still alive.
        self._readers: weakref.WeakSet[_Reader] = weakref.WeakSet()
        self._readers_lock = threading.Lock()
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction is exactly
        # the block we mean and never an implicit one left open by a SELECT.
        self._conn = sqlite3.connect(
            self.db_path, check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode: a commit survives a process crash; only a power cut may lose the
        # last few commits, and never corrupts the file.
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    # --- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection; closing twice is harmless (pipelines and the CLI both may)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            # Keeps the planner's statistics fresh for the queue indexes; an optimisation only,
            # so a busy database must not make closing fail.
            with suppress(sqlite3.Error):
                self._conn.execute("PRAGMA optimize")
            self._conn.close()
            with self._readers_lock:
                readers = list(self._readers)
            for reader in readers:
                reader.conn.close()

    def __enter__(self) -> SqliteArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Commit many writes at once (bulk imports, re-matching a whole store).

        Each write inside stays all-or-nothing (a savepoint), so a write that raises can be
        caught and the batch goes on; but nothing is durable until the batch ends, and a crash
        loses the whole batch. The crawl therefore writes listing by listing, never in a batch.
        Other threads wait for the batch to finish.
        """
        with self._lock:
            if self._in_batch:
                raise RuntimeError("batches do not nest")
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_batch, self._batch_thread = True, threading.get_ident()
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._in_batch, self._batch_thread = False, None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._in_batch:
                begin, commit, rollback = "SAVEPOINT write", "RELEASE write", "ROLLBACK TO write"
            else:
                # IMMEDIATE takes the write lock up front, so two writers queue on the busy
                # timeout instead of one failing half-way with "database is locked".
                begin, commit, rollback = "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"
            self._conn.execute(begin)
            try:
                yield self._conn
            except BaseException:
                self._conn.execute(rollback)
                if self._in_batch:
                    self._conn.execute(commit)  # ROLLBACK TO keeps the savepoint open
                raise
            self._conn.execute(commit)

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """Several reads that see one state of the file, even while another thread writes."""
        if self._batch_thread == threading.get_ident():  # already inside our own transaction
            with self._lock:
                yield self._conn
            return
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _read(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        if self._batch_thread == threading.get_ident():
            with self._lock:
                return self._conn.execute(sql, params).fetchall()
        return self._reader().execute(sql, params).fetchall()

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection, opened on its first read."""
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        reader: _Reader | None = getattr(self._local, "reader", None)
        if reader is None:
            conn = sqlite3.connect(
                self.db_path, check_same_thread=False, isolation_level=None, timeout=10.0
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA query_only = ON")
            # Each connection has its own page cache, cold when a pool thread first reads;
            # mapping the file lets every reader share the OS's cached pages without copies.
            conn.execute(f"PRAGMA mmap_size = {_READ_MMAP}")
            reader = self._local.reader = _Reader(conn)
            with self._readers_lock:
                self._readers.add(reader)
        return reader.conn

    def _migrate(self) -> None:
        with self._transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version"
                " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            current = db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
            if current > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.db_path} has schema version {current}; this MarketGuard knows "
                    f"only up to {SCHEMA_VERSION}. Upgrade MarketGuard to open it."
                )
            applied = {row[0] for row in db.execute("SELECT version FROM schema_version")}
            # Every missing step, not just those above the highest: a step is independent of
            # the ones after it, and a store may have had one taken back.
            for version in [v for v in range(1, SCHEMA_VERSION + 1) if v not in applied]:
                # executescript() would COMMIT our transaction; run statement by statement.
                script = _MIGRATIONS[version]
                statements = script.split(";") if isinstance(script, str) else script
                for statement in statements:
                    if statement.strip():
                        db.execute(statement)
                db.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, _ts(utcnow())),
                )

    # --- monitoring passes ------------------------------------------------------------------
    def begin_pass(self, settings: dict[str, Any] | None = None) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO passes (started_at, settings) VALUES (?, ?)",
                (_ts(utcnow()), _json(settings or {})),
            )
            return int(cursor.lastrowid or 0)

    def finish_pass(self, pass_id: int, summary: dict[str, Any]) -> None:
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE passes SET finished_at = ?, summary = ? WHERE pass_id = ?",
                (_ts(utcnow()), _json(summary), pass_id),
            )
            if cursor.rowcount == 0:
                raise LookupError(f"no pass {pass_id}")

    def get_pass(self, pass_id: int) -> PassRecord | None:
        rows = self._read("SELECT * FROM passes WHERE pass_id = ?", (pass_id,))
        return _pass_record(rows[0]) if rows else None

    def latest_pass(self) -> PassRecord | None:
        rows = self._read("SELECT * FROM passes ORDER BY pass_id DESC LIMIT 1")
        return _pass_record(rows[0]) if rows else None

    # --- once-only work ----------------------------------------------------------------------
    def claim_work(self, key: str, owner: str, lease_seconds: float) -> WorkClaim:
        now = time.time()
        with self._transaction() as db:
            row = db.execute(
                "SELECT owner, lease_until, done_at, result FROM work_log WHERE key = ?", (key,)
            ).fetchone()
            if row is not None and row["done_at"] is not None:
                return WorkClaim("done", json.loads(row["result"] or "{}"))
            if row is not None and row["owner"] != owner and row["lease_until"] > now:
                return WorkClaim("busy")
            db.execute(
                "INSERT INTO work_log (key, owner, lease_until) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET owner = excluded.owner,"
                " lease_until = excluded.lease_until",
                (key, owner, now + lease_seconds),
            )
        return WorkClaim("claimed")

    def finish_work(self, key: str, owner: str, result: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO work_log (key, owner, lease_until, done_at, result)"
                " VALUES (?, ?, 0, ?, ?) ON CONFLICT (key) DO UPDATE SET owner = excluded.owner,"
                " done_at = excluded.done_at, result = excluded.result",
                (key, owner, _ts(utcnow()), _json(result)),
            )

    def work_results(self, prefix: str) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT result FROM work_log WHERE key >= ? AND key < ? AND done_at IS NOT NULL",
            (prefix, prefix + "\U0010ffff"),
        )
        return [json.loads(row["result"] or "{}") for row in rows]

    # --- writes from the crawl pipeline -----------------------------------------------------
    def save_listing(
        self,
        listing: Listing,
        flags: list[Flag],
        evidence: Evidence | None = None,
        pass_id: int | None = None,
        risk_score: int | None = None,
    ) -> SavedListing:
        """Upsert by (platform, listing_id), keeping earlier versions; one atomic write.

        Flags belong to a version. A save always stores *its* flags against the version it
        lands on: a new version gets them fresh; an unchanged listing has its current version's
        flags replaced, because unchanged content with different flags means the rules changed
        and the queue must show what today's rules say. Earlier versions keep their flags.
        """
        check_flags(flags)
        if evidence is not None:
            check_evidence(listing, evidence)
        data = listing.to_dict()
        content_hash = listing.content_hash(data)
        seen = _ts(listing.crawled_at)
        max_severity = max((SEVERITY_ORDER[f.severity] for f in flags), default=0)
        risk = clamp_risk_score(risk_score, flags) if flags else 0
        rule_ids = list(dict.fromkeys(f.rule_id for f in flags))
        seller = listing.seller
        columns = {
            "url": listing.url,
            "title": listing.title,
            "price": data["price"],
            "currency": listing.currency,
            "category": listing.category,
            "seller_name": seller.name if seller else "",
            "seller_location": seller.location if seller else "",
            "seller_id": seller.seller_id if seller else "",
            "max_severity": max_severity,
            "risk_score": risk,
            "flag_count": len(flags),
            "rule_ids": _json(rule_ids),
            "search_keyword": listing.search_keyword,
            "gone_at": None,  # found again
        }
        with self._transaction() as db:
            row = db.execute(
                "SELECT id, version, content_hash, last_seen FROM listings"
                " WHERE platform = ? AND listing_id = ?",
                (listing.platform, listing.listing_id),
            ).fetchone()
            if row is None:
                pk = db.execute(
                    "INSERT INTO listings (platform, listing_id, version, content_hash,"
                    " first_seen, last_seen, last_pass_id, "
                    + ", ".join(columns)
                    + ") VALUES (?, ?, 1, ?, ?, ?, ?, "
                    + ", ".join("?" * len(columns))
                    + ")",
                    (
                        listing.platform,
                        listing.listing_id,
                        content_hash,
                        seen,
                        seen,
                        pass_id,
                        *columns.values(),
                    ),
                ).lastrowid
                version, changed, last_seen = 1, True, seen
            else:
                pk = row["id"]
                changed = row["content_hash"] != content_hash
                version = row["version"] + 1 if changed else row["version"]
                last_seen = max(row["last_seen"], seen)
                db.execute(
                    "UPDATE listings SET version = ?, content_hash = ?, last_seen = ?,"
                    " last_pass_id = COALESCE(?, last_pass_id), "
                    + ", ".join(f"{name} = ?" for name in columns)
                    + " WHERE id = ?",
                    (version, content_hash, last_seen, pass_id, *columns.values(), pk),
                )
            if changed:
                db.execute(
                    "INSERT INTO listing_versions"
                    " (listing_pk, version, content_hash, seen_at, pass_id, data)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (pk, version, content_hash, seen, pass_id, _json(data)),
                )
            else:
                db.execute("DELETE FROM flags WHERE listing_pk = ? AND version = ?", (pk, version))
            db.executemany(
                "INSERT INTO flags (listing_pk, version, position, rule_id, severity, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (pk, version, i, f.rule_id, f.severity, _json(f.to_dict()))
                    for i, f in enumerate(flags)
                ],
            )
            db.execute("DELETE FROM listing_rules WHERE listing_pk = ?", (pk,))
            db.executemany(
                "INSERT INTO listing_rules"
                " (listing_pk, rule_id, category, max_severity, last_seen, risk_score)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (pk, rule_id, listing.category, max_severity, last_seen, risk)
                    for rule_id in rule_ids
                ],
            )
            if changed:
                db.execute("DELETE FROM listings_fts WHERE rowid = ?", (pk,))
                db.execute(
                    "INSERT INTO listings_fts (rowid, title, seller_name, description)"
                    " VALUES (?, ?, ?, ?)",
                    (pk, listing.title, columns["seller_name"], listing.description),
                )
            if evidence is not None:
                self._insert_evidence(db, pk, version, pass_id, evidence)
        return SavedListing(version=version, changed=changed)

    @staticmethod
    def _insert_evidence(
        db: sqlite3.Connection, pk: int, version: int, pass_id: int | None, evidence: Evidence
    ) -> None:
        # A capture saved twice (a retried item) stays one record: capture_id is its identity.
        cursor = db.execute(
            "INSERT INTO evidence"
            " (capture_id, listing_pk, version, pass_id, started_at, data, case_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (capture_id) DO NOTHING",
            (
                evidence.capture_id,
                pk,
                version,
                pass_id,
                _ts(evidence.started_at),
                _json(evidence.to_dict()),
                evidence.case_id,
            ),
        )
        if cursor.rowcount == 0:
            return
        evidence_pk = cursor.lastrowid
        db.executemany(
            "INSERT INTO evidence_artifacts"
            " (evidence_pk, position, kind, media_type, sha256, size, source_url)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (evidence_pk, i, a.kind, a.media_type, a.sha256, a.size, a.source_url)
                for i, a in enumerate(evidence.artifacts)
            ],
        )

    # --- incremental passes ------------------------------------------------------------------
    def listing_states(self, platform: str) -> dict[str, ListingState]:
        rows = self._read(
            "SELECT listing_id, url, content_hash, last_seen, search_keyword, gone_at,"
            " max_severity > 0 AND NOT EXISTS"
            " (SELECT 1 FROM evidence e WHERE e.listing_pk = listings.id) AS needs_evidence"
            " FROM listings WHERE platform = ?",
            (platform,),
        )
        return {
            row["listing_id"]: ListingState(
                listing_id=row["listing_id"],
                url=row["url"],
                content_hash=row["content_hash"],
                last_seen=_dt(row["last_seen"]),
                search_keyword=row["search_keyword"],
                gone_at=_dt(row["gone_at"]) if row["gone_at"] else None,
                needs_evidence=bool(row["needs_evidence"]),
            )
            for row in rows
        }

    def touch_listing(
        self, platform: str, listing_id: str, seen_at: datetime, pass_id: int | None = None
    ) -> bool:
        seen = _ts(seen_at)
        with self._transaction() as db:
            row = db.execute(
                "SELECT id, last_seen FROM listings WHERE platform = ? AND listing_id = ?",
                (platform, listing_id),
            ).fetchone()
            if row is None:
                return False
            last_seen = max(row["last_seen"], seen)
            db.execute(
                "UPDATE listings SET last_seen = ?, gone_at = NULL,"
                " last_pass_id = COALESCE(?, last_pass_id) WHERE id = ?",
                (last_seen, pass_id, row["id"]),
            )
            # The rule index repeats last_seen as its sort key.
            db.execute(
                "UPDATE listing_rules SET last_seen = ? WHERE listing_pk = ?",
                (last_seen, row["id"]),
            )
        return True

    def mark_gone(
        self,
        platform: str,
        *,
        not_seen_since: datetime,
        search_keywords: list[str] | None = None,
        keep: set[str] | frozenset[str] = frozenset(),
        gone_at: datetime | None = None,
    ) -> int:
        sql = (
            "SELECT id, listing_id FROM listings"
            " WHERE platform = ? AND gone_at IS NULL AND last_seen < ?"
        )
        params: list[Any] = [platform, _ts(not_seen_since)]
        if search_keywords is not None:
            if not search_keywords:
                return 0
            sql += " AND search_keyword IN (" + ", ".join("?" * len(search_keywords)) + ")"
            params += search_keywords
        stamp = _ts(gone_at or utcnow())
        with self._transaction() as db:
            ids = [row["id"] for row in db.execute(sql, params) if row["listing_id"] not in keep]
            db.executemany(
                "UPDATE listings SET gone_at = ? WHERE id = ?", [(stamp, i) for i in ids]
            )
        return len(ids)

    def record_error(self, error: PageError, pass_id: int | None = None) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO errors (pass_id, url, kind, message, at) VALUES (?, ?, ?, ?, ?)",
                (pass_id, error.url, error.kind, error.message, _ts(error.at)),
            )

    # --- content-addressed blobs ------------------------------------------------------------
    def put_blob(self, data: bytes) -> str:
        """Store bytes under their SHA-256 (hex); idempotent. Returns the hash.

        The file appears whole or not at all: bytes go to a temporary file in the target folder,
        are fsynced, then renamed over the final name (a rename is atomic within one folder).
        """
        sha256 = sha256_bytes(data)
        path = self._blob_file(sha256)
        if path.exists():
            return sha256
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
        return sha256

    def read_blob(self, sha256: str) -> bytes:
        """The bytes stored under ``sha256``, checked against their name before they are returned.

        Raises ValueError for a name that is not 64 lowercase hex digits, BlobCorruptedError for
        bytes that no longer hash to their name, FileNotFoundError for an unknown blob.
        """
        data = self._blob_file(sha256).read_bytes()
        if sha256_bytes(data) != sha256:
            raise BlobCorruptedError(
                f"blob {sha256} is corrupted: its bytes no longer hash to its name"
            )
        return data

    def blob_path(self, sha256: str) -> Path | None:
        path = self._blob_file(sha256)
        return path if path.is_file() else None

    def _blob_file(self, sha256: str) -> Path:
        if not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.blob_root / sha256[:2] / sha256

    # --- reads and decisions for the review workspace ---------------------------------------
    def _common_text(self, query: QueueFilter) -> bool:
        """Whether the search text is a word many listings carry: then the queue is walked in
        order and each row tested (a page, or a bounded count, fills within a few thousand
        rows) instead of collecting every match first."""
        text = (query.text or "").strip()
        if len(text) < _FTS_MIN:
            return False
        probe = self._read(
            "SELECT COUNT(*) FROM (SELECT rowid FROM listings_fts"
            " WHERE listings_fts MATCH ? LIMIT ?)",
            (_fts_phrase(text), _COMMON),
        )
        return bool(probe[0][0] >= _COMMON)

    def flagged(self, query: QueueFilter) -> list[FlaggedRow]:
        keys, params, order = _queue_query(query, keyset=True, walk=self._common_text(query))
        # Page over the covering index first, then fetch only that page's rows: OFFSET then
        # walks index entries, not whole listing rows; a keyset cursor walks none it skips.
        offset = 0 if query.after else max(0, query.offset)
        rows = self._read(
            f"""
            SELECT l.*, {_SCREENSHOT}
            FROM ({keys} ORDER BY {order} LIMIT ? OFFSET ?) AS page
            JOIN listings l ON l.id = page.pk
            ORDER BY l.risk_score DESC, l.max_severity DESC, l.last_seen DESC, l.id DESC
            """,
            [*params, max(0, query.limit), offset],
        )
        return [_flagged_row(row) for row in rows]

    def count_flagged(self, query: QueueFilter) -> int:
        keys, params, _ = _queue_query(query)
        return int(self._read(f"SELECT COUNT(*) FROM ({keys})", params)[0][0])

    def count_flagged_at_most(self, query: QueueFilter, limit: int) -> int:
        """``min(count_flagged(query), limit)``, for the queue's "1 000+" total (not part of the
        Archive protocol: api.count_cache counts in full on a backend without it)."""
        # The LIMIT stops the walk at the limit-th match: a common filter costs a few thousand
        # index entries instead of every match (a rare one still walks what it must). A search
        # word goes through the full-text index even when common: unlike a page, a count has no
        # order to keep, and collecting 12 500 trigram matches (4 ms at 100 000 listings) beats
        # testing 8 000 rows in queue order (17 ms).
        keys, params, _ = _queue_query(query)
        sql = f"SELECT COUNT(*) FROM ({keys} LIMIT ?)"
        return int(self._read(sql, [*params, max(0, limit)])[0][0])

    def seller_listings(self, platform: str, seller_id: str, limit: int = 100) -> list[FlaggedRow]:
        if not seller_id:
            return []
        rows = self._read(
            f"""
            SELECT l.*, {_SCREENSHOT} FROM listings l
            WHERE l.platform = ? AND l.seller_id = ?
            ORDER BY l.risk_score DESC, l.max_severity DESC, l.last_seen DESC, l.id DESC
            LIMIT ?
            """,
            (platform, seller_id, max(0, limit)),
        )
        return [_flagged_row(row) for row in rows]

    def queue_stats(self, query: QueueFilter) -> dict[str, dict[str, int]]:
        keys, params, _ = _queue_query(query)
        # One pass over the selected rows, counted here: six GROUP BYs over an IN list cost
        # seconds at 100 000 listings, this costs a fraction of one.
        columns = "l.category, l.platform, l.seller_location, l.decision, l.first_seen"
        if query.rule_id is None:  # the key query already reads listings: read the columns
            sql = keys.replace("SELECT l.id AS pk", f"SELECT {columns}", 1)
        else:
            sql = f"SELECT {columns} FROM listings l WHERE l.id IN ({keys})"
        rule_sql = (
            "SELECT rule_id, COUNT(*) FROM listing_rules GROUP BY rule_id"
            if _unfiltered(query)
            else f"SELECT rule_id, COUNT(*) FROM listing_rules WHERE listing_pk IN ({keys})"
            " GROUP BY rule_id"
        )
        with self._snapshot() as db:
            rows = db.execute(sql, params).fetchall()
            rules = db.execute(rule_sql, [] if _unfiltered(query) else params).fetchall()
        counters: dict[str, Counter[str]] = {name: Counter() for name in _STATS}
        weeks: dict[str, str] = {}
        for row in rows:
            counters["category"][row["category"]] += 1
            counters["platform"][row["platform"]] += 1
            counters["region"][row["seller_location"]] += 1
            counters["decision"][row["decision"] or "unreviewed"] += 1
            day = row["first_seen"][:10]
            week = weeks.get(day)
            if week is None:
                year, number, _ = datetime.fromisoformat(day).isocalendar()
                week = weeks[day] = f"{year}-W{number:02d}"
            counters["week"][week] += 1
        counters["rule"].update({row[0]: row[1] for row in rules})
        out = {
            name: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))
            for name, c in counters.items()
        }
        out["week"] = dict(sorted(counters["week"].items()))
        return out

    def facets(self) -> dict[str, dict[str, int]]:
        with self._snapshot() as db:
            categories = db.execute(
                "SELECT category, COUNT(*) FROM listings WHERE max_severity > 0"
                " GROUP BY category ORDER BY COUNT(*) DESC, category"
            ).fetchall()
            rules = db.execute(
                "SELECT rule_id, COUNT(*) FROM listing_rules"
                " GROUP BY rule_id ORDER BY COUNT(*) DESC, rule_id"
            ).fetchall()
        return {
            "category": {row[0]: row[1] for row in categories},
            "rule": {row[0]: row[1] for row in rules},
        }

    def confirmed_seller_ids(self) -> set[str]:
        rows = self._read(
            "SELECT l.platform, json_extract(v.data, '$.seller.seller_id') AS seller_id"
            " FROM listings l JOIN listing_versions v"
            " ON v.listing_pk = l.id AND v.version = l.version"
            " WHERE l.decision = 'confirmed'"
        )
        return {
            f"{row['platform']}:{row['seller_id']}"
            for row in rows
            if isinstance(row["seller_id"], str) and row["seller_id"]
        }

    def get_listing(self, platform: str, listing_id: str) -> ListingRecord | None:
        with self._snapshot() as db:
            row = db.execute(
                "SELECT * FROM listings WHERE platform = ? AND listing_id = ?",
                (platform, listing_id),
            ).fetchone()
            if row is None:
                return None
            pk, version = row["id"], row["version"]
            data = db.execute(
                "SELECT data FROM listing_versions WHERE listing_pk = ? AND version = ?",
                (pk, version),
            ).fetchone()["data"]
            flags = db.execute(
                "SELECT data FROM flags WHERE listing_pk = ? AND version = ? ORDER BY position",
                (pk, version),
            ).fetchall()
            evidence = db.execute(
                "SELECT data FROM evidence WHERE listing_pk = ? ORDER BY started_at DESC, id DESC",
                (pk,),
            ).fetchall()
            reviews = db.execute(
                "SELECT * FROM reviews WHERE listing_pk = ? ORDER BY decided_at DESC, id DESC",
                (pk,),
            ).fetchall()
        listing = Listing.from_dict(json.loads(data))
        # The version keeps what the seller showed; the category is our own, current judgement.
        listing.category = row["category"]
        return ListingRecord(
            listing=listing,
            version=version,
            first_seen=_dt(row["first_seen"]),
            last_seen=_dt(row["last_seen"]),
            flags=[Flag.from_dict(json.loads(f["data"])) for f in flags],
            evidence=[Evidence.from_dict(json.loads(e["data"])) for e in evidence],
            reviews=[
                Review(
                    platform=platform,
                    listing_id=listing_id,
                    decision=r["decision"],
                    reviewer=r["reviewer"],
                    reason=r["reason"],
                    decided_at=_dt(r["decided_at"]),
                )
                for r in reviews
            ],
            gone_at=_dt(row["gone_at"]) if row["gone_at"] else None,
            risk_score=row["risk_score"],
        )

    def listing_versions(self, platform: str, listing_id: str) -> list[tuple[int, Listing]]:
        """Every stored version of a listing, oldest first (not part of the Archive protocol)."""
        rows = self._read(
            "SELECT v.version, v.data FROM listing_versions v"
            " JOIN listings l ON l.id = v.listing_pk"
            " WHERE l.platform = ? AND l.listing_id = ? ORDER BY v.version",
            (platform, listing_id),
        )
        return [(row["version"], Listing.from_dict(json.loads(row["data"]))) for row in rows]

    def add_review(self, review: Review) -> None:
        if review.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, got {review.decision!r}")
        if not review.reviewer.strip():
            raise ValueError("a review needs the reviewer's name")
        with self._transaction() as db:
            row = db.execute(
                "SELECT id FROM listings WHERE platform = ? AND listing_id = ?",
                (review.platform, review.listing_id),
            ).fetchone()
            if row is None:
                raise UnknownListingError(f"no listing {review.platform}:{review.listing_id}")
            db.execute(
                "INSERT INTO reviews (listing_pk, decision, reviewer, reason, decided_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    row["id"],
                    review.decision,
                    review.reviewer.strip(),
                    review.reason,
                    _ts(review.decided_at),
                ),
            )
            db.execute(
                "UPDATE listings SET decision = (SELECT decision FROM reviews WHERE listing_pk = ?"
                " ORDER BY decided_at DESC, id DESC LIMIT 1) WHERE id = ?",
                (row["id"], row["id"]),
            )

    def errors(self, pass_id: int | None = None, limit: int = 100) -> list[PageError]:
        if pass_id is None:
            rows = self._read(
                "SELECT * FROM errors ORDER BY at DESC, id DESC LIMIT ?", (max(0, limit),)
            )
        else:
            rows = self._read(
                "SELECT * FROM errors WHERE pass_id = ? ORDER BY at DESC, id DESC LIMIT ?",
                (pass_id, max(0, limit)),
            )
        return [
            PageError(url=r["url"], kind=r["kind"], message=r["message"], at=_dt(r["at"]))
            for r in rows
        ]

    # --- evidence records -------------------------------------------------------------------
    def get_evidence(self, capture_id: str) -> Evidence | None:
        rows = self._read("SELECT data FROM evidence WHERE capture_id = ?", (capture_id,))
        return Evidence.from_dict(json.loads(rows[0]["data"])) if rows else None

    def capture_ids(self, case_id: str | None = None) -> list[str]:
        if case_id is None:
            rows = self._read("SELECT capture_id FROM evidence ORDER BY started_at, id")
        else:
            rows = self._read(
                "SELECT capture_id FROM evidence WHERE case_id = ? ORDER BY started_at, id",
                (case_id,),
            )
        return [row["capture_id"] for row in rows]

    # --- the evidence ledger ----------------------------------------------------------------
    def ledger_head(self) -> LedgerEntry | None:
        rows = self._read("SELECT data FROM ledger ORDER BY position DESC LIMIT 1")
        return _ledger_entry(rows[0]) if rows else None

    def append_ledger(self, entry: LedgerEntry) -> None:
        with self._transaction() as db:
            # BEGIN IMMEDIATE holds the write lock: no other process can append between the
            # head read and the insert.
            row = db.execute("SELECT data FROM ledger ORDER BY position DESC LIMIT 1").fetchone()
            check_extends(_ledger_entry(row) if row else None, entry)
            db.execute(
                "INSERT INTO ledger (seq, kind, capture_id, case_id, entry_hash, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    entry.seq,
                    entry.kind,
                    entry.capture_id,
                    entry.case_id,
                    entry.entry_hash,
                    _json(entry.to_dict()),
                ),
            )

    def ledger_entries(self, after_position: int = 0, limit: int = 1000) -> list[LedgerEntry]:
        rows = self._read(
            "SELECT data FROM ledger WHERE position > ? ORDER BY position LIMIT ?",
            (after_position, max(0, limit)),
        )
        return [_ledger_entry(row) for row in rows]

    def ledger_entries_for(
        self, *, capture_id: str | None = None, case_id: str | None = None
    ) -> list[LedgerEntry]:
        where, params = [], []
        if capture_id is not None:
            where.append("capture_id = ?")
            params.append(capture_id)
        if case_id is not None:
            where.append("case_id = ?")
            params.append(case_id)
        sql = "SELECT data FROM ledger"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_ledger_entry(row) for row in self._read(sql + " ORDER BY position", params)]

    def last_checkpoint(self) -> LedgerEntry | None:
        rows = self._read(
            "SELECT data FROM ledger WHERE kind = 'checkpoint' ORDER BY position DESC LIMIT 1"
        )
        return _ledger_entry(rows[0]) if rows else None


def _ledger_entry(row: sqlite3.Row) -> LedgerEntry:
    return LedgerEntry.from_dict(json.loads(row["data"]))


class _Reader:
    """A thread's read connection; closed with the thread (the last reference goes) or by
    ``SqliteArchive.close``."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn


# --- queue query ------------------------------------------------------------------------------
_SCREENSHOT = """(SELECT a.sha256 FROM evidence e
                 JOIN evidence_artifacts a ON a.evidence_pk = e.id AND a.kind = 'screenshot'
                WHERE e.listing_pk = l.id
                ORDER BY e.started_at DESC, e.id DESC, a.position LIMIT 1) AS screenshot_sha256"""

# Trigram full-text search needs three characters; shorter text (two hanzi are a word) is a
# LIKE over the title and seller columns walked in queue order, plus a scan of descriptions.
_FTS_MIN = 3
_READ_MMAP = 1 << 30  # bytes of the file a read connection maps (address space, not memory)
_COMMON = 2000  # full-text matches from which walking the queue beats collecting them all
_STATS = ("category", "platform", "region", "rule", "decision", "week")


def _unfiltered(query: QueueFilter) -> bool:
    names = ("category", "rule_id", "decision", "platform", "region", "found_from", "found_to")
    return all(getattr(query, name) in (None, "") for name in names) and not (query.text or "")


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _fts_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _queue_query(
    query: QueueFilter, *, keyset: bool = False, walk: bool = False
) -> tuple[str, list[Any], str]:
    """A SELECT of matching listing ids (as ``pk``), its parameters, and its queue ORDER BY.

    A rule filter walks the rule index (listing_rules holds rows only for flagged listings, with
    their category) and joins listings only for a filter on listing columns; otherwise the
    listings indexes serve. Both orders end on the listing id, so the order is total and a
    keyset cursor (``keyset``: honour ``query.after``) gives the same rows as OFFSET.
    ``walk`` tests text row by row instead of through the full-text index (common words).
    """
    if query.decision not in (None, "unreviewed", *DECISIONS):
        raise ValueError(f"unknown decision filter {query.decision!r}")
    where: list[str] = []
    params: list[Any] = []
    text = (query.text or "").strip()
    needs_listing = any(
        v not in (None, "")
        for v in (query.decision, query.platform, query.region, query.found_from, query.found_to)
    ) or bool(text)
    if query.rule_id is not None:
        source = "listing_rules r"
        if needs_listing:
            source += " JOIN listings l ON l.id = r.listing_pk"
        where.append("r.rule_id = ?")
        params.append(query.rule_id)
        sort = ("r.risk_score", "r.max_severity", "r.last_seen", "r.listing_pk")
        key, category = "r.listing_pk", "r.category"
    else:
        source = "listings l"
        where.append("l.max_severity > 0")
        sort = ("l.risk_score", "l.max_severity", "l.last_seen", "l.id")
        key, category = "l.id", "l.category"
    order = ", ".join(f"{column} DESC" for column in sort)
    if query.category is not None:
        where.append(f"{category} = ?")
        params.append(query.category)
    if query.decision == "unreviewed":
        where.append("l.decision IS NULL")
    elif query.decision is not None:
        where.append("l.decision = ?")
        params.append(query.decision)
    if query.platform:
        where.append("l.platform = ?")
        params.append(query.platform)
    if query.region:
        where.append("l.seller_location LIKE ? ESCAPE '\\'")
        params.append(_like(query.region)[1:])
    if query.found_from is not None:
        where.append("l.first_seen >= ?")
        params.append(_ts(query.found_from))
    if query.found_to is not None:
        where.append("l.first_seen < ?")
        params.append(_ts(query.found_to))
    if text and len(text) >= _FTS_MIN and not walk:
        where.append(f"{key} IN (SELECT rowid FROM listings_fts WHERE listings_fts MATCH ?)")
        params.append(_fts_phrase(text))
    elif text:
        # Each row in queue order is tested: title and seller here, the description by a
        # primary-key read of the full-text index's content table (FTS5 keeps the indexed
        # text in <table>_content, columns c0.. in declaration order; c2 = description). The
        # trigram index cannot serve fewer than three characters at all (its LIKE then finds
        # nothing), so short text always takes this path.
        where.append(
            f"(l.title LIKE ? ESCAPE '\\' OR l.seller_name LIKE ? ESCAPE '\\' OR EXISTS"
            f" (SELECT 1 FROM listings_fts_content c WHERE c.id = {key}"
            " AND instr(lower(c.c2), lower(?)) > 0))"
        )
        params += [_like(text), _like(text), text]
    if keyset and query.after:
        where.append(f"({', '.join(sort)}) < (?, ?, ?, ?)")
        params += _parse_cursor(query.after)
    return f"SELECT {key} AS pk FROM {source} WHERE {' AND '.join(where)}", params, order


def _make_cursor(row: sqlite3.Row) -> str:
    return f"{row['risk_score']}~{row['max_severity']}~{row['last_seen']}~{row['id']}"


def _parse_cursor(cursor: str) -> list[Any]:
    try:
        risk, severity, last_seen, pk = cursor.split("~")
        _dt(last_seen)
        return [int(risk), int(severity), last_seen, int(pk)]
    except ValueError as exc:
        raise ValueError(f"not a queue cursor of this store: {cursor!r}") from exc


def _flagged_row(row: sqlite3.Row) -> FlaggedRow:
    return FlaggedRow(
        platform=row["platform"],
        listing_id=row["listing_id"],
        title=row["title"],
        url=row["url"],
        price=row["price"],
        currency=row["currency"],
        category=row["category"],
        seller_name=row["seller_name"],
        seller_location=row["seller_location"],
        rule_ids=json.loads(row["rule_ids"]),
        max_severity=SEVERITY_NAMES.get(row["max_severity"], "none"),
        flag_count=row["flag_count"],
        first_seen=_dt(row["first_seen"]),
        last_seen=_dt(row["last_seen"]),
        decision=row["decision"],
        screenshot_sha256=row["screenshot_sha256"],
        risk_score=row["risk_score"],
        seller_id=row["seller_id"],
        cursor=_make_cursor(row),
    )


def _pass_record(row: sqlite3.Row) -> PassRecord:
    return PassRecord(
        pass_id=row["pass_id"],
        started_at=_dt(row["started_at"]),
        finished_at=_dt(row["finished_at"]) if row["finished_at"] else None,
        summary=json.loads(row["summary"]),
    )


# --- encoding ---------------------------------------------------------------------------------
def _ts(value: datetime) -> str:
    """UTC with fixed microsecond precision, so text order is time order in SQL."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable: the new directory entry is on disk, not just the file's bytes."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
