"""What the image side found out about a listing's pictures, handed to the text engine as data.

The image engineer's code (hashing, the reference library, OCR, hash search) fills these; the
rules only read them. Plain frozen data so ``matching/`` stays pure: no image is opened here.
Fields may be added (with defaults) as the image side grows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReferenceMatch:
    """A listing image that is (nearly) a genuine brand photo from the reference library."""

    brand: str
    reference_id: str  # the library's id of the genuine photo
    distance: int  # Hamming distance of the perceptual hashes (0 = same picture)
    # Sellers the brand authorised to use its photos (keys as in matching.context.seller_key);
    # empty when the library does not say.
    authorised_sellers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ImageSignal:
    """One listing image as the image side saw it."""

    url: str
    phash: int | None = None  # 64-bit perceptual hash; None when the image could not be read
    reference_matches: tuple[ReferenceMatch, ...] = ()
    # Other shops (seller keys) whose listings show the same picture (within the hash radius).
    shared_with_sellers: frozenset[str] = frozenset()
    ocr_text: str = ""  # text read from the image, "" when none or OCR did not run
    ccc_mark: bool = False  # the CCC mark was detected in the picture
    error: str = ""  # why the image could not be used (truncated, bomb, ...), "" when fine
    # False when the picture cannot tell shops apart: blank (a white placeholder) or greyscale
    # (certificates, CCC emblems, spec cards: one layout, small print below a 64-bit hash, so
    # two shops showing different certificates get the same pHash). Do not link shops by it.
    linkable: bool = True
