"""Read the hand-labelled evaluation set (tests/eval/; its format is in tests/eval/README.md).

Each ``*.yaml`` file holds ``crawled_at`` and ``listings`` (``id``, ``expected_rules``,
``listing`` as ``Listing.from_dict`` input). ``registry.csv`` beside them is the certificate
registry the CCC_CERT_* labels assume. Rules the set never labels (repeat offenders need an
archive, image rules need images) are left out of its tallies.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from marketguard.evaluate import Labelled
from marketguard.models import Listing
from marketguard.registry import parse_csv
from matching.context import CertificateRecord, CertificateRegistry

# tests/eval/README.md, "Never labelled".
UNLABELLED = frozenset(
    {"SELLER_REPEAT_OFFENDER", "IMAGE_OFFICIAL_REUSED", "IMAGE_SHARED_ACROSS_SHOPS"}
)


def load_eval_set(directory: Path) -> list[Labelled]:
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise FileNotFoundError(f"no *.yaml in {directory}")
    out: list[Labelled] = []
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for entry in doc["listings"]:
            listing = Listing.from_dict({"crawled_at": doc["crawled_at"], **entry["listing"]})
            listing.listing_id = str(entry["id"])  # the set's id, for reporting misses
            out.append(
                Labelled(
                    listing=listing,
                    expected=frozenset(entry.get("expected_rules") or ()),
                    source=path.parent.name,
                    ignore=UNLABELLED,
                )
            )
    return out


def load_eval_registry(directory: Path) -> CertificateRegistry | None:
    path = directory / "registry.csv"
    if not path.exists():
        return None
    records = [
        item for _, item in parse_csv(path.read_bytes()) if isinstance(item, CertificateRecord)
    ]
    return CertificateRegistry(records) or None
