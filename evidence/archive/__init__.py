"""Archive backends behind one interface (see ``base.Archive``)."""

from __future__ import annotations

from pathlib import Path

from evidence.archive.base import Archive


def open_archive(home: Path) -> Archive:
    """The store under ``home``: the embedded SQLite archive (Elasticsearch comes later)."""
    from evidence.archive.sqlite import SqliteArchive

    return SqliteArchive(Path(home))
