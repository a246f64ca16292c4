"""Product images of the demo shop, drawn with Pillow on first request.

Names (under ``/img/``) say what an image is, so any of them can be drawn from the marketplace
alone:

- ``p<index>-<n>.jpg``: a product photo of listing ``index``;
- ``g-<category>-<brand>.jpg``: the brand's "genuine" product photo, shared by honest sellers;
- ``c<index>.jpg``: an edited copy of that genuine photo (crop, brightness or recompression),
  as sellers who lift official photos post them;
- ``m<index>.png``: a CCC mark with the listing's certificate number (as sellers show it);
- the corrupt-image fault listing's ``p<index>-0.jpg`` is bytes no decoder accepts.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageFont

from demo.generator import FAULT_CORRUPT_IMAGE, DemoListing, Marketplace
from demo.vocabulary import words_for

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
CJK_FONT_BOLD = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
CJK_SC_INDEX = 2  # the .ttc holds JP, KR, SC, TC, HK faces; SC draws Simplified Chinese glyphs
SIZE = 360
JPEG = "image/jpeg"
PNG = "image/png"

_NAME = re.compile(r"^(?:p(\d+)-(\d+)\.jpg|g-([a-z_]+)-(\d+)\.jpg|c(\d+)\.jpg|m(\d+)\.png)$")


@lru_cache(maxsize=16)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = CJK_FONT_BOLD if bold and CJK_FONT_BOLD.exists() else CJK_FONT
    try:
        return ImageFont.truetype(str(path), size, index=CJK_SC_INDEX)
    except OSError:  # no Noto CJK: images still draw, Chinese shows as boxes
        return ImageFont.load_default(size)


class ImageStore:
    """Draws images on demand and keeps the most recent ones (thread-safe)."""

    def __init__(self, marketplace: Marketplace, capacity: int = 512) -> None:
        self.marketplace = marketplace
        self.capacity = capacity
        self._cache: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str) -> tuple[bytes, str] | None:
        """``(bytes, media type)`` for an image name, or None when there is no such image."""
        with self._lock:
            hit = self._cache.get(name)
            if hit is not None:
                self._cache.move_to_end(name)
                return hit
        made = self._draw(name)
        if made is not None:
            with self._lock:
                self._cache[name] = made
                while len(self._cache) > self.capacity:
                    self._cache.popitem(last=False)
        return made

    def _draw(self, name: str) -> tuple[bytes, str] | None:
        match = _NAME.match(name)
        if match is None:
            return None
        product, number, category_id, brand, copy_of, mark = match.groups()
        market = self.marketplace
        if product is not None:
            listing = _listing_at(market, int(product))
            if listing is None or f"p{product}-{number}.jpg" not in listing.images:
                return None
            if listing.fault == FAULT_CORRUPT_IMAGE and number == "0":
                return corrupt_jpeg(listing.listing_id), JPEG
            return product_photo(market.seed, listing.index, int(number), listing), JPEG
        if category_id is not None:
            category = next((c for c in market.categories if c.id == category_id), None)
            brands = words_for(category_id)["brands"]
            if category is None or int(brand) >= len(brands):
                return None
            return _jpeg(genuine_photo(category_id, int(brand))), JPEG
        if copy_of is not None:
            listing = _listing_at(market, int(copy_of))
            if listing is None or listing.copy_edit is None:
                return None
            original = genuine_photo(listing.category.id, listing.brand_index)
            return edited_copy(original, listing.copy_edit, listing.index), JPEG
        listing = _listing_at(market, int(mark))
        if listing is None or listing.cert is None or f"m{mark}.png" not in listing.images:
            return None
        return ccc_mark(listing.cert), PNG


def _listing_at(market: Marketplace, index: int) -> DemoListing | None:
    return market.listings[index] if 0 <= index < len(market.listings) else None


def product_photo(seed: int, index: int, number: int, listing: DemoListing) -> bytes:
    """The seller's own photo of this listing: one of a kind, as a real shop's shots are.

    Every product of a category is drawn with the same shape, so without the scene around it
    (a backdrop, the product's place and size in the frame) photos of different listings would
    be one picture to a perceptual hash and link unrelated shops.
    """
    rng = random.Random(f"img-{seed}-{index}-{number}")
    background = tuple(rng.randint(200, 250) for _ in range(3))
    colour = tuple(rng.randint(30, 180) for _ in range(3))
    image = Image.new("RGB", (SIZE, SIZE), background)
    draw = ImageDraw.Draw(image)
    _draw_scene(draw, rng)
    _place_product(image, words_for(listing.category.id)["shape"], colour, rng)
    draw.text((16, 12), listing.brand, fill=(40, 40, 40), font=font(30, bold=True))
    draw.text((16, SIZE - 44), listing.spec, fill=(60, 60, 60), font=font(24))
    return _jpeg(image)


@lru_cache(maxsize=64)
def genuine_photo(category_id: str, brand_index: int) -> Image.Image:
    """The brand's official photo: the same picture every honest seller of the brand uses."""
    words = words_for(category_id)
    brand = words["brands"][brand_index]
    rng = random.Random(f"genuine-{category_id}-{brand_index}")
    image = Image.new("RGB", (SIZE, SIZE), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    for y in range(0, SIZE, 4):  # a soft gradient gives perceptual hashes some texture
        shade = 235 - y // 12
        draw.line([(0, y), (SIZE, y + 3)], fill=(shade, shade, 250 - y // 20), width=4)
    # Each brand shoots its own product photo: its own scene, place and size in the frame.
    _draw_scene(draw, rng)
    _place_product(image, words["shape"], tuple(rng.randint(20, 120) for _ in range(3)), rng)
    draw.text((16, 12), brand, fill=(180, 20, 20), font=font(34, bold=True))
    draw.text((SIZE - 120, SIZE - 48), "官方正品", fill=(180, 20, 20), font=font(26))
    return image


def edited_copy(original: Image.Image, edit: str, index: int) -> bytes:
    rng = random.Random(f"copy-{index}")
    if edit == "crop":
        # A light crop (2-7 % a side, edges a few pixels uneven): what the reference library's
        # stored crops reach. Heavier crops are a known gap of pHash (docs/images.md).
        margin = rng.randint(8, 24)
        box = (margin, margin, SIZE - margin, SIZE - margin + rng.randint(-3, 3))
        return _jpeg(original.crop(box).resize((SIZE, SIZE)))
    if edit == "brightness":
        factor = 1 + rng.choice((-1, 1)) * rng.randint(8, 18) / 100
        return _jpeg(ImageEnhance.Brightness(original).enhance(factor))
    # Quality 25-40: harsh, yet within the colour check; below ~20 JPEG's chroma loss moves a
    # picture's colours beyond IMAGE_OFFICIAL_REUSED's tolerance (docs/images.md).
    return _jpeg(original, quality=rng.randint(25, 40))


def ccc_mark(certificate: str) -> bytes:
    """A CCC emblem (three Cs in an oval) with the certificate number under it."""
    image = Image.new("RGB", (SIZE, 220), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.ellipse((70, 14, 290, 134), outline=(20, 20, 20), width=8)
    draw.text((180, 74), "CCC", fill=(20, 20, 20), font=font(64, bold=True), anchor="mm")
    draw.text((180, 162), "中国强制性产品认证", fill=(40, 40, 40), font=font(20), anchor="mm")
    draw.text((180, 196), f"证书编号 {certificate}", fill=(40, 40, 40), font=font(20), anchor="mm")
    return _png(image)


def corrupt_jpeg(listing_id: str) -> bytes:
    """A JPEG start-of-image marker followed by noise: served as image/jpeg, decodes as nothing."""
    noise = b"".join(hashlib.sha256(f"{listing_id}-{i}".encode()).digest() for i in range(64))
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + noise.replace(b"\xff", b"\x00")


def _draw_scene(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    """A backdrop of the photographer's own: a table edge, a wall panel and a prop."""
    edge = rng.randint(SIZE // 2, SIZE - 40)
    draw.rectangle((0, edge, SIZE, SIZE), fill=_shade(rng, 120, 210))
    x = rng.randint(-60, SIZE - 60)
    draw.rectangle((x, 0, x + rng.randint(60, 160), edge), fill=_shade(rng, 150, 235))
    cx, cy, r = rng.randint(0, SIZE), rng.randint(0, SIZE), rng.randint(20, 60)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_shade(rng, 60, 220))


def _shade(rng: random.Random, low: int, high: int) -> tuple[int, int, int]:
    return (rng.randint(low, high), rng.randint(low, high), rng.randint(low, high))


def _place_product(image: Image.Image, shape: str, colour: tuple, rng: random.Random) -> None:
    """The product drawn at its own size and place in the frame."""
    product = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    _draw_product(ImageDraw.Draw(product), shape, colour, rng)
    side = round(SIZE * rng.uniform(0.6, 1.0))
    product = product.resize((side, side))
    where = (rng.randint(-30, SIZE - side + 30), rng.randint(10, SIZE - side + 20))
    image.paste(product, where, product)


def _draw_product(draw: ImageDraw.ImageDraw, shape: str, colour: tuple, rng: random.Random) -> None:
    c = colour
    dark = tuple(max(0, v - 40) for v in c)
    jitter = rng.randint(-20, 20)
    if shape == "charger":
        draw.rounded_rectangle((110, 110 + jitter, 250, 250 + jitter), 24, fill=c)
        draw.rectangle((150, 80 + jitter, 162, 110 + jitter), fill=dark)
        draw.rectangle((198, 80 + jitter, 210, 110 + jitter), fill=dark)
        draw.rounded_rectangle((165, 210 + jitter, 195, 222 + jitter), 4, fill=(30, 30, 30))
    elif shape == "power_bank":
        draw.rounded_rectangle((120, 70, 240, 290), 28, fill=c)
        for i in range(4):
            draw.ellipse((140 + i * 22, 250, 152 + i * 22, 262), fill=(120, 240, 140))
    elif shape == "seat":
        draw.rounded_rectangle((120, 70, 240, 200), 40, fill=c)
        draw.rounded_rectangle((100, 190, 260, 290), 30, fill=dark)
    elif shape == "toy":
        draw.rounded_rectangle((80, 150 + jitter, 280, 230 + jitter), 20, fill=c)
        draw.rounded_rectangle((130, 110 + jitter, 230, 160 + jitter), 14, fill=dark)
        for x in (115, 245):
            draw.ellipse((x - 28, 205 + jitter, x + 28, 261 + jitter), fill=(30, 30, 30))
    elif shape == "stroller":
        draw.pieslice((90, 60, 270, 240), 180, 360, fill=c)
        draw.line((260, 150, 300, 80), fill=dark, width=8)
        for x in (120, 240):
            draw.ellipse((x - 25, 250, x + 25, 300), outline=(30, 30, 30), width=8)
    elif shape == "bag":
        draw.rounded_rectangle((100, 70, 260, 300), 16, fill=c)
        draw.rectangle((120, 150, 240, 220), fill=(250, 250, 240))
    else:
        draw.rectangle((100, 100, 260, 260), fill=c)


def _jpeg(image: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False)
    return out.getvalue()
