"""Small line charts drawn with Pillow (already a dependency; matplotlib would add tens of
megabytes for a grid of line plots): one panel per series, all against the same x axis."""
import math
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

PANEL_W, PANEL_H = 320, 200
LEFT, RIGHT, TOP, BOTTOM = 62, 14, 24, 36     # margins around a panel's plotting area
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14),
           (23, 190, 207), (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34)]
CEILING = (150, 150, 150)                     # the real data's score, dashed
INK, GRID, PAPER = (30, 30, 30), (225, 225, 225), (255, 255, 255)


@dataclass
class Series:
    title: str                   # e.g. "L(G(z))"
    unit: str                    # the y axis' unit, "" for a pure number
    x: list
    y: list
    ceiling: float | None = None


def compact(value: float) -> str:
    """A tick label: 2500 -> '2.5k', 1.2e6 -> '1.2M', 0.00012 -> '0.00012'."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def draw_panels(series: list, x_label: str, columns: int = 3) -> Image.Image:
    """A grid of panels, `columns` wide, one per series, each with its own y range and all
    with the same x range, from 0 to the largest x, so that panels line up."""
    rows = -(-len(series) // columns)
    x_range = (0.0, max((x for s in series for x in s.x if _finite(x)), default=1.0) or 1.0)
    image = Image.new("RGB", (columns * PANEL_W, rows * PANEL_H), PAPER)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=11)
    for index, s in enumerate(series):
        row, col = divmod(index, columns)
        _panel(draw, font, s, x_label, x_range, col * PANEL_W, row * PANEL_H, COLOURS[index % len(COLOURS)])
    return image


def _panel(draw, font, s: Series, x_label: str, x_range: tuple, left: int, top: int, colour) -> None:
    x0, y0 = left + LEFT, top + TOP                                  # plotting area
    x1, y1 = left + PANEL_W - RIGHT, top + PANEL_H - BOTTOM
    title = f"{s.title} ({s.unit})" if s.unit else s.title
    draw.text((x0, top + 6), title, fill=INK, font=font)
    points = [(x, y) for x, y in zip(s.x, s.y) if _finite(x) and _finite(y)]
    ys = [y for _, y in points] + ([s.ceiling] if _finite(s.ceiling) else [])
    if not points:
        draw.rectangle((x0, y0, x1, y1), outline=GRID)
        draw.text((x0 + 8, (y0 + y1) // 2), "no values", fill=INK, font=font)
        return
    lo_x, hi_x = x_range
    lo_y, hi_y = _padded(min(ys), max(ys))
    to_px = lambda x, y: (x0 + (x - lo_x) / (hi_x - lo_x) * (x1 - x0), y1 - (y - lo_y) / (hi_y - lo_y) * (y1 - y0))
    for i in range(3):                                           # ticks at both ends and the middle
        fy = lo_y + (hi_y - lo_y) * i / 2
        fx = lo_x + (hi_x - lo_x) * i / 2
        py, px = to_px(lo_x, fy)[1], to_px(fx, lo_y)[0]
        draw.line((x0, py, x1, py), fill=GRID)
        draw.text((x0 - 4, py), compact(fy), fill=INK, font=font, anchor="rm")
        draw.text((px, y1 + 4), compact(fx), fill=INK, font=font, anchor="ma")
    draw.rectangle((x0, y0, x1, y1), outline=INK)
    draw.text(((x0 + x1) // 2, y1 + 18), x_label, fill=INK, font=font, anchor="ma")
    if _finite(s.ceiling):
        py = to_px(lo_x, s.ceiling)[1]
        for dash in range(int(x0), int(x1), 8):
            draw.line((dash, py, min(dash + 4, x1), py), fill=CEILING, width=1)
    pixels = [to_px(x, y) for x, y in points]
    if len(pixels) == 1:
        px, py = pixels[0]
        draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=colour)
    else:
        draw.line(pixels, fill=colour, width=2)


def _padded(lo: float, hi: float) -> tuple:
    """A range that is never empty, with 5 % of room on each side."""
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        pad = max(abs(hi) * 0.1, 1e-6)
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)
