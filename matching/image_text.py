"""Text inside listing images (OCR) and the CCC mark: bytes in, text lines out.

Sellers put what the title leaves out into pictures: spec cards with the certificate number,
the maker's name and address, the CCC emblem. ``OcrReader`` reads them with RapidOCR
(PP-OCRv4 Chinese+English detection and recognition on onnxruntime). The models ship inside the
``rapidocr-onnxruntime`` wheel and are loaded from the installed package when the reader is
created, like ``Matcher.load`` reads its YAML; nothing is downloaded, ever (tests/test_image_text
checks the model files are in the package and that reading needs no network).

The CCC mark (``find_ccc_marks``): OCR reading "CCC" is not enough, because spec cards write
"CCC认证" as plain text. A mark is "CCC" inside an oval: around each "CCC" text box we look for a
closed contour that an ellipse fits well, centred on the letters, enclosing them and wider than
tall. Limits, documented in docs/images.md: a mark so stylised that OCR does not read "CCC"
(small, blurred, artistic fonts) is missed; a "CCC" word that happens to sit in a drawn oval
(a badge saying CCC) counts as a mark.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from matching.image_hash import DEFAULT_MAX_PIXELS, decode

# Longest side handed to the detector. Spec-card text stays legible at this size, and the
# detector's cost grows with the area.
DEFAULT_MAX_SIDE = 1280
# RapidOCR's own default scales the SHORT side up to 736 px, which makes every small product
# photo a large one; bounding the LONG side instead keeps the cost in line with the picture.
_DET_LIMIT = 960

_CCC_TEXT = re.compile(r"C\s*C\s*C", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class OcrLine:
    text: str
    score: float  # recognition confidence, 0-1
    box: tuple[float, float, float, float]  # left, top, right, bottom in the picture's pixels


@dataclass(frozen=True, slots=True)
class OcrResult:
    lines: tuple[OcrLine, ...] = ()  # reading order: top to bottom, left to right
    ccc_mark: bool = False  # a CCC emblem (letters in an oval) was found
    width: int = 0
    height: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def text(self) -> str:
        """Lines joined with newlines; boxes on one visual line joined with a space."""
        return "\n".join(line.text for line in self.lines)


class OcrReader:
    """One loaded OCR engine; ``read`` is thread-safe enough to call from one worker thread."""

    def __init__(
        self,
        *,
        max_side: int = DEFAULT_MAX_SIDE,
        min_score: float = 0.5,
        threads: int = 0,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        from rapidocr_onnxruntime import RapidOCR  # heavy: onnxruntime and OpenCV

        options: dict[str, Any] = {
            "text_score": min_score,
            "det_limit_side_len": _DET_LIMIT,
            "det_limit_type": "max",
            "print_verbose": False,
        }
        if threads > 0:
            options["intra_op_num_threads"] = threads
            options["inter_op_num_threads"] = 1
        self._engine = RapidOCR(**options)
        self.max_side = max_side
        self.max_pixels = max_pixels

    def read(self, data: bytes) -> OcrResult:
        """Text lines and the CCC mark of one picture. Raises ImageDecodeError for bad bytes."""
        decoded = decode(data, max_pixels=self.max_pixels, min_side=self.max_side // 2)
        frame = decoded.frame.convert("RGB")
        scale = 1.0
        if max(frame.size) > self.max_side:
            scale = self.max_side / max(frame.size)
            size = (max(1, round(frame.width * scale)), max(1, round(frame.height * scale)))
            frame = frame.resize(size, Image.Resampling.LANCZOS)
        elif decoded.width != frame.width:  # decoded at reduced size by libjpeg
            scale = frame.width / decoded.width
        pixels = np.ascontiguousarray(np.asarray(frame)[:, :, ::-1])  # OpenCV order: BGR
        raw, _ = self._engine(pixels)
        boxes = [_box(item, scale) for item in raw or ()]
        lines = _reading_order(boxes)
        marks = find_ccc_marks(pixels, [b for b in boxes if _CCC_TEXT.search(b.text)], scale)
        return OcrResult(
            lines=lines, ccc_mark=bool(marks), width=decoded.width, height=decoded.height
        )


def _box(item: Sequence[Any], scale: float) -> OcrLine:
    points, text, score = item[0], str(item[1]), float(item[2])
    xs = [float(p[0]) / scale for p in points]
    ys = [float(p[1]) / scale for p in points]
    return OcrLine(text=text.strip(), score=score, box=(min(xs), min(ys), max(xs), max(ys)))


def _reading_order(boxes: list[OcrLine]) -> tuple[OcrLine, ...]:
    """Boxes grouped into visual lines (vertical overlap), each line read left to right.

    "证书编号" and its number are often two boxes on one line; joining them keeps the number
    next to its label for the rules that read the text.
    """
    rows: list[list[OcrLine]] = []
    for box in sorted((b for b in boxes if b.text), key=lambda b: (b.box[1] + b.box[3]) / 2):
        middle = (box.box[1] + box.box[3]) / 2
        if rows:
            last = rows[-1][-1]
            if last.box[1] <= middle <= last.box[3]:
                rows[-1].append(box)
                continue
        rows.append([box])
    lines = []
    for row in rows:
        row.sort(key=lambda b: b.box[0])
        lines.append(
            OcrLine(
                text=" ".join(b.text for b in row),
                score=min(b.score for b in row),
                box=(
                    min(b.box[0] for b in row),
                    min(b.box[1] for b in row),
                    max(b.box[2] for b in row),
                    max(b.box[3] for b in row),
                ),
            )
        )
    return tuple(lines)


def find_ccc_marks(
    bgr: np.ndarray, ccc_boxes: Sequence[OcrLine], scale: float = 1.0
) -> list[tuple[float, float, float, float]]:
    """Boxes (picture pixels) of "CCC" text that sits inside an oval: the CCC emblem."""
    import cv2

    if not ccc_boxes:
        return []
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    height, width = grey.shape
    found = []
    for line in ccc_boxes:
        left, top, right, bottom = (v * scale for v in line.box)
        text_w, text_h = right - left, bottom - top
        if text_w <= 0 or text_h <= 0:
            continue
        # The emblem's oval is about 1.3-2x the letters' width: look within twice that.
        x0 = int(max(0, left - text_w))
        x1 = int(min(width, right + text_w))
        y0 = int(max(0, top - 2 * text_h))
        y1 = int(min(height, bottom + 2 * text_h))
        region = grey[y0:y1, x0:x1]
        if region.size == 0:
            continue
        _, ink = cv2.threshold(region, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
        contours, _ = cv2.findContours(ink, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        cx, cy = (left + right) / 2 - x0, (top + bottom) / 2 - y0
        if any(_is_enclosing_oval(c, cx, cy, text_w, text_h) for c in contours):
            found.append(line.box)
    return found


def _is_enclosing_oval(contour: np.ndarray, cx: float, cy: float, tw: float, th: float) -> bool:
    import cv2

    if len(contour) < 20:
        return False
    (ex, ey), axes, _angle = cv2.fitEllipse(contour)
    major, minor = max(axes), min(axes)
    if minor <= 0:
        return False
    centred = abs(ex - cx) < 0.25 * tw and abs(ey - cy) < 0.6 * th
    encloses = major >= 0.95 * tw and minor >= 1.1 * th
    oval = 1.0 <= major / minor <= 2.6
    if not (centred and encloses and oval):
        return False
    # How well an ellipse describes the contour: points' normalised radius should be ~1.
    (ex, ey), (a, b), angle = cv2.fitEllipse(contour)
    theta = np.deg2rad(angle)
    pts = contour.reshape(-1, 2).astype(np.float64) - (ex, ey)
    cos, sin = np.cos(theta), np.sin(theta)
    u = pts[:, 0] * cos + pts[:, 1] * sin
    v = -pts[:, 0] * sin + pts[:, 1] * cos
    radius = np.sqrt((u / (a / 2)) ** 2 + (v / (b / 2)) ** 2)
    return float(np.mean(np.abs(radius - 1.0))) < 0.08
