"""What the latent-explorer and truncation tabs show, as plain functions (no Gradio).

Every public function here validates what a user (or an API client) sends — seeds, slider
offsets, frame counts, psi, tau — and raises advdemo.errors.InputError with a message that
says what is allowed; then it builds PIL images, plotly figures, small HTML read-outs and GIF
files from the face generator. All frames of a strip come from one batched forward pass.
"""

from __future__ import annotations

import html
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import plotly.graph_objects as go
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from advdemo import errors, inference, latent
from advdemo import face_attributes as fa
from advdemo.errors import InputError
from advdemo.images import to_pil

MAX_SEED = 2**32 - 1  # the same range the vector-arithmetic tab accepts
MAX_OFFSET = 10.0  # slider offsets in units of the prior's std along a unit direction
SLIDER_RANGE = 5.0  # what the UI's sliders show; the API allows up to MAX_OFFSET
FACE_SCALE = 6  # the big face: 64 px × 6 = 384 px, nearest-neighbour
STRIP_SCALE = 2  # strips and grids: 128 px per face
GIF_SCALE = 3  # the GIF: 192 px per face
STRIP_ROW = 16  # frames per strip row before it wraps
MIN_FRAMES, MAX_FRAMES = 2, 64
MIN_GRID, MAX_GRID = 4, 64
PSI_MIN, PSI_MAX = 0.0, 2.0
TAU_MIN, TAU_MAX = 0.05, 4.0
VARIANTS = ("scale", "resample")
PSI_SWEEP = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
TAU_SWEEP = (0.05, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0)
PSI_CURVE = tuple(round(0.1 * i, 2) for i in range(21))  # 0 .. 2
TAU_CURVE = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0)
GIF_FRAME_MS = 90
GIF_DIR = Path(tempfile.gettempdir()) / "advdemo-latent-gifs"
GIF_KEEP_SECONDS = 3600  # older GIFs are deleted when a new one is written

LERP_COLOUR, SLERP_COLOUR = "#d62728", "#1f77b4"


# --------------------------------------------------------------------------- validation


def check_seed(value: object, name: str = "Seed") -> int:
    return errors.whole(name, value, 0, MAX_SEED)


def check_frames(value: object) -> int:
    return errors.whole("Number of frames", value, MIN_FRAMES, MAX_FRAMES)


def check_grid(value: object) -> int:
    return errors.whole("Number of faces in the grid", value, MIN_GRID, MAX_GRID)


def check_psi(value: object) -> float:
    return errors.finite("psi (ψ)", value, PSI_MIN, PSI_MAX)


def check_tau(value: object) -> float:
    return errors.finite("tau (τ)", value, TAU_MIN, TAU_MAX)


def check_variant(value: object) -> str:
    return errors.choice("Truncation variant", value, VARIANTS)


# --------------------------------------------------------------------------- directions


@dataclass(frozen=True)
class Direction:
    """One slider: a unit vector in z with a label."""

    key: str  # stable id: "pc1".."pc10", or an attribute name
    label: str
    vector: Tensor
    named: bool  # an attribute direction (True) or a principal one (False)


def directions() -> list[Direction]:
    """The sliders' directions: GANSpace principal directions first, then the named ones."""
    pd = fa.principal_directions()
    out = []
    for k, (v, note, share) in enumerate(zip(pd.vectors, pd.notes, pd.explained, strict=True)):
        label = f"PC{k + 1} ({100 * float(share):.0f} %)"
        if note:
            label += f": {note}"
        out.append(Direction(f"pc{k + 1}", label, v, named=False))
    for name in fa.ATTRIBUTES:
        out.append(Direction(name, fa.TITLES[name], fa.attribute_direction(name), named=True))
    return out


def check_offsets(values: Sequence[object]) -> Tensor:
    """Slider offsets, one per direction, each finite and within ±MAX_OFFSET."""
    dirs = directions()
    if len(values) != len(dirs):
        raise InputError(f"Expected {len(dirs)} direction offsets, got {len(values)}.")
    return torch.tensor(
        [
            errors.finite(f"Offset along {d.key}", v, -MAX_OFFSET, MAX_OFFSET)
            for d, v in zip(dirs, values, strict=True)
        ]
    )


def direction_matrix(disentangle: bool) -> Tensor:
    """(K, nz) directions in slider order; with `disentangle`, each named direction has the
    other named directions projected out, so e.g. 'glasses' leaves the 'man' coordinate alone."""
    dirs = directions()
    vectors = torch.stack([d.vector for d in dirs])
    if not disentangle:
        return vectors
    named = [i for i, d in enumerate(dirs) if d.named]
    for i in named:
        others = vectors[[j for j in named if j != i]]
        vectors[i] = latent.orthogonalize(dirs[i].vector, others)
    return vectors


def edited_code(seed: object, offsets: Sequence[object], disentangle: bool = False) -> Tensor:
    """The code (nz,) of `seed` moved along every slider direction by its offset."""
    seed = check_seed(seed)
    off = check_offsets(offsets)
    z = inference.face_generator().sample_z(seed, 1)[0]
    return latent.apply_offsets(z, direction_matrix(bool(disentangle)), off)


# --------------------------------------------------------------------------- pictures


def upscale(face: Tensor, factor: int) -> Image.Image:
    """One face (3, H, W) in [0, 1] -> PIL image `factor`× larger, nearest-neighbour (each
    generated pixel becomes a factor×factor block: nothing is smoothed or invented)."""
    image = to_pil(face)
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


ASCII_FALLBACK = str.maketrans({"ψ": "psi", "τ": "tau", "‖": "|"})


@lru_cache(maxsize=4)
def _font(size: int) -> tuple[ImageFont.ImageFont | ImageFont.FreeTypeFont, bool]:
    """A caption font and whether it has Greek letters (DejaVu where installed; PIL's own
    font, captions spelled in ASCII, elsewhere)."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size), True
    except OSError:
        return ImageFont.load_default(size=size), False


def _text(
    draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int, colour: str = "black"
) -> None:
    font, greek = _font(size)
    draw.text(
        xy, text if greek else text.translate(ASCII_FALLBACK), fill=colour, font=font, anchor="ma"
    )


def strip(
    faces: Tensor,
    captions: Sequence[str] | None = None,
    *,
    scale: int = STRIP_SCALE,
    row: int = STRIP_ROW,
) -> Image.Image:
    """Faces (N, 3, H, W) side by side (wrapping after `row`), with optional captions under."""
    n = faces.shape[0]
    side = faces.shape[-1] * scale
    cols = min(n, row)
    rows = math.ceil(n / cols)
    caption_h = 4 + 18 * max(c.count("\n") + 1 for c in captions) if captions else 0
    sheet = Image.new("RGB", (cols * side, rows * (side + caption_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for i in range(n):
        r, c = divmod(i, cols)
        x, y = c * side, r * (side + caption_h)
        sheet.paste(upscale(faces[i], scale), (x, y))
        if captions:
            for j, line in enumerate(captions[i].split("\n")):
                _text(draw, (x + side / 2, y + side + 2 + 18 * j), line, 14)
    return sheet


def grid(faces: Tensor, *, scale: int = STRIP_SCALE) -> Image.Image:
    """Faces (N, 3, H, W) in a near-square grid."""
    cols = math.ceil(math.sqrt(faces.shape[0]))
    return strip(faces, scale=scale, row=cols)


def readout_html(scores: dict[str, float], z: Tensor) -> str:
    """Attribute probabilities as bars, and ‖z‖ against the prior's typical norm."""
    rows = []
    for name in fa.ATTRIBUTES:
        p = scores[name]
        rows.append(
            f'<div class="advdemo-readout-row"><span class="advdemo-readout-name">'
            f"P({html.escape(fa.READOUT[name])})</span>"
            f'<span class="advdemo-readout-bar"><span style="width:{100 * p:.1f}%"></span></span>'
            f'<span class="advdemo-readout-value">{p:.2f}</span></div>'
        )
    norm = float(z.norm())
    typical = latent.typical_norm(z.numel())
    rows.append(
        f'<div class="advdemo-readout-norm">‖z‖ = {norm:.2f} '
        f"(a random code has ‖z‖ ≈ √{z.numel()} = {typical:.0f})</div>"
    )
    return '<div class="advdemo-readout">' + "".join(rows) + "</div>"


@dataclass(frozen=True)
class FaceView:
    image: Image.Image  # FACE_SCALE× nearest-neighbour
    face: Tensor  # (3, 64, 64) in [0, 1]
    z: Tensor  # (nz,)
    scores: dict[str, float]
    readout: str  # HTML


def face_view(seed: object, offsets: Sequence[object], disentangle: bool = False) -> FaceView:
    """The explorer's face: seed + slider offsets -> big image and attribute read-outs."""
    z = edited_code(seed, offsets, disentangle)
    faces, features = fa.faces_and_features(z[None])
    scores = {k: float(v[0]) for k, v in fa.scores_from_features(features).items()}
    return FaceView(
        image=upscale(faces[0], FACE_SCALE),
        face=faces[0],
        z=z,
        scores=scores,
        readout=readout_html(scores, z),
    )


# --------------------------------------------------------------------------- interpolation


@dataclass(frozen=True)
class Interpolation:
    lerp_strip: Image.Image
    slerp_strip: Image.Image
    norm_figure: go.Figure
    gif_path: Path
    lerp_norms: Tensor  # (T,)
    slerp_norms: Tensor  # (T,)


def norm_figure(t: Tensor, lerp_norms: Tensor, slerp_norms: Tensor, nz: int) -> go.Figure:
    """‖z‖ along both paths, with the prior's typical norm √nz for reference."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=t.tolist(),
            y=lerp_norms.tolist(),
            name="lerp (straight line)",
            mode="lines+markers",
            line={"color": LERP_COLOUR, "width": 3},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=t.tolist(),
            y=slerp_norms.tolist(),
            name="slerp (great circle)",
            mode="lines+markers",
            line={"color": SLERP_COLOUR, "width": 3},
        )
    )
    typical = latent.typical_norm(nz)
    fig.add_hline(
        y=typical,
        line_dash="dot",
        line_color="grey",
        annotation_text=f"typical ‖z‖ = √{nz} = {typical:.0f}",
        annotation_position="top left",
    )
    top = max(float(lerp_norms.max()), float(slerp_norms.max()), typical) * 1.12
    fig.update_layout(
        title="‖z‖ along the path: the straight line dips toward the mean",
        xaxis_title="position along the path t",
        yaxis_title="‖z‖",
        yaxis_range=[0, top],
        height=330,
        margin={"l": 50, "r": 20, "t": 50, "b": 45},
        legend={"orientation": "h", "y": -0.25},
        template="plotly_white",
    )
    return fig


def _prune_gifs() -> None:
    cutoff = time.time() - GIF_KEEP_SECONDS
    for old in GIF_DIR.glob("*.gif"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except FileNotFoundError:  # another request pruned it first
            continue


def write_gif(lerp_faces: Tensor, slerp_faces: Tensor, *, scale: int = GIF_SCALE) -> Path:
    """An animated GIF, lerp on the left and slerp on the right, playing there and back."""
    GIF_DIR.mkdir(parents=True, exist_ok=True)
    _prune_gifs()
    side = lerp_faces.shape[-1] * scale
    head = 24
    frames = []
    for a, b in zip(lerp_faces, slerp_faces, strict=True):
        frame = Image.new("RGB", (2 * side + 4, side + head), "white")
        draw = ImageDraw.Draw(frame)
        _text(draw, (side / 2, 3), "lerp", 16, LERP_COLOUR)
        _text(draw, (side * 1.5 + 4, 3), "slerp", 16, SLERP_COLOUR)
        frame.paste(upscale(a, scale), (0, head))
        frame.paste(upscale(b, scale), (side + 4, head))
        # Our own fast palette per frame: PIL's default GIF quantiser is ~10× slower.
        frames.append(
            frame.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        )
    loop = frames + frames[-2:0:-1]  # ping-pong without repeating the end frames
    with tempfile.NamedTemporaryFile(
        dir=GIF_DIR, prefix="interpolation-", suffix=".gif", delete=False
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


def interpolation_codes(
    start_seed: object, end_seed: object, offsets: Sequence[object], disentangle: bool = False
) -> tuple[Tensor, Tensor]:
    """Start = the explorer's face (seed + slider edits), end = another seed's face."""
    z0 = edited_code(start_seed, offsets, disentangle)
    z1 = inference.face_generator().sample_z(check_seed(end_seed, "End seed"), 1)[0]
    return z0, z1


def interpolation(z0: Tensor, z1: Tensor, frames: object) -> Interpolation:
    """Lerp and slerp from z0 to z1 in `frames` steps: both strips in ONE forward pass."""
    n = check_frames(frames)
    t = latent.fractions(n)
    zl, zs = latent.lerp(z0, z1, t), latent.slerp(z0, z1, t)
    faces = inference.face_generator().generate(torch.cat([zl, zs]))  # (2n, 3, 64, 64)
    lerp_faces, slerp_faces = faces[:n], faces[n:]
    ln, sn = latent.norms(zl), latent.norms(zs)

    def captions(norms: Tensor) -> list[str] | None:
        if n > STRIP_ROW:  # too small to read; the plot carries the numbers
            return None
        return [f"t={float(x):.2f}\n‖z‖={float(r):.1f}" for x, r in zip(t, norms, strict=True)]

    return Interpolation(
        lerp_strip=strip(lerp_faces, captions(ln)),
        slerp_strip=strip(slerp_faces, captions(sn)),
        norm_figure=norm_figure(t, ln, sn, z0.numel()),
        gif_path=write_gif(lerp_faces, slerp_faces),
        lerp_norms=ln,
        slerp_norms=sn,
    )


# --------------------------------------------------------------------------- truncation


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


@lru_cache(maxsize=64)
def diversity_curve(variant: str, first: int, count: int) -> tuple[tuple[float, float], ...]:
    """(psi or tau, diversity of the grid) over the curve's values; one forward pass each.

    Cached: a pure function of its arguments (shared safely between users).
    """
    g = inference.face_generator()
    seeds = grid_seeds(first, count)
    z = torch.cat([g.sample_z(s, 1) for s in seeds])
    values = PSI_CURVE if variant == "scale" else TAU_CURVE
    batch = torch.cat([truncate(z, variant, v, seeds) for v in values])
    faces = g.generate(batch).view(len(values), count, 3, 64, 64)
    return tuple((v, latent.diversity(f)) for v, f in zip(values, faces, strict=True))


def diversity_figure(
    variant: str, first: int, count: int, current: float, current_diversity: float
) -> go.Figure:
    """Measured diversity of the grid against psi (or tau), the current setting marked."""
    curve = diversity_curve(variant, first, count)
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


@lru_cache(maxsize=64)
def untruncated_diversity(first: int, count: int) -> float:
    """Diversity of the grid's faces without truncation (cached: a pure function)."""
    g = inference.face_generator()
    return latent.diversity(
        g.generate(torch.cat([g.sample_z(s, 1) for s in grid_seeds(first, count)]))
    )


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


def _truncation_inputs(
    seed: object, variant: object, psi: object, tau: object, first_seed: object, count: object
) -> tuple[int, str, float, int, int]:
    seed = check_seed(seed)
    variant = check_variant(variant)
    psi, tau = check_psi(psi), check_tau(tau)
    first = check_seed(first_seed, "First seed of the grid")
    n = check_grid(count)
    return seed, variant, (psi if variant == "scale" else tau), first, n


def _grid_codes(variant: str, value: float, first: int, n: int) -> Tensor:
    g = inference.face_generator()
    seeds = grid_seeds(first, n)
    return truncate(torch.cat([g.sample_z(s, 1) for s in seeds]), variant, value, seeds)


def _grid(variant: str, value: float, first: int, grid_faces: Tensor) -> TruncationGrid:
    n = grid_faces.shape[0]
    symbol = "ψ" if variant == "scale" else "τ"
    div, base = latent.diversity(grid_faces), untruncated_diversity(first, n)
    summary = (
        f"**Diversity at {symbol} = {value:g}: {div:.3f}** "
        f"(the same {n} seeds untruncated: {base:.3f}, so {100 * div / base:.0f} % of it). "
        "Diversity = mean RMS pixel difference between every pair of faces in the grid."
    )
    return TruncationGrid(grid(grid_faces), div, base, summary)


def truncation_grid(
    seed: object, variant: object, psi: object, tau: object, first_seed: object, count: object
) -> TruncationGrid:
    """Only the grid at the chosen psi (or tau) and its diversity: what a drag redraws."""
    _, variant, value, first, n = _truncation_inputs(seed, variant, psi, tau, first_seed, count)
    faces = inference.face_generator().generate(_grid_codes(variant, value, first, n))
    return _grid(variant, value, first, faces)


def truncation_view(
    seed: object, variant: object, psi: object, tau: object, first_seed: object, count: object
) -> TruncationView:
    """The whole truncation tab: sweep strip, grid, diversity and its curve."""
    seed, variant, value, first, n = _truncation_inputs(seed, variant, psi, tau, first_seed, count)
    g = inference.face_generator()
    sweep_values = PSI_SWEEP if variant == "scale" else TAU_SWEEP
    z1 = g.sample_z(seed, 1)
    sweep_z = torch.cat([truncate(z1, variant, v, [seed]) for v in sweep_values])
    faces = g.generate(torch.cat([sweep_z, _grid_codes(variant, value, first, n)]))  # one pass
    k = len(sweep_values)
    part = _grid(variant, value, first, faces[k:])
    symbol = "ψ" if variant == "scale" else "τ"
    return TruncationView(
        grid=part.grid,
        diversity=part.diversity,
        baseline_diversity=part.baseline_diversity,
        summary=part.summary,
        sweep=strip(
            faces[:k],
            [
                f"{symbol}={v:g}\n‖z‖={float(r):.1f}"
                for v, r in zip(sweep_values, latent.norms(sweep_z), strict=True)
            ],
        ),
        figure=diversity_figure(variant, first, n, value, part.diversity),
    )
