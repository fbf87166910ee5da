"""Drawing your own data set: a picture of the empty plane to click on, and the point text a
click, an undo or a clear makes of it.

The drawn set is kept where every other user set is: as 'x, y' lines of text (the points box),
so drawing, typing and uploading are one data set seen three ways, and a set that cannot be
trained gets the same messages whichever way it was made. Every click adds one point; the data
set puts Gaussian noise (σ = data.SIGMA) around each, so a click is a small Gaussian blob and a
row of clicks along a curve is a curve. The pad shows the plane [−EXTENT, EXTENT]² with y up,
as the lab's plots do. No Gradio here: the tab converts its click event into pixel
coordinates of the picture, which pixel_to_plane reads.
"""

from __future__ import annotations

import numpy as np

from advdemo.core.errors import InputError
from advdemo.gan2d.data import EXTENT, MAX_POINTS, read_rows

PAD_PIXELS = 480  # the pad's side; shown at this size or smaller, never stretched
HEADER = "x, y"
DOT_RADIUS = 5
_PAPER = (255, 255, 255)
_GRID = (232, 232, 232)
_AXES = (170, 170, 170)
_DOT = (20, 20, 20)
_NEWEST = (230, 97, 0)  # the last point drawn, so an undo's target is visible


def pixel_to_plane(px: object, py: object) -> tuple[float, float]:
    """The plane point under pixel (px, py) of the pad (pixel centres; y grows upwards)."""
    try:
        px, py = float(px), float(py)
    except (TypeError, ValueError):
        raise InputError(f"A click must give two pixel coordinates, got {px!r}, {py!r}.") from None
    if not (0 <= px < PAD_PIXELS and 0 <= py < PAD_PIXELS):
        raise InputError(f"That click ({px:g}, {py:g}) is outside the drawing pad.")
    scale = 2 * EXTENT / PAD_PIXELS
    return (px + 0.5) * scale - EXTENT, EXTENT - (py + 0.5) * scale


def plane_to_pixel(points: np.ndarray) -> np.ndarray:
    """Pixel coordinates (column, row) of plane points (n × 2), the inverse of pixel_to_plane."""
    scale = PAD_PIXELS / (2 * EXTENT)
    return np.stack(
        [(points[:, 0] + EXTENT) * scale - 0.5, (EXTENT - points[:, 1]) * scale - 0.5], 1
    )


def _lines(points: np.ndarray) -> str:
    return "\n".join([HEADER, *(f"{x:.2f}, {y:.2f}" for x, y in points)])


def add_point(text: object, px: object, py: object) -> str:
    """The point text with the plane point under pad pixel (px, py) added at the end."""
    points = read_rows(text)
    if len(points) >= MAX_POINTS:
        raise InputError(f"That is the most points a set can have ({MAX_POINTS:,}).")
    x, y = pixel_to_plane(px, py)
    return _lines(np.concatenate([points, [[x, y]]]))


def catch_up(text: object, last_edit: tuple[str, str] | None) -> object:
    """The point text a pad edit (a click, an undo, a clear) builds on.

    The browser sends the text it shows. Clicks come faster than answers: when the text sent
    is the very text the last edit started from, that edit's answer has not reached the
    browser yet, and building on the stale text would lose it; so the edit builds on the last
    edit's result instead. `last_edit` is (the text it started from, its result), kept per
    session by the tab; None before the first edit."""
    if last_edit is not None and text == last_edit[0]:
        return last_edit[1]
    return text


def undo_point(text: object) -> str:
    """The point text without its last point ('' once none is left)."""
    points = read_rows(text)[:-1]
    return _lines(points) if len(points) else ""


def pad_image(text: object) -> np.ndarray:
    """The pad: the plane's grid and axes with the points of `text` on it (PAD_PIXELS² RGB).
    Text that is not a valid point list yet (half typed) shows the empty plane."""
    try:
        points = read_rows(text)
    except InputError:
        points = np.zeros((0, 2))
    image = np.full((PAD_PIXELS, PAD_PIXELS, 3), _PAPER, dtype=np.uint8)
    ticks = plane_to_pixel(np.repeat(np.arange(-EXTENT, EXTENT + 0.5, 1.0)[:, None], 2, 1))
    for i, col in enumerate(np.round(ticks[:, 0]).astype(int).clip(0, PAD_PIXELS - 1)):
        colour = _AXES if i == len(ticks) // 2 else _GRID
        image[:, col] = colour
    for i, row in enumerate(np.round(ticks[:, 1]).astype(int).clip(0, PAD_PIXELS - 1)):
        colour = _AXES if i == len(ticks) // 2 else _GRID
        image[row, :] = colour
    rows, cols = np.mgrid[0:PAD_PIXELS, 0:PAD_PIXELS]
    for number, (cx, cy) in enumerate(plane_to_pixel(points)):
        if abs(points[number]).max() > EXTENT:
            continue  # typed beyond the plane shown (it still trains, scaled to fit)
        lo_r, hi_r = int(max(cy - DOT_RADIUS, 0)), int(min(cy + DOT_RADIUS + 1, PAD_PIXELS))
        lo_c, hi_c = int(max(cx - DOT_RADIUS, 0)), int(min(cx + DOT_RADIUS + 1, PAD_PIXELS))
        r, c = rows[lo_r:hi_r, lo_c:hi_c], cols[lo_r:hi_r, lo_c:hi_c]
        disc = (r - cy) ** 2 + (c - cx) ** 2 <= DOT_RADIUS**2
        colour = _NEWEST if number == len(points) - 1 else _DOT
        image[lo_r:hi_r, lo_c:hi_c][disc] = colour
    return image
