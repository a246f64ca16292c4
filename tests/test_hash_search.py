"""Hamming-radius search: the band lookup finds exactly what brute force finds."""

from __future__ import annotations

import numpy as np
import pytest

from matching.hash_search import (
    BANDS,
    MAX_BAND_RADIUS,
    HashIndex,
    band_keys,
    bands,
    from_signed,
    parse_hash,
    to_signed,
)


def _near(rng: np.random.Generator, value: int, distance: int) -> int:
    for bit in rng.choice(64, size=distance, replace=False):
        value ^= 1 << int(bit)
    return value


def _brute_force(stored: list[int], queries: list[int], radius: int) -> dict[int, int]:
    found = {}
    for position, value in enumerate(stored):
        distance = min((q ^ value).bit_count() for q in queries)
        if distance <= radius:
            found[position] = distance
    return found


def test_bands_and_signed_round_trip() -> None:
    value = 0x1234_5678_9ABC_DEF0
    assert bands(value) == (0x1234, 0x5678, 0x9ABC, 0xDEF0)
    assert band_keys(value) == ("1234", "5678", "9abc", "def0")
    for v in (0, 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, value):
        signed = to_signed(v)
        assert -(1 << 63) <= signed < 1 << 63 and from_signed(signed) == v
    assert parse_hash("cdd2a699b6ac219c") == 0xCDD2A699B6AC219C
    with pytest.raises(ValueError):
        parse_hash("xyz")


@pytest.mark.parametrize("radius", range(MAX_BAND_RADIUS + 2))
def test_band_search_equals_brute_force_on_random_hashes(radius: int) -> None:
    rng = np.random.default_rng(radius)
    stored = [int(v) for v in rng.integers(0, 2**64, size=20_000, dtype=np.uint64)]
    # plant neighbours at every distance 0..radius+2 around a few query hashes
    queries = [int(v) for v in rng.integers(0, 2**64, size=6, dtype=np.uint64)]
    for query in queries:
        for distance in range(radius + 3):
            stored[int(rng.integers(len(stored)))] = _near(rng, query, distance)
    index = HashIndex(stored)
    for query in queries:
        expected = _brute_force(stored, [query], radius)
        assert any(d == radius for d in expected.values())
        scanned = {hit.position: hit.distance for hit in index.scan([query], radius)}
        searched = {hit.position: hit.distance for hit in index.search([query], radius)}
        assert scanned == expected
        assert searched == expected


def test_band_search_with_eight_variant_queries_equals_brute_force() -> None:
    rng = np.random.default_rng(99)
    stored = [int(v) for v in rng.integers(0, 2**64, size=5_000, dtype=np.uint64)]
    variants = [int(v) for v in rng.integers(0, 2**64, size=8, dtype=np.uint64)]
    for i, variant in enumerate(variants):
        stored[i * 7] = _near(rng, variant, i % (MAX_BAND_RADIUS + 1))
    index = HashIndex(stored)
    expected = _brute_force(stored, variants, MAX_BAND_RADIUS)
    assert len(expected) >= 8
    assert {h.position: h.distance for h in index.search(variants, MAX_BAND_RADIUS)} == expected


def test_pigeonhole_each_near_hash_shares_a_band() -> None:
    rng = np.random.default_rng(5)
    for _ in range(2_000):
        a = int(rng.integers(0, 2**64, dtype=np.uint64))
        b = _near(rng, a, BANDS - 1)
        assert any(x == y for x, y in zip(bands(a), bands(b), strict=True))


def test_extend_invalidates_the_band_tables_and_empty_index_answers_nothing() -> None:
    index = HashIndex()
    assert index.search([1], 2) == [] and index.scan([1], 2) == []
    index.extend([0b1111, 1 << 40])
    assert [h.position for h in index.search([0b0111], 1)] == [0]
    index.extend([0b0111])
    assert [h.position for h in index.search([0b0111], 1)] == [0, 2]
