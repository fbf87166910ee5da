"""What the truncation tab shows, as plain functions (no Gradio): one seed swept over psi (or
tau), a grid of many seeds at the chosen value, and its measured diversity against psi (tau).

Inputs are validated here (InputError says what is allowed). The diversity curve costs one
forward pass per point, so `DiversityCurves` keeps the recent ones for one generator; the tab
builds it once per model store (store.derived) and hands it in.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import plotly.graph_objects as go
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from advdemo.core import errors, files, pictures
from advdemo.core.errors import MAX_SEED
from advdemo.faces import latent
from advdemo.faces.attributes import seed_codes
from advdemo.faces.views import LERP_COLOUR, SLERP_COLOUR, STRIP_ROW, STRIP_SCALE, check_seed
from advdemo.models.wrappers import FaceGenerator

MIN_GRID, MAX_GRID = 4, 64
PSI_MIN, PSI_MAX = 0.0, 2.0
TAU_MIN, TAU_MAX = 0.05, 4.0
VARIANTS = ("scale", "resample")
PSI_SWEEP = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
TAU_SWEEP = (0.05, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0)
PSI_CURVE = tuple(round(0.1 * i, 2) for i in range(21))  # 0 .. 2
TAU_CURVE = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0)
CURVES_KEPT = 64  # recent (variant, first seed, count) curves a DiversityCurves keeps
# The sweep as an animation: ψ from 0 to 2 (τ from 0.05 to 4) in small steps, there and back.
GIF_PSI = tuple(round(0.05 * i, 2) for i in range(41))
GIF_TAU = tuple(round(0.05 + 0.1 * i, 2) for i in range(40))  # 0.05 … 3.95
GIF_SCALE = 3  # 192 px per face
GIF_FRAME_MS = 80
GIF_KIND = "truncation-gifs"  # core.files.output_dir(GIF_KIND)
GIF_KEEP_SECONDS = 3600  # older GIFs are deleted when a new one is written


def check_grid(value: object) -> int:
    return errors.whole("Number of faces in the grid", value, MIN_GRID, MAX_GRID)


def check_psi(value: object) -> float:
    return errors.finite("psi (ψ)", value, PSI_MIN, PSI_MAX)


def check_tau(value: object) -> float:
    return errors.finite("tau (τ)", value, TAU_MIN, TAU_MAX)


def check_variant(value: object) -> str:
    return errors.choice("Truncation variant", value, VARIANTS)


def truncate(z: Tensor, variant: str, value: float, seeds: Sequence[int]) -> Tensor:
    """Truncate codes (B, nz): 'scale' with psi = value, or 'resample' with tau = value
    (each row's resampling seeded by its own seed, so a face is the same on every call)."""
    if variant == "scale":
        return latent.truncate_scale(z, value)
    return torch.stack(
        [latent.truncate_resample(row, value, seed) for row, seed in zip(z, seeds, strict=True)]
    )


def grid_seeds(first: int, count: int) -> list[int]:
    return [(first + i) % (MAX_SEED + 1) for i in range(count)]


class DiversityCurves:
    """Measured diversity for one generator, the last CURVES_KEPT of each kind kept: pure
    functions of their arguments, so one instance is shared safely between users."""

    def __init__(self, generator: FaceGenerator) -> None:
        self.generator = generator
        self.curve = lru_cache(maxsize=CURVES_KEPT)(self._curve)
        self.untruncated = lru_cache(maxsize=CURVES_KEPT)(self._untruncated)

    def _curve(self, variant: str, first: int, count: int) -> tuple[tuple[float, float], ...]:
        """(psi or tau, diversity of the grid) over the curve's values; one forward pass."""
        seeds = grid_seeds(first, count)
        z = seed_codes(self.generator, seeds)
        values = PSI_CURVE if variant == "scale" else TAU_CURVE
        batch = torch.cat([truncate(z, variant, v, seeds) for v in values])
        faces = self.generator.generate(batch).view(len(values), count, 3, 64, 64)
        return tuple((v, latent.diversity(f)) for v, f in zip(values, faces, strict=True))

    def _untruncated(self, first: int, count: int) -> float:
        """Diversity of the grid's faces without truncation."""
        return latent.diversity(
            self.generator.generate(seed_codes(self.generator, grid_seeds(first, count)))
        )


def diversity_figure(
    curve: Sequence[tuple[float, float]], variant: str, current: float, current_diversity: float
) -> go.Figure:
    """Measured diversity of the grid against psi (or tau), the current setting marked."""
    xs, ys = [c[0] for c in curve], [c[1] for c in curve]
    symbol = "ψ" if variant == "scale" else "τ"
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines+markers",
            name="grid diversity",
            line={"color": SLERP_COLOUR, "width": 3},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[current],
            y=[current_diversity],
            mode="markers",
            name=f"now ({symbol}={current:g})",
            marker={"color": LERP_COLOUR, "size": 14, "symbol": "diamond"},
        )
    )
    if variant == "scale":
        fig.add_vline(
            x=1.0, line_dash="dot", line_color="grey", annotation_text="ψ = 1: no truncation"
        )
    title = (
        "Diversity vs ψ (z·ψ): 0 = every face the same"
        if variant == "scale"
        else "Diversity vs τ (resample |z_i| > τ): 0 = every face the same"
    )
    fig.update_layout(
        title=title,
        xaxis_title=symbol,
        yaxis_title="mean pairwise RMS pixel distance",
        yaxis_rangemode="tozero",
        height=330,
        margin={"l": 55, "r": 20, "t": 50, "b": 45},
        template="plotly_white",
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


@dataclass(frozen=True)
class TruncationGrid:
    grid: Image.Image  # many seeds at the chosen value
    diversity: float
    baseline_diversity: float  # the same grid without truncation
    summary: str  # Markdown


@dataclass(frozen=True)
class TruncationView(TruncationGrid):
    sweep: Image.Image  # one seed across psi (or tau)
    figure: go.Figure


@dataclass(frozen=True)
class Settings:
    """Checked settings of one truncation view (truncation_settings makes them)."""

    seed: int  # the one swept over psi (or tau)
    variant: str  # "scale" or "resample"
    value: float  # psi for "scale", tau for "resample"
    first: int  # the grid's first seed
    count: int  # faces in the grid


def truncation_settings(
    seed: object, variant: object, psi: object, tau: object, first_seed: object, count: object
) -> Settings:
    """The tab's values checked, in the order users see the messages."""
    seed = check_seed(seed)
    variant = check_variant(variant)
    psi, tau = check_psi(psi), check_tau(tau)
    first = check_seed(first_seed, "First seed of the grid")
    n = check_grid(count)
    return Settings(seed, variant, (psi if variant == "scale" else tau), first, n)


def _grid_codes(generator: FaceGenerator, s: Settings) -> Tensor:
    seeds = grid_seeds(s.first, s.count)
    return truncate(seed_codes(generator, seeds), s.variant, s.value, seeds)


def _grid(curves: DiversityCurves, s: Settings, grid_faces: Tensor) -> TruncationGrid:
    symbol = "ψ" if s.variant == "scale" else "τ"
    div, base = latent.diversity(grid_faces), curves.untruncated(s.first, s.count)
    summary = (
        f"**Diversity at {symbol} = {s.value:g}: {div:.3f}** "
        f"(the same {s.count} seeds untruncated: {base:.3f}, so {100 * div / base:.0f} % of it). "
        "Diversity = mean RMS pixel difference between every pair of faces in the grid."
    )
    return TruncationGrid(pictures.square_grid(grid_faces, scale=STRIP_SCALE), div, base, summary)


def truncation_grid(
    generator: FaceGenerator, s: Settings, *, curves: DiversityCurves | None = None
) -> TruncationGrid:
    """Only the grid at the chosen psi (or tau) and its diversity: what a drag redraws.
    `curves`: the generator's kept measurements (a fresh, empty one if not given)."""
    faces = generator.generate(_grid_codes(generator, s))
    return _grid(curves or DiversityCurves(generator), s, faces)


def truncation_view(
    generator: FaceGenerator, s: Settings, *, curves: DiversityCurves | None = None
) -> TruncationView:
    """The whole truncation tab: sweep strip, grid, diversity and its curve, in one forward
    pass. `curves`: as truncation_grid's."""
    curves = curves or DiversityCurves(generator)
    sweep_values = PSI_SWEEP if s.variant == "scale" else TAU_SWEEP
    z1 = generator.sample_z(s.seed, 1)
    sweep_z = torch.cat([truncate(z1, s.variant, v, [s.seed]) for v in sweep_values])
    faces = generator.generate(torch.cat([sweep_z, _grid_codes(generator, s)]))
    k = len(sweep_values)
    part = _grid(curves, s, faces[k:])
    symbol = "ψ" if s.variant == "scale" else "τ"
    captions = [
        f"{symbol}={v:g}\n‖z‖={float(r):.1f}"
        for v, r in zip(sweep_values, latent.norms(sweep_z), strict=True)
    ]
    figure = diversity_figure(
        curves.curve(s.variant, s.first, s.count), s.variant, s.value, part.diversity
    )
    return TruncationView(
        grid=part.grid,
        diversity=part.diversity,
        baseline_diversity=part.baseline_diversity,
        summary=part.summary,
        sweep=pictures.strip(faces[:k], captions, scale=STRIP_SCALE, row=STRIP_ROW),
        figure=figure,
    )


# --------------------------------------------------------------------------- the sweep as a GIF


def gif_values(variant: str) -> tuple[float, ...]:
    return GIF_PSI if check_variant(variant) == "scale" else GIF_TAU


def _gif_frame(face: Tensor, symbol: str, value: float, norm: float, lo: float, hi: float):
    """One frame: the face, its ψ (τ) and ‖z‖ above it, and a bar showing where ψ (τ) is."""
    side = face.shape[-1] * GIF_SCALE
    head, bar = 26, 14
    frame = Image.new("RGB", (side, head + side + bar), "white")
    draw = ImageDraw.Draw(frame)
    pictures.draw_text(draw, (side / 2, 4), f"{symbol} = {value:.2f}   ‖z‖ = {norm:.1f}", 15)
    frame.paste(pictures.upscale(face, GIF_SCALE), (0, head))
    top = head + side + 4
    draw.rectangle((4, top, side - 4, top + 5), fill="#e5e8ef")
    x = 4 + (side - 8) * (value - lo) / (hi - lo)
    draw.rectangle((4, top, x, top + 5), fill=SLERP_COLOUR)
    if symbol == "ψ":  # where nothing is truncated
        one = 4 + (side - 8) * (1.0 - lo) / (hi - lo)
        draw.line((one, top - 2, one, top + 7), fill="#555555", width=2)
    # Our own fast palette per frame: PIL's default GIF quantiser is ~10× slower.
    return frame.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)


def sweep_gif(generator: FaceGenerator, seed: object, variant: object) -> Path:
    """One seed swept over ψ from 0 to 2 (variant "scale") or τ from 0.05 to 3.95
    ("resample") as an animated GIF that plays there and back; returns its path (in the temp
    folder for truncation GIFs, where ones older than an hour are deleted)."""
    seed, variant = check_seed(seed), check_variant(variant)
    values = gif_values(variant)
    z1 = generator.sample_z(seed, 1)
    codes = torch.cat([truncate(z1, variant, v, [seed]) for v in values])
    faces = generator.generate(codes)
    symbol = "ψ" if variant == "scale" else "τ"
    lo, hi = values[0], values[-1]
    frames = [
        _gif_frame(face, symbol, v, float(n), lo, hi)
        for face, v, n in zip(faces, values, latent.norms(codes), strict=True)
    ]
    loop = frames + frames[-2:0:-1]  # ping-pong without repeating the end frames
    folder = files.output_dir(GIF_KIND)
    files.prune(folder, "*.gif", GIF_KEEP_SECONDS)
    with tempfile.NamedTemporaryFile(
        dir=folder, prefix=f"truncation-{variant}-{seed}-", suffix=".gif", delete=False
    ) as f:
        loop[0].save(
            f,
            format="GIF",
            save_all=True,
            append_images=loop[1:],
            duration=GIF_FRAME_MS,
            loop=0,
            optimize=False,
        )
        return Path(f.name)
