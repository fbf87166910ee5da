"""The live pictures of a 2-D GAN run, drawn straight into pixels with numpy and Pillow: the
plane (D's heat map with its colour bar, real and generated samples, G's gradient arrows, the
manifold, a legend) and the curves per step (modes covered, high-quality share, losses).

Why pixels and not plotly: while a run plays, a frame is drawn ~12 times a second. Measured
on this 2-core machine (benchmarks/bench_gan2d_browser.py), Chromium spent 400-1100 ms of CPU
re-rendering each frame's plotly figures (0.45 frames/s drawn); one picture per plane costs
the browser a decode of ~100 kB and the server ~10 ms here (numpy, Pillow, JPEG).
Pure functions of `plots.Snapshot`s and trainers' histories; no Gradio.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import itertools
import math
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path

import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageFont

from advdemo.gan2d import losses
from advdemo.gan2d.data import EXTENT
from advdemo.gan2d.plots import ARROW, COLOURS, FAKE, MANIFOLD, REAL, Snapshot, binned, snapshot
from advdemo.gan2d.trainer import Gan2dTrainer
from advdemo.models.runtime import single_thread

WIDTH = 540  # of either picture, in pixels; the page scales it to its column
HEIGHT = 580
PLOT = 410  # side of the plane's square
LEFT, TOP = 40, 58  # the square's top-left corner
INK = (42, 47, 58)
GRID = (229, 232, 239)
FRAME = (154, 160, 171)
HEAT_OPACITY = 0.55  # D's map is blended into white so the samples stay readable on it
# Diverging, white in the middle (ColorBrewer RdBu): blue low (fake), red high (real).
HEAT_STOPS = ((0.0, (33, 102, 172)), (0.25, (103, 169, 207)), (0.5, (247, 247, 247)),
              (0.75, (239, 138, 98)), (1.0, (178, 24, 43)))  # fmt: skip
JPEG_QUALITY = 85  # ~100 kB for a busy plane; dots and text stay crisp at this quality
FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
)


@functools.lru_cache(maxsize=8)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans where the system has it (Greek letters, arrows), else Pillow's own font."""
    for path in FONT_FILES:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=1)
def heat_palette() -> np.ndarray:
    """(256, 3) uint8: the heat map's colours, already blended into white."""
    t = np.linspace(0.0, 1.0, 256)
    stops = np.array([s for s, _ in HEAT_STOPS])
    rgb = np.array([c for _, c in HEAT_STOPS], dtype=np.float64)
    colours = np.stack([np.interp(t, stops, rgb[:, i]) for i in range(3)], 1)
    blended = HEAT_OPACITY * colours + (1 - HEAT_OPACITY) * 255.0
    return np.round(blended).astype(np.uint8)


def heat_kind(snap: Snapshot) -> str:
    """What D's output over the plane is: "probability" (D(x) in [0, 1]), "error" (BEGAN's
    autoencoder: its reconstruction error, low where D takes x for real) or "score"."""
    if snap.probability:
        return "probability"
    return "error" if snap.loss == "began" else "score"


def heat_range(snap: Snapshot) -> tuple[np.ndarray, float, float]:
    """(D's output with non-finite values at the middle, the value at the scale's fake end,
    the value at its real end): [0, 1] for a probability, else the median ± the largest
    distance from it, the ends swapped for an error (low error means "real")."""
    finite = np.isfinite(snap.heat)
    values = np.where(finite, snap.heat, 0.0) if finite.any() else np.zeros_like(snap.heat)
    if snap.probability:
        return np.where(finite, values, 0.5), 0.0, 1.0
    middle = float(np.median(values[finite])) if finite.any() else 0.0
    spread = float(np.abs(values - middle).max()) or 1.0
    low, high = middle - spread, middle + spread
    fake_end, real_end = (high, low) if heat_kind(snap) == "error" else (low, high)
    return np.where(finite, values, middle), fake_end, real_end


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values between lo and hi (about `count` of them)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or abs(value) < 1e-2:
        return f"{value:.1e}"
    return f"{value:.3g}"


def _to_pixels(xy: np.ndarray, left: float = LEFT, top: float = TOP) -> np.ndarray:
    """Plane coordinates → pixels (of the picture, or of the square with left = top = 0);
    y grows upwards on the plane."""
    scale = PLOT / (2 * EXTENT)
    px = left + (xy[..., 0] + EXTENT) * scale
    py = top + (EXTENT - xy[..., 1]) * scale
    return np.stack([px, py], -1)


def _rgb(colour: str) -> tuple[int, int, int]:
    return ImageColor.getrgb(colour)[:3]


@functools.lru_cache(maxsize=4)
def _disc(radius: float) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) offsets of the pixels of a disc of `radius` around a pixel."""
    r = math.ceil(radius)
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    inside = dy**2 + dx**2 <= radius**2
    return dy[inside], dx[inside]


def _dots(pixels: np.ndarray, points: np.ndarray, radius: float, colour) -> None:
    """Stamp a disc of `colour` at every point into `pixels` (the square, H × W × 3), in one
    numpy assignment: 300 Pillow ellipses took ~4 ms here, this well under one."""
    centres = np.rint(_to_pixels(points[np.isfinite(points).all(1)], 0, 0)).astype(np.int64)
    dy, dx = _disc(radius)
    rows, cols = centres[:, 1, None] + dy, centres[:, 0, None] + dx
    inside = (rows >= 0) & (rows < pixels.shape[0]) & (cols >= 0) & (cols < pixels.shape[1])
    pixels[rows[inside], cols[inside]] = colour


def _arrows(draw: ImageDraw.ImageDraw, starts: np.ndarray, push: np.ndarray) -> None:
    """A segment from each sample along G's push, with a small head at its end."""
    a, b = _to_pixels(starts, 0, 0), _to_pixels(starts + push, 0, 0)
    colour = _rgb(ARROW)
    for (x0, y0), (x1, y1) in zip(a.tolist(), b.tolist(), strict=True):
        if not all(map(math.isfinite, (x0, y0, x1, y1))):
            continue
        length = math.hypot(x1 - x0, y1 - y0)
        if length < 4:  # too short for a head (none at all when G's gradient vanishes there)
            if length >= 1:
                draw.line((x0, y0, x1, y1), fill=colour, width=2)
            continue
        ux, uy = (x1 - x0) / length, (y1 - y0) / length
        barbs = [  # two barbs at ±30° from the shaft
            (x1 - 6 * (ux * 0.866 - side * uy * 0.5), y1 - 6 * (uy * 0.866 + side * ux * 0.5))
            for side in (1, -1)
        ]
        draw.line([(x0, y0), (x1, y1), barbs[0]], fill=colour, width=2)
        draw.line([(x1, y1), barbs[1]], fill=colour, width=2)


def _manifold(draw: ImageDraw.ImageDraw, lines: np.ndarray) -> None:
    colour = (*_rgb(MANIFOLD), 120)
    for line in _to_pixels(lines, 0, 0):
        if np.isfinite(line).all():
            draw.line([tuple(p) for p in line.tolist()], fill=colour, width=1)


def _ticks() -> list[tuple[int, float]]:
    """(value, pixel offset in the square) of the plane's whole-number ticks."""
    values = range(-math.floor(EXTENT), math.floor(EXTENT) + 1)
    return [(v, (v + EXTENT) * PLOT / (2 * EXTENT)) for v in values]


def _axes(draw: ImageDraw.ImageDraw) -> None:
    small = font(15)
    for v, offset in _ticks():
        x, y = LEFT + offset, TOP + PLOT - offset
        draw.line((x, TOP + PLOT, x, TOP + PLOT + 4), fill=FRAME)
        draw.text((x, TOP + PLOT + 6), str(v), fill=INK, font=small, anchor="mt")
        draw.line((LEFT - 4, y, LEFT, y), fill=FRAME)
        draw.text((LEFT - 7, y), str(v), fill=INK, font=small, anchor="rm")


BAR_LEFT, BAR_RIGHT = LEFT + PLOT + 16, LEFT + PLOT + 30


def _bar_ticks(draw: ImageDraw.ImageDraw, lo: float, hi: float) -> None:
    """Values along the bar: `lo` at its foot (fake), `hi` at its head (real); lo > hi for an
    error, which is read from the top down."""
    for v in nice_ticks(min(lo, hi), max(lo, hi), 4):
        y = TOP + (hi - v) / (hi - lo) * PLOT
        draw.line((BAR_RIGHT, y, BAR_RIGHT + 4, y), fill=FRAME)
        draw.text((BAR_RIGHT + 6, y), _label(v), fill=INK, font=font(15), anchor="lm")


def _colour_bar(image: Image.Image, draw: ImageDraw.ImageDraw, kind: str) -> None:
    """The heat map's key: the colours from low (fake) to high (real)."""
    column = heat_palette()[np.linspace(255, 0, PLOT).round().astype(int)]
    strip = np.repeat(column[:, None, :], BAR_RIGHT - BAR_LEFT, 1)
    image.paste(Image.fromarray(strip, "RGB"), (BAR_LEFT, TOP))
    draw.rectangle((BAR_LEFT, TOP, BAR_RIGHT, TOP + PLOT), outline=FRAME)
    small = font(15)
    # above the bar its name and "real", under it "fake": clear of the ticks' values
    draw.text((BAR_LEFT - 2, TOP - 22), BAR_NAMES[kind], fill=INK, font=small, anchor="ld")
    draw.text((BAR_LEFT - 2, TOP - 4), "real", fill=HEAT_STOPS[-1][1], font=small, anchor="ld")
    draw.text((BAR_LEFT - 2, TOP + PLOT + 6), "fake", fill=HEAT_STOPS[0][1], font=small,
              anchor="lt")  # fmt: skip
    if kind == "probability":
        _bar_ticks(draw, 0.0, 1.0)


LEGEND = (
    ("dot", REAL, "real data"),
    ("dot", FAKE, "generated G(z)"),
    ("arrow", ARROW, "G's gradient: where its loss moves a sample"),
    ("line", MANIFOLD, "G's manifold: a grid of z through G"),
)
KEYS = {  # the heat map's line under the title, by what D's output is (heat_kind)
    "probability": "heat map: D(x), D's probability that x is real",
    "score": "heat map: D's score (high: D says real, low: fake)",
    "error": "heat map: D's error ‖x − AE(x)‖₁ (low: D says real)",
}
BAR_NAMES = {"probability": "D(x)", "score": "D's score", "error": "D's error"}


def _legend(draw: ImageDraw.ImageDraw, top: int) -> None:
    text = font(16)
    x, y = LEFT, top
    for kind, colour, label in LEGEND:
        width = 22 + draw.textlength(label, font=text) + 18
        if x + width > WIDTH - 8:
            x, y = LEFT, y + 22
        if kind == "dot":
            draw.ellipse((x + 5, y + 4, x + 13, y + 12), fill=colour, outline="white")
        else:
            draw.line((x, y + 8, x + 16, y + 8), fill=colour, width=2)
            if kind == "arrow":
                draw.line((x + 16, y + 8, x + 10, y + 4), fill=colour, width=2)
                draw.line((x + 16, y + 8, x + 10, y + 12), fill=colour, width=2)
        draw.text((x + 22, y + 8), label, fill=INK, font=text, anchor="lm")
        x += width


@functools.lru_cache(maxsize=len(KEYS))
def _plane_template(kind: str) -> Image.Image:
    """What every frame shares: axes and their labels, the colour bar, the key and the
    legend (text is most of a picture's cost, so it is drawn once)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    _axes(draw)
    _colour_bar(image, draw, kind)
    draw.text((8, 32), KEYS[kind], fill=INK, font=font(15), anchor="la")
    _legend(draw, TOP + PLOT + 28)
    return image


def plane_headline(snap: Snapshot, title: str = "") -> str:
    if snap.diverged:
        return f"{title}step {snap.step:,}: diverged"
    return (
        f"{title}step {snap.step:,} · {snap.covered} of {snap.modes} modes · "
        f"{100 * snap.quality:.0f}% high quality"
    )


def plane_image(snap: Snapshot, title: str = "") -> Image.Image:
    """The plane as a WIDTH × HEIGHT picture: title, D's heat map and its colour bar, the
    manifold, real and generated samples, G's arrows, axes and a legend."""
    values, lo, hi = heat_range(snap)
    levels = np.clip((values - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)
    heat = Image.fromarray(heat_palette()[np.flipud(levels)], "RGB")  # row 0 = top = y max
    square = heat.resize((PLOT, PLOT), Image.Resampling.BILINEAR)  # what lies outside is cut
    draw = ImageDraw.Draw(square, "RGBA")
    for _, offset in _ticks():  # a light grid
        draw.line((offset, 0, offset, PLOT), fill=(255, 255, 255, 70))
        draw.line((0, offset, PLOT, offset), fill=(255, 255, 255, 70))
    _manifold(draw, snap.manifold)
    pixels = np.array(square)
    _dots(pixels, snap.real, 2.2, _rgb(REAL))
    _dots(pixels, snap.fake, 4.2, (255, 255, 255))  # a white rim, then the orange dot
    _dots(pixels, snap.fake, 3.2, _rgb(FAKE))
    square = Image.fromarray(pixels, "RGB")
    _arrows(ImageDraw.Draw(square), snap.fake[: len(snap.push)], snap.push)
    image = _plane_template(heat_kind(snap)).copy()
    image.paste(square, (LEFT, TOP))
    draw = ImageDraw.Draw(image)
    draw.rectangle((LEFT, TOP, LEFT + PLOT, TOP + PLOT), outline=FRAME)
    if not snap.probability:
        _bar_ticks(draw, lo, hi)
    draw.text((8, 7), plane_headline(snap, title), fill=INK, font=font(19), anchor="la")
    return image


# --- the curves ---------------------------------------------------------------------------------

PANELS = (  # (history column, title, scale) top to bottom; losses share the last panel
    ((2,), "modes covered", 1.0),
    ((3,), "high-quality share (%)", 100.0),
    ((0, 1), "losses: L_D solid, L_G dashed", 1.0),
)
DASH = 5.0
PANEL_LEFT, PANEL_RIGHT, PANEL_TOP, PANEL_H, PANEL_GAP = 56, WIDTH - 14, 66, 126, 44


def _polyline(draw, points: list[tuple[float, float]], colour, dashed: bool) -> None:
    if len(points) == 1:
        x, y = points[0]
        draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=colour)
    elif not dashed:
        draw.line(points, fill=colour, width=2, joint="curve")
    else:  # dashes of DASH px, gaps as long, along the path
        gone = 0.0  # length of path behind the segment's start
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            length = math.hypot(x1 - x0, y1 - y0)
            at = 0.0
            while at < length:
                step = min(DASH - (gone + at) % DASH, length - at)
                if int((gone + at) // DASH) % 2 == 0:
                    a, b = at / length, (at + step) / length
                    dx, dy = x1 - x0, y1 - y0
                    draw.line(
                        (x0 + a * dx, y0 + a * dy, x0 + b * dx, y0 + b * dy), fill=colour, width=2
                    )
                at += step
            gone += length


def _lines(draw, x: np.ndarray, y: np.ndarray, box, span, colour, dashed: bool) -> None:
    """Draw y(x) in `box` (left, top, right, bottom) for x in [0, steps], y in span; NaN
    and infinite values break the line."""
    left, top, right, bottom = box
    (steps, lo, hi) = span
    px = left + x / steps * (right - left)
    py = bottom - (np.clip(y, lo, hi) - lo) / (hi - lo) * (bottom - top)
    run: list[tuple[float, float]] = []
    for a, b, ok in zip(px.tolist(), py.tolist(), np.isfinite(y).tolist(), strict=True):
        if ok:
            run.append((a, b))
        elif run:
            _polyline(draw, run, colour, dashed)
            run = []
    if run:
        _polyline(draw, run, colour, dashed)


def _span(series: list[np.ndarray], scale: float, column: int, modes: int):
    if column == 2:
        return -0.3, modes + 0.5
    if column == 3:
        return -3.0, 103.0
    finite = np.concatenate([s[np.isfinite(s)] for s in series]) if series else np.zeros(0)
    if not finite.size:
        return -1.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    pad = 0.08 * (hi - lo) or max(abs(hi) * 0.1, 0.5)
    return lo - pad, hi + pad


def curves_image(runs: list[tuple[str, Gan2dTrainer]]) -> Image.Image:
    """Per step: modes covered, high-quality share and both losses, one colour per run (a
    race draws both); long runs averaged into bins (plots.binned)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    modes = max(t.data.modes for _, t in runs)
    steps = max(max(t.steps_done for _, t in runs), 10)
    small, text = font(15), font(16)
    x = PANEL_LEFT  # legend: one entry per run
    for i, (name, t) in enumerate(runs):
        colour = COLOURS[i % len(COLOURS)]
        label = f"run {name}" if len(runs) > 1 else "run"
        label += f": {losses.loss_info(t.config.loss).label.split(' (')[0]}"
        draw.line((x, 20, x + 22, 20), fill=colour, width=3)
        draw.text((x + 28, 20), label, fill=INK, font=text, anchor="lm")
        x += 28 + draw.textlength(label, font=text) + 24
    histories = [(COLOURS[i % len(COLOURS)], t.history) for i, (_, t) in enumerate(runs)]
    for p, (columns, title, scale) in enumerate(PANELS):
        top = PANEL_TOP + p * (PANEL_H + PANEL_GAP)
        box = (PANEL_LEFT, top, PANEL_RIGHT, top + PANEL_H)
        series = [(c, col, *binned(h[:, col] * scale)) for c, h in histories for col in columns]
        lo, hi = _span([y for *_, y in series], scale, columns[0], modes)
        ticks = nice_ticks(lo, hi, 3)
        if columns[0] == 2:
            ticks = sorted({0, modes // 2, modes}) if modes > 4 else list(range(modes + 1))
        for v in ticks:
            y = box[3] - (v - lo) / (hi - lo) * PANEL_H
            draw.line((box[0], y, box[2], y), fill=GRID)
            draw.text((box[0] - 6, y), _label(v), fill=INK, font=small, anchor="rm")
        heading = f"{title} (of {modes})" if columns[0] == 2 else title
        draw.text((box[0], top - 6), heading, fill=INK, font=text, anchor="ld")
        for colour, column, xs, ys in series:
            _lines(draw, xs, ys, box, (steps, lo, hi), colour, dashed=column == 1)
        draw.rectangle(box, outline=FRAME)
    bottom = PANEL_TOP + 2 * (PANEL_H + PANEL_GAP) + PANEL_H
    for v in nice_ticks(0, steps, 5):
        px = PANEL_LEFT + v / steps * (PANEL_RIGHT - PANEL_LEFT)
        draw.line((px, bottom, px, bottom + 4), fill=FRAME)
        draw.text((px, bottom + 6), f"{v:,.0f}", fill=INK, font=small, anchor="mt")
    draw.text(((PANEL_LEFT + PANEL_RIGHT) / 2, bottom + 26), "step", fill=INK, font=text,
              anchor="mt")  # fmt: skip
    return image


# --- into the page ------------------------------------------------------------------------------


def encode(image: Image.Image) -> bytes:
    """JPEG bytes of a picture: without chroma subsampling, so the small coloured dots keep
    their colour. Measured here on a busy plane: JPEG 4-5 ms and ~100 kB, WebP (method 0)
    ~23 ms for ~75 kB, PNG 30 ms and 165 kB (64 colours: 12 ms, 45 kB, banded heat map)."""
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, subsampling=0)
    return out.getvalue()


def picture_html(
    image: Image.Image, alt: str, step: int, kind: str, data: dict[str, str] | None = None
) -> str:
    """An <img> holding the picture inline (no file, no second request per frame); its data
    attributes (step, kind and `data`) let a page (and the benchmark) tell frames apart."""
    encoded = base64.b64encode(encode(image)).decode("ascii")
    extra = "".join(f' data-{k}="{html.escape(v)}"' for k, v in (data or {}).items())
    return (
        f'<img class="gan-lab-picture" src="data:image/jpeg;base64,{encoded}" '
        f'width="{image.width}" height="{image.height}" alt="{html.escape(alt)}" '
        f'data-step="{step}" data-kind="{kind}"{extra}>'
    )


# --- a frame's pictures -------------------------------------------------------------------------

CURVES_ALT = "modes covered, high-quality share and losses per step"


def plane_html(t: Gan2dTrainer, title: str, marks: dict[str, str] | None = None) -> str:
    """One run's plane as <img> HTML: read under the run's lock, drawn on one thread."""
    with single_thread():
        with t.lock:
            snap = snapshot(t)
        alt = f"{plane_headline(snap, title)}: the plane"
        return picture_html(plane_image(snap, title), alt, snap.step, "plane", marks)


def frame_html(
    runs: Sequence[tuple[str, Gan2dTrainer]],
    steps_done: int,
    marks: dict[str, str] | None = None,
    curves: bool = True,
    pool: Executor | None = None,
) -> tuple[str, str | None, str | None]:
    """(plane A, plane B or None, curves or None) as <img> HTML for [(name, trainer)], the
    curves only if `curves`; in a race with a `pool`, plane B is drawn there meanwhile."""
    titled = [(t, f"{name}: " if len(runs) > 1 else "") for name, t in runs]
    plane_b = pool.submit(plane_html, *titled[1], marks) if pool and len(titled) > 1 else None
    planes = [plane_html(t, title, marks) for t, title in titled[: 1 if plane_b else None]]
    drawn = None
    if curves:
        with single_thread():
            drawn = picture_html(curves_image(list(runs)), CURVES_ALT, steps_done, "curves")
    if plane_b is not None:
        planes.append(plane_b.result())
    return planes[0], (planes[1] if len(planes) > 1 else None), drawn
