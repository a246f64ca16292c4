"""The SQLite band index: reference library (refs.db), seen images, and the refs CLI."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from marketguard.image_index import ReferenceLibrary, SeenImages
from matching.hash_search import HashIndex, bands, to_signed
from matching.image_hash import ImageDecodeError, ImageHashes, hash_image
from tests.image_samples import jpeg, photo

REPO = Path(__file__).resolve().parent.parent


def _copy(seed: int, op: Image.Transpose | None = None, quality: int = 60) -> ImageHashes:
    picture = photo(seed, (600, 600))
    return hash_image(jpeg(picture if op is None else picture.transpose(op), quality))


def test_reference_library_finds_turned_and_cropped_copies(tmp_path: Path) -> None:
    with ReferenceLibrary.in_home(tmp_path) as library:
        added = library.add("Anker 安克", jpeg(photo(21, (600, 600))), "anker-1.jpg")
        assert added.new and added.reference.brand == "Anker 安克"
        assert not library.add("anker安克", jpeg(photo(21, (600, 600))), "again.jpg").new
        library.add("品胜", jpeg(photo(22, (600, 600))), "pisen.jpg")
        library.authorise("Anker 安克", ["demo:shop-1"])
        assert len(library) == 2

        turned = library.find(_copy(21, Image.Transpose.ROTATE_270), radius=6, colour_tolerance=4)
        assert [(m.brand, m.reference_id) for m in turned] == [("Anker 安克", "1")]
        assert turned[0].distance <= 4 and turned[0].authorised_sellers == {"demo:shop-1"}

        cropped = hash_image(jpeg(photo(21, (600, 600)).crop((36, 36, 564, 564)), 70))
        assert library.find(cropped, radius=6, colour_tolerance=4)
        # the band lookup (radius <= 3) finds what a full read finds
        for query in (_copy(21), _copy(22, Image.Transpose.FLIP_LEFT_RIGHT)):
            near = library.find(query, radius=3, colour_tolerance=4)
            assert near and near == tuple(
                m for m in library.find(query, radius=10, colour_tolerance=4) if m.distance <= 3
            )
        assert library.find(_copy(23), radius=6, colour_tolerance=4) == ()


def test_reference_library_refuses_unusable_files(tmp_path: Path) -> None:
    with ReferenceLibrary.in_home(tmp_path) as library:
        with pytest.raises(ImageDecodeError):
            library.add("安克", b"<html>not a photo</html>", "page.html")
        with pytest.raises(ImageDecodeError, match="blank"):
            library.add("安克", jpeg(Image.new("RGB", (300, 300), "white")), "white.jpg")
        with pytest.raises(ValueError):
            library.add("  ", jpeg(photo(1)), "x.jpg")
        with pytest.raises(ValueError, match="platform:seller_id"):
            library.authorise("安克", ["shop-without-platform"])
        assert len(library) == 0


def test_seen_images_count_other_shops_once_each(tmp_path: Path) -> None:
    kwargs = {"radius": 3, "colour_tolerance": 4}
    with SeenImages.in_home(tmp_path) as seen:
        first = seen.observe("demo:a", "demo:1", "u1", _copy(31), **kwargs)
        assert first == frozenset()
        assert (
            seen.observe("demo:a", "demo:2", "u2", _copy(31, quality=40), **kwargs) == frozenset()
        )
        mirrored = _copy(31, Image.Transpose.FLIP_LEFT_RIGHT)
        assert seen.observe("demo:b", "demo:3", "u3", mirrored, **kwargs) == {"demo:a"}
        turned = _copy(31, Image.Transpose.ROTATE_90)
        assert seen.observe("demo:c", "demo:4", "u4", turned, **kwargs) == {"demo:a", "demo:b"}
        assert seen.observe("demo:d", "demo:5", "u5", _copy(32), **kwargs) == frozenset()
        blank = hash_image(jpeg(Image.new("RGB", (300, 300), "white")))
        seen.observe("demo:x", "demo:6", "u6", blank, **kwargs)
        assert seen.observe("demo:y", "demo:7", "u7", blank, **kwargs) == frozenset()
        assert len(seen) == 4  # shop a posted the picture twice: one row; blanks: none


def test_sql_band_candidates_equal_brute_force_on_random_hashes(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    stored = [int(v) for v in rng.integers(0, 2**64, size=3000, dtype=np.uint64)]
    query = int(stored[10])
    for distance, position in ((1, 20), (2, 30), (3, 40), (4, 50)):
        value = query
        for bit in rng.choice(64, size=distance, replace=False):
            value ^= 1 << int(bit)
        stored[position] = value
    colour = bytes(32)
    with SeenImages(tmp_path / "seen.db") as seen:
        for i, value in enumerate(stored):
            seen.add(f"p:{i}", f"p:{i}", "", _hashes_of(value, colour))
        found = seen.sellers_with(_hashes_of(query, colour), radius=3, colour_tolerance=4)
    expected = {hit.position for hit in HashIndex(stored).scan([query], 3)}
    assert {int(s.split(":")[1]) for s in found} == expected == {10, 20, 30, 40}


def _hashes_of(value: int, colour: bytes) -> ImageHashes:
    # a single orientation: all eight "variants" equal, so the test compares plain distances
    return ImageHashes(value, (value,) * 8, 1, 1, "TEST", "RGB", colour=colour)


def test_schema_keeps_bands_in_indexed_columns(tmp_path: Path) -> None:
    with SeenImages(tmp_path / "seen.db") as seen:
        hashes = _copy(33)
        seen.add("demo:a", "demo:1", "u", hashes)
    db = sqlite3.connect(tmp_path / "seen.db")
    row = db.execute("SELECT phash, b0, b1, b2, b3 FROM seen").fetchone()
    assert row == (to_signed(hashes.phash), *bands(hashes.phash))
    indexes = {r[1] for r in db.execute("PRAGMA index_list(seen)")}
    assert {"seen_b0", "seen_b1", "seen_b2", "seen_b3"} <= indexes


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marketguard.cli", *args, "--store", str(home)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_refs_cli_add_authorise_and_list(tmp_path: Path) -> None:
    home = tmp_path / "home"
    good, bad = tmp_path / "genuine.jpg", tmp_path / "broken.jpg"
    good.write_bytes(jpeg(photo(41)))
    bad.write_bytes(jpeg(photo(42))[:300])
    added = _cli("refs", "add", "安克", str(good), str(bad), "--seller", "demo:s1", home=home)
    assert added.returncode == 1  # one file could not be used: said, not fatal
    assert "已添加 #1 安克 genuine.jpg 800x800" in added.stdout
    assert "broken.jpg" in added.stderr and "truncated" in added.stderr
    assert _cli("refs", "authorise", "安克", "demo:s2", home=home).returncode == 0
    listed = _cli("refs", "list", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    payload = json.loads(listed.stdout)
    assert payload["brands"] == [
        {"brand": "安克", "photos": 1, "authorised_sellers": ["demo:s1", "demo:s2"]}
    ]
    assert payload["references"][0]["phash"] == hash_image(good.read_bytes()).hex
    assert (home / "refs.db").exists()
    text = _cli("refs", "list", home=home)
    assert "安克: 参考图 1 张，授权店铺 2 家" in text.stdout
