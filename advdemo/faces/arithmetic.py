"""Vector arithmetic on the face GAN's codes: A − B + C on averaged exemplars, and its pictures.

The DCGAN paper's "man with glasses − man + woman = woman with glasses": average the codes of
a few exemplars per concept, add and subtract the averages, decode the result, and show it
with small noise added so one sees a neighbourhood, not one lucky point. Everything here is a
function of codes (seeds or explicit vectors), tensors, PIL images and the face generator
passed in; no Gradio. GAN inversion (finding the code of an upload) is advdemo.faces.inversion.

Codes are given per slot as a list whose items are either a seed (an int: the code is
`generator.sample_z(seed)`) or an explicit code (a list of `nz` finite numbers, e.g. one
found by inversion).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral, Real

import torch
from PIL import Image, ImageDraw
from torch import Tensor

from advdemo.core import errors, pictures
from advdemo.core.errors import MAX_SEED, InputError
from advdemo.core.images import to_pil
from advdemo.core.presets import Preset, by_key
from advdemo.faces import attributes
from advdemo.faces.attributes import seed_codes
from advdemo.faces.latent import typical_norm
from advdemo.models.wrappers import FaceGenerator

MAX_PICKS = 8  # per slot: enough to average out identity, few enough to see every pick
MAX_CODE_ENTRY = 10.0  # N(0, 1) entries beyond ±6 never occur; ±10 leaves room for edits
MAX_NOISE = 2.0
GRID = 3  # the noise grid is GRID × GRID, the exact result in the centre
MAX_SINGLE_ROWS = 4  # single-pick equations drawn; more rows would only repeat the point

SLOT_NAMES = ("A", "B", "C")
SLOT_SIGNS = ("+", "−", "+")  # A − B + C, as the pictures and labels write it


# --------------------------------------------------------------------------- codes


def _is_number(v: object) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def parse_item(generator: FaceGenerator, slot: str, index: int, item: object) -> Tensor:
    """One pick -> its code (nz,). An int-valued number is a seed (its code is the generator's
    own sample_z); a list of nz numbers is a code."""
    where = f"Slot {slot}, pick {index + 1}"
    nz = generator.nz
    if isinstance(item, Tensor):
        item = item.detach().cpu().flatten().tolist()
    if _is_number(item) or isinstance(item, str):
        seed = errors.seed(f"{where} (a seed)", item)
        return generator.sample_z(seed, 1)[0]
    if isinstance(item, list | tuple):
        return parse_code(generator, where, item)
    raise InputError(
        f"{where} must be a seed (whole number) or a code (list of {nz} numbers); "
        f"got {type(item).__name__}."
    )


def parse_code(generator: FaceGenerator, where: str, item: Sequence[object]) -> Tensor:
    """A list of nz finite numbers within ±MAX_CODE_ENTRY -> the code (nz,); `where` starts
    each message (e.g. "Slot A, pick 2")."""
    nz = generator.nz
    if len(item) != nz:
        raise InputError(
            f"{where} is a list of {len(item)} numbers; a code has exactly {nz} "
            f"(or give a seed, a whole number from 0 to {MAX_SEED})."
        )
    if not all(_is_number(v) for v in item):
        bad = next(v for v in item if not _is_number(v))
        raise InputError(f"{where}: a code holds numbers only, found {bad!r}.")
    code = torch.tensor([float(v) for v in item], dtype=torch.float32)
    if not torch.isfinite(code).all():
        raise InputError(f"{where}: the code contains NaN or infinite numbers.")
    if code.abs().max() > MAX_CODE_ENTRY:
        raise InputError(
            f"{where}: code entries must lie within ±{MAX_CODE_ENTRY:g} (codes are drawn "
            f"from N(0, 1)); the largest here is {code.abs().max():.3g}."
        )
    return code


def parse_slot(
    generator: FaceGenerator, slot: str, items: object, max_picks: int = MAX_PICKS
) -> Tensor:
    """A slot's picks (list of seeds and/or codes) -> codes (k, nz), 1 ≤ k ≤ max_picks."""
    nz = generator.nz
    if items is None or (isinstance(items, list | tuple) and len(items) == 0):
        raise InputError(f"Slot {slot} is empty: click at least one face into it (or give seeds).")
    if _is_number(items) or isinstance(items, Integral):
        items = [items]  # one seed on its own is a slot with one pick
    if isinstance(items, Tensor):
        items = items.reshape(-1, nz).tolist() if items.numel() % nz == 0 else items.tolist()
    if not isinstance(items, list | tuple):
        raise InputError(
            f"Slot {slot} must be a list of seeds and/or {nz}-number codes; "
            f"got {type(items).__name__}."
        )
    if len(items) > max_picks:
        if len(items) == nz and all(_is_number(v) for v in items):
            raise InputError(
                f"Slot {slot} looks like one {nz}-number code: wrap it in a list, [[...]]."
            )
        raise InputError(
            f"Slot {slot} has {len(items)} picks; at most {max_picks} per slot. "
            "Clear it and pick fewer."
        )
    return torch.stack([parse_item(generator, slot, i, item) for i, item in enumerate(items)])


def average(codes: Tensor) -> Tensor:
    """The mean code (nz,) of picks (k, nz): what the DCGAN paper feeds to the arithmetic."""
    if codes.dim() != 2 or codes.shape[0] == 0:
        raise ValueError(f"average takes a non-empty (k, nz) batch, got {tuple(codes.shape)}")
    return codes.mean(dim=0)


def combine(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """a − b + c, elementwise over codes of the same shape."""
    return a - b + c


def to_typical_norm(z: Tensor) -> Tensor:
    """Rescale codes (..., nz) to norm √nz, where N(0, I) codes live (direction kept)."""
    norm = z.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    return z * (typical_norm(z.shape[-1]) / norm)


def noise_grid(code: Tensor, scale: float, seed: int, grid: int = GRID) -> Tensor:
    """grid² codes (grid², nz): `code` in the centre, the others `code + scale·ε`, ε ~ N(0, I).

    The same seed gives the same grid. The DCGAN paper used uniform noise of ±0.25 with a
    uniform prior on [−1, 1]; relative to the prior's spread that is about 0.25 σ, so the
    default scale here is 0.25 for our N(0, I) codes.
    """
    scale = errors.finite("Noise scale", scale, 0.0, MAX_NOISE)
    seed = errors.seed("Noise seed", seed)
    gen = torch.Generator().manual_seed(seed)
    eps = torch.randn(grid * grid, code.shape[-1], generator=gen)
    eps[(grid * grid) // 2] = 0  # the centre is the exact result
    return code.unsqueeze(0) + scale * eps


@dataclass(frozen=True)
class Arithmetic:
    """The codes of one A − B + C computation (all on CPU, fp32)."""

    picks: tuple[Tensor, Tensor, Tensor]  # each (k_slot, nz)
    means: Tensor  # (3, nz): mean of A, of B, of C
    result: Tensor  # (nz,): mean(A) − mean(B) + mean(C)
    singles: Tensor  # (k, nz): a_i − b_i + c_i for i < k = min of the slots' pick counts
    grid: Tensor  # (GRID², nz): result plus noise, exact result in the centre
    normalised: bool  # whether result, singles and grid were rescaled to norm √nz


def vector_arithmetic(
    generator: FaceGenerator,
    a: object,
    b: object,
    c: object,
    *,
    noise_scale: float = 0.25,
    noise_seed: int = 0,
    normalise: bool = False,
) -> Arithmetic:
    """mean(A) − mean(B) + mean(C), its single-pick counterparts and its noise grid.

    generator: whose sample_z turns seeds into codes (nothing is decoded here).
    a, b, c: each a list of seeds and/or codes (see parse_slot), or a (k, nz) tensor.
    normalise: rescale the results to ‖z‖ = √nz, separating "the direction is right" from
        "the code is off the shell where N(0, I) codes live" (single picks' a − b + c has
        norm ≈ √3·√nz; averages of 3 bring it back near √nz).
    """
    slots = zip(SLOT_NAMES, (a, b, c), strict=True)
    picks = tuple(parse_slot(generator, name, items) for name, items in slots)
    means = torch.stack([average(p) for p in picks])
    result = combine(means[0], means[1], means[2])
    k = min(p.shape[0] for p in picks)
    singles = combine(picks[0][:k], picks[1][:k], picks[2][:k])
    if normalise:
        result, singles = to_typical_norm(result), to_typical_norm(singles)
    grid = noise_grid(result, noise_scale, noise_seed)
    return Arithmetic(picks, means, result, singles, grid, bool(normalise))


# --------------------------------------------------------------------------- presets


def _across_sexes(attribute: str, man: bool, names: tuple, seeds: tuple) -> dict:
    """A preset's values for "A with `attribute` − B without + C without", A and B of one sex
    (men if `man`), C of the other: the result should be C's sex with the attribute."""
    return {
        "names": names,
        "conditions": (
            {"man": man, attribute: True},
            {"man": man, attribute: False},
            {"man": not man, attribute: False},
        ),
        "seeds": seeds,
        "expect": {"man": not man, attribute: True},
    }


# One lecture-ready A − B + C each, every one carrying an attribute across the sexes. values:
# "names" (slot names A, B, C), "conditions" (the labels each slot's exemplars satisfy),
# "seeds" (the exemplars per slot), "expect" (the attributes the result should carry). The
# exemplars were chosen by eye from the labelled seeds that satisfy each slot's conditions
# (frontal, clearly showing the attribute), as the DCGAN paper chose three exemplars per
# concept; tests check they still satisfy them.
PRESETS: tuple[Preset, ...] = (
    Preset(
        key="glasses",
        label="Glasses: man with glasses − man + woman",
        values=_across_sexes(
            "glasses",
            man=True,
            names=("man with glasses", "man without glasses", "woman without glasses"),
            seeds=((92, 135, 163), (57, 124, 129), (45, 104, 182)),
        ),
        note="The DCGAN paper's example: the glasses survive, the face turns towards the "
        "woman's. Compare the single-pick rows: one exemplar each is far less reliable.",
    ),
    Preset(
        key="smile",
        label="Smile: smiling woman − neutral woman + neutral man",
        values=_across_sexes(
            "smile",
            man=False,
            names=("smiling woman", "neutral woman", "neutral man"),
            seeds=((45, 130, 190), (104, 125, 337), (52, 57, 129)),
        ),
        note="The smile is carried over to a man's face: look at the mouth corners and teeth.",
    ),
    Preset(
        key="dark_hair",
        label="Hair: dark-haired man − fair-haired man + fair-haired woman",
        values=_across_sexes(
            "dark_hair",
            man=True,
            names=("dark-haired man", "fair-haired man", "fair-haired woman"),
            seeds=((52, 57, 114), (19, 96, 211), (26, 244, 317)),
        ),
        note="Hair colour is a large, easy direction: the fair-haired woman turns dark-haired.",
    ),
    Preset(
        key="glasses8",
        label="Glasses again, with 8 exemplars per slot",
        values=_across_sexes(
            "glasses",
            man=True,
            names=("men with glasses", "men without glasses", "women without glasses"),
            seeds=(
                (92, 135, 163, 185, 334, 341, 551, 646),
                (57, 124, 129, 52, 121, 114, 270, 272),
                (45, 104, 182, 47, 122, 125, 130, 180),
            ),
        ),
        note="More exemplars average away more of each face's own quirks, so A − B is a "
        "steadier glasses direction: it puts glasses on new faces far more reliably than "
        "three exemplars do.",
    ),
)


def preset(key: str) -> Preset:
    """The preset called `key` (InputError listing the known ones otherwise)."""
    errors.choice("Preset", key, [p.key for p in PRESETS])
    return by_key(PRESETS, key)


# --------------------------------------------------------------------------- slots


def slot_items(slot: str, value: object) -> list:
    """What a slot holds (None = nothing) as a list of picks; anything else is refused."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"Slot {slot} holds something that is not a list of picks; clear it.")
    return value


def with_pick(slot: str, value: object, item: object) -> list:
    """The slot's picks with `item` added at the end; a full slot is refused with a message."""
    items = slot_items(slot, value)
    if len(items) >= MAX_PICKS:
        raise InputError(
            f"Slot {slot} already holds {MAX_PICKS} faces, the most it takes. Click a "
            "face in the slot to remove it, or clear the slot."
        )
    return [*items, item]


def without_pick(slot: str, value: object, index: object) -> list:
    """The slot's picks without the one at `index` (a click on it); a stale index is refused."""
    items = slot_items(slot, value)
    if not isinstance(index, int) or not 0 <= index < len(items):
        raise InputError(f"Click one of slot {slot}'s faces to remove it.")
    return items[:index] + items[index + 1 :]


def slot_choices(names: Sequence[str]) -> list[tuple[str, str]]:
    """The active-slot selector's choices: ("A (+): <name of A>", "A"), and so on."""
    signs = SLOT_SIGNS
    return [
        (f"{slot} ({sign}): {name}", slot)
        for slot, sign, name in zip(SLOT_NAMES, signs, names, strict=True)
    ]


def slot_names(name_a: object, name_b: object, name_c: object, longest: int) -> tuple[str, ...]:
    """The slots' names as shown: trimmed to `longest` characters, "slot A" etc. when empty."""
    names = (name_a, name_b, name_c)
    return tuple(
        str(n or "").strip()[:longest] or f"slot {s}"
        for n, s in zip(names, SLOT_NAMES, strict=True)
    )


# --------------------------------------------------------------------------- pictures


def gallery(generator: FaceGenerator, first: object, size: int) -> tuple[list[int], list]:
    """Seeds first … first + size − 1 and their faces (PIL), decoded in one batch."""
    first = errors.whole("First seed", first, 0, MAX_SEED - size)
    seeds = list(range(first, first + size))
    faces = generator.generate(seed_codes(generator, seeds))
    return seeds, [to_pil(face) for face in faces]


def next_gallery_first(first: object, size: int) -> int:
    """The first seed of the gallery page after the one starting at `first` (wraps to 0)."""
    first = errors.seed("First seed", first)
    step = first + size
    return step if step <= MAX_SEED - size else 0


def slot_pictures(
    generator: FaceGenerator, slot: str, items: list, scale: int
) -> tuple[list, Image.Image]:
    """A slot's picks as faces (PIL) and their average face `scale`× larger, nearest-neighbour;
    the picks and the average in one batch (about the cost of one face)."""
    codes = parse_slot(generator, slot, items)
    faces = generator.generate(torch.cat([codes, average(codes)[None]]))
    return [to_pil(f) for f in faces[:-1]], pictures.upscale(faces[-1], scale)


def _draw_symbol(draw: ImageDraw.ImageDraw, symbol: str, cx: int, cy: int, size: int) -> None:
    """−, + or = drawn as bars (no font needed, crisp at any size)."""
    half, thick = size // 2, max(2, size // 6)
    bar = lambda y: draw.rectangle(  # noqa: E731
        (cx - half, y - thick // 2, cx + half, y + thick - thick // 2 - 1), fill=(40, 40, 40)
    )
    if symbol == "-":
        bar(cy)
    elif symbol == "+":
        bar(cy)
        draw.rectangle(
            (cx - thick // 2, cy - half, cx + thick - thick // 2 - 1, cy + half), fill=(40, 40, 40)
        )
    elif symbol == "=":
        bar(cy - size // 4)
        bar(cy + size // 4)
    else:
        raise ValueError(f"unknown symbol {symbol!r}")


def equation_rows(rows: Tensor, *, factor: int = 2, gap: int | None = None) -> Image.Image:
    """Rows of four faces (R, 4, 3, H, W) drawn as  a − b + c = r,  one equation per row."""
    n_rows, four, _, h, w = rows.shape
    if four != 4:
        raise ValueError(f"each equation row needs 4 faces, got {four}")
    fh, fw = h * factor, w * factor
    gap = gap or max(24, fw // 3)
    vgap = max(6, fh // 12)
    width, height = 4 * fw + 3 * gap, n_rows * fh + (n_rows - 1) * vgap
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for r in range(n_rows):
        top = r * (fh + vgap)
        for i in range(4):
            left = i * (fw + gap)
            canvas.paste(pictures.upscale(rows[r, i], factor), (left, top))
            if i < 3:
                _draw_symbol(draw, "-+="[i], left + fw + gap // 2, top + fh // 2, gap * 3 // 5)
    return canvas


@dataclass(frozen=True)
class Pictures:
    """What one Arithmetic looks like, decoded by the generator."""

    mean_faces: Tensor  # (3, 3, 64, 64): G(mean A), G(mean B), G(mean C)
    result_face: Tensor  # (3, 64, 64)
    single_faces: Tensor  # (k, 3, 64, 64), k ≤ MAX_SINGLE_ROWS
    grid_faces: Tensor  # (GRID², 3, 64, 64)
    averaged: Image.Image  # the equation  Ā − B̄ + C̄ = result
    grid: Image.Image  # the noise grid, large
    singles: Image.Image  # one equation per single pick:  a_i − b_i + c_i = r_i


def render(arith: Arithmetic, generate: Callable[[Tensor], Tensor]) -> Pictures:
    """Decode every code of `arith` in ONE batched generator call and lay out the pictures.

    generate: codes (B, nz) -> images (B, 3, H, W) in [0, 1] (FaceGenerator.generate).
    """
    k = min(arith.singles.shape[0], MAX_SINGLE_ROWS)
    picks_first = torch.stack([p[:k] for p in arith.picks], dim=1).reshape(3 * k, -1)
    codes = torch.cat(
        [arith.means, arith.result[None], arith.singles[:k], arith.grid, picks_first], dim=0
    )
    faces = generate(codes)
    means, result = faces[:3], faces[3]
    singles = faces[4 : 4 + k]  # the first k single-pick results
    grid = faces[4 + k : 4 + k + GRID * GRID]
    firsts = faces[4 + k + GRID * GRID :].reshape(k, 3, *faces.shape[1:])
    averaged_row = torch.cat([means, result[None]])[None]  # (1, 4, 3, H, W)
    single_rows = torch.cat([firsts, singles[:, None]], dim=1)  # (k, 4, 3, H, W)
    return Pictures(
        mean_faces=means,
        result_face=result,
        single_faces=singles,
        grid_faces=grid,
        averaged=equation_rows(averaged_row, factor=3),
        grid=pictures.face_grid(grid, GRID, scale=3, pad=4),
        singles=equation_rows(single_rows, factor=2, gap=40),
    )


def norms_summary(arith: Arithmetic) -> dict[str, float | list[float]]:
    """Norms that explain the pictures.

    typical: ‖z‖ of a typical N(0, I) code (≈ √nz); averaged / singles: ‖z‖ of the results as
    decoded; raw_averaged / raw_singles: the same before any rescaling to √nz.
    """
    nz = arith.result.shape[-1]
    k = arith.singles.shape[0]
    raw_result = combine(arith.means[0], arith.means[1], arith.means[2])
    raw_singles = combine(arith.picks[0][:k], arith.picks[1][:k], arith.picks[2][:k])
    return {
        "typical": typical_norm(nz),
        "averaged": float(arith.result.norm()),
        "singles": [float(v) for v in arith.singles.norm(dim=-1)],
        "raw_averaged": float(raw_result.norm()),
        "raw_singles": [float(v) for v in raw_singles.norm(dim=-1)],
    }


SIGNIFICANT = 2.0  # |projection| / chance above which A − B is said to carry an attribute


@dataclass(frozen=True)
class AttributeShift:
    """What A − B does to the labelled attribute it follows most.

    A norm such as ‖mean A − mean B‖ is dominated by the 99 directions that are not the
    attribute, and equals its chance level for the glasses preset even though the glasses
    transfer cleanly. The projection on the labelled direction measures the attribute itself.
    """

    attribute: str  # a name in attributes.ATTRIBUTES
    projection: float  # (mean A − mean B) · u, u the attribute's unit direction
    chance: float  # its standard deviation for averages of unrelated codes: √(1/k_A + 1/k_B)
    before: float  # P(attribute) of C's average face, by the attribute's read-out probe
    after: float  # P(attribute) of the result's face

    @property
    def ratio(self) -> float:
        return self.projection / self.chance


def attribute_shift(
    generator: FaceGenerator, arith: Arithmetic, directions: Tensor
) -> AttributeShift:
    """The labelled attribute A − B moves along most, measured against chance, and the read-out
    of that attribute on C's average and on the result.

    directions: (K, nz) unit vectors in attributes.ATTRIBUTES order
    (attributes.attribute_directions). For unrelated codes, mean A − mean B ~ N(0, (1/k_A +
    1/k_B) I), so its projection on any unit vector has that standard deviation.
    """
    offset = arith.means[0] - arith.means[1]
    k_a, k_b = arith.picks[0].shape[0], arith.picks[1].shape[0]
    chance = math.sqrt(1 / k_a + 1 / k_b)
    projections = directions.to(offset) @ offset
    best = int(projections.abs().argmax())
    name = attributes.ATTRIBUTES[best]
    codes = torch.stack([arith.means[2], arith.result])
    before, after = attributes.attribute_score(generator, codes, name).tolist()
    return AttributeShift(name, float(projections[best]), chance, before, after)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$])")


def literal(text: str) -> str:
    """User text shown as typed inside Markdown: its markup characters backslash-escaped,
    then HTML's as entities (a name such as <img src=x onerror=...> stays text)."""
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _norms_line(arith: Arithmetic) -> str:
    norms = norms_summary(arith)
    singles = ", ".join(f"{v:.1f}" for v in norms["singles"])
    if not arith.normalised:
        return (
            f"- ‖z‖ of the result: **{norms['averaged']:.1f}**; of the single-pick results: "
            f"{singles}; a typical code: {norms['typical']:.0f}."
        )
    raw_singles = ", ".join(f"{v:.1f}" for v in norms["raw_singles"])
    return (
        f"- ‖z‖ of the result: **{norms['averaged']:.1f}**, rescaled from "
        f"{norms['raw_averaged']:.1f}; of the single-pick results: {singles}, rescaled from "
        f"{raw_singles}; a typical code: {norms['typical']:.0f}."
    )


def _attribute_line(shift: AttributeShift) -> str:
    title = attributes.READOUT[shift.attribute]
    verdict = (
        f"so A − B carries {title} ({abs(shift.ratio):.1f} × chance)"
        if abs(shift.ratio) >= SIGNIFICANT
        else "within chance: A − B follows none of the labelled directions clearly"
    )
    return (
        f"- Along the labelled **{title}** direction, mean A − mean B = "
        f"**{shift.projection:+.2f}**; for that many unrelated faces it is 0 ± "
        f"{shift.chance:.2f}, {verdict}. P({title}) by the read-out: C's average "
        f"{shift.before:.2f} → result **{shift.after:.2f}**."
    )


def summary_markdown(
    arith: Arithmetic, names: Sequence[str], shift: AttributeShift | None = None
) -> str:
    """What the result's numbers say, in Markdown; `names` label the slots A, B, C (typed by
    users: shown as text, never as markup); `shift` (attribute_shift) adds the attribute."""
    names = [literal(n) for n in names]
    k = [p.shape[0] for p in arith.picks]
    lines = [
        f"**{names[0]}** − **{names[1]}** + **{names[2]}**, averaged over {k[0]}, {k[1]} and "
        f"{k[2]} picks.\n",
        _norms_line(arith),
    ]
    if shift is not None:
        lines.append(_attribute_line(shift))
    return "\n".join(lines)


EMPTY_SLOTS = "Pick at least one face into every slot (A, B and C) to see A − B + C."
