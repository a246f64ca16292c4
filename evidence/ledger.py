"""The append-only evidence ledger: a hash chain over every capture, with periodic checkpoints.

Each entry holds the SHA-256 of the entry before it (``prev_hash``; the first holds 64 zeros)
and its own hash over its canonical JSON (``entry_hash``, computed by
``evidence.verify_export.entry_hash`` so the stdlib checker shipped in exports agrees by
construction). Editing an entry changes its hash; deleting or reordering entries breaks a
link or the ``seq`` order; ``marketguard evidence verify`` names each.

Entries carry ids and hashes only (capture id, case id, listing key, manifest hash), never page
content, so a segment can be handed over in an export. Kinds:

- ``capture``: one per capture; ``payload.manifest_sha256`` seals the capture's metadata JSON,
  which lists every artifact's hash. With a timestamp authority configured, an RFC 3161 token
  over that manifest hash is in ``payload.timestamp``.
- ``checkpoint``: every ``checkpoint_every`` entries (and on demand): the range covered and the
  head hash at that point, RFC 3161-stamped when a TSA is configured, so rewriting history
  before a checkpoint would have to forge the authority's signature too.

Appends are optimistic: read the head, build the next entry, ``Archive.append_ledger`` refuses it
with ``LedgerConflictError`` if another writer got there first, and we rebuild and retry.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evidence.verify_export import GENESIS, entry_hash
from marketguard.models import Evidence, utcnow

if TYPE_CHECKING:
    from evidence.archive.base import Archive
    from evidence.timestamping import TimestampAuthority

LEDGER_FORMAT = "marketguard-ledger/1"
DEFAULT_CHECKPOINT_EVERY = 100
_APPEND_ATTEMPTS = 50


class LedgerConflictError(Exception):
    """The entry does not extend the current head (another writer appended first)."""


@dataclass(slots=True)
class LedgerEntry:
    seq: int
    kind: str  # "capture" | "checkpoint"
    recorded_at: str  # ISO 8601 UTC, system clock
    prev_hash: str
    capture_id: str = ""
    case_id: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    entry_hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": LEDGER_FORMAT,
            "seq": self.seq,
            "kind": self.kind,
            "recorded_at": self.recorded_at,
            "capture_id": self.capture_id,
            "case_id": self.case_id,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LedgerEntry:
        return cls(
            seq=int(data["seq"]),
            kind=data["kind"],
            recorded_at=data["recorded_at"],
            prev_hash=data["prev_hash"],
            capture_id=data.get("capture_id", ""),
            case_id=data.get("case_id", ""),
            payload=data.get("payload", {}),
            entry_hash=data.get("entry_hash", ""),
        )

    def computed_hash(self) -> str:
        return entry_hash(self.to_dict())

    def sealed(self) -> LedgerEntry:
        self.entry_hash = self.computed_hash()
        return self


def next_entry(
    head: LedgerEntry | None,
    kind: str,
    payload: dict[str, Any],
    *,
    capture_id: str = "",
    case_id: str = "",
) -> LedgerEntry:
    return LedgerEntry(
        seq=1 if head is None else head.seq + 1,
        kind=kind,
        recorded_at=utcnow().isoformat(),
        prev_hash=GENESIS if head is None else head.entry_hash,
        capture_id=capture_id,
        case_id=case_id,
        payload=payload,
    ).sealed()


def check_extends(head: LedgerEntry | None, entry: LedgerEntry) -> None:
    """What every backend's ``append_ledger`` checks before writing (inside its own lock or
    conditional write). Raises LedgerConflictError or ValueError."""
    want_seq = 1 if head is None else head.seq + 1
    want_prev = GENESIS if head is None else head.entry_hash
    if entry.seq != want_seq or entry.prev_hash != want_prev:
        raise LedgerConflictError(
            f"entry {entry.seq} does not extend the ledger head"
            f" ({'empty' if head is None else head.seq})"
        )
    if entry.entry_hash != entry.computed_hash():
        raise ValueError(f"ledger entry {entry.seq} is not sealed with its own hash")


def iter_ledger(archive: Archive, page: int = 1000) -> Iterator[LedgerEntry]:
    """Every entry in storage order, paged."""
    after = 0
    while True:
        batch = archive.ledger_entries(after_position=after, limit=page)
        if not batch:
            return
        yield from batch
        after += len(batch)
        if len(batch) < page:
            return


class Ledger:
    """Appends to an archive's ledger. Thread-safe as far as the archive's append is."""

    def __init__(
        self,
        archive: Archive,
        *,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        tsa: TimestampAuthority | None = None,
    ) -> None:
        self.archive = archive
        self.checkpoint_every = max(0, checkpoint_every)
        self.tsa = tsa

    def _append(self, build: Callable[[LedgerEntry | None], LedgerEntry]) -> LedgerEntry:
        for _ in range(_APPEND_ATTEMPTS):
            entry = build(self.archive.ledger_head())
            try:
                self.archive.append_ledger(entry)
            except LedgerConflictError:
                continue
            return entry
        raise LedgerConflictError(f"gave up appending after {_APPEND_ATTEMPTS} conflicts")

    def record_capture(self, evidence: Evidence) -> LedgerEntry:
        """Seal a finished capture into the chain (and checkpoint when one is due)."""
        metadata = evidence.artifact("metadata")
        if metadata is None:
            raise ValueError(f"capture {evidence.capture_id} has no metadata artifact")
        payload: dict[str, Any] = {
            "manifest_sha256": metadata.sha256,
            "listing": f"{evidence.platform}:{evidence.listing_id}",
            "artifacts": len(evidence.artifacts),
        }
        if self.tsa is not None:
            # Stamped before the entry is built: the token is then covered by the entry hash.
            payload["timestamp"] = self.tsa.stamp(metadata.sha256).to_dict()
        entry = self._append(
            lambda head: next_entry(
                head,
                "capture",
                payload,
                capture_id=evidence.capture_id,
                case_id=evidence.case_id,
            )
        )
        if self.checkpoint_every:
            last = self.archive.last_checkpoint()
            if entry.seq - (last.seq if last else 0) >= self.checkpoint_every:
                self.checkpoint()
        return entry

    def checkpoint(self) -> LedgerEntry | None:
        """A checkpoint over the entries since the last one; None when nothing is new."""
        head = self.archive.ledger_head()
        if head is None or head.kind == "checkpoint":
            return None
        last = self.archive.last_checkpoint()
        payload: dict[str, Any] = {
            "covers_from": 1 if last is None else last.seq + 1,
            "covers_to": head.seq,
            "head_hash": head.entry_hash,
        }
        if self.tsa is not None:
            payload["timestamp"] = self.tsa.stamp(head.entry_hash).to_dict()

        def build(current: LedgerEntry | None) -> LedgerEntry:
            if current is None or current.entry_hash != head.entry_hash:
                # Someone appended meanwhile; the next capture's checkpoint will cover it.
                raise _Superseded
            return next_entry(current, "checkpoint", payload)

        try:
            return self._append(build)
        except _Superseded:
            return None


class _Superseded(Exception):
    pass


def token_bytes(entry: LedgerEntry) -> bytes | None:
    stamp = entry.payload.get("timestamp")
    return base64.b64decode(stamp["token"]) if stamp else None


def ledger_for(archive: Archive, settings: Any) -> Ledger:
    """The ledger as configured: checkpoint interval and, when set, the timestamp authority."""
    tsa = None
    if settings.tsa_url:
        from evidence.timestamping import TimestampAuthority

        tsa = TimestampAuthority(settings.tsa_url)
    return Ledger(archive, checkpoint_every=settings.ledger_checkpoint_every, tsa=tsa)
