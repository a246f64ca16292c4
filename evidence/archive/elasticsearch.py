"""The Elasticsearch archive: the same ``Archive`` protocol as SQLite, on the official client.

Indices (``<prefix>-<name>``, default prefix ``marketguard``), each created from its own index
template with a strict mapping (see ``index_templates``)::

    listings   one document per listing: latest version, display fields, queue key
    versions   one per listing version: Listing.to_dict() as first seen with that content
    flags      one per listing version: that version's flags
    evidence   one per capture (id = capture_id): Evidence.to_dict() and its artifacts
    blobs      one per blob (id = SHA-256): the bytes in a ``binary`` field
    reviews    one per decision; errors: one per recorded error; passes: one per pass

Every document id is derived from what it stores (listing key, version number, capture id,
SHA-256) or fixed when the write is made (reviews, errors, passes), so writing a record twice
overwrites it with itself: a retried or replayed write never duplicates anything.

When the cluster cannot be reached, writes are appended to a local spool (``spool.Spool``) and
replayed, in order, before the next write that reaches the cluster (or by ``replay_spool``).
Reads need the cluster and raise ``ArchiveUnavailableError`` without it. See docs/store.md.
"""

from __future__ import annotations

import base64
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from elasticsearch import ApiError, BadRequestError, Elasticsearch, NotFoundError
from elasticsearch import TransportError as _TransportError

from evidence.archive.base import (
    SHA256_HEX,
    BlobCorruptedError,
    FlaggedRow,
    LedgerConflictError,
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
from evidence.archive.es_documents import (
    DESCRIPTION_HEAD,
    canonical,
    doc_key,
    flagged_row,
    from_us,
    ledger_entry,
    parse,
    parse_cursor,
    pass_record,
    ts,
    us,
    wildcard_literal,
)
from evidence.archive.es_mappings import detect_analyzer, index_templates
from evidence.archive.spool import Spool
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

logger = logging.getLogger(__name__)

DECISIONS = ("confirmed", "dismissed")
# from + size beyond this fails on a default index (index.max_result_window); deeper pages are
# reached with search_after over the queue's total order instead.
_MAX_WINDOW = 10_000
_WALK_PAGE = 1_000
_BULK_ACTIONS = 500
_BULK_BYTES = 8 * 1024 * 1024
_SAVE_ATTEMPTS = 8
_REPLAY_RUN = 200
_DAY_US = 86_400_000_000
# Statuses that mean "the cluster cannot take this now", not "this request is wrong".
_UNAVAILABLE_STATUSES = {502, 503, 504}


class ArchiveUnavailableError(ConnectionError):
    """The cluster cannot be reached (after the client's retries)."""


class _Conflict(Exception):
    """Another writer changed a listing between our read and our write: redo the save."""


# --- the archive ------------------------------------------------------------------------------
@dataclass(slots=True)
class _Action:
    meta: dict[str, Any]  # the bulk action line, e.g. {"create": {"_index": ..., "_id": ...}}
    source: dict[str, Any] | None
    on_conflict: str = "raise"  # "ignore" | "same_hash" | "retry" | "raise"
    expect: str = ""  # for same_hash: the content_hash the existing document must have


@dataclass(slots=True)
class _Batch:
    actions: list[_Action] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)


class ElasticsearchArchive:
    """The Archive protocol on Elasticsearch (or an API-compatible OpenSearch).

    ``client`` is an ``elasticsearch.Elasticsearch``; ``spool_dir`` a local folder for writes
    made while the cluster is down. One process writes through one spool folder.
    """

    def __init__(
        self,
        client: Elasticsearch,
        *,
        spool_dir: Path,
        prefix: str = "marketguard",
        analyzer: str | None = None,
        location: str | None = None,
        owns_client: bool = False,
        retry_interval: float = 5.0,
    ) -> None:
        self.client = client
        self.retry_interval = retry_interval
        self._next_try = 0.0
        self.last_unavailable: str | None = None  # why the cluster was last found down
        self.prefix = prefix
        self.spool = Spool(Path(spool_dir))
        self.location = location or _describe(client)
        self._owns_client = owns_client
        self._analyzer_choice = analyzer
        self.analyzer: str | None = None
        self._lock = threading.RLock()
        self._schema_ready = False
        self._dirty: set[str] = set()
        self._batch: _Batch | None = None
        self._known_passes: set[int] = set()
        self._last_pass_id = 0
        self._ledger_cache: tuple[int, LedgerEntry | None] | None = None
        self._checkpoint_cache: tuple[LedgerEntry | None] | None = None
        self._last_seq = 0
        self._spooled = self.spool.has_pending()
        self._closed = False
        with suppress(ArchiveUnavailableError):
            self._ensure_schema()

    @classmethod
    def from_url(
        cls, url: str, *, spool_dir: Path, prefix: str = "marketguard", **client_options: Any
    ) -> ElasticsearchArchive:
        options: dict[str, Any] = {
            "request_timeout": 30,
            "max_retries": 3,
            "retry_on_timeout": True,
            "http_compress": True,
        }
        options.update(client_options)
        client = Elasticsearch(url, **options)
        return cls(client, spool_dir=spool_dir, prefix=prefix, owns_client=True)

    def index(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    # --- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._spooled:
                # Last chance to send what waits (the cluster may be back since the last
                # write); what cannot go stays in the spool for the next process.
                with suppress(ArchiveUnavailableError):
                    self.replay_spool()
                if self._spooled:
                    logger.warning(
                        "%d writes wait in %s for %s",
                        self.spooled(),
                        self.spool.folder,
                        self.location,
                    )
            if self._owns_client:
                self.client.close()

    def __enter__(self) -> ElasticsearchArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Send the writes made inside as bulk requests, at the end (or when a listing is written
        twice inside, so one bulk request never holds two saves of the same listing). Unlike
        SQLite's batch this is a buffer, not a transaction: an exception inside drops what was
        not sent yet; what was sent stays."""
        with self._lock:
            if self._batch is not None:
                raise RuntimeError("batches do not nest")
            self._batch = _Batch()
            try:
                yield
            except BaseException:
                self._batch = None
                raise
            try:
                self._flush_batch()
            finally:
                self._batch = None

    def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        with self._lock:
            if self._schema_ready:
                return
            analyzer, search = self._existing_analyzer() or self._choose_analyzer()
            templates = index_templates(self.prefix, analyzer, search)
            for name, body in templates.items():
                self._call(self.client.indices.put_index_template, name=self.index(name), **body)
                index = self.index(name)
                if not self._call(self.client.indices.exists, index=index):
                    with suppress(BadRequestError):  # created meanwhile by another process
                        self._call(self.client.indices.create, index=index)
                else:
                    # Fields added since the index was made (a template applies only at
                    # creation). Adding is allowed; a changed field type is refused loudly.
                    mappings = body["template"]["mappings"]
                    self._call(
                        self.client.indices.put_mapping,
                        index=index,
                        properties=mappings["properties"],
                    )
            self.analyzer = analyzer
            self._schema_ready = True

    def _existing_analyzer(self) -> tuple[str, str] | None:
        """The analyzers an existing archive was created with: text fields keep theirs (a
        changed analyzer would need a reindex), even if the cluster gained a plugin since."""
        index = self.index("listings")
        if not self._call(self.client.indices.exists, index=index):
            return None
        mapping = self._call(self.client.indices.get_mapping, index=index)
        mappings = next(iter(mapping.body.values()))["mappings"]
        title = mappings.get("properties", {}).get("title", {})
        if "analyzer" not in title:
            return None
        return title["analyzer"], title.get("search_analyzer", title["analyzer"])

    def _choose_analyzer(self) -> tuple[str, str]:
        if self._analyzer_choice:
            return self._analyzer_choice, self._analyzer_choice
        return self._call(detect_analyzer, self.client)

    # --- calls to the cluster ---------------------------------------------------------------
    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except _TransportError as exc:
            self.last_unavailable = str(exc)
            raise ArchiveUnavailableError(f"Elasticsearch at {self.location}: {exc}") from exc
        except ApiError as exc:
            if exc.status_code in _UNAVAILABLE_STATUSES:
                self.last_unavailable = f"{exc.status_code} {exc.message}"
                raise ArchiveUnavailableError(
                    f"Elasticsearch at {self.location}: {exc.status_code} {exc.message}"
                ) from exc
            raise

    def _get(self, name: str, doc_id: str, **kwargs: Any) -> dict[str, Any] | None:
        self._ensure_schema()
        try:
            return self._call(self.client.get, index=self.index(name), id=doc_id, **kwargs).body
        except NotFoundError:
            return None

    def _search(self, name: str, **body: Any) -> dict[str, Any]:
        self._ensure_schema()
        self._refresh(name)
        return self._call(self.client.search, index=self.index(name), **body).body

    def _refresh(self, *names: str) -> None:
        # Read-your-writes for this process: searches see what it wrote before them. Other
        # processes see writes after the index's refresh interval (1 s by default).
        stale = [n for n in names if n in self._dirty]
        if stale:
            # Cleared before the refresh: a write landing meanwhile marks the index again.
            self._dirty.difference_update(stale)
            try:
                self._call(self.client.indices.refresh, index=",".join(map(self.index, stale)))
            except BaseException:
                self._dirty.update(stale)
                raise

    def _next_seq(self) -> int:
        """Insertion order across processes (time) and within one (strictly increasing)."""
        with self._lock:
            self._last_seq = max(self._last_seq + 1, time.time_ns())
            return self._last_seq

    def _bulk(self, actions: list[_Action]) -> None:
        """Send actions in chunks; items refused with 429 are retried with backoff."""
        self._ensure_schema()
        chunk: list[_Action] = []
        size = 0
        for action in actions:
            chunk.append(action)
            size += len(str(action.source or "")) + 100
            if len(chunk) >= _BULK_ACTIONS or size >= _BULK_BYTES:
                self._bulk_chunk(chunk)
                chunk, size = [], 0
        if chunk:
            self._bulk_chunk(chunk)

    def _bulk_chunk(self, actions: list[_Action]) -> None:
        pending = actions
        conflicts: list[str] = []
        for attempt in range(6):
            operations: list[dict[str, Any]] = []
            for action in pending:
                operations.append(action.meta)
                if action.source is not None:
                    operations.append(action.source)
            response = self._call(self.client.bulk, operations=operations).body
            retry: list[_Action] = []
            for action, item in zip(pending, response["items"], strict=True):
                ((op, result),) = item.items()
                self._dirty.add(result["_index"].removeprefix(self.prefix + "-"))
                status = result.get("status", 500)
                if status < 300:
                    continue
                if status == 429:
                    retry.append(action)
                elif status == 409:
                    conflicts.extend(self._conflict(action, result))
                elif status in _UNAVAILABLE_STATUSES:
                    raise ArchiveUnavailableError(f"bulk {op} {result['_id']}: {status}")
                else:
                    raise ApiErrorInBulk(op, result)
            if not retry:
                break
            pending = retry
            time.sleep(min(2.0, 0.1 * 2**attempt))
        else:
            raise ArchiveUnavailableError("the cluster kept refusing writes with 429")
        if conflicts:
            raise _Conflict(", ".join(conflicts))

    def _conflict(self, action: _Action, result: dict[str, Any]) -> list[str]:
        if action.on_conflict == "ignore":
            return []
        if action.on_conflict == "same_hash":
            name = result["_index"].removeprefix(self.prefix + "-")
            existing = self._get(name, result["_id"])
            if existing is not None and existing["_source"]["content_hash"] == action.expect:
                return []  # the same version written before (a replay): nothing to do
            return [result["_id"]]
        if action.on_conflict == "retry":
            return [result["_id"]]
        raise ApiErrorInBulk("conflict", result)

    # --- spooling ---------------------------------------------------------------------------
    def _submit(self, record: dict[str, Any]) -> Any:
        """Apply a write now, or spool it when the cluster is down (or older writes wait)."""
        with self._lock:
            if self._spooled and not self._try_replay():
                self._spool(record)
                return None
            if self._batch is not None:
                return self._batch_add(record)
            try:
                return self._apply(record)
            except ArchiveUnavailableError:
                self._spool(record)
                return None

    def _try_replay(self) -> bool:
        """Replay the spool unless the cluster failed moments ago; True when it is empty now.
        The pause keeps a crawl from waiting on a dead cluster's timeout at every write."""
        if time.monotonic() < self._next_try:
            return False
        try:
            self.replay_spool()
        except ArchiveUnavailableError:
            return False
        return True

    def _spool(self, record: dict[str, Any]) -> None:
        with self.spool.locked():
            self.spool.append(record)
        if not self._spooled:
            logger.warning(
                "Elasticsearch at %s unavailable (%s): writes go to the spool %s",
                self.location,
                self.last_unavailable or "no answer",
                self.spool.folder,
            )
        self._spooled = True
        self._next_try = max(self._next_try, time.monotonic() + self.retry_interval)
        if record["op"] == "begin_pass":
            self._known_passes.add(record["pass_id"])

    def replay_spool(self) -> int:
        """Apply spooled writes in order; returns how many. ArchiveUnavailableError when the
        cluster is still down (what was applied stays applied and is not applied again).

        Runs of saves and errors go out as bulk requests, never two saves of one listing in
        the same request; anything else is applied on its own, in its place in the order.
        """
        with self._lock, self.spool.locked():
            pending = self.spool.pending()
            i = 0
            while i < len(pending):
                run: list[tuple[int, dict[str, Any]]] = []
                keys: set[str] = set()
                while i < len(pending) and len(run) < _REPLAY_RUN:
                    record = pending[i][1]
                    if record["op"] == "save_listing":
                        key = doc_key(
                            record["listing"]["platform"], record["listing"]["listing_id"]
                        )
                        if key in keys:
                            break
                        keys.add(key)
                    elif record["op"] != "record_error":
                        break
                    run.append(pending[i])
                    i += 1
                if not run:
                    self._replay_one(*pending[i])
                    i += 1
                    continue
                try:
                    actions: list[_Action] = []
                    for _, record in run:
                        if record["op"] == "save_listing":
                            actions.extend(self._plan_save(record)[0])
                        else:
                            self._check_pass(record["pass_id"])
                            actions.append(self._error_action(record))
                    self._bulk(actions)
                except ArchiveUnavailableError:
                    self._next_try = time.monotonic() + self.retry_interval
                    raise
                except (*_REFUSED, _Conflict):
                    # Find which one the cluster refuses: one by one (each is idempotent).
                    for number, record in run:
                        self._replay_one(number, record)
                    continue
                self.spool.mark_replayed(run[-1][0])
            self.spool.clear()
            if self._spooled and pending:
                logger.warning("replayed %d spooled writes to %s", len(pending), self.location)
            self._spooled = False
            return len(pending)

    def _replay_one(self, number: int, record: dict[str, Any]) -> None:
        try:
            self._apply(record)
        except ArchiveUnavailableError:
            self._next_try = time.monotonic() + self.retry_interval
            raise
        except _REFUSED as exc:
            # Refused for good (e.g. a review of a listing the cluster never got): set aside
            # with the reason, never silently dropped.
            self.spool.reject(record, f"{type(exc).__name__}: {exc}")
        self.spool.mark_replayed(number)

    def spooled(self) -> int:
        """How many writes wait in the spool."""
        return len(self.spool.pending())

    # --- applying records -------------------------------------------------------------------
    def _apply(self, record: dict[str, Any]) -> Any:
        op = record["op"]
        if op == "save_listing":
            for _ in range(_SAVE_ATTEMPTS):
                actions, saved = self._plan_save(record)
                try:
                    self._bulk(actions)
                except _Conflict:
                    continue
                return saved
            raise RuntimeError(f"listing {record['listing']['platform']} kept changing under us")
        if op == "put_blob":
            return self._apply_blob(record)
        if op == "record_error":
            self._check_pass(record["pass_id"])
            self._bulk([self._error_action(record)])
            return None
        if op == "add_review":
            return self._apply_review(record)
        if op == "begin_pass":
            return self._apply_begin_pass(record)
        if op == "touch_listing":
            return self._apply_touch(record)
        if op == "mark_gone":
            return self._apply_mark_gone(record)
        if op == "append_ledger":
            return self._apply_ledger(record)
        if op == "finish_pass":
            return self._apply_finish_pass(record)
        raise ValueError(f"unknown spooled operation {op!r}")

    def _batch_add(self, record: dict[str, Any]) -> Any:
        batch = self._batch
        assert batch is not None
        op = record["op"]
        if op == "save_listing":
            key = doc_key(record["listing"]["platform"], record["listing"]["listing_id"])
            if key in batch.keys:
                self._flush_batch()
            actions, saved = self._plan_save(record)
            batch.actions.extend(actions)
            batch.records.append(record)
            batch.keys.add(key)
            return saved
        if op == "record_error":
            self._check_pass(record["pass_id"])
            batch.actions.append(self._error_action(record))
            batch.records.append(record)
            return None
        # Everything else reads what the batch wrote, or must be durable first (blobs).
        self._flush_batch()
        try:
            return self._apply(record)
        except ArchiveUnavailableError:
            self._spool(record)
            return None

    def _flush_batch(self) -> None:
        batch = self._batch
        if batch is None or not batch.actions:
            return
        actions, records = batch.actions, batch.records
        batch.actions, batch.records, batch.keys = [], [], set()
        if self._spooled:
            for record in records:
                self._spool(record)
            return
        try:
            self._bulk(actions)
        except ArchiveUnavailableError:
            for record in records:
                self._spool(record)
        except _Conflict:
            # Another writer touched a listing we read: redo the saves one by one from fresh
            # reads (each is idempotent, so the ones that landed are rewritten unchanged).
            for number, record in enumerate(records):
                try:
                    self._apply(record)
                except ArchiveUnavailableError:
                    for rest in records[number:]:
                        self._spool(rest)
                    return

    def _plan_save(self, record: dict[str, Any]) -> tuple[list[_Action], SavedListing]:
        data = record["listing"]
        listing = Listing.from_dict(data)
        flags = [Flag.from_dict(f) for f in record["flags"]]
        evidence = Evidence.from_dict(record["evidence"]) if record["evidence"] else None
        pass_id = record["pass_id"]
        self._check_pass(pass_id)
        key = doc_key(listing.platform, listing.listing_id)
        content_hash = listing.content_hash(data)
        seen_us = us(listing.crawled_at)
        current = self._get("listings", key)
        source: dict[str, Any] = dict(current["_source"]) if current else {}
        if not source:
            version, changed = 1, True
            source = {
                "key": key,
                "platform": listing.platform,
                "listing_id": listing.listing_id,
                "seq": record["seq"],
                "first_seen": ts(listing.crawled_at),
                "first_seen_us": seen_us,
                "last_seen_us": seen_us,
                "last_pass_id": pass_id,
            }
        else:
            changed = source["content_hash"] != content_hash
            version = source["version"] + 1 if changed else source["version"]
            source["last_seen_us"] = max(source["last_seen_us"], seen_us)
            if pass_id is not None:
                source["last_pass_id"] = pass_id
        max_severity = max((SEVERITY_ORDER[f.severity] for f in flags), default=0)
        seller = listing.seller
        source.update(
            version=version,
            content_hash=content_hash,
            last_seen=ts(from_us(source["last_seen_us"])),
            url=listing.url,
            title=listing.title,
            description=listing.description,
            description_head=listing.description[:DESCRIPTION_HEAD],
            price=data["price"],
            currency=listing.currency,
            category=listing.category,
            seller_name=seller.name if seller else "",
            seller_location=seller.location if seller else "",
            seller_id=seller.seller_id if seller else "",
            max_severity=max_severity,
            risk_score=record.get("risk_score", 0),
            flag_count=len(flags),
            rule_ids=list(dict.fromkeys(f.rule_id for f in flags)),
            search_keyword=listing.search_keyword,
        )
        source.pop("gone_at", None)  # found again
        source.pop("gone_at_us", None)
        base = {"key": key, "platform": listing.platform, "listing_id": listing.listing_id}
        actions: list[_Action] = []
        if changed:
            actions.append(
                _Action(
                    {"create": {"_index": self.index("versions"), "_id": f"{key}@{version}"}},
                    {
                        **base,
                        "version": version,
                        "content_hash": content_hash,
                        "seen_at": ts(listing.crawled_at),
                        "pass_id": pass_id,
                        "title": listing.title,
                        "description": listing.description,
                        "data": data,
                    },
                    on_conflict="same_hash",
                    expect=content_hash,
                )
            )
        # The version's flags are replaced whole: unchanged content with other flags means the
        # rules changed (see docs/store.md); earlier versions' flag documents are not touched.
        actions.append(
            _Action(
                {"index": {"_index": self.index("flags"), "_id": f"{key}@{version}"}},
                {
                    **base,
                    "version": version,
                    "rule_ids": source["rule_ids"],
                    "items": [
                        {
                            "position": i,
                            "rule_id": f.rule_id,
                            "severity": f.severity,
                            "field": f.field,
                            "snippet": f.snippet,
                        }
                        for i, f in enumerate(flags)
                    ],
                    "data": {"flags": [f.to_dict() for f in flags]},
                },
            )
        )
        if evidence is not None:
            started_us = us(evidence.started_at)
            actions.append(
                _Action(
                    {"create": {"_index": self.index("evidence"), "_id": evidence.capture_id}},
                    {
                        **base,
                        "capture_id": evidence.capture_id,
                        "case_id": evidence.case_id,
                        "version": version,
                        "pass_id": pass_id,
                        "started_at": ts(evidence.started_at),
                        "started_us": started_us,
                        "seq": record["seq"],
                        "artifacts": [
                            {
                                "kind": a.kind,
                                "media_type": a.media_type,
                                "sha256": a.sha256,
                                "size": a.size,
                                "source_url": a.source_url,
                            }
                            for a in evidence.artifacts
                        ],
                        "data": record["evidence"],
                    },
                    on_conflict="ignore",  # a capture saved twice stays one record
                )
            )
            shot = evidence.artifact("screenshot")
            newer = (started_us, record["seq"]) > (
                source.get("screenshot_at_us") or -1,
                source.get("screenshot_seq") or -1,
            )
            if shot is not None and newer and not self._capture_known(evidence.capture_id):
                source.update(
                    screenshot_sha256=shot.sha256,
                    screenshot_at_us=started_us,
                    screenshot_seq=record["seq"],
                )
        if current:
            meta = {
                "index": {
                    "_index": self.index("listings"),
                    "_id": key,
                    "if_seq_no": current["_seq_no"],
                    "if_primary_term": current["_primary_term"],
                }
            }
        else:
            meta = {"create": {"_index": self.index("listings"), "_id": key}}
        actions.append(_Action(meta, source, on_conflict="retry"))
        return actions, SavedListing(version=version, changed=changed)

    def _capture_known(self, capture_id: str) -> bool:
        # A capture saved again keeps its first record; it must not move the queue's screenshot.
        return self._get("evidence", capture_id, source=False) is not None

    def _check_pass(self, pass_id: int | None) -> None:
        if pass_id is None or pass_id in self._known_passes:
            return
        if self._get("passes", str(pass_id), source=False) is None:
            raise ValueError(f"no pass {pass_id}")
        self._known_passes.add(pass_id)

    def _error_action(self, record: dict[str, Any]) -> _Action:
        error = record["error"]
        at = parse(error["at"])
        return _Action(
            {"create": {"_index": self.index("errors"), "_id": record["id"]}},
            {
                "pass_id": record["pass_id"],
                "url": error["url"],
                "kind": error["kind"],
                "message": error["message"],
                "at": ts(at),
                "at_us": us(at),
                "seq": record["seq"],
            },
            on_conflict="ignore",
        )

    def _apply_blob(self, record: dict[str, Any]) -> str:
        sha256 = record["sha256"]
        if self._get("blobs", sha256, source=False) is not None:
            return sha256
        data = record.get("_data")
        if data is None:
            path = self.spool.blob_file(sha256)
            if path is None:
                raise FileNotFoundError(f"spooled blob {sha256} is missing from the spool")
            data = path.read_bytes()
        self._bulk(
            [
                _Action(
                    {"create": {"_index": self.index("blobs"), "_id": sha256}},
                    {
                        "sha256": sha256,
                        "size": len(data),
                        "stored_at": ts(utcnow()),
                        "data": base64.b64encode(data).decode("ascii"),
                    },
                    on_conflict="ignore",
                )
            ]
        )
        return sha256

    def _apply_review(self, record: dict[str, Any]) -> None:
        review = record["review"]
        key = doc_key(review["platform"], review["listing_id"])
        decided = parse(review["decided_at"])
        if self._get("listings", key, source=False) is None:
            raise UnknownListingError(f"no listing {review['platform']}:{review['listing_id']}")
        self._bulk(
            [
                _Action(
                    {"create": {"_index": self.index("reviews"), "_id": record["id"]}},
                    {
                        "key": key,
                        "platform": review["platform"],
                        "listing_id": review["listing_id"],
                        "decision": review["decision"],
                        "reviewer": review["reviewer"],
                        "reason": review["reason"],
                        "decided_at": ts(decided),
                        "decided_us": us(decided),
                        "seq": record["seq"],
                    },
                    on_conflict="ignore",
                )
            ]
        )
        # The listing carries the latest decision for the queue. Optimistic concurrency: read
        # with its sequence number, write only if nobody wrote in between, else read again.
        mine = (us(decided), record["seq"])

        def decide(source: dict[str, Any]) -> bool:
            latest = (source.get("decision_at_us") or -1, source.get("decision_seq") or -1)
            if mine < latest:
                return False  # a later decision is already there
            source.update(decision=review["decision"], decision_at_us=mine[0])
            source["decision_seq"] = mine[1]
            return True

        self._update_listing(key, decide)

    def _apply_begin_pass(self, record: dict[str, Any]) -> int:
        pass_id = record.get("pass_id")
        while True:
            if pass_id is None:
                pass_id = self._max_pass_id() + 1
            try:
                self._call(
                    self.client.create,
                    index=self.index("passes"),
                    id=str(pass_id),
                    document={
                        "pass_id": pass_id,
                        "token": record["token"],
                        "started_at": record["started_at"],
                        "settings": record["settings"],
                        "summary": {},
                    },
                )
            except ApiError as exc:
                if exc.status_code != 409:
                    raise
                existing = self._get("passes", str(pass_id))
                if existing is not None and existing["_source"]["token"] == record["token"]:
                    break  # our own pass, written before (a replay)
                if "pass_id" in record:
                    raise ValueError(
                        f"pass {pass_id}, begun while the cluster was down, was taken by"
                        " another writer"
                    ) from exc
                pass_id += 1
                continue
            break
        self._dirty.add("passes")
        self._known_passes.add(pass_id)
        self._last_pass_id = pass_id
        return pass_id

    def _apply_finish_pass(self, record: dict[str, Any]) -> None:
        try:
            self._call(
                self.client.update,
                index=self.index("passes"),
                id=str(record["pass_id"]),
                doc={"finished_at": record["finished_at"], "summary": record["summary"]},
            )
        except NotFoundError as exc:
            raise LookupError(f"no pass {record['pass_id']}") from exc
        self._dirty.add("passes")

    def _max_pass_id(self) -> int:
        body = self._search("passes", size=0, aggs={"top": {"max": {"field": "pass_id"}}})
        value = body["aggregations"]["top"]["value"]
        return int(value or 0)

    # --- monitoring passes ------------------------------------------------------------------
    def begin_pass(self, settings: dict[str, Any] | None = None) -> int:
        record: dict[str, Any] = {
            "op": "begin_pass",
            "token": secrets.token_hex(8),
            "started_at": ts(utcnow()),
            "settings": settings or {},
        }
        with self._lock:
            try:
                if self._spooled and not self._try_replay():
                    raise ArchiveUnavailableError("older writes wait in the spool")
                self._flush_batch()
                if self._spooled:
                    raise ArchiveUnavailableError("the batch went to the spool")
                return self._apply(record)
            except ArchiveUnavailableError:
                # The number is chosen here, after the last one this process knows of; a
                # conflict on replay is reported (rejected.jsonl), not merged.
                record["pass_id"] = self._offline_pass_id()
                self._spool(record)
                return int(record["pass_id"])

    def _offline_pass_id(self) -> int:
        spooled = [r["pass_id"] for _, r in self.spool.pending() if r["op"] == "begin_pass"]
        return max([self._last_pass_id, *spooled, *self._known_passes]) + 1

    def finish_pass(self, pass_id: int, summary: dict[str, Any]) -> None:
        self._submit(
            {
                "op": "finish_pass",
                "pass_id": pass_id,
                "finished_at": ts(utcnow()),
                "summary": summary,
            }
        )

    def get_pass(self, pass_id: int) -> PassRecord | None:
        doc = self._get("passes", str(pass_id))
        return pass_record(doc["_source"]) if doc else None

    def latest_pass(self) -> PassRecord | None:
        hits = self._search("passes", size=1, sort=[{"pass_id": "desc"}])["hits"]["hits"]
        return pass_record(hits[0]["_source"]) if hits else None

    # --- once-only work ----------------------------------------------------------------------
    # Never spooled: a worker that cannot reach the cluster cannot know whether the work was
    # done, so it raises ArchiveUnavailableError and its task is retried later.
    def claim_work(self, key: str, owner: str, lease_seconds: float) -> WorkClaim:
        for _ in range(_SAVE_ATTEMPTS * 4):
            now = time.time()
            doc = {"key": key, "owner": owner, "lease_until": now + lease_seconds, "done_at": None}
            current = self._get("work", key)
            concurrency: dict[str, Any] = {"op_type": "create"}
            if current is not None:
                source = current["_source"]
                if source.get("done_at"):
                    return WorkClaim("done", source.get("result") or {})
                if source.get("owner") != owner and source.get("lease_until", 0) > now:
                    return WorkClaim("busy")
                concurrency = {
                    "if_seq_no": current["_seq_no"],
                    "if_primary_term": current["_primary_term"],
                }
            try:
                self._call(
                    self.client.index,
                    index=self.index("work"),
                    id=key,
                    document=doc,
                    refresh=True,
                    **concurrency,
                )
            except ApiError as exc:
                if exc.status_code == 409:  # another worker got there first: look again
                    continue
                raise
            return WorkClaim("claimed")
        return WorkClaim("busy")

    def finish_work(self, key: str, owner: str, result: dict[str, Any]) -> None:
        self._ensure_schema()
        self._call(
            self.client.index,
            index=self.index("work"),
            id=key,
            document={
                "key": key,
                "owner": owner,
                "lease_until": 0,
                "done_at": ts(utcnow()),
                "result": result,
            },
            refresh=True,
        )

    def work_results(self, prefix: str) -> list[dict[str, Any]]:
        query = {
            "bool": {"filter": [{"prefix": {"key": prefix}}, {"exists": {"field": "done_at"}}]}
        }
        return [hit["_source"].get("result") or {} for hit in self._scan("work", query)]

    # --- writes from the crawl pipeline -----------------------------------------------------
    def save_listing(
        self,
        listing: Listing,
        flags: list[Flag],
        evidence: Evidence | None = None,
        pass_id: int | None = None,
        risk_score: int | None = None,
    ) -> SavedListing:
        """Upsert by (platform, listing_id), keeping earlier versions.

        One save is one bulk request (version, flags, evidence, then the listing document,
        written only if nobody changed it since we read it). While the cluster is down the save
        is spooled and ``SavedListing(version=0, changed=True)`` is returned: the version number
        is decided when the save is replayed.
        """
        check_flags(flags)
        if evidence is not None:
            check_evidence(listing, evidence)
        record = {
            "op": "save_listing",
            "listing": listing.to_dict(),
            "flags": [f.to_dict() for f in flags],
            "evidence": evidence.to_dict() if evidence is not None else None,
            "pass_id": pass_id,
            "seq": self._next_seq(),
            "risk_score": clamp_risk_score(risk_score, flags) if flags else 0,
        }
        saved = self._submit(record)
        return saved if saved is not None else SavedListing(version=0, changed=True)

    def record_error(self, error: PageError, pass_id: int | None = None) -> None:
        self._submit(
            {
                "op": "record_error",
                "error": error.to_dict(),
                "pass_id": pass_id,
                "seq": (seq := self._next_seq()),
                "id": f"{seq:x}-{secrets.token_hex(4)}",
            }
        )

    # --- content-addressed blobs ------------------------------------------------------------
    def put_blob(self, data: bytes) -> str:
        """Store bytes under their SHA-256 in the blobs index (spooled to disk when down)."""
        data = bytes(data)
        sha256 = sha256_bytes(data)
        with self._lock:
            if self._spooled:
                self._try_replay()
            if not self._spooled:
                try:
                    return self._apply_blob({"op": "put_blob", "sha256": sha256, "_data": data})
                except ArchiveUnavailableError:
                    pass
            self.spool.put_blob(data)
            self._spool({"op": "put_blob", "sha256": sha256})
        return sha256

    def read_blob(self, sha256: str) -> bytes:
        if not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        try:
            doc = self._get("blobs", sha256)
        except ArchiveUnavailableError:
            doc = None
            if self.spool.blob_file(sha256) is None:
                raise
        if doc is not None:
            data = base64.b64decode(doc["_source"]["data"])
        else:
            path = self.spool.blob_file(sha256)  # spooled, not replayed yet
            if path is None:
                raise FileNotFoundError(f"no blob {sha256}")
            data = path.read_bytes()
        if sha256_bytes(data) != sha256:
            raise BlobCorruptedError(
                f"blob {sha256} is corrupted: its bytes no longer hash to its name"
            )
        return data

    def blob_path(self, sha256: str) -> Path | None:
        """Blobs live in the cluster, not on local disk: always None (after checking the name)."""
        if not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return None

    def blob_shas(self) -> Iterator[str]:
        """Every stored blob's name (for migration and checks); not part of the protocol."""
        yield from (hit["_id"] for hit in self._scan("blobs", {"match_all": {}}, source=False))

    # --- reads for the review workspace -----------------------------------------------------
    def _queue_filter(self, query: QueueFilter, *, flagged: bool = True) -> dict[str, Any]:
        if query.decision not in (None, "unreviewed", *DECISIONS):
            raise ValueError(f"unknown decision filter {query.decision!r}")
        filters: list[dict[str, Any]] = []
        if flagged:
            filters.append({"range": {"max_severity": {"gt": 0}}})
        must_not: list[dict[str, Any]] = []
        if query.category is not None:
            filters.append({"term": {"category": query.category}})
        if query.rule_id is not None:
            filters.append({"term": {"rule_ids": query.rule_id}})
        if query.decision == "unreviewed":
            must_not.append({"exists": {"field": "decision"}})
        elif query.decision is not None:
            filters.append({"term": {"decision": query.decision}})
        if query.platform:
            filters.append({"term": {"platform": query.platform}})
        if query.region:
            filters.append({"prefix": {"seller_location": query.region}})
        if query.found_from is not None or query.found_to is not None:
            bounds: dict[str, int] = {}
            if query.found_from is not None:
                bounds["gte"] = us(query.found_from)
            if query.found_to is not None:
                bounds["lt"] = us(query.found_to)
            filters.append({"range": {"first_seen_us": bounds}})
        text = (query.text or "").strip()
        if text:
            pattern = wildcard_literal(text)
            filters.append(
                {
                    "bool": {
                        "should": [
                            {"wildcard": {field: {"value": pattern, "case_insensitive": True}}}
                            for field in ("title.raw", "seller_name", "description_head")
                        ],
                        "minimum_should_match": 1,
                    }
                }
            )
        return {"bool": {"filter": filters, "must_not": must_not}}

    _QUEUE_SORT = (
        {"risk_score": {"order": "desc", "missing": 0}},
        {"max_severity": "desc"},
        {"last_seen_us": "desc"},
        {"seq": "desc"},
        {"key": "desc"},
    )

    def flagged(self, query: QueueFilter) -> list[FlaggedRow]:
        es_query = self._queue_filter(query)
        limit, offset = max(0, query.limit), max(0, query.offset)
        if limit == 0:
            return []
        sort = list(self._QUEUE_SORT)
        if query.after:
            # Keyset page: straight after the cursor's row, however deep (offset ignored).
            body = self._search(
                "listings",
                query=es_query,
                sort=sort,
                size=limit,
                search_after=parse_cursor(query.after),
            )
            return [flagged_row(hit["_source"]) for hit in body["hits"]["hits"]]
        if offset + limit <= _MAX_WINDOW:
            body = self._search("listings", query=es_query, sort=sort, from_=offset, size=limit)
            return [flagged_row(hit["_source"]) for hit in body["hits"]["hits"]]
        # Deep page: walk the sort keys with search_after (no sources), then read the page.
        after: list[Any] | None = None
        skipped = 0
        while skipped < offset:
            step = min(_WALK_PAGE, offset - skipped)
            extra = {"search_after": after} if after is not None else {}
            hits = self._search(
                "listings", query=es_query, sort=sort, size=step, source=False, **extra
            )["hits"]["hits"]
            if not hits:
                return []
            skipped += len(hits)
            after = hits[-1]["sort"]
        extra = {"search_after": after} if after is not None else {}
        body = self._search("listings", query=es_query, sort=sort, size=limit, **extra)
        return [flagged_row(hit["_source"]) for hit in body["hits"]["hits"]]

    def seller_listings(self, platform: str, seller_id: str, limit: int = 100) -> list[FlaggedRow]:
        if not seller_id or limit <= 0:
            return []
        body = self._search(
            "listings",
            query={
                "bool": {
                    "filter": [
                        {"term": {"platform": platform}},
                        {"term": {"seller_id": seller_id}},
                    ]
                }
            },
            sort=list(self._QUEUE_SORT),
            size=min(limit, _MAX_WINDOW),
        )
        return [flagged_row(hit["_source"]) for hit in body["hits"]["hits"]]

    def queue_stats(self, query: QueueFilter) -> dict[str, dict[str, int]]:
        terms = {
            "category": "category",
            "platform": "platform",
            "region": "seller_location",
            "rule": "rule_ids",
        }
        aggs: dict[str, Any] = {
            name: {"terms": {"field": field, "size": 10_000}} for name, field in terms.items()
        }
        aggs["decision"] = {"terms": {"field": "decision", "size": 10, "missing": "unreviewed"}}
        # Days, grouped into ISO weeks here ("2026-W48", the week-numbering year): a fixed
        # interval histogram cannot name weeks that way.
        aggs["day"] = {
            "histogram": {"field": "first_seen_us", "interval": _DAY_US, "min_doc_count": 1}
        }
        body = self._search("listings", size=0, query=self._queue_filter(query), aggs=aggs)
        out: dict[str, dict[str, int]] = {}
        for name in (*terms, "decision"):
            buckets = body["aggregations"][name]["buckets"]
            ordered = sorted(buckets, key=lambda b: (-b["doc_count"], b["key"]))
            out[name] = {b["key"]: b["doc_count"] for b in ordered}
        weeks: dict[str, int] = {}
        for bucket in body["aggregations"]["day"]["buckets"]:
            year, number, _ = from_us(int(bucket["key"])).isocalendar()
            label = f"{year}-W{number:02d}"
            weeks[label] = weeks.get(label, 0) + bucket["doc_count"]
        out["week"] = dict(sorted(weeks.items()))
        return {
            key: out[key] for key in ("category", "platform", "region", "rule", "decision", "week")
        }

    def iter_flagged(self, query: QueueFilter, page: int = 500) -> Iterator[FlaggedRow]:
        """The whole queue in order, by search_after (no OFFSET); not part of the protocol."""
        es_query = self._queue_filter(query)
        after: list[Any] | None = None
        while True:
            extra = {"search_after": after} if after is not None else {}
            hits = self._search(
                "listings", query=es_query, sort=list(self._QUEUE_SORT), size=page, **extra
            )["hits"]["hits"]
            if not hits:
                return
            yield from (flagged_row(hit["_source"]) for hit in hits)
            after = hits[-1]["sort"]

    def count_flagged(self, query: QueueFilter) -> int:
        self._ensure_schema()
        self._refresh("listings")
        body = self._call(
            self.client.count, index=self.index("listings"), query=self._queue_filter(query)
        ).body
        return int(body["count"])

    def facets(self) -> dict[str, dict[str, int]]:
        body = self._search(
            "listings",
            size=0,
            query={"range": {"max_severity": {"gt": 0}}},
            aggs={
                "category": {"terms": {"field": "category", "size": 10_000}},
                "rule": {"terms": {"field": "rule_ids", "size": 10_000}},
            },
        )
        return {
            name: {b["key"]: b["doc_count"] for b in body["aggregations"][name]["buckets"]}
            for name in ("category", "rule")
        }

    def confirmed_seller_ids(self) -> set[str]:
        out: set[str] = set()
        for hit in self._scan(
            "listings", {"term": {"decision": "confirmed"}}, source=["platform", "seller_id"]
        ):
            seller_id = hit["_source"].get("seller_id")
            if seller_id:
                out.add(f"{hit['_source']['platform']}:{seller_id}")
        return out

    def search_text(self, text: str, limit: int = 20) -> list[FlaggedRow]:
        """Listings whose title or description match Chinese text (the configured analyzer),
        best match first; not part of the protocol."""
        body = self._search(
            "listings",
            size=limit,
            query={"multi_match": {"query": text, "fields": ["title^2", "description"]}},
        )
        return [flagged_row(hit["_source"]) for hit in body["hits"]["hits"]]

    def get_listing(self, platform: str, listing_id: str) -> ListingRecord | None:
        key = doc_key(platform, listing_id)
        doc = self._get("listings", key)
        if doc is None:
            return None
        source = doc["_source"]
        version = source["version"]
        data = self._get("versions", f"{key}@{version}")
        flags = self._get("flags", f"{key}@{version}")
        if data is None:
            raise RuntimeError(f"listing {key} points at version {version}, which is missing")
        evidence = self._search(
            "evidence",
            query={"term": {"key": key}},
            sort=[{"started_us": "desc"}, {"seq": "desc"}],
            size=_MAX_WINDOW,
        )["hits"]["hits"]
        reviews = self._search(
            "reviews",
            query={"term": {"key": key}},
            sort=[{"decided_us": "desc"}, {"seq": "desc"}],
            size=_MAX_WINDOW,
        )["hits"]["hits"]
        listing = Listing.from_dict(data["_source"]["data"])
        listing.category = source["category"]
        return ListingRecord(
            listing=listing,
            version=version,
            first_seen=from_us(source["first_seen_us"]),
            last_seen=from_us(source["last_seen_us"]),
            flags=[
                Flag.from_dict(f)
                for f in (flags or {"_source": {"data": {"flags": []}}})["_source"]["data"]["flags"]
            ],
            evidence=[Evidence.from_dict(hit["_source"]["data"]) for hit in evidence],
            reviews=[
                Review(
                    platform=platform,
                    listing_id=listing_id,
                    decision=hit["_source"]["decision"],
                    reviewer=hit["_source"]["reviewer"],
                    reason=hit["_source"]["reason"],
                    decided_at=from_us(hit["_source"]["decided_us"]),
                )
                for hit in reviews
            ],
            gone_at=from_us(source["gone_at_us"]) if source.get("gone_at_us") else None,
            risk_score=source.get("risk_score", 0),
        )

    def listing_versions(self, platform: str, listing_id: str) -> list[tuple[int, Listing]]:
        """Every stored version of a listing, oldest first (not part of the Archive protocol)."""
        hits = self._search(
            "versions",
            query={"term": {"key": doc_key(platform, listing_id)}},
            sort=[{"version": "asc"}],
            size=_MAX_WINDOW,
        )["hits"]["hits"]
        return [(h["_source"]["version"], Listing.from_dict(h["_source"]["data"])) for h in hits]

    def add_review(self, review: Review) -> None:
        if review.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, got {review.decision!r}")
        if not review.reviewer.strip():
            raise ValueError("a review needs the reviewer's name")
        data = review.to_dict()
        data["reviewer"] = review.reviewer.strip()
        seq = self._next_seq()
        self._submit({"op": "add_review", "review": data, "seq": seq, "id": f"{seq:x}"})

    def errors(self, pass_id: int | None = None, limit: int = 100) -> list[PageError]:
        if limit <= 0:
            return []
        query = {"match_all": {}} if pass_id is None else {"term": {"pass_id": pass_id}}
        hits = self._search(
            "errors",
            query=query,
            sort=[{"at_us": "desc"}, {"seq": "desc"}],
            size=min(limit, _MAX_WINDOW),
        )["hits"]["hits"]
        return [
            PageError(
                url=h["_source"]["url"],
                kind=h["_source"]["kind"],
                message=h["_source"]["message"],
                at=from_us(h["_source"]["at_us"]),
            )
            for h in hits
        ]

    # --- incremental passes -----------------------------------------------------------------
    def _update_listing(self, key: str, mutate: Callable[[dict[str, Any]], bool]) -> bool | None:
        """Read-modify-write of one listing document with optimistic concurrency: written only
        if nobody wrote it since our read (if_seq_no / if_primary_term), else read again.
        ``mutate`` changes the source in place and returns False for "nothing to write".
        None when the listing does not exist."""
        for _ in range(_SAVE_ATTEMPTS * 4):
            current = self._get("listings", key)
            if current is None:
                return None
            source = current["_source"]
            if not mutate(source):
                return False
            try:
                self._call(
                    self.client.index,
                    index=self.index("listings"),
                    id=key,
                    document=source,
                    if_seq_no=current["_seq_no"],
                    if_primary_term=current["_primary_term"],
                )
            except ApiError as exc:
                if exc.status_code == 409:
                    continue
                raise
            self._dirty.add("listings")
            return True
        raise RuntimeError(f"listing {key} kept changing under us")

    def listing_states(self, platform: str) -> dict[str, ListingState]:
        by_platform = {"term": {"platform": platform}}
        captured = {
            hit["_source"]["key"] for hit in self._scan("evidence", by_platform, source=["key"])
        }
        states: dict[str, ListingState] = {}
        fields = ["key", "listing_id", "url", "content_hash", "last_seen_us", "search_keyword"]
        for hit in self._scan(
            "listings", by_platform, source=[*fields, "gone_at_us", "max_severity"]
        ):
            src = hit["_source"]
            states[src["listing_id"]] = ListingState(
                listing_id=src["listing_id"],
                url=src["url"],
                content_hash=src["content_hash"],
                last_seen=from_us(src["last_seen_us"]),
                search_keyword=src.get("search_keyword", ""),
                gone_at=from_us(src["gone_at_us"]) if src.get("gone_at_us") else None,
                needs_evidence=src["max_severity"] > 0 and src["key"] not in captured,
            )
        return states

    def touch_listing(
        self, platform: str, listing_id: str, seen_at: datetime, pass_id: int | None = None
    ) -> bool:
        """As the protocol says; while the cluster is down the touch is spooled and True is
        returned (whether the listing exists is known only on replay)."""
        result = self._submit(
            {
                "op": "touch_listing",
                "platform": platform,
                "listing_id": listing_id,
                "seen_at": ts(seen_at),
                "pass_id": pass_id,
            }
        )
        return True if result is None else bool(result)

    def _apply_touch(self, record: dict[str, Any]) -> bool:
        seen_us = us(parse(record["seen_at"]))
        pass_id = record["pass_id"]

        def touch(source: dict[str, Any]) -> bool:
            source["last_seen_us"] = max(source["last_seen_us"], seen_us)
            source["last_seen"] = ts(from_us(source["last_seen_us"]))
            source.pop("gone_at", None)
            source.pop("gone_at_us", None)
            if pass_id is not None:
                source["last_pass_id"] = pass_id
            return True

        key = doc_key(record["platform"], record["listing_id"])
        return bool(self._update_listing(key, touch))

    def mark_gone(
        self,
        platform: str,
        *,
        not_seen_since: datetime,
        search_keywords: list[str] | None = None,
        keep: set[str] | frozenset[str] = frozenset(),
        gone_at: datetime | None = None,
    ) -> int:
        """As the protocol says; while the cluster is down the call is spooled (judged on
        replay, after the spooled saves before it) and 0 is returned."""
        if search_keywords is not None and not search_keywords:
            return 0
        result = self._submit(
            {
                "op": "mark_gone",
                "platform": platform,
                "not_seen_since": ts(not_seen_since),
                "search_keywords": search_keywords,
                "keep": sorted(keep),
                "gone_at": ts(gone_at or utcnow()),
            }
        )
        return int(result or 0)

    def _apply_mark_gone(self, record: dict[str, Any]) -> int:
        since_us = us(parse(record["not_seen_since"]))
        gone = parse(record["gone_at"])
        filters: list[dict[str, Any]] = [
            {"term": {"platform": record["platform"]}},
            {"range": {"last_seen_us": {"lt": since_us}}},
        ]
        if record["search_keywords"] is not None:
            filters.append({"terms": {"search_keyword": record["search_keywords"]}})
        query = {"bool": {"filter": filters, "must_not": [{"exists": {"field": "gone_at_us"}}]}}
        keep = set(record["keep"])
        keys = [
            hit["_source"]["key"]
            for hit in self._scan("listings", query, source=["key", "listing_id"])
            if hit["_source"]["listing_id"] not in keep
        ]

        def mark(source: dict[str, Any]) -> bool:
            if source.get("gone_at_us") or source["last_seen_us"] >= since_us:
                return False  # seen again (or marked) since the search
            source.update(gone_at=ts(gone), gone_at_us=us(gone))
            return True

        return sum(1 for key in keys if self._update_listing(key, mark))

    # --- evidence records -------------------------------------------------------------------
    def get_evidence(self, capture_id: str) -> Evidence | None:
        doc = self._get("evidence", capture_id) if capture_id else None
        return Evidence.from_dict(doc["_source"]["data"]) if doc else None

    def capture_ids(self, case_id: str | None = None) -> list[str]:
        query = {"match_all": {}} if case_id is None else {"term": {"case_id": case_id}}
        out: list[str] = []
        after: list[Any] | None = None
        while True:
            extra = {"search_after": after} if after is not None else {}
            hits = self._search(
                "evidence",
                query=query,
                sort=[{"started_us": "asc"}, {"seq": "asc"}, {"capture_id": "asc"}],
                size=_WALK_PAGE,
                source=["capture_id"],
                **extra,
            )["hits"]["hits"]
            if not hits:
                return out
            out.extend(hit["_source"]["capture_id"] for hit in hits)
            after = hits[-1]["sort"]

    # --- the evidence ledger ----------------------------------------------------------------
    def _ledger_top(self) -> tuple[int, LedgerEntry | None]:
        """(position, entry) of the last stored entry, (0, None) for an empty ledger. Another
        process's appends may not be searchable yet (refresh interval), so the search result is
        followed forward by realtime GETs until a position is free."""
        self._dirty.add("ledger")
        hits = self._search("ledger", size=1, sort=[{"position": "desc"}])["hits"]["hits"]
        position = hits[0]["_source"]["position"] if hits else 0
        entry = ledger_entry(hits[0]["_source"]) if hits else None
        while True:
            following = self._get("ledger", str(position + 1))
            if following is None:
                break
            position += 1
            entry = ledger_entry(following["_source"])
        self._ledger_cache = (position, entry)
        return position, entry

    def ledger_head(self) -> LedgerEntry | None:
        """The last entry. While the cluster is down: the last entry this process stored or
        spooled (so captures can go on chaining offline; one writer per ledger then)."""
        with self._lock:
            if self._spooled:
                self._try_replay()
            if not self._spooled:
                try:
                    return self._ledger_top()[1]
                except ArchiveUnavailableError:
                    if self._ledger_cache is None:
                        raise
            if self._ledger_cache is None:
                self._ledger_top()
            assert self._ledger_cache is not None
            return self._ledger_cache[1]

    def append_ledger(self, entry: LedgerEntry) -> None:
        check_sealed = entry.entry_hash == entry.computed_hash()
        if not check_sealed:
            raise ValueError(f"ledger entry {entry.seq} is not sealed with its own hash")
        with self._lock:
            if self._spooled:
                self._try_replay()
            if not self._spooled:
                self._flush_batch()
            if not self._spooled:
                try:
                    self._apply_ledger({"op": "append_ledger", "entry": entry.to_dict()})
                    return
                except ArchiveUnavailableError:
                    if self._ledger_cache is None:
                        raise
            # Offline: it must extend the head this process knows, as online it must extend
            # the stored head; replay checks again against the cluster.
            position, head = self._ledger_cache or (0, None)
            check_extends(head, entry)
            self._spool({"op": "append_ledger", "entry": entry.to_dict()})
            self._ledger_cache = (position + 1, entry)
            if entry.kind == "checkpoint":
                self._checkpoint_cache = (entry,)

    def _apply_ledger(self, record: dict[str, Any]) -> None:
        entry = LedgerEntry.from_dict(record["entry"])
        position, head = self._ledger_top()
        if head is not None and head.entry_hash == entry.entry_hash and head.seq == entry.seq:
            return  # already stored (a replay)
        check_extends(head, entry)
        try:
            self._call(
                self.client.create,
                index=self.index("ledger"),
                id=str(position + 1),
                document={
                    "position": position + 1,
                    "seq": entry.seq,
                    "kind": entry.kind,
                    "capture_id": entry.capture_id,
                    "case_id": entry.case_id,
                    "entry_hash": entry.entry_hash,
                    "entry_json": canonical(entry.to_dict()),
                },
            )
        except ApiError as exc:
            if exc.status_code == 409:
                raise LedgerConflictError(
                    f"entry {entry.seq}: another writer appended at position {position + 1}"
                ) from exc
            raise
        self._dirty.add("ledger")
        self._ledger_cache = (position + 1, entry)
        if entry.kind == "checkpoint":
            self._checkpoint_cache = (entry,)

    def ledger_entries(self, after_position: int = 0, limit: int = 1000) -> list[LedgerEntry]:
        if limit <= 0:
            return []
        self._dirty.add("ledger")
        hits = self._search(
            "ledger",
            query={"range": {"position": {"gt": after_position}}},
            sort=[{"position": "asc"}],
            size=min(limit, _MAX_WINDOW),
        )["hits"]["hits"]
        return [ledger_entry(hit["_source"]) for hit in hits]

    def ledger_entries_for(
        self, *, capture_id: str | None = None, case_id: str | None = None
    ) -> list[LedgerEntry]:
        filters: list[dict[str, Any]] = []
        if capture_id is not None:
            filters.append({"term": {"capture_id": capture_id}})
        if case_id is not None:
            filters.append({"term": {"case_id": case_id}})
        self._dirty.add("ledger")
        out: list[LedgerEntry] = []
        after: list[Any] | None = None
        while True:
            extra = {"search_after": after} if after is not None else {}
            hits = self._search(
                "ledger",
                query={"bool": {"filter": filters}},
                sort=[{"position": "asc"}],
                size=_WALK_PAGE,
                **extra,
            )["hits"]["hits"]
            if not hits:
                return out
            out.extend(ledger_entry(hit["_source"]) for hit in hits)
            after = hits[-1]["sort"]

    def last_checkpoint(self) -> LedgerEntry | None:
        """The last checkpoint. While the cluster is down: the last one this process read,
        stored or spooled (the ledger asks for it at every capture)."""
        with self._lock:
            if self._spooled:
                self._try_replay()
            if not self._spooled:
                self._dirty.add("ledger")
                try:
                    hits = self._search(
                        "ledger",
                        query={"term": {"kind": "checkpoint"}},
                        sort=[{"position": "desc"}],
                        size=1,
                    )["hits"]["hits"]
                except ArchiveUnavailableError:
                    if self._checkpoint_cache is None:
                        raise
                else:
                    self._checkpoint_cache = (ledger_entry(hits[0]["_source"]) if hits else None,)
            if self._checkpoint_cache is None:
                raise ArchiveUnavailableError("the cluster is down and no checkpoint is known")
            return self._checkpoint_cache[0]

    # --- whole-archive reads (migration, checks) --------------------------------------------
    _SCAN_SORT: ClassVar[dict[str, list[str]]] = {
        "listings": ["key"],
        "versions": ["key", "version"],
        "flags": ["key", "version"],
        "evidence": ["capture_id"],
        "blobs": ["sha256"],
        "reviews": ["key", "seq"],
        "errors": ["seq", "url"],
        "passes": ["pass_id"],
        "ledger": ["position"],
        "work": ["key"],
    }

    def _scan(
        self,
        name: str,
        query: dict[str, Any],
        *,
        source: bool | list[str] = True,
        page: int = _WALK_PAGE,
    ) -> Iterator[dict[str, Any]]:
        """Every matching document, by search_after over a total order of the index."""
        after: list[Any] | None = None
        sort = [{field: "asc"} for field in self._SCAN_SORT[name]]
        while True:
            extra = {"search_after": after} if after is not None else {}
            hits = self._search(name, query=query, sort=sort, size=page, source=source, **extra)[
                "hits"
            ]["hits"]
            if not hits:
                return
            yield from hits
            after = hits[-1]["sort"]

    def documents(self, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(id, source) of every document of one index (migration, checks); not protocol."""
        page = 20 if name == "blobs" else _WALK_PAGE  # blobs are big; keep pages small
        for hit in self._scan(name, {"match_all": {}}, page=page):
            yield hit["_id"], hit["_source"]

    def put_documents(
        self, name: str, documents: Iterator[tuple[str, dict[str, Any]]], *, create: bool
    ) -> int:
        """Write documents under the given ids in bulk (migration); ``create`` keeps a document
        that exists already (immutable kinds: evidence, blobs, the ledger). Returns how many."""
        actions: list[_Action] = []
        size = count = 0
        op = "create" if create else "index"
        for doc_id, source in documents:
            actions.append(
                _Action({op: {"_index": self.index(name), "_id": doc_id}}, source, "ignore")
            )
            size += len(source.get("data", "")) if name == "blobs" else 1000
            count += 1
            if len(actions) >= _BULK_ACTIONS or size >= _BULK_BYTES:
                self._bulk(actions)
                actions, size = [], 0
        if actions:
            self._bulk(actions)
        self._dirty.add(name)
        return count

    def count(self, name: str) -> int:
        self._ensure_schema()
        self._refresh(name)
        return int(self._call(self.client.count, index=self.index(name)).body["count"])


class ApiErrorInBulk(RuntimeError):
    """A bulk item the cluster refused for a reason other than load (mapping, validation)."""

    def __init__(self, op: str, result: dict[str, Any]) -> None:
        error = result.get("error", {})
        reason = error.get("reason", error) if isinstance(error, dict) else error
        super().__init__(f"{op} {result.get('_index')}/{result.get('_id')}: {reason}")
        self.result = result


# What a replay sets aside as refused for good (anything else stops the replay).
_REFUSED: tuple[type[BaseException], ...] = (
    ValueError,
    LookupError,
    FileNotFoundError,
    ApiError,
    ApiErrorInBulk,
    LedgerConflictError,  # an entry chained offline onto a head another writer extended
)


def _describe(client: Elasticsearch) -> str:
    """The cluster's address for messages and ``location``, without any credentials."""
    nodes = [str(node.base_url) for node in client.transport.node_pool.all()]
    clean = []
    for url in nodes:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        clean.append(urlunsplit((parts.scheme, netloc, parts.path, "", "")))
    return ",".join(clean)


def spool_dir_for(home: Path, url: str) -> Path:
    """The spool folder of one cluster under ``home`` (one per cluster URL and process home)."""
    parts = urlsplit(url)
    name = f"{parts.hostname or 'es'}-{parts.port or 9200}"
    return Path(home) / "es-spool" / re.sub(r"[^A-Za-z0-9_.-]", "_", name)


__all__ = [
    "ArchiveUnavailableError",
    "ElasticsearchArchive",
    "detect_analyzer",
    "index_templates",
    "spool_dir_for",
]
