"""Perceptual hashing of listing images: compatibility, robustness, bad input."""

from __future__ import annotations

import io

import imagehash
import numpy as np
import pytest
from PIL import Image

from matching.image_hash import (
    VARIANT_NAMES,
    ImageDecodeError,
    hamming,
    hash_image,
    hash_picture,
    hash_reference,
    match_distance,
    min_distance,
)
from tests.image_samples import animated_gif, encode, jpeg, photo, png_header_only

# Pillow's transpositions, in the order of VARIANT_NAMES.
TRANSPOSITIONS = (
    None,
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.ROTATE_180,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSVERSE,
)
# Re-encoding noise: a JPEG decoded at reduced size differs from a full decode by a bit or two.
NEAR = 4


def test_phash_is_bit_for_bit_imagehash() -> None:
    for seed in range(4):
        picture = photo(seed, (640, 480))
        assert f"{hash_picture(picture):016x}" == str(imagehash.phash(picture))


def test_hash_of_jpeg_bytes_matches_imagehash_within_decode_noise() -> None:
    picture = photo(1)
    hashes = hash_image(jpeg(picture))
    reference = int(str(imagehash.phash(picture)), 16)
    assert hamming(hashes.phash, reference) <= 2
    assert (hashes.width, hashes.height, hashes.format, hashes.frames) == (800, 800, "JPEG", 1)
    assert hashes.variants[0] == hashes.phash and len(hashes.variants) == 8
    assert not hashes.blank


@pytest.mark.parametrize("variant", range(8), ids=VARIANT_NAMES)
def test_each_dihedral_variant_is_the_hash_of_that_transposition(variant: int) -> None:
    picture = photo(2, (800, 600))
    op = TRANSPOSITIONS[variant]
    moved = picture if op is None else picture.transpose(op)
    variants = hash_image(encode(picture, "PNG")).variants
    assert hamming(variants[variant], int(str(imagehash.phash(moved)), 16)) <= 1
    # and it is the variant that matches, not just any
    others = [hamming(v, variants[variant]) for i, v in enumerate(variants) if i != variant]
    assert min(others) > 10


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_copies_are_found_through_resize_recompression_mirror_and_rotation(seed: int) -> None:
    original = hash_image(jpeg(photo(seed))).variants
    picture = photo(seed)
    copies = {
        "resized": jpeg(picture.resize((300, 300))),
        "recompressed q20": jpeg(picture, quality=20),
        "mirrored": jpeg(picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
        "turned 90": jpeg(picture.transpose(Image.Transpose.ROTATE_90).resize((500, 500))),
        "turned 270 + q40": jpeg(picture.transpose(Image.Transpose.ROTATE_270), quality=40),
        "webp": encode(picture.resize((640, 640)), "WEBP", quality=60),
    }
    for name, data in copies.items():
        copy = hash_image(data)
        assert min_distance(original, copy.phash) <= NEAR, name
        # the other way round as well: a stored copy is found by querying with the original
        assert min_distance(copy.variants, original[0]) <= NEAR, name
        # a plain pHash comparison misses the mirrored and turned copies
        if name in ("mirrored", "turned 90", "turned 270 + q40"):
            assert hamming(original[0], copy.phash) > 10, name


def test_different_pictures_stay_far_apart_in_every_orientation() -> None:
    hashes = [hash_image(jpeg(photo(seed))) for seed in range(10, 22)]
    closest = min(
        min_distance(a.variants, b.phash) for i, a in enumerate(hashes) for b in hashes[i + 1 :]
    )
    assert closest > 8


# --- bad input --------------------------------------------------------------------------------


def _error(data: bytes, **kwargs: int) -> ImageDecodeError:
    with pytest.raises(ImageDecodeError) as info:
        hash_image(data, **kwargs)
    return info.value


def test_empty_and_non_image_bytes_are_clear_errors() -> None:
    assert _error(b"").kind == "empty"
    error = _error(b"<!doctype html><html><body>404</body></html>")
    assert error.kind == "not_image" and "HTML" in str(error)


def test_truncated_jpeg_and_png_are_refused() -> None:
    data = jpeg(photo(6))
    assert _error(data[: len(data) // 2]).kind == "truncated"
    png = encode(photo(6, (300, 300)), "PNG")
    assert _error(png[: len(png) // 2]).kind in ("truncated", "corrupt")


def test_noise_after_a_jpeg_marker_is_refused() -> None:
    data = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(1, 255)) * 40
    assert _error(data).kind in ("not_image", "corrupt", "truncated")


def test_decompression_bombs_are_refused_from_the_header() -> None:
    # above our limit but below Pillow's own: our check, before any pixel is decoded
    error = _error(png_header_only(10_000, 5_000))
    assert error.kind == "too_large" and "megapixel limit" in str(error)
    # far above Pillow's limit: Pillow refuses while opening; same kind of error
    assert _error(png_header_only(100_000, 100_000)).kind == "too_large"
    # the limit is a parameter
    assert _error(jpeg(photo(7, (400, 400))), max_pixels=100_000).kind == "too_large"


def test_animated_gif_hashes_its_first_frame() -> None:
    hashes = hash_image(animated_gif((8, 9, 10)))
    assert hashes.frames == 3 and hashes.format == "GIF"
    first = photo(8, (200, 200)).convert("P", palette=Image.Palette.ADAPTIVE)
    assert hamming(hashes.phash, hash_picture(first)) <= 2
    assert hamming(hashes.phash, hash_picture(photo(9, (200, 200)))) > 10


def test_cmyk_palette_and_16_bit_pictures_hash_like_their_rgb_original() -> None:
    picture = photo(11, (400, 400))
    rgb = hash_image(encode(picture, "PNG")).phash
    cmyk = hash_image(jpeg(picture.convert("CMYK")))
    assert cmyk.mode == "CMYK" and hamming(cmyk.phash, rgb) <= NEAR
    palette = hash_image(encode(picture.quantize(64), "PNG"))
    assert palette.mode == "P" and hamming(palette.phash, rgb) <= NEAR
    grey16 = np.asarray(picture.convert("L"), dtype=np.uint16) * 256
    deep = hash_image(encode(Image.fromarray(grey16), "PNG"))
    assert deep.mode.startswith("I") and hamming(deep.phash, rgb) <= NEAR


def test_transparent_areas_hash_as_white() -> None:
    picture = photo(12, (300, 300))
    mask = Image.new("L", picture.size, 0)
    mask.paste(255, (60, 60, 240, 240))
    cut_out = picture.copy()
    cut_out.putalpha(mask)
    on_white = Image.new("RGB", picture.size, (255, 255, 255))
    on_white.paste(picture, mask=mask)
    rgba = hash_image(encode(cut_out, "PNG"))
    assert rgba.mode == "RGBA"
    assert hamming(rgba.phash, hash_picture(on_white)) <= 1
    la = hash_image(encode(cut_out.convert("LA"), "PNG"))
    assert hamming(la.phash, rgba.phash) <= 2


def test_blank_and_tiny_pictures_are_marked_blank_not_crashed() -> None:
    assert hash_image(jpeg(Image.new("RGB", (800, 800), (255, 255, 255)))).blank
    assert hash_image(encode(Image.new("RGB", (1, 1), (10, 200, 30)), "PNG")).blank
    assert not hash_image(encode(photo(13, (40, 40)), "PNG")).blank


# --- the colour check and reference crops --------------------------------------------------


def _recoloured(picture: Image.Image) -> Image.Image:
    """Same layout, other colours: red and blue swapped (a colour variant, a template photo)."""
    r, g, b = picture.split()
    return Image.merge("RGB", (b, g, r))


def test_match_distance_needs_agreeing_colours_in_the_matching_orientation() -> None:
    picture = photo(14)
    original = hash_image(jpeg(picture))
    turned = hash_image(jpeg(picture.transpose(Image.Transpose.ROTATE_90), quality=50))
    assert match_distance(original, turned.phash, turned.colour, radius=4, colour_tolerance=4) == 0
    swapped = hash_image(jpeg(_recoloured(picture)))
    assert hamming(swapped.phash, original.phash) <= 8  # grey alone barely tells them apart
    assert (
        match_distance(original, swapped.phash, swapped.colour, radius=8, colour_tolerance=4)
        is None
    )
    assert (
        match_distance(original, swapped.phash, swapped.colour, radius=8, colour_tolerance=-1)
        is not None
    )


def test_reference_crops_bring_cropped_copies_within_reach() -> None:
    picture = photo(15, (600, 600))
    copy = hash_image(jpeg(picture.crop((30, 30, 570, 570)).resize((600, 600))))
    plain, *crops = hash_reference(jpeg(picture), zooms=(0.04, 0.08, 0.12))
    assert min_distance(plain.variants, copy.phash) > 6
    assert min(min_distance(c.variants, copy.phash) for c in crops) <= NEAR
    with pytest.raises(ValueError):
        hash_reference(jpeg(picture), zooms=(0.7,))


def test_pictures_without_colour_are_marked_greyscale() -> None:
    from tests.image_samples import ccc_mark_picture, text_picture

    assert hash_image(ccc_mark_picture("2021011607654321")).greyscale
    assert hash_image(
        jpeg(Image.open(io.BytesIO(text_picture(["证书编号"]))).convert("RGB"))
    ).greyscale
    assert hash_image(jpeg(photo(16).convert("L"))).greyscale
    assert not hash_image(jpeg(photo(16))).greyscale


def test_damaged_files_raise_only_image_decode_errors() -> None:
    """Random truncations, byte flips and insertions in every format: a hash or a clear error."""
    import random

    from tests.image_samples import animated_gif

    rng = random.Random(5)
    originals = [
        jpeg(photo(1, (200, 200))),
        encode(photo(2, (160, 160)), "PNG"),
        encode(photo(3, (160, 160)), "WEBP"),
        animated_gif((4, 5), (80, 80)),
        encode(photo(6, (100, 100)).convert("RGBA"), "PNG"),
        encode(photo(7, (80, 80)), "TIFF"),
    ]
    outcomes: dict[str, int] = {}
    for _ in range(400):
        data = bytearray(rng.choice(originals))
        how = rng.randrange(3)
        if how == 0:
            data = data[: rng.randrange(len(data))]
        elif how == 1:
            for _ in range(rng.randint(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            at = rng.randrange(len(data))
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 50)))
        try:
            hash_image(bytes(data))
            kind = "hashed"
        except ImageDecodeError as exc:
            kind = exc.kind
        outcomes[kind] = outcomes.get(kind, 0) + 1
    assert outcomes["hashed"] > 50 and outcomes["truncated"] > 50 and outcomes["corrupt"] > 50


def test_a_reference_photo_posted_as_is_matches_itself() -> None:
    """The library's "as posted" entry is decoded the way a listing's picture is (JPEG at
    reduced size): a full-size decode moved this demo brand photo's colours 5 units, beyond
    the tolerance of 4, and an honest reseller's copy of the very file matched nothing."""
    from demo.images import _jpeg, genuine_photo

    data = _jpeg(genuine_photo("child_car_seat", 2))
    posted, stored = hash_image(data), hash_reference(data, zooms=(0.04,))[0]
    assert (posted.phash, posted.colour) == (stored.phash, stored.colour)
    assert match_distance(posted, stored.phash, stored.colour, radius=0, colour_tolerance=4) == 0
