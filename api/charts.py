"""Charts drawn on the server as inline SVG: the pages run no script (the CSP forbids it), and
an SVG is text the template escapes like any other.

Labels come from the store (categories, regions, seller text): they are escaped here, since the
SVG string is inserted into the page as markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from markupsafe import Markup

BAR_HEIGHT = 22
LABEL_WIDTH = 190
CHART_WIDTH = 640
COLOURS = ("#2f6db5", "#c0392b")


def bar_chart(
    counts: Mapping[str, int], *, title: str, limit: int = 15, target: float | None = None
) -> Markup:
    """Horizontal bars, largest first as given; ``target`` (0-1 of the largest) draws a line."""
    items = list(counts.items())[:limit]
    height = BAR_HEIGHT * max(1, len(items)) + 30
    top = max((n for _, n in items), default=0) or 1
    span = CHART_WIDTH - LABEL_WIDTH - 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" width="{CHART_WIDTH}" height="{height}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, n) in enumerate(items):
        y = 20 + i * BAR_HEIGHT
        width = round(span * n / top, 1)
        text = label if len(label) <= 14 else label[:13] + "…"
        parts += [
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end" font-size="13">'
            f"{escape(text)}</text>",
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width}" height="{BAR_HEIGHT - 6}" '
            f'fill="{COLOURS[0]}"><title>{escape(label)}: {n}</title></rect>',
            f'<text x="{LABEL_WIDTH + width + 4}" y="{y + 15}" font-size="12">{n}</text>',
        ]
    if not items:
        parts.append('<text x="10" y="25" font-size="13">—</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def column_chart(counts: Mapping[str, int], *, title: str) -> Markup:
    """Vertical columns in the given (time) order, e.g. weeks."""
    items = list(counts.items())[-26:]
    height, base = 220, 180
    top = max((n for _, n in items), default=0) or 1
    step = (CHART_WIDTH - 40) / max(1, len(items))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" width="{CHART_WIDTH}" height="{height}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="20" y1="{base}" x2="{CHART_WIDTH - 10}" y2="{base}" stroke="#999"/>',
    ]
    for i, (label, n) in enumerate(items):
        x = 24 + i * step
        h = round((base - 20) * n / top, 1)
        parts += [
            f'<rect x="{x:.1f}" y="{base - h}" width="{min(60.0, max(2.0, step - 6)):.1f}" '
            f'height="{h}" '
            f'fill="{COLOURS[0]}"><title>{escape(label)}: {n}</title></rect>',
            f'<text x="{x:.1f}" y="{base - h - 4}" font-size="11">{n}</text>',
            f'<text x="{x:.1f}" y="{base + 14}" font-size="10">{escape(label[-3:])}</text>',
        ]
    parts.append("</svg>")
    return Markup("".join(parts))


def share_gauge(share: float, target: float, *, title: str) -> Markup:
    """A bar filled to ``share`` (0-1) with the target marked; red below target."""
    width, left = CHART_WIDTH - 40, 20
    filled = round(width * min(1.0, max(0.0, share)), 1)
    mark = left + round(width * target, 1)
    colour = COLOURS[0] if share >= target else COLOURS[1]
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart gauge" role="img" '
        f'viewBox="0 0 {CHART_WIDTH} 60" width="{CHART_WIDTH}" height="60">'
        f"<title>{escape(title)}</title>"
        f'<rect x="{left}" y="10" width="{width}" height="24" fill="#eee"/>'
        f'<rect x="{left}" y="10" width="{filled}" height="24" fill="{colour}"/>'
        f'<line x1="{mark}" y1="4" x2="{mark}" y2="40" stroke="#333" stroke-width="2"/>'
        f'<text x="{mark + 4}" y="54" font-size="12">{round(target * 100)}%</text>'
        f'<text x="{left + 4}" y="27" font-size="13" fill="#fff">{share * 100:.1f}%</text>'
        "</svg>"
    )
