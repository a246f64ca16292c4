#!/usr/bin/env python3
"""Check a MarketGuard evidence export (a .zip) with nothing but Python's standard library.

    python3 verify_export.py OUT.zip        # this file is also inside every export
    marketguard evidence verify-export OUT.zip

It recomputes, without trusting anything written by the exporter:

1. the SHA-256 of every file listed in ``SHA256SUMS`` (the same check as ``sha256sum -c``);
2. each capture's manifest against the hash its ledger entry holds, and every file the
   manifest lists (size and SHA-256);
3. the ledger segment (``ledger.jsonl``): each entry's own hash, each entry holding the
   previous entry's hash, and the order; a deleted line, two swapped lines or an edited line
   is named;
4. RFC 3161 timestamp tokens: the token must carry the hash it claims to stamp; with
   ``openssl`` on the PATH and the authority's certificate in the export, the token's
   signature is checked too (``openssl ts -verify``).

The archive's ledger code imports ``entry_hash`` from here, so the archive and this checker
cannot disagree on how an entry is hashed. Keep this module free of anything but the stdlib.
Exit status: 0 all good, 1 problems found (each printed), 2 the file is not an export at all.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
EXPORT_FORMAT = "marketguard-export/1"
CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: ``kind`` is altered | missing | out_of_order | unverified."""

    kind: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.upper()}: {self.subject}: {self.detail}"


# --- ledger entries ---------------------------------------------------------------------------
def canonical_json(value: Any) -> bytes:
    """The bytes an entry is hashed over: sorted keys, no spaces, UTF-8 (Chinese as is)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8"
    )


def entry_hash(entry: dict[str, Any]) -> str:
    """SHA-256 of an entry's canonical JSON without its own ``entry_hash`` field."""
    body = {k: v for k, v in entry.items() if k != "entry_hash"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def check_chain(entries: Sequence[dict[str, Any]], *, full: bool = True) -> list[Problem]:
    """Problems in a ledger (``full``: it must start at entry 1) or a contiguous segment of it.

    ``entries`` are in the order they are stored. Each entry names its position (``seq``),
    its predecessor's hash (``prev_hash``) and its own (``entry_hash``).
    """
    problems: list[Problem] = []
    if not entries:
        return problems
    for position, entry in enumerate(entries, 1):
        computed = entry_hash(entry)
        if computed != entry.get("entry_hash"):
            problems.append(
                Problem(
                    "altered",
                    _entry_name(entry),
                    f"stored at position {position}; its content hashes to {computed},"
                    f" but the entry says {entry.get('entry_hash')}",
                )
            )
    seqs = [int(e.get("seq", 0)) for e in entries]
    first = 1 if full else min(seqs)
    present = set(seqs)
    # Out of order: an entry sits where another seq belongs. Named pairwise for a swap.
    in_order = sorted(seqs)
    if seqs != in_order:
        pairs = zip(seqs, in_order, strict=True)
        misplaced = [(p, seq) for p, (seq, want) in enumerate(pairs, 1) if seq != want]
        described = ", ".join(f"position {p} holds entry {s}" for p, s in misplaced)
        problems.append(
            Problem(
                "out_of_order",
                "ledger entries " + " and ".join(str(s) for _, s in misplaced),
                f"stored out of sequence ({described})",
            )
        )
    for seq in range(first, max(seqs) + 1):
        if seq not in present:
            after = max((s for s in present if s < seq), default=None)
            before = min((s for s in present if s > seq), default=None)
            where = (
                f"between entry {after} and entry {before}"
                if after is not None and before is not None
                else "at the start of the ledger"
            )
            problems.append(Problem("missing", f"ledger entry {seq}", f"deleted ({where})"))
    duplicates = {s for s in seqs if seqs.count(s) > 1}
    for seq in sorted(duplicates):
        problems.append(Problem("altered", f"ledger entry {seq}", "appears more than once"))
    by_seq = {int(e.get("seq", 0)): e for e in entries}
    ordered = [by_seq[s] for s in sorted(by_seq)]
    if full and ordered and ordered[0].get("seq") == 1 and ordered[0].get("prev_hash") != GENESIS:
        problems.append(
            Problem("altered", "ledger entry 1", "does not start from the genesis hash")
        )
    for prev, entry in itertools.pairwise(ordered):
        if int(entry["seq"]) == int(prev["seq"]) + 1 and entry.get("prev_hash") != prev.get(
            "entry_hash"
        ):
            problems.append(
                Problem(
                    "altered",
                    f"link from ledger entry {prev['seq']} to {entry['seq']}",
                    f"entry {entry['seq']} holds previous hash {entry.get('prev_hash')}, but"
                    f" entry {prev['seq']} hashes to {prev.get('entry_hash')}"
                    " (an entry was rewritten, or one was removed and the rest renumbered)",
                )
            )
    return problems


def _entry_name(entry: dict[str, Any]) -> str:
    name = f"ledger entry {entry.get('seq')}"
    if entry.get("capture_id"):
        name += f" (capture {entry['capture_id']})"
    elif entry.get("kind"):
        name += f" ({entry['kind']})"
    return name


# --- RFC 3161 tokens --------------------------------------------------------------------------
def token_covers(token_der: bytes, sha256_hex: str) -> bool:
    """The token's message imprint is an OCTET STRING of the 32 digest bytes (04 20 ...)."""
    return b"\x04\x20" + bytes.fromhex(sha256_hex) in token_der


def openssl_verify_token(
    token_der: bytes, sha256_hex: str, ca_pem: bytes, *, is_reply: bool = True
) -> tuple[bool | None, str]:
    """(True, msg) verified, (False, msg) rejected, (None, msg) openssl not available."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None, "openssl not found; token signature not checked"
    with tempfile.TemporaryDirectory() as tmp:
        token_path = os.path.join(tmp, "token.tsr")
        ca_path = os.path.join(tmp, "ca.pem")
        with open(token_path, "wb") as f:
            f.write(token_der)
        with open(ca_path, "wb") as f:
            f.write(ca_pem)
        cmd = [openssl, "ts", "-verify", "-digest", sha256_hex, "-sha256", "-in", token_path]
        if not is_reply:
            cmd.append("-token_in")
        cmd += ["-CAfile", ca_path, "-untrusted", ca_path]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    output = (proc.stdout + proc.stderr).strip().splitlines()
    return proc.returncode == 0, output[0] if output else f"openssl exit {proc.returncode}"


# --- the export -------------------------------------------------------------------------------
def sha256_stream(stream: Any) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while block := stream.read(CHUNK):
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


def parse_sha256sums(text: str) -> list[tuple[str, str]]:
    """(hash, name) pairs from ``sha256sum`` output (text or binary mode marker)."""
    pairs = []
    for line in text.splitlines():
        if not line.strip():
            continue
        digest, _, name = line.partition(" ")
        pairs.append((digest.strip().lower(), name.lstrip(" *")))
    return pairs


class ExportError(Exception):
    """The file is not a MarketGuard export (not a zip, or no export.json)."""


def verify_zip(path: str) -> tuple[list[Problem], list[str]]:
    """(problems, notes). Notes say what was checked, for the person running it."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ExportError(f"{path} is not a readable zip file: {exc}") from exc
    with archive:
        names = set(archive.namelist())
        if "export.json" not in names:
            raise ExportError(f"{path} has no export.json: not a MarketGuard export")
        index = json.loads(archive.read("export.json"))
        if index.get("format") != EXPORT_FORMAT:
            raise ExportError(f"unknown export format {index.get('format')!r}")
        return _verify_open_zip(archive, names, index)


def _verify_open_zip(
    archive: zipfile.ZipFile, names: set[str], index: dict[str, Any]
) -> tuple[list[Problem], list[str]]:
    problems: list[Problem] = []
    notes: list[str] = []
    hashes: dict[str, str] = {}

    def file_hash(name: str) -> str:
        if name not in hashes:
            with archive.open(name) as f:
                hashes[name] = sha256_stream(f)[0]
        return hashes[name]

    # 1. SHA256SUMS: what `sha256sum -c` checks.
    listed: set[str] = set()
    if "SHA256SUMS" not in names:
        problems.append(Problem("missing", "SHA256SUMS", "the checksum list is not in the export"))
    else:
        for digest, name in parse_sha256sums(archive.read("SHA256SUMS").decode("utf-8")):
            listed.add(name)
            if name not in names:
                problems.append(Problem("missing", name, "listed in SHA256SUMS, not in the zip"))
            elif file_hash(name) != digest:
                problems.append(
                    Problem(
                        "altered",
                        name,
                        f"SHA-256 is {file_hash(name)}, SHA256SUMS says {digest}",
                    )
                )
        unlisted = sorted(n for n in names - listed - {"SHA256SUMS"} if not n.endswith("/"))
        for name in unlisted:
            problems.append(Problem("altered", name, "in the zip but not in SHA256SUMS (added)"))
        notes.append(f"SHA256SUMS: {len(listed)} files checked")

    # 2. the ledger segment.
    entries: list[dict[str, Any]] = []
    if "ledger.jsonl" not in names:
        problems.append(Problem("missing", "ledger.jsonl", "the ledger is not in the export"))
    else:
        for number, line in enumerate(archive.read("ledger.jsonl").decode("utf-8").splitlines(), 1):
            if line.strip():
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    problems.append(Problem("altered", f"ledger.jsonl line {number}", str(exc)))
        problems += check_chain(entries, full=False)
        # The segment's ends as the exporter wrote them: a line cut from either end is missing.
        claimed = index.get("ledger", {})
        present = {int(e.get("seq", 0)) for e in entries}
        for end in ("from_seq", "to_seq"):
            if end in claimed and int(claimed[end]) not in present:
                problems.append(
                    Problem(
                        "missing",
                        f"ledger entry {claimed[end]}",
                        f"export.json says the segment {'starts' if end == 'from_seq' else 'ends'}"
                        " with it, but ledger.jsonl does not hold it",
                    )
                )
        if entries:
            notes.append(
                f"ledger: entries {entries[0].get('seq')}..{entries[-1].get('seq')} chained;"
                f" the segment starts from previous hash {entries[0].get('prev_hash')}"
            )
    by_capture = {e.get("capture_id"): e for e in entries if e.get("kind") == "capture"}
    ca_pem = archive.read("tsa/ca.pem") if "tsa/ca.pem" in names else None

    # 3. each capture: manifest anchored in the ledger, every file it lists.
    for capture in index.get("captures", []):
        capture_id = capture["capture_id"]
        folder = capture["folder"]
        manifest_name = f"{folder}/manifest.json"
        entry = by_capture.get(capture_id)
        if entry is None:
            problems.append(
                Problem("missing", f"capture {capture_id}", "no ledger entry in ledger.jsonl")
            )
        if manifest_name not in names:
            problems.append(Problem("missing", manifest_name, "the capture's manifest"))
            continue
        manifest_hash = file_hash(manifest_name)
        if entry is not None and entry.get("payload", {}).get("manifest_sha256") != manifest_hash:
            problems.append(
                Problem(
                    "altered",
                    manifest_name,
                    f"hashes to {manifest_hash}, the ledger entry {entry.get('seq')} recorded"
                    f" {entry.get('payload', {}).get('manifest_sha256')}",
                )
            )
        manifest = json.loads(archive.read(manifest_name))
        files = capture.get("files", {})
        for artifact in manifest.get("artifacts", []):
            name = files.get(artifact["sha256"])
            label = f"{artifact['kind']} of capture {capture_id}"
            if name is None or name not in names:
                problems.append(Problem("missing", label, f"sha256 {artifact['sha256']}"))
                continue
            if file_hash(name) != artifact["sha256"]:
                problems.append(
                    Problem(
                        "altered",
                        f"{name} ({label})",
                        f"hashes to {file_hash(name)}, the manifest says {artifact['sha256']}",
                    )
                )
            elif archive.getinfo(name).file_size != artifact["size"]:
                problems.append(Problem("altered", name, "size differs from the manifest"))
        if entry is not None:
            problems += _check_timestamp(entry, manifest_hash, archive, names, ca_pem, notes)
        notes.append(f"capture {capture_id}: {len(manifest.get('artifacts', []))} files checked")
    for entry in entries:
        if entry.get("kind") == "checkpoint":
            head = entry.get("payload", {}).get("head_hash", "")
            problems += _check_timestamp(entry, head, archive, names, ca_pem, notes)
    return problems, notes


def _check_timestamp(
    entry: dict[str, Any],
    stamped_hash: str,
    archive: zipfile.ZipFile,
    names: set[str],
    ca_pem: bytes | None,
    notes: list[str],
) -> list[Problem]:
    stamp = entry.get("payload", {}).get("timestamp")
    if not stamp:
        return []
    subject = f"timestamp of {_entry_name(entry)}"
    token = base64.b64decode(stamp.get("token", ""))
    if stamp.get("sha256") != stamped_hash or not token_covers(token, stamped_hash):
        return [Problem("altered", subject, f"the token does not stamp {stamped_hash}")]
    if ca_pem is None:
        notes.append(f"{subject}: imprint matches; no tsa/ca.pem, signature not checked")
        return []
    ok, message = openssl_verify_token(token, stamped_hash, ca_pem)
    if ok is None:
        notes.append(f"{subject}: imprint matches; {message}")
        return []
    if not ok:
        return [Problem("altered", subject, f"openssl ts -verify: {message}")]
    notes.append(f"{subject}: {message} ({stamp.get('time', '')})")
    return []


def main(argv: Iterable[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("usage: verify_export.py EXPORT.zip", file=sys.stderr)
        return 2
    try:
        problems, notes = verify_zip(args[0])
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"ok    {note}")
    for problem in problems:
        print(f"FAIL  {problem}")
    if problems:
        print(f"{len(problems)} problem(s): this export has been altered or is incomplete")
        return 1
    print("export verified: every file, manifest and ledger link is intact")
    return 0


if __name__ == "__main__":
    sys.exit(main())
