"""Perceptual hashes of listing images: bytes in, 64-bit pHashes out (no I/O).

The hash is imagehash's pHash (grey 32x32, 2-D DCT-II, the 8x8 lowest frequencies against their
median), bit for bit: ``hex(ImageHashes.phash)`` equals ``str(imagehash.phash(image))`` for the
same decoded picture, so hashes from either side compare.

Mirroring and 90° rotations. Counterfeiters flip or turn an official photo to dodge duplicate
checks. Rather than a canonical form (picking "the" orientation from the hash or the pixels is
unstable: two re-encodings of one photo can pick different orientations and then share nothing),
we compute all eight dihedral variants from one DCT: mirroring the picture only flips the signs
of the odd-frequency coefficients (DCT-II of x[N-1-n] is (-1)^k X[k]) and a quarter turn is a
transpose plus a mirror. So the eight hashes cost one decode, one DCT and eight medians, and a
search that compares a query's eight variants against the stored hashes of pictures as posted
finds every flipped or turned copy exactly (within resampling noise of a bit or two).

Speed. JPEGs are decoded at reduced size (libjpeg's DCT scaling through ``Image.draft``): an
800x800 photo decodes as 100x100 grey pixels, which is all a 32x32 hash needs.

Bad input never crashes: empty or non-image bytes, truncated files, pictures above the pixel
limit (decompression bombs, refused from the header before any pixel is decoded) and undecodable
data raise ``ImageDecodeError`` with a ``kind`` and a message an officer can read. Animated
images hash their first frame; CMYK, palette, 16-bit and alpha images are converted (transparent
areas laid on white, as a shop page shows them).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

# 40 megapixels: larger than any product photo a shop serves (8000x5000), far below what would
# exhaust memory. Pillow's own guard (Image.MAX_IMAGE_PIXELS) is process-wide; ours is per call.
DEFAULT_MAX_PIXELS = 40_000_000

HASH_SIZE = 8
_SIDE = 32  # pHash's grey thumbnail: hash size x highfreq factor 4

# A picture whose grey thumbnail varies less than this (standard deviation, 0-255 scale) carries
# no shape: white placeholders, solid colour swatches. Their hashes all look alike, so they are
# marked blank and never used to link shops or match references.
BLANK_STDDEV = 2.0

ErrorKind = Literal["empty", "not_image", "too_large", "truncated", "corrupt"]

# The dihedral group as operations on the picture, in the order of ImageHashes.variants.
VARIANT_NAMES: tuple[str, ...] = (
    "identity",
    "mirror_left_right",
    "mirror_top_bottom",
    "rotate_180",
    "transpose",
    "rotate_90_ccw",  # Pillow's Transpose.ROTATE_90
    "rotate_270_ccw",  # Pillow's Transpose.ROTATE_270
    "transverse",
)


class ImageDecodeError(ValueError):
    """The bytes are not a picture we can hash; ``kind`` says why (for counting)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class ImageHashes:
    """One decoded picture's perceptual hashes and what we learnt while decoding it."""

    phash: int  # the picture as posted; imagehash-compatible (first DCT coefficient = top bit)
    variants: tuple[int, ...]  # the eight dihedral variants, VARIANT_NAMES order; [0] == phash
    width: int
    height: int
    format: str  # "JPEG", "PNG", "GIF", "WEBP", ...
    mode: str  # the decoded mode before conversion: "RGB", "CMYK", "P", "RGBA", ...
    frames: int = 1  # > 1 for an animated picture (the first frame is hashed)
    blank: bool = False  # no shape to hash (see BLANK_STDDEV): do not search or index it
    # Chromaticity of a 4x4 grid (see colour_grid), as posted: the second check of a match.
    colour: bytes = b""

    @property
    def hex(self) -> str:
        return f"{self.phash:016x}"

    @property
    def greyscale(self) -> bool:
        """No colour anywhere (certificates, emblems, spec cards, black-and-white photos)."""
        return is_greyscale(self.colour)


def _dct_matrix(n: int, rows: int) -> np.ndarray:
    """Rows of the unnormalised DCT-II matrix (scipy.fftpack.dct's scaling, as imagehash uses)."""
    k = np.arange(rows)[:, None]
    i = np.arange(n)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * i + 1) / (2 * n))


_DCT8 = _dct_matrix(_SIDE, HASH_SIZE)
_ODD = (np.arange(HASH_SIZE) % 2).astype(bool)
# (-1)^u for rows and (-1)^v for columns: what a top-bottom or left-right mirror does.
_ROW_SIGN = np.where(_ODD, -1.0, 1.0)[:, None]
_COL_SIGN = np.where(_ODD, -1.0, 1.0)[None, :]
_BIT_WEIGHTS = np.left_shift(np.uint64(1), np.arange(63, -1, -1, dtype=np.uint64))


def open_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The first frame of a picture, header-checked against the pixel limit, not yet decoded."""
    if not data:
        raise ImageDecodeError("empty", "no image data (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow warns (and past 2x its limit raises) about bombs; we apply our own limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError("too_large", f"refused as a decompression bomb: {exc}") from exc
    except Exception as exc:  # UnidentifiedImageError and any parser failure
        if "truncated" in str(exc).lower():  # cut inside the header
            raise ImageDecodeError("truncated", f"image file is truncated: {exc}") from exc
        raise ImageDecodeError(
            "not_image", f"not a picture Pillow can read ({_head(data)}): {exc}"
        ) from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageDecodeError("corrupt", f"picture has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageDecodeError(
            "too_large",
            f"{width}x{height} = {width * height / 1e6:.0f} megapixels is above the "
            f"{max_pixels / 1e6:g} megapixel limit (decompression bomb guard); not decoded",
        )
    return image


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded first frame (RGB or L) and the facts of the picture as posted."""

    frame: Image.Image
    width: int  # as posted, not as decoded at reduced size
    height: int
    format: str
    mode: str  # before conversion: "RGB", "CMYK", "P", "RGBA", "I;16", ...
    frames: int


def decode(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = 0) -> Decoded:
    """The first frame as RGB (or L when the decoder can give grey), alpha laid on white.

    ``min_side``: the smallest width/height the caller needs; JPEGs are decoded at the smallest
    libjpeg scale (1/2, 1/4, 1/8) that still gives that.
    """
    image = open_image(data, max_pixels=max_pixels)
    width, height = image.size
    fmt, mode = image.format or "", image.mode
    try:
        frames = getattr(image, "n_frames", 1) or 1
    except Exception:  # a damaged later frame; the first may still decode
        frames = 1
    try:
        if min_side and fmt == "JPEG" and mode in ("RGB", "L"):
            image.draft(mode, (min_side, min_side))
        with warnings.catch_warnings():
            # Bombs: our own limit applies. Damaged EXIF and the like: the pixels still count.
            warnings.simplefilter("ignore")
            image.load()
        return Decoded(_flatten(image), width, height, fmt, mode, frames)
    except Exception as exc:
        message = str(exc)
        if "truncated" in message.lower() or isinstance(exc, EOFError):
            raise ImageDecodeError(
                "truncated", f"{fmt or 'image'} file is truncated: {message}"
            ) from exc
        raise ImageDecodeError(
            "corrupt", f"{fmt or 'image'} data could not be decoded: {message}"
        ) from exc


def _flatten(image: Image.Image) -> Image.Image:
    """RGB or L pixels as a page shows them: alpha laid on white, palettes and CMYK resolved."""
    mode = image.mode
    if mode in ("RGB", "L"):
        return image
    has_alpha = mode in ("RGBA", "LA", "RGBa", "La", "PA") or (
        mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # 16-bit and float greys: scale to 8 bits rather than clip everything to white.
        pixels = np.asarray(image, dtype=np.float64)
        top = float(pixels.max()) or 1.0
        return Image.fromarray(np.clip(pixels * (255.0 / top), 0, 255).astype(np.uint8), "L")
    return image.convert("RGB")


def hash_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageHashes:
    """The perceptual hashes of one picture. Raises ImageDecodeError for unusable bytes."""
    decoded = decode(data, max_pixels=max_pixels, min_side=_SIDE * 2)
    return _hashes(decoded.frame, decoded)


def hash_reference(
    data: bytes, *, zooms: tuple[float, ...] = (), max_pixels: int = DEFAULT_MAX_PIXELS
) -> list[ImageHashes]:
    """Hashes of a genuine photo as posted and of its centre crops (``zooms``: the share of
    width and height cut away, e.g. 0.1 keeps the middle 90%).

    pHash is a global transform, so a copy cropped by a few percent and scaled back (a common
    way to dodge duplicate checks) lands 8-26 bits away. Storing the crops of the reference
    brings such copies within a few bits without touching how listing images are hashed.
    """
    decoded = decode(data, max_pixels=max_pixels)
    frame = decoded.frame
    # As posted: decoded the way hash_image decodes a listing's picture (JPEG at reduced size),
    # so a shop posting this very file gets this very hash and colour grid. The full-size decode
    # differs by up to 5 colour units, beyond the usual tolerance of 4 (a demo brand's genuine
    # photo then did not match itself).
    out = [hash_image(data, max_pixels=max_pixels)]
    for zoom in zooms:
        if not 0 < zoom < 0.5:
            raise ValueError(f"zoom must be between 0 and 0.5, got {zoom}")
        dx, dy = frame.width * zoom / 2, frame.height * zoom / 2
        box = (round(dx), round(dy), round(frame.width - dx), round(frame.height - dy))
        out.append(_hashes(frame.crop(box), decoded))
    return out


def _hashes(frame: Image.Image, decoded: Decoded) -> ImageHashes:
    try:
        rgb = frame.convert("RGB")
        grey = rgb.convert("L").resize((_SIDE, _SIDE), Image.Resampling.LANCZOS)
        colour = colour_grid(rgb)
    except Exception as exc:
        raise ImageDecodeError("corrupt", f"picture could not be resized: {exc}") from exc
    pixels = np.asarray(grey, dtype=np.float64)
    variants = dihedral_hashes(pixels)
    return ImageHashes(
        phash=variants[0],
        variants=variants,
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        mode=decoded.mode,
        frames=decoded.frames,
        blank=float(pixels.std()) < BLANK_STDDEV,
        colour=colour.tobytes(),
    )


def hash_picture(image: Image.Image) -> int:
    """pHash of an already decoded picture (for tests and callers that hold a PIL image)."""
    grey = _flatten(image).convert("L").resize((_SIDE, _SIDE), Image.Resampling.LANCZOS)
    return dihedral_hashes(np.asarray(grey, dtype=np.float64))[0]


def dihedral_hashes(pixels: np.ndarray) -> tuple[int, ...]:
    """The eight dihedral pHashes of a 32x32 grey thumbnail, in VARIANT_NAMES order."""
    block = _DCT8 @ pixels @ _DCT8.T  # rows: vertical frequency u; columns: horizontal v
    lr = block * _COL_SIGN
    tb = block * _ROW_SIGN
    r180 = lr * _ROW_SIGN
    t = block.T
    # A quarter turn is a transpose then a mirror; which mirror decides the direction.
    blocks = (block, lr, tb, r180, t, t * _ROW_SIGN, t * _COL_SIGN, r180.T)
    return tuple(_bits(b) for b in blocks)


def _bits(block: np.ndarray) -> int:
    above = (block > np.median(block)).ravel()
    return int(_BIT_WEIGHTS[above].sum()) if above.any() else 0


COLOUR_GRID = 4


def colour_grid(rgb: Image.Image) -> np.ndarray:
    """Mean chromaticity (r/(r+g+b), g/(r+g+b)) of a 4x4 grid, as uint8 (x255).

    pHash sees only grey: two product shots with the same layout in different colours (a
    template photo, a colour variant) can share a pHash. Chromaticity ignores brightness, so a
    brightened or recompressed copy keeps it within a unit or two while a different product's
    colours move it by tens.
    """
    cells = np.asarray(rgb.resize((COLOUR_GRID, COLOUR_GRID), Image.Resampling.BOX), np.float64)
    total = cells.sum(axis=2, keepdims=True) + 1.0
    return np.rint(cells[:, :, :2] / total * 255).astype(np.uint8)


# Neutral grey has chromaticity 1/3 = 85/255 in both channels; JPEG noise moves it a unit or two.
_NEUTRAL = 85
GREYSCALE_TOLERANCE = 3


def is_greyscale(colour: bytes) -> bool:
    if not colour:
        return False
    grid = np.frombuffer(colour, np.uint8).astype(np.int16)
    return bool(np.abs(grid - _NEUTRAL).max() <= GREYSCALE_TOLERANCE)


_GRID_MOVES = (
    lambda g: g,
    lambda g: g[:, ::-1],
    lambda g: g[::-1, :],
    lambda g: g[::-1, ::-1],
    lambda g: g.transpose(1, 0, 2),
    lambda g: np.rot90(g, 1),
    lambda g: np.rot90(g, -1),
    lambda g: g[::-1, ::-1].transpose(1, 0, 2),
)


def colour_distance(query: bytes, variant: int, stored: bytes) -> int:
    """Largest chromaticity difference (x255) between a query's grid turned as dihedral
    ``variant`` and a stored grid; 255 when either is missing."""
    if len(query) != len(stored) or len(query) != COLOUR_GRID * COLOUR_GRID * 2:
        return 255
    grid = np.frombuffer(query, np.uint8).reshape(COLOUR_GRID, COLOUR_GRID, 2)
    moved = _GRID_MOVES[variant](grid).astype(np.int16)
    other = np.frombuffer(stored, np.uint8).reshape(COLOUR_GRID, COLOUR_GRID, 2)
    return int(np.abs(moved - other.astype(np.int16)).max())


def match_distance(
    query: ImageHashes,
    stored_phash: int,
    stored_colour: bytes,
    *,
    radius: int,
    colour_tolerance: int,
) -> int | None:
    """The Hamming distance of a stored picture to the query, over the dihedral variants whose
    colours also agree; None when no variant is within ``radius`` with agreeing colours.

    ``colour_tolerance`` < 0 switches the colour check off (grey-only matching).
    """
    best: int | None = None
    for index, variant in enumerate(query.variants):
        distance = (variant ^ stored_phash).bit_count()
        if distance > radius or (best is not None and distance >= best):
            continue
        if colour_tolerance >= 0 and (
            colour_distance(query.colour, index, stored_colour) > colour_tolerance
        ):
            continue
        best = distance
    return best


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def min_distance(variants: tuple[int, ...], stored: int) -> int:
    """Distance of a stored hash to the nearest of a query's dihedral variants."""
    return min((v ^ stored).bit_count() for v in variants)


def _head(data: bytes) -> str:
    head = data[:12]
    if head.lstrip().startswith((b"<", b"{")):
        return "looks like HTML/JSON/text, not an image"
    return f"{len(data)} bytes starting {head.hex()}"
