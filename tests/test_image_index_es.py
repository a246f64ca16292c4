"""The band scheme in an Elasticsearch-compatible server (osmem-server): the terms query over
band keyword fields, verified client-side, finds exactly what brute force finds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from elasticsearch import helpers
from PIL import Image

from marketguard.image_index_es import (
    IMAGE_INDEX_MAPPING,
    candidates_query,
    image_document,
    verify,
)
from matching.hash_search import HashIndex
from matching.image_hash import ImageHashes, hash_image
from tests.conftest import osmem_client
from tests.image_samples import jpeg, photo

INDEX = "marketguard-images-test"
COLOUR = bytes([85]) * 32


def _one(value: int) -> ImageHashes:
    return ImageHashes(value, (value,) * 8, 1, 1, "", "", colour=COLOUR)


@pytest.fixture
def client(osmem_clone: Any) -> Any:
    es = osmem_client(osmem_clone.url)
    es.indices.create(index=INDEX, mappings=IMAGE_INDEX_MAPPING)
    yield es
    es.close()


def _load(client: Any, docs: list[tuple[str, dict[str, Any]]]) -> None:
    actions = [{"_index": INDEX, "_id": doc_id, "_source": body} for doc_id, body in docs]
    helpers.bulk(client, actions, refresh=True)


def test_terms_query_over_bands_equals_brute_force(client: Any) -> None:
    rng = np.random.default_rng(8)
    stored = [int(v) for v in rng.integers(0, 2**64, size=2000, dtype=np.uint64)]
    query = stored[7]
    for distance, position in ((1, 100), (2, 200), (3, 300), (4, 400), (9, 500)):
        value = query
        for bit in rng.choice(64, size=distance, replace=False):
            value ^= 1 << int(bit)
        stored[position] = value
    _load(
        client,
        [
            image_document(f"t:{i}", f"t:L{i}", "", _one(v), "2026-11-25")
            for i, v in enumerate(stored)
        ],
    )
    response = client.search(index=INDEX, body=candidates_query(_one(query)))
    hits = [hit["_source"] for hit in response["hits"]["hits"]]
    found = verify(_one(query), hits, radius=3, colour_tolerance=4)
    expected = {f"t:{hit.position}": hit.distance for hit in HashIndex(stored).scan([query], 3)}
    assert found == expected == {"t:7": 0, "t:100": 1, "t:200": 2, "t:300": 3}


def test_mirrored_copy_of_a_real_picture_is_found(client: Any) -> None:
    picture = photo(71, (500, 500))
    posted = hash_image(jpeg(picture))
    other = hash_image(jpeg(photo(72, (500, 500))))
    _load(
        client,
        [
            image_document("t:a", "t:1", "u1", posted, "2026-11-25"),
            image_document("t:b", "t:2", "u2", other, "2026-11-25"),
        ],
    )
    mirrored = hash_image(jpeg(picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT), 50))
    response = client.search(index=INDEX, body=candidates_query(mirrored))
    hits = [hit["_source"] for hit in response["hits"]["hits"]]
    assert verify(mirrored, hits, radius=3, colour_tolerance=4) == {"t:a": 0}
    with pytest.raises(ValueError):
        verify(mirrored, hits, radius=5, colour_tolerance=4)


def test_one_document_per_shop_and_picture() -> None:
    hashes = hash_image(jpeg(photo(73, (300, 300))))
    first = image_document("t:a", "t:1", "u1", hashes, "2026-11-25")
    again = image_document("t:a", "t:9", "u9", hashes, "2026-11-26")
    assert first[0] == again[0]
    assert first[0] != image_document("t:b", "t:1", "u1", hashes, "2026-11-25")[0]
    should = candidates_query(hashes)["query"]["bool"]["should"]
    for band, clause in enumerate(should):
        assert first[1][f"phash_b{band}"] in clause["terms"][f"phash_b{band}"]
