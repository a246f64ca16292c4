"""A local, append-only, fsynced queue of archive writes that could not reach the cluster.

Layout under the spool folder::

    spool.jsonl        one JSON record per line, in the order the writes were made
    replayed           how many lines of spool.jsonl have been applied to the cluster
    blobs/<sha256>     bytes of spooled ``put_blob`` calls (kept out of the JSON lines)
    rejected.jsonl     spooled records the cluster refused on replay, with the reason
    lock               flock() target: one process appends or replays at a time

A record is durable when ``append`` returns: the line is written and fsynced (and the folder
fsynced when the file was created). A process killed while appending leaves at most a torn
last line without its newline; it was never acknowledged, and ``_repair`` cuts it off before
the next append. Replay applies records in order and advances ``replayed`` (written to a
temporary file, fsynced, renamed) after each one, so a crash during replay re-applies at most
the records after the last mark; the archive makes every record idempotent (deterministic
document ids), so re-applying one never duplicates anything.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from evidence.hashing import sha256_bytes


class Spool:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "blobs").mkdir(exist_ok=True)
        self.path = self.folder / "spool.jsonl"
        self._mark_path = self.folder / "replayed"
        self._rejected = self.folder / "rejected.jsonl"
        self._lock_path = self.folder / "lock"

    # --- locking --------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the spool against other processes (appends and replays are serialised)."""
        with open(self._lock_path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # --- writing --------------------------------------------------------------------------
    def append(self, record: dict[str, Any]) -> None:
        """Append one record durably. Call inside ``locked()``."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        created = not self.path.exists()
        if created:
            # A new spool starts from line 0; an old mark must not skip its first lines.
            self._write_mark(0)
        else:
            self._repair()
        with open(self.path, "ab") as handle:
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        if created:
            _fsync_dir(self.folder)

    def put_blob(self, data: bytes) -> str:
        """Keep blob bytes on disk until replay (whole file or nothing, fsynced)."""
        sha256 = sha256_bytes(data)
        target = self.folder / "blobs" / sha256
        if target.exists():
            return sha256
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return sha256

    def blob_file(self, sha256: str) -> Path | None:
        path = self.folder / "blobs" / sha256
        return path if path.is_file() else None

    def reject(self, record: dict[str, Any], reason: str) -> None:
        """Set aside a record the cluster refused (kept for an operator, never dropped)."""
        line = json.dumps({"reason": reason, "record": record}, ensure_ascii=False) + "\n"
        with open(self._rejected, "ab") as handle:
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())

    def rejected(self) -> list[dict[str, Any]]:
        if not self._rejected.exists():
            return []
        return [json.loads(line) for line in self._rejected.read_text("utf-8").splitlines()]

    # --- reading and replay ---------------------------------------------------------------
    def pending(self) -> list[tuple[int, dict[str, Any]]]:
        """(line number, record) of every record not yet replayed, in order."""
        if not self.path.exists():
            return []
        done = self._read_mark()
        out: list[tuple[int, dict[str, Any]]] = []
        with open(self.path, "rb") as handle:
            for number, raw in enumerate(handle):
                if not raw.endswith(b"\n"):
                    break  # torn tail of an append that never returned
                if number >= done:
                    out.append((number, json.loads(raw)))
        return out

    def has_pending(self) -> bool:
        return self.path.exists() and self.path.stat().st_size > 0 and bool(self.pending())

    def mark_replayed(self, number: int) -> None:
        """Lines up to and including ``number`` are in the cluster."""
        self._write_mark(number + 1)

    def clear(self) -> None:
        """Everything was replayed: start an empty spool (blobs kept until then are removed)."""
        self.path.unlink(missing_ok=True)
        _fsync_dir(self.folder)
        self._write_mark(0)
        for blob in (self.folder / "blobs").iterdir():
            blob.unlink(missing_ok=True)

    # --- internals ------------------------------------------------------------------------
    def _repair(self) -> None:
        size = self.path.stat().st_size
        if size == 0:
            return
        with open(self.path, "r+b") as handle:
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            handle.seek(0)
            data = handle.read()
            handle.truncate(data.rfind(b"\n") + 1)
            handle.flush()
            os.fsync(handle.fileno())

    def _read_mark(self) -> int:
        try:
            return int(self._mark_path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0

    def _write_mark(self, value: int) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".mark-")
        with os.fdopen(fd, "w") as handle:
            handle.write(str(value))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._mark_path)
        _fsync_dir(self.folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
