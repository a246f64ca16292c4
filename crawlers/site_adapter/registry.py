"""Where adapter files live and how one is picked: by site name, or by a page's domain.

Bundled adapters are in ``crawlers/sites/``; ``--sites-dir`` or ``$MARKETGUARD_SITES_DIR`` points
at an agency's own folder instead (its files replace bundled ones of the same name).
"""

from __future__ import annotations

import os
from pathlib import Path

from crawlers.site_adapter.spec import AdapterError, SiteAdapter, load_adapter

BUNDLED = Path(__file__).resolve().parent.parent / "sites"
ENV_VAR = "MARKETGUARD_SITES_DIR"


def site_dirs(explicit: str | Path | None = None) -> list[Path]:
    """Folders searched for adapters, first match wins."""
    chosen = explicit or os.environ.get(ENV_VAR) or ""
    dirs = [Path(chosen).expanduser()] if chosen else []
    return [*dirs, BUNDLED]


def site_files(explicit: str | Path | None = None) -> dict[str, Path]:
    """Adapter files by site name (the file's stem)."""
    found: dict[str, Path] = {}
    for folder in site_dirs(explicit):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.y*ml")):
            if path.suffix in (".yaml", ".yml"):
                found.setdefault(path.stem, path)
    return found


def load_site(name: str, explicit: str | Path | None = None) -> SiteAdapter:
    """Load and validate the adapter called ``name`` (or at the path ``name``)."""
    if name.endswith((".yaml", ".yml")) and Path(name).is_file():
        return load_adapter(name)
    files = site_files(explicit)
    if name not in files:
        folders = ", ".join(str(d) for d in site_dirs(explicit))
        known = ", ".join(sorted(files)) or "none"
        raise AdapterError(
            f"{name}.yaml", "", f"no such site adapter in {folders} (known: {known})"
        )
    return load_adapter(files[name])


def adapter_for_url(
    url: str, explicit: str | Path | None = None
) -> tuple[SiteAdapter | None, list[AdapterError]]:
    """The adapter whose domains include ``url``'s host, and the files that failed to load."""
    errors: list[AdapterError] = []
    for path in site_files(explicit).values():
        try:
            adapter = load_adapter(path)
        except AdapterError as exc:
            errors.append(exc)
            continue
        if adapter.allows(url):
            return adapter, errors
    return None, errors
