"""Which archive backend a home uses: SQLite by default, Elasticsearch when configured.

Elasticsearch is selected by, in order:

1. ``MARKETGUARD_ES_URL`` in the environment (with optional ``MARKETGUARD_ES_PREFIX``,
   ``MARKETGUARD_ES_API_KEY`` and ``MARKETGUARD_ES_CA_CERTS``);
2. a ``[store]`` table in ``<home>/marketguard.toml``::

       [store]
       backend = "elasticsearch"          # or "sqlite" (the default)
       url = "https://es.example:9200"
       prefix = "marketguard"             # index names: <prefix>-listings, ...
       api_key = "..."                    # optional; or MARKETGUARD_ES_API_KEY
       ca_certs = "/etc/ssl/es-ca.pem"    # optional

``MARKETGUARD_ES_URL=""`` (set but empty) forces SQLite whatever the file says.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

SETTINGS_FILE = "marketguard.toml"


@dataclass(slots=True)
class StoreConfig:
    backend: str = "sqlite"  # "sqlite" | "elasticsearch"
    url: str = ""
    prefix: str = "marketguard"
    api_key: str = ""
    ca_certs: str = ""


def store_config(home: Path, env: dict[str, str] | None = None) -> StoreConfig:
    env = dict(os.environ if env is None else env)
    config = StoreConfig()
    path = Path(home) / SETTINGS_FILE
    if path.is_file():
        try:
            table = tomllib.loads(path.read_text("utf-8")).get("store", {})
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML: {exc}") from exc
        backend = str(table.get("backend", "sqlite")).lower()
        if backend in ("es", "elastic", "elasticsearch"):
            backend = "elasticsearch"
        if backend not in ("sqlite", "elasticsearch"):
            raise ValueError(f"{path}: [store] backend must be sqlite or elasticsearch")
        config.backend = backend
        config.url = str(table.get("url", ""))
        config.prefix = str(table.get("prefix", config.prefix))
        config.api_key = str(table.get("api_key", ""))
        config.ca_certs = str(table.get("ca_certs", ""))
        if backend == "elasticsearch" and not config.url:
            raise ValueError(f"{path}: [store] backend = elasticsearch needs a url")
    if "MARKETGUARD_ES_URL" in env:
        url = env["MARKETGUARD_ES_URL"].strip()
        config.backend = "elasticsearch" if url else "sqlite"
        config.url = url
    if env.get("MARKETGUARD_ES_PREFIX"):
        config.prefix = env["MARKETGUARD_ES_PREFIX"]
    if env.get("MARKETGUARD_ES_API_KEY"):
        config.api_key = env["MARKETGUARD_ES_API_KEY"]
    if env.get("MARKETGUARD_ES_CA_CERTS"):
        config.ca_certs = env["MARKETGUARD_ES_CA_CERTS"]
    return config
