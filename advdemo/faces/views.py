"""What the latent-explorer tab shows, as plain functions (no Gradio): an edited face with its
read-outs, and lerp/slerp interpolation strips, plot and GIF.

Every public function here validates what a user (or an API client) sends — seeds, slider
offsets, frame counts — and raises advdemo.core.errors.InputError with a message that says
what is allowed; then it builds PIL images, plotly figures, small HTML read-outs and GIF
files from the face generator it is given. All frames of a strip come from one batched
forward pass. The sliders' directions (`Directions`) are computed once per generator by
`directions(generator)`; the tab keeps them (store.derived) and hands them in.
"""

from __future__ import annotations

import html
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from advdemo.core import errors, files, pictures
from advdemo.core.errors import InputError
from advdemo.faces import attributes as fa
from advdemo.faces import latent
from advdemo.faces.arithmetic import parse_code
from advdemo.models.wrappers import FaceGenerator

MAX_OFFSET = 10.0  # slider offsets in units of the prior's std along a unit direction
SLIDER_RANGE = 5.0  # what the UI's sliders show; the API allows up to MAX_OFFSET
FACE_SCALE = 6  # the big face: 64 px × 6 = 384 px, nearest-neighbour
STRIP_SCALE = 2  # strips and grids: 128 px per face
GIF_SCALE = 3  # the GIF: 192 px per face
STRIP_ROW = 16  # frames per strip row before it wraps
MIN_FRAMES, MAX_FRAMES = 2, 64
GIF_FRAME_MS = 90
GIF_KIND = "latent-gifs"  # core.files.output_dir(GIF_KIND): <tmp>/advdemo-latent-gifs
GIF_KEEP_SECONDS = 3600  # older GIFs are deleted when a new one is written
# The sliders in order: principal directions, then the named ones (the API names them so).
SLIDER_KEYS = tuple(f"pc{k}" for k in range(1, fa.N_PRINCIPAL + 1)) + fa.ATTRIBUTES

LERP_COLOUR, SLERP_COLOUR = "#d62728", "#1f77b4"


# --------------------------------------------------------------------------- validation


def check_seed(value: object, name: str = "Seed") -> int:
    return errors.seed(name, value)


def check_frames(value: object) -> int:
    return errors.whole("Number of frames", value, MIN_FRAMES, MAX_FRAMES)


# --------------------------------------------------------------------------- directions


@dataclass(frozen=True)
class Direction:
    """One slider: a unit vector in z with a label."""

    key: str  # stable id: "pc1".."pc10", or an attribute name
    label: str
    vector: Tensor
    named: bool  # an attribute direction (True) or a principal one (False)


@dataclass(frozen=True)
class Directions:
    """The sliders' directions for one generator, in SLIDER_KEYS order, with both matrices the
    face needs: as they are, and disentangled (each named direction with the other named
    ones projected out, so e.g. 'glasses' leaves the 'man' coordinate alone)."""

    items: tuple[Direction, ...]
    plain: Tensor  # (K, nz)
    disentangled: Tensor  # (K, nz)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def matrix(self, disentangle: bool) -> Tensor:
        """(K, nz) directions in slider order."""
        return self.disentangled if disentangle else self.plain


def directions(generator: FaceGenerator) -> Directions:
    """GANSpace principal directions first, then the named ones computed from `generator`."""
    pd = fa.principal_directions()
    items = []
    for k, (v, note, share) in enumerate(zip(pd.vectors, pd.notes, pd.explained, strict=True)):
        label = f"PC{k + 1} ({100 * float(share):.0f} %)"
        if note:
            label += f": {note}"
        items.append(Direction(f"pc{k + 1}", label, v, named=False))
    for name, vector in zip(fa.ATTRIBUTES, fa.attribute_directions(generator), strict=True):
        items.append(Direction(name, fa.TITLES[name], vector, named=True))
    plain = torch.stack([d.vector for d in items])
    disentangled = plain.clone()
    named = [i for i, d in enumerate(items) if d.named]
    for i in named:  # in turn, each against the others as they stand (earlier ones done)
        others = disentangled[[j for j in named if j != i]]
        disentangled[i] = latent.orthogonalize(items[i].vector, others)
    return Directions(tuple(items), plain, disentangled)


def check_offsets(dirs: Directions, values: Sequence[object]) -> Tensor:
    """Slider offsets, one per direction, each finite and within ±MAX_OFFSET."""
    if len(values) != len(dirs):
        raise InputError(f"Expected {len(dirs)} direction offsets, got {len(values)}.")
    return torch.tensor(
        [
            errors.finite(f"Offset along {d.key}", v, -MAX_OFFSET, MAX_OFFSET)
            for d, v in zip(dirs, values, strict=True)
        ]
    )


def start_code(generator: FaceGenerator, seed: object, code: object = None) -> Tensor:
    """The code (nz,) the explorer edits: `code` when one is given (a list of nz numbers, e.g.
    an uploaded face's found by inversion), else the seed's. An empty code means "none"."""
    if code is None or (isinstance(code, list | tuple | str) and len(code) == 0):
        return generator.sample_z(check_seed(seed), 1)[0]
    if isinstance(code, Tensor):
        code = code.detach().cpu().flatten().tolist()
    if not isinstance(code, list | tuple):
        raise InputError(
            f"The code must be a list of {generator.nz} numbers (or empty, to use the seed); "
            f"got {type(code).__name__}."
        )
    return parse_code(generator, "The code", code)


def edited_code(
    generator: FaceGenerator,
    dirs: Directions,
    seed: object,
    offsets: Sequence[object],
    disentangle: bool = False,
    code: object = None,
) -> Tensor:
    """The start code (the seed's, or `code`) moved along every slider direction by its
    offset."""
    z = start_code(generator, seed, code)
    off = check_offsets(dirs, offsets)
    return latent.apply_offsets(z, dirs.matrix(bool(disentangle)), off)


# --------------------------------------------------------------------------- the face


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


def face_view(
    generator: FaceGenerator,
    dirs: Directions,
    seed: object,
    offsets: Sequence[object],
    disentangle: bool = False,
    code: object = None,
) -> FaceView:
    """The explorer's face: seed (or `code`) + slider offsets -> big image and read-outs."""
    z = edited_code(generator, dirs, seed, offsets, disentangle, code)
    faces, features = fa.faces_and_features(generator, z[None])
    scores = {k: float(v[0]) for k, v in fa.scores_from_features(features).items()}
    return FaceView(
        image=pictures.upscale(faces[0], FACE_SCALE),
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
    for norms, name, colour in (
        (lerp_norms, "lerp (straight line)", LERP_COLOUR),
        (slerp_norms, "slerp (great circle)", SLERP_COLOUR),
    ):
        fig.add_trace(
            go.Scatter(
                x=t.tolist(),
                y=norms.tolist(),
                name=name,
                mode="lines+markers",
                line={"color": colour, "width": 3},
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


def write_gif(lerp_faces: Tensor, slerp_faces: Tensor, *, scale: int = GIF_SCALE) -> Path:
    """An animated GIF, lerp on the left and slerp on the right, playing there and back."""
    folder = files.output_dir(GIF_KIND)
    files.prune(folder, "*.gif", GIF_KEEP_SECONDS)
    side = lerp_faces.shape[-1] * scale
    head = 24
    frames = []
    for a, b in zip(lerp_faces, slerp_faces, strict=True):
        frame = Image.new("RGB", (2 * side + 4, side + head), "white")
        draw = ImageDraw.Draw(frame)
        pictures.draw_text(draw, (side / 2, 3), "lerp", 16, LERP_COLOUR)
        pictures.draw_text(draw, (side * 1.5 + 4, 3), "slerp", 16, SLERP_COLOUR)
        frame.paste(pictures.upscale(a, scale), (0, head))
        frame.paste(pictures.upscale(b, scale), (side + 4, head))
        # Our own fast palette per frame: PIL's default GIF quantiser is ~10× slower.
        frames.append(
            frame.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        )
    loop = frames + frames[-2:0:-1]  # ping-pong without repeating the end frames
    with tempfile.NamedTemporaryFile(
        dir=folder, prefix="interpolation-", suffix=".gif", delete=False
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
    generator: FaceGenerator,
    dirs: Directions,
    start_seed: object,
    end_seed: object,
    offsets: Sequence[object],
    disentangle: bool = False,
    code: object = None,
) -> tuple[Tensor, Tensor]:
    """Start = the explorer's face (seed or `code`, + slider edits), end = another seed's."""
    z0 = edited_code(generator, dirs, start_seed, offsets, disentangle, code)
    z1 = generator.sample_z(check_seed(end_seed, "End seed"), 1)[0]
    return z0, z1


def interpolation(
    generator: FaceGenerator, z0: Tensor, z1: Tensor, frames: object
) -> Interpolation:
    """Lerp and slerp from z0 to z1 in `frames` steps: both strips in ONE forward pass."""
    n = check_frames(frames)
    t = latent.fractions(n)
    zl, zs = latent.lerp(z0, z1, t), latent.slerp(z0, z1, t)
    faces = generator.generate(torch.cat([zl, zs]))  # (2n, 3, 64, 64)
    lerp_faces, slerp_faces = faces[:n], faces[n:]
    ln, sn = latent.norms(zl), latent.norms(zs)

    def captions(norms: Tensor) -> list[str]:  # every row of a wrapped strip keeps its own
        return [f"t={float(x):.2f}\n‖z‖={float(r):.1f}" for x, r in zip(t, norms, strict=True)]

    return Interpolation(
        lerp_strip=pictures.strip(lerp_faces, captions(ln), scale=STRIP_SCALE, row=STRIP_ROW),
        slerp_strip=pictures.strip(slerp_faces, captions(sn), scale=STRIP_SCALE, row=STRIP_ROW),
        norm_figure=norm_figure(t, ln, sn, z0.numel()),
        gif_path=write_gif(lerp_faces, slerp_faces),
        lerp_norms=ln,
        slerp_norms=sn,
    )
