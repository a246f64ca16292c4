"""Archive backends behind one interface (see ``base.Archive``)."""

from __future__ import annotations

from pathlib import Path

from evidence.archive.base import Archive


def open_archive(home: Path, env: dict[str, str] | None = None) -> Archive:
    """The store of ``home``: the embedded SQLite archive, or Elasticsearch when configured
    (``MARKETGUARD_ES_URL`` or ``<home>/marketguard.toml``; see evidence/archive/config.py)."""
    from evidence.archive.config import store_config

    config = store_config(Path(home), env)
    if config.backend == "elasticsearch":
        from evidence.archive.elasticsearch import ElasticsearchArchive, spool_dir_for

        options: dict[str, object] = {}
        if config.api_key:
            options["api_key"] = config.api_key
        if config.ca_certs:
            options["ca_certs"] = config.ca_certs
        return ElasticsearchArchive.from_url(
            config.url,
            spool_dir=spool_dir_for(Path(home), config.url),
            prefix=config.prefix,
            **options,
        )
    from evidence.archive.sqlite import SqliteArchive

    return SqliteArchive(Path(home))
