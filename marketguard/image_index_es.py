"""The band scheme of marketguard.image_index for Elasticsearch: mapping, documents, queries.

For the Elasticsearch archive (or any store with exact-match keyword fields): each picture is one
document with its pHash as a long and its four 16-bit bands as keyword fields; a ``terms`` query
per band with the 32 band values of a query's eight variants returns every document within
Hamming distance 3 of any variant (pigeonhole, see matching.hash_search), and ``verify`` keeps
the true matches (distance and colour check). Nothing here talks to a cluster: the caller sends
the bodies with its own client. Tested against osmem-server in tests/test_image_index_es.py.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from matching.hash_search import BANDS, MAX_BAND_RADIUS, band_keys, from_signed, to_signed
from matching.image_hash import ImageHashes, match_distance

IMAGE_INDEX_MAPPING: dict[str, Any] = {
    "properties": {
        "seller": {"type": "keyword"},
        "listing": {"type": "keyword"},
        "url": {"type": "keyword", "index": False},
        "phash": {"type": "long"},
        **{f"phash_b{i}": {"type": "keyword"} for i in range(BANDS)},
        # base64 of the 32-byte colour grid; only read back, never searched
        "colour": {"type": "keyword", "index": False, "doc_values": False},
        "first_seen": {"type": "date"},
    }
}


def image_document(
    seller: str, listing: str, url: str, hashes: ImageHashes, first_seen: str
) -> tuple[str, dict[str, Any]]:
    """(document id, body). The id makes one document per shop and picture, as in SQLite."""
    doc_id = hashlib.sha256(f"{seller}:{hashes.hex}".encode()).hexdigest()
    body: dict[str, Any] = {
        "seller": seller,
        "listing": listing,
        "url": url,
        "phash": to_signed(hashes.phash),
        "colour": base64.b64encode(hashes.colour).decode("ascii"),
        "first_seen": first_seen,
    }
    for i, key in enumerate(band_keys(hashes.phash)):
        body[f"phash_b{i}"] = key
    return doc_id, body


def candidates_query(query: ImageHashes, *, size: int = 1000) -> dict[str, Any]:
    """Search body: documents sharing a band with any of the query's dihedral variants.

    Exact recall up to radius 3 (MAX_BAND_RADIUS); ``size`` bounds the candidates read back.
    """
    per_band: list[list[str]] = [[] for _ in range(BANDS)]
    for variant in query.variants:
        for i, key in enumerate(band_keys(variant)):
            if key not in per_band[i]:
                per_band[i].append(key)
    return {
        "size": size,
        "_source": ["seller", "phash", "colour"],
        "query": {
            "bool": {
                "minimum_should_match": 1,
                "should": [{"terms": {f"phash_b{i}": keys}} for i, keys in enumerate(per_band)],
            }
        },
    }


def verify(
    query: ImageHashes,
    hits: Iterable[Mapping[str, Any]],
    *,
    radius: int,
    colour_tolerance: int,
) -> dict[str, int]:
    """Seller -> smallest distance, over the hits (``_source`` dicts) that truly match."""
    if radius > MAX_BAND_RADIUS:
        raise ValueError(f"the band query is exact up to radius {MAX_BAND_RADIUS}, not {radius}")
    sellers: dict[str, int] = {}
    for source in hits:
        colour = base64.b64decode(source.get("colour") or "")
        distance = match_distance(
            query,
            from_signed(int(source["phash"])),
            colour,
            radius=radius,
            colour_tolerance=colour_tolerance,
        )
        seller = str(source["seller"])
        if distance is not None and distance < sellers.get(seller, radius + 1):
            sellers[seller] = distance
    return sellers
