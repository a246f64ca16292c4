"""``marketguard evidence verify``: recompute every hash and link, name what is wrong.

Nothing stored is trusted: the ledger chain is re-hashed entry by entry
(``verify_export.check_chain``: altered, missing or out-of-order entries), each capture's
manifest is re-hashed against the hash its ledger entry sealed, and every file the manifest
lists is re-hashed from the blob store (a blob shared by two captures is hashed once).
Checkpoints must name the hash of the entry they cover; RFC 3161 tokens must carry the hash
they stamp, and with the authority's CA certificate their signatures are checked by openssl.
The archive's own records are cross-checked too: an Evidence record without a ledger entry
(a deleted ledger line) and a ledger entry whose Evidence record is gone are both reported.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from evidence.archive.base import Archive, BlobCorruptedError
from evidence.hashing import sha256_bytes, sha256_file
from evidence.ledger import LedgerEntry, iter_ledger, token_bytes
from evidence.verify_export import Problem, check_chain, openssl_verify_token, token_covers


@dataclass(slots=True)
class VerifyReport:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    captures: int = 0
    ledger_entries: int = 0
    files: int = 0
    bytes_hashed: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [
                {"kind": p.kind, "subject": p.subject, "detail": p.detail} for p in self.problems
            ],
            "notes": self.notes,
            "captures": self.captures,
            "ledger_entries": self.ledger_entries,
            "files": self.files,
            "bytes_hashed": self.bytes_hashed,
            "seconds": round(self.seconds, 3),
        }


class _Blobs:
    """Hashes each blob once; (sha256 of the bytes, size) or None when it is gone."""

    def __init__(self, archive: Archive, report: VerifyReport) -> None:
        self.archive = archive
        self.report = report
        self._seen: dict[str, tuple[str, int] | None] = {}

    def digest(self, name: str) -> tuple[str, int] | None:
        if name not in self._seen:
            self._seen[name] = self._hash(name)
        return self._seen[name]

    def _hash(self, name: str) -> tuple[str, int] | None:
        try:
            path = self.archive.blob_path(name)
        except ValueError:
            return None
        if path is not None:
            try:
                size = path.stat().st_size
                digest = sha256_file(path)
            except FileNotFoundError:
                return None
            self.report.bytes_hashed += size
            return digest, size
        try:
            data = self.archive.read_blob(name)
        except FileNotFoundError:
            return None
        except BlobCorruptedError:
            return "(bytes that no longer match their name)", -1
        self.report.bytes_hashed += len(data)
        return sha256_bytes(data), len(data)

    def read(self, name: str) -> bytes | None:
        path = self.archive.blob_path(name)
        if path is not None:
            return path.read_bytes()
        try:
            return self.archive.read_blob(name)
        except (FileNotFoundError, BlobCorruptedError):
            return None


def verify_archive(
    archive: Archive, *, capture_id: str | None = None, tsa_ca: bytes | None = None
) -> VerifyReport:
    """Everything (or one capture plus the whole chain it depends on)."""
    started = time.perf_counter()
    report = VerifyReport()
    entries = list(iter_ledger(archive))
    report.ledger_entries = len(entries)
    report.problems += check_chain([e.to_dict() for e in entries], full=True)
    blobs = _Blobs(archive, report)
    by_seq = {e.seq: e for e in entries}

    captures = [e for e in entries if e.kind == "capture"]
    if capture_id is not None:
        captures = [e for e in captures if e.capture_id == capture_id]
        if not captures:
            report.problems.append(
                Problem("missing", f"capture {capture_id}", "no ledger entry seals this capture")
            )
    for entry in captures:
        _verify_capture(archive, entry, blobs, report, tsa_ca)
    report.captures = len(captures)

    for entry in entries:
        if entry.kind == "checkpoint":
            covered = by_seq.get(int(entry.payload.get("covers_to", 0)))
            head = entry.payload.get("head_hash")
            if covered is None or covered.entry_hash != head:
                report.problems.append(
                    Problem(
                        "altered",
                        f"ledger entry {entry.seq} (checkpoint)",
                        f"names head hash {head} for entry {entry.payload.get('covers_to')},"
                        " which the ledger does not hold",
                    )
                )
            _verify_timestamp(entry, str(head), report, tsa_ca)

    # Captures the archive holds but the ledger does not seal: a deleted ledger line.
    sealed = {e.capture_id for e in entries if e.kind == "capture"}
    wanted = [capture_id] if capture_id is not None else archive.capture_ids()
    for cid in wanted:
        if cid not in sealed and archive.get_evidence(cid) is not None:
            report.problems.append(
                Problem(
                    "missing",
                    f"ledger entry of capture {cid}",
                    "the archive holds this capture but no ledger entry seals it",
                )
            )
    report.seconds = time.perf_counter() - started
    return report


def _verify_capture(
    archive: Archive,
    entry: LedgerEntry,
    blobs: _Blobs,
    report: VerifyReport,
    tsa_ca: bytes | None,
) -> None:
    cid = entry.capture_id
    manifest_sha = str(entry.payload.get("manifest_sha256", ""))
    found = blobs.digest(manifest_sha)
    report.files += 1
    if found is None:
        report.problems.append(
            Problem("missing", f"manifest of capture {cid}", f"blob {manifest_sha} is not stored")
        )
        return
    if found[0] != manifest_sha:
        report.problems.append(
            Problem(
                "altered",
                f"manifest of capture {cid}",
                f"blob {manifest_sha} now hashes to {found[0]}",
            )
        )
        return
    raw = blobs.read(manifest_sha)
    manifest = json.loads(raw or b"{}")
    for artifact in manifest.get("artifacts", []):
        report.files += 1
        name = f"{artifact['kind']} of capture {cid}"
        if artifact.get("source_url"):
            name += f" ({artifact['source_url']})"
        got = blobs.digest(artifact["sha256"])
        if got is None:
            report.problems.append(
                Problem("missing", name, f"blob {artifact['sha256']} is not stored")
            )
        elif got[0] != artifact["sha256"]:
            report.problems.append(
                Problem("altered", name, f"blob {artifact['sha256']} now hashes to {got[0]}")
            )
        elif got[1] != artifact["size"]:
            report.problems.append(
                Problem("altered", name, f"size {got[1]}, the manifest says {artifact['size']}")
            )
    evidence = archive.get_evidence(cid)
    if evidence is None:
        report.problems.append(
            Problem(
                "missing",
                f"evidence record of capture {cid}",
                "sealed in the ledger, but the archive has no Evidence record for it",
            )
        )
    else:
        recorded = [(a.kind, a.sha256, a.size) for a in evidence.artifacts]
        listed = [(a["kind"], a["sha256"], a["size"]) for a in manifest.get("artifacts", [])]
        if recorded != [*listed, ("metadata", manifest_sha, found[1])]:
            report.problems.append(
                Problem(
                    "altered",
                    f"evidence record of capture {cid}",
                    "its list of files differs from the sealed manifest",
                )
            )
    _verify_timestamp(entry, manifest_sha, report, tsa_ca)


def _verify_timestamp(
    entry: LedgerEntry, stamped: str, report: VerifyReport, tsa_ca: bytes | None
) -> None:
    token = token_bytes(entry)
    if token is None:
        return
    subject = f"timestamp of ledger entry {entry.seq}"
    if entry.payload["timestamp"].get("sha256") != stamped or not token_covers(token, stamped):
        report.problems.append(Problem("altered", subject, f"the token does not stamp {stamped}"))
        return
    if tsa_ca is None:
        return
    ok, message = openssl_verify_token(token, stamped, tsa_ca)
    if ok is False:
        report.problems.append(Problem("altered", subject, f"openssl ts -verify: {message}"))
    elif ok is None:
        report.notes.append(f"{subject}: {message}")
