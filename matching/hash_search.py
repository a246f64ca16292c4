"""Hamming-radius search over 64-bit perceptual hashes: in memory, and the band scheme for stores.

Two ways to find every stored hash within ``radius`` bits of a query (or of any of its dihedral
variants, see matching.image_hash):

- ``HashIndex.scan``: XOR and popcount over a numpy array of all hashes. Exact for any radius,
  about a millisecond per million hashes per query hash.
- Bands (multi-index hashing). Cut each hash into ``BANDS`` bands of 16 bits. Two hashes at
  distance <= BANDS - 1 differ in at most BANDS - 1 bands, so by the pigeonhole principle they
  share at least one band exactly. An exact-match lookup per band (a sorted array here, an SQL
  index in SQLite, keyword fields in Elasticsearch) gives a small candidate set that is then
  verified with the true distance: exact recall for radius <= 3 with 4 bands, no full scan.
  ``HashIndex.search`` uses bands when the radius allows and falls back to the scan otherwise.

Stores keep hashes as signed 64-bit integers (SQLite's INTEGER, Elasticsearch's long):
``to_signed``/``from_signed`` convert.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

BANDS = 4
BAND_BITS = 64 // BANDS
_BAND_MASK = (1 << BAND_BITS) - 1
MAX_BAND_RADIUS = BANDS - 1  # the largest radius the band lookup finds every match for


def bands(value: int) -> tuple[int, ...]:
    """The hash's bands, most significant first: 0x1234_5678_9abc_def0 -> (0x1234, ..., 0xdef0)."""
    return tuple((value >> (BAND_BITS * (BANDS - 1 - i))) & _BAND_MASK for i in range(BANDS))


def band_keys(value: int) -> tuple[str, ...]:
    """Bands as fixed-width hex strings, for keyword fields (Elasticsearch ``phash_b0``...)."""
    return tuple(f"{band:04x}" for band in bands(value))


def to_signed(value: int) -> int:
    """A 64-bit hash as the signed integer SQLite and Elasticsearch store."""
    return value - (1 << 64) if value >= 1 << 63 else value


def from_signed(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


def parse_hash(text: str) -> int:
    """A 16-digit hex hash (imagehash's str()) as an int; ValueError otherwise."""
    text = text.strip().lower()
    if len(text) != 16 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"not a 64-bit hex hash: {text!r}")
    return int(text, 16)


@dataclass(frozen=True, slots=True)
class Hit:
    position: int  # index into the HashIndex (insertion order)
    distance: int  # to the nearest query variant


class HashIndex:
    """Exact Hamming-radius search over many 64-bit hashes held in one numpy array."""

    def __init__(self, hashes: Iterable[int] | np.ndarray = ()) -> None:
        if isinstance(hashes, np.ndarray):
            self._hashes = hashes.astype(np.uint64, copy=False)
        else:
            self._hashes = np.fromiter(hashes, dtype=np.uint64)
        self._band_order: list[np.ndarray] | None = None  # per band: positions sorted by band
        self._band_sorted: list[np.ndarray] | None = None  # per band: the sorted band values

    def __len__(self) -> int:
        return int(self._hashes.shape[0])

    @property
    def hashes(self) -> np.ndarray:
        return self._hashes

    def extend(self, hashes: Iterable[int]) -> None:
        more = np.fromiter(hashes, dtype=np.uint64)
        self._hashes = np.concatenate((self._hashes, more))
        self._band_order = self._band_sorted = None

    def scan(self, queries: Sequence[int], radius: int) -> list[Hit]:
        """Every stored hash within ``radius`` of any query hash, by a full XOR+popcount pass."""
        if not len(self) or not queries:
            return []
        best = self._distances(queries[0], self._hashes)
        for query in queries[1:]:
            np.minimum(best, self._distances(query, self._hashes), out=best)
        positions = np.flatnonzero(best <= radius)
        return [Hit(int(p), int(best[p])) for p in positions]

    def search(self, queries: Sequence[int], radius: int) -> list[Hit]:
        """Same result as ``scan``; through the bands when ``radius`` <= MAX_BAND_RADIUS."""
        if radius > MAX_BAND_RADIUS:
            return self.scan(queries, radius)
        if not len(self) or not queries:
            return []
        candidates = self.candidates(queries)
        if not candidates.size:
            return []
        stored = self._hashes[candidates]
        best = self._distances(queries[0], stored)
        for query in queries[1:]:
            np.minimum(best, self._distances(query, stored), out=best)
        keep = best <= radius
        return [Hit(int(p), int(d)) for p, d in zip(candidates[keep], best[keep], strict=True)]

    def candidates(self, queries: Sequence[int]) -> np.ndarray:
        """Sorted positions of stored hashes sharing at least one band with a query."""
        order, sorted_bands = self._band_tables()
        found: list[np.ndarray] = []
        for query in queries:
            for band, value in enumerate(bands(query)):
                values = sorted_bands[band]
                key = np.uint16(value)  # a Python int would make numpy cast the whole array
                lo = int(np.searchsorted(values, key, side="left"))
                hi = int(np.searchsorted(values, key, side="right"))
                if hi > lo:
                    found.append(order[band][lo:hi])
        if not found:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate(found))

    def _band_tables(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        if self._band_order is None or self._band_sorted is None:
            order: list[np.ndarray] = []
            sorted_bands: list[np.ndarray] = []
            for band in range(BANDS):
                shift = np.uint64(BAND_BITS * (BANDS - 1 - band))
                values = ((self._hashes >> shift) & np.uint64(_BAND_MASK)).astype(np.uint16)
                positions = np.argsort(values, kind="stable")
                order.append(positions)
                sorted_bands.append(values[positions])
            self._band_order, self._band_sorted = order, sorted_bands
        return self._band_order, self._band_sorted

    @staticmethod
    def _distances(query: int, stored: np.ndarray) -> np.ndarray:
        return np.bitwise_count(np.bitwise_xor(stored, np.uint64(query)))
