"""Real picture files for the image tests, drawn with Pillow (deterministic per seed)."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image, ImageDraw, ImageFilter, ImageFont

CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
CJK_SC_INDEX = 2  # the Simplified Chinese face in the .ttc


def photo(seed: int, size: tuple[int, int] = (800, 800)) -> Image.Image:
    """A product-photo-like picture: soft coloured shapes on a tinted background."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randint(150, 255) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    w, h = size
    for _ in range(12):
        x0, y0 = rng.randint(0, w - 1), rng.randint(0, h - 1)
        x1, y1 = x0 + rng.randint(w // 16, w // 2), y0 + rng.randint(h // 16, h // 2)
        draw.ellipse((x0, y0, x1, y1), fill=tuple(rng.randint(0, 255) for _ in range(3)))
    return image.filter(ImageFilter.GaussianBlur(max(1, w // 250)))


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    return encode(image, "JPEG", quality=quality)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels: what a decompression bomb shows first."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def animated_gif(seeds: tuple[int, ...], size: tuple[int, int] = (200, 200)) -> bytes:
    frames = [photo(seed, size).convert("P", palette=Image.Palette.ADAPTIVE) for seed in seeds]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def text_picture(
    lines: list[str], size: tuple[int, int] = (900, 420), font_size: int = 40
) -> bytes:
    """White picture with black Chinese/Latin text lines, as sellers post spec cards."""
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(CJK_FONT, font_size, index=CJK_SC_INDEX)
    y = 30
    for line in lines:
        draw.text((30, y), line, fill=(20, 20, 20), font=font)
        y += int(font_size * 1.7)
    return encode(image, "PNG")


def ccc_mark_picture(
    number: str = "", *, oval: bool = True, size: tuple[int, int] = (420, 300)
) -> bytes:
    """The CCC emblem as sellers show it: "CCC" in an oval, optionally a number below."""
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    cx = size[0] // 2
    if oval:
        draw.ellipse((cx - 130, 20, cx + 130, 170), outline=(20, 20, 20), width=9)
    font = ImageFont.truetype(CJK_FONT, 72, index=CJK_SC_INDEX)
    draw.text((cx, 95), "CCC", fill=(20, 20, 20), font=font, anchor="mm")
    if number:
        small = ImageFont.truetype(CJK_FONT, 24, index=CJK_SC_INDEX)
        draw.text((cx, 230), f"证书编号 {number}", fill=(30, 30, 30), font=small, anchor="mm")
    return encode(image, "PNG")
