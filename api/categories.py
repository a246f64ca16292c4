"""Display names of catalogue categories (the store keeps only their ids)."""

from __future__ import annotations

import logging
from pathlib import Path

from matching.catalogue import load_catalogue
from matching.yaml_schema import DataFileError

logger = logging.getLogger(__name__)


def category_names(path: Path | None = None) -> dict[str, str]:
    """id -> Chinese name from the catalogue; empty (ids shown as they are) when it is unreadable.

    The workspace must open on a store even when the catalogue file is broken: the officer
    loses pretty names, not access to the evidence.
    """
    try:
        catalogue = load_catalogue(path)
    except DataFileError as exc:
        logger.warning("category names unavailable, showing ids: %s", exc)
        return {}
    return {category.id: category.name for category in catalogue.categories}
