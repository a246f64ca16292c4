"""Image benchmarks, each against a baseline measured in the same run:

- hash query over 1 M random 64-bit hashes (radius 3): numpy XOR+popcount scan and the 4x16-bit
  band lookup, for one hash and for a picture's eight mirror/rotation variants, against a plain
  Python loop over imagehash objects (``query - stored``); plus the same band lookup in SQLite
  (the seen-image index schema) over the same 1 M hashes;
- 800x800 JPEGs hashed per second (reduced-size decode, eight variants, colour grid) against
  ``imagehash.phash(Image.open(...))`` on the same files;
- OCR pictures per second (spec cards and product photos) with our reader's settings against
  RapidOCR's defaults on the same pictures.

    python -m bench images
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import save
from tests.image_samples import jpeg, photo, text_picture

N_HASHES = 1_000_000
RADIUS = 3


def _per_call(fn: Any, repeat: int) -> float:
    """Median seconds per call over ``repeat`` calls (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def hash_query() -> dict[str, Any]:
    import imagehash

    from matching.hash_search import HashIndex

    rng = np.random.default_rng(11)
    stored = rng.integers(0, 2**64, size=N_HASHES, dtype=np.uint64)
    target = int(stored[N_HASHES // 2]) ^ 0b101  # a stored hash 2 bits away
    variants = [target, *(int(v) for v in rng.integers(0, 2**64, size=7, dtype=np.uint64))]
    index = HashIndex(stored)
    started = time.perf_counter()
    index.search([target], RADIUS)  # builds the band tables once
    build = time.perf_counter() - started
    scan_1 = _per_call(lambda: index.scan([target], RADIUS), 20)
    scan_8 = _per_call(lambda: index.scan(variants, RADIUS), 10)
    band_1 = _per_call(lambda: index.search([target], RADIUS), 200)
    band_8 = _per_call(lambda: index.search(variants, RADIUS), 200)
    assert index.scan(variants, RADIUS) == index.search(variants, RADIUS)

    # Baseline: what code without an index does, one imagehash object per stored picture.
    bits = np.unpackbits(stored.view(np.uint8).reshape(-1, 8)[:, ::-1], axis=1).astype(bool)
    objects = [imagehash.ImageHash(row.reshape(8, 8)) for row in bits]
    query = imagehash.ImageHash(
        np.array([(target >> (63 - i)) & 1 for i in range(64)], dtype=bool).reshape(8, 8)
    )
    started = time.perf_counter()
    loop_hits = [i for i, h in enumerate(objects) if query - h <= RADIUS]
    loop = time.perf_counter() - started
    assert loop_hits == [hit.position for hit in index.scan([target], RADIUS)]
    del objects

    sqlite_1, sqlite_8, sqlite_build = _sqlite_query(stored, target, variants)
    return {
        "hashes": N_HASHES,
        "radius": RADIUS,
        "plain_loop_imagehash_s": loop,
        "numpy_scan_ms": scan_1 * 1000,
        "numpy_scan_8_variants_ms": scan_8 * 1000,
        "band_lookup_ms": band_1 * 1000,
        "band_lookup_8_variants_ms": band_8 * 1000,
        "band_tables_build_s": build,
        "sqlite_band_lookup_ms": sqlite_1 * 1000,
        "sqlite_band_lookup_8_variants_ms": sqlite_8 * 1000,
        "sqlite_load_and_index_s": sqlite_build,
        "speedup_numpy_scan_vs_loop": loop / scan_1,
        "speedup_band_vs_loop": loop / band_1,
    }


def _sqlite_query(stored: np.ndarray, target: int, variants: list[int]) -> tuple[float, ...]:
    from marketguard.image_index import SeenImages
    from matching.hash_search import bands, to_signed
    from matching.image_hash import ImageHashes

    colour = bytes(32)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        seen = SeenImages(Path(tmp) / "seen.db")
        db = seen._db  # bulk load: one transaction, band indexes built after the rows
        for band in range(4):
            db.execute(f"DROP INDEX seen_b{band}")
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO seen(seller, phash, b0, b1, b2, b3, colour, listing, url, first_seen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, '', '', '')",
            ((str(i), to_signed(int(v)), *bands(int(v)), colour) for i, v in enumerate(stored)),
        )
        db.execute("COMMIT")
        for band in range(4):
            db.execute(f"CREATE INDEX seen_b{band} ON seen(b{band})")
        build = time.perf_counter() - started

        def one(queries: list[int]) -> ImageHashes:
            padded = (queries * 8)[:8]  # eight "variants" as the index expects
            return ImageHashes(queries[0], tuple(padded), 1, 1, "", "", colour=colour)

        q1, q8 = one([target]), one(variants)
        single = _per_call(lambda: seen.sellers_with(q1, radius=RADIUS, colour_tolerance=4), 50)
        eight = _per_call(lambda: seen.sellers_with(q8, radius=RADIUS, colour_tolerance=4), 50)
        assert seen.sellers_with(q1, radius=RADIUS, colour_tolerance=4) == {str(N_HASHES // 2)}
        seen.close()
    return single, eight, build


def hashing() -> dict[str, Any]:
    import imagehash
    from PIL import Image

    from matching.image_hash import hash_image

    files = [jpeg(photo(seed, (800, 800))) for seed in range(40)]
    rounds = 8

    def ours() -> None:
        for data in files:
            hash_image(data)

    def baseline() -> None:
        for data in files:
            imagehash.phash(Image.open(io.BytesIO(data)))

    ours_s = _per_call(ours, rounds) / len(files)
    base_s = _per_call(baseline, 3) / len(files)
    return {
        "pictures": len(files),
        "size": "800x800 JPEG q85",
        "hashed_per_s": 1 / ours_s,
        "imagehash_phash_per_s": 1 / base_s,
        "speedup": base_s / ours_s,
    }


def ocr() -> dict[str, Any]:
    from rapidocr_onnxruntime import RapidOCR

    from matching.image_text import OcrReader

    cards = [
        text_picture(
            [
                "产品名称：快速充电器",
                f"3C证书编号：202301160912{i:04d}",
                "制造商：深圳市某某电子有限公司",
            ]
        )
        for i in range(6)
    ]
    photos = [jpeg(photo(60 + i, (800, 800))) for i in range(6)]
    pictures = cards + photos
    reader = OcrReader()
    default = RapidOCR()

    def ours() -> None:
        for data in pictures:
            reader.read(data)

    def baseline() -> None:
        for data in pictures:
            default(data)

    ours_s = _per_call(ours, 2) / len(pictures)
    base_s = _per_call(baseline, 2) / len(pictures)
    return {
        "pictures": len(pictures),
        "mix": "6 spec cards 900x420 + 6 product photos 800x800",
        "ocr_per_s": 1 / ours_s,
        "rapidocr_defaults_per_s": 1 / base_s,
        "speedup": base_s / ours_s,
    }


def run() -> dict[str, Any]:
    result = {"hash_query": hash_query(), "hashing": hashing(), "ocr": ocr()}
    save("images", result)
    return result


def report(result: dict[str, Any]) -> str:
    q, h, o = result["hash_query"], result["hashing"], result["ocr"]
    return "\n".join(
        [
            f"hash query, {q['hashes']:,} hashes, radius {q['radius']}:",
            f"  plain loop over imagehash objects  {q['plain_loop_imagehash_s'] * 1000:10.1f} ms",
            f"  numpy XOR+popcount scan            {q['numpy_scan_ms']:10.3f} ms"
            f"  (8 variants {q['numpy_scan_8_variants_ms']:.3f} ms)"
            f"  x{q['speedup_numpy_scan_vs_loop']:.0f}",
            f"  band lookup (4x16 bits)            {q['band_lookup_ms']:10.3f} ms"
            f"  (8 variants {q['band_lookup_8_variants_ms']:.3f} ms)"
            f"  x{q['speedup_band_vs_loop']:.0f}; tables built in {q['band_tables_build_s']:.2f} s",
            f"  SQLite band lookup                 {q['sqlite_band_lookup_ms']:10.3f} ms"
            f"  (8 variants {q['sqlite_band_lookup_8_variants_ms']:.3f} ms);"
            f" load+index {q['sqlite_load_and_index_s']:.1f} s",
            f"hashing {h['size']}: {h['hashed_per_s']:.0f}/s vs imagehash.phash"
            f" {h['imagehash_phash_per_s']:.0f}/s (x{h['speedup']:.1f})",
            f"OCR ({o['mix']}): {o['ocr_per_s']:.2f}/s vs RapidOCR defaults"
            f" {o['rapidocr_defaults_per_s']:.2f}/s (x{o['speedup']:.2f})",
        ]
    )
