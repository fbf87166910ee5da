"""Vector arithmetic on the face GAN's codes, and GAN inversion (image -> code).

The DCGAN paper's "man with glasses − man + woman = woman with glasses": average the codes of
a few exemplars per concept, add and subtract the averages, decode the result, and show it
with small noise added so one sees a neighbourhood, not one lucky point. Everything here is a
pure function of codes (seeds or explicit vectors), tensors and PIL images; no Gradio.

Codes are given per slot as a list whose items are either a seed (an int: the code is
`FaceGenerator.sample_z(seed)`) or an explicit code (a list of `nz` finite numbers, e.g. one
found by `invert`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from numbers import Integral, Real

import torch
from PIL import Image, ImageDraw
from torch import Tensor

from advdemo import errors
from advdemo.errors import InputError

NZ = 100  # the built-in face GAN's code length
MAX_PICKS = 8  # per slot: enough to average out identity, few enough to see every pick
MAX_SEED = 2**32 - 1
MAX_CODE_ENTRY = 10.0  # N(0, 1) entries beyond ±6 never occur; ±10 leaves room for edits
MAX_NOISE = 2.0
GRID = 3  # the noise grid is GRID × GRID, the exact result in the centre
MAX_SINGLE_ROWS = 4  # single-pick equations drawn; more rows would only repeat the point

SLOT_NAMES = ("A", "B", "C")
SLOT_SIGNS = (+1, -1, +1)  # A − B + C


# --------------------------------------------------------------------------- codes


def seed_code(seed: int, nz: int = NZ) -> Tensor:
    """The code (nz,) for `seed`, drawn on CPU exactly as FaceGenerator.sample_z draws it."""
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randn(1, nz, generator=gen)[0]


def _is_number(v: object) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def parse_item(slot: str, index: int, item: object, nz: int = NZ) -> Tensor:
    """One pick -> its code (nz,). An int-valued number is a seed; a list of nz numbers a code."""
    where = f"Slot {slot}, pick {index + 1}"
    if isinstance(item, Tensor):
        item = item.detach().cpu().flatten().tolist()
    if _is_number(item) or isinstance(item, str):
        seed = errors.whole(f"{where} (a seed)", item, 0, MAX_SEED)
        return seed_code(seed, nz)
    if isinstance(item, list | tuple):
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
    raise InputError(
        f"{where} must be a seed (whole number) or a code (list of {nz} numbers); "
        f"got {type(item).__name__}."
    )


def parse_slot(slot: str, items: object, nz: int = NZ, max_picks: int = MAX_PICKS) -> Tensor:
    """A slot's picks (list of seeds and/or codes) -> codes (k, nz), 1 ≤ k ≤ max_picks."""
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
    return torch.stack([parse_item(slot, i, item, nz) for i, item in enumerate(items)])


def average(codes: Tensor) -> Tensor:
    """The mean code (nz,) of picks (k, nz): what the DCGAN paper feeds to the arithmetic."""
    if codes.dim() != 2 or codes.shape[0] == 0:
        raise ValueError(f"average takes a non-empty (k, nz) batch, got {tuple(codes.shape)}")
    return codes.mean(dim=0)


def combine(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """a − b + c, elementwise over codes of the same shape."""
    return a - b + c


def typical_norm(nz: int = NZ) -> float:
    """‖z‖ of a typical N(0, I) code: it concentrates near √nz."""
    return math.sqrt(nz)


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
    seed = errors.whole("Noise seed", seed, 0, MAX_SEED)
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
    a: object,
    b: object,
    c: object,
    *,
    noise_scale: float = 0.25,
    noise_seed: int = 0,
    normalise: bool = False,
    nz: int = NZ,
) -> Arithmetic:
    """mean(A) − mean(B) + mean(C), its single-pick counterparts and its noise grid.

    a, b, c: each a list of seeds and/or codes (see parse_slot), or a (k, nz) tensor.
    normalise: rescale the results to ‖z‖ = √nz, separating "the direction is right" from
        "the code is off the shell where N(0, I) codes live" (single picks' a − b + c has
        norm ≈ √3·√nz; averages of 3 bring it back near √nz).
    """
    slots = zip(SLOT_NAMES, (a, b, c), strict=True)
    picks = tuple(parse_slot(name, items, nz) for name, items in slots)
    means = torch.stack([average(p) for p in picks])
    result = combine(means[0], means[1], means[2])
    k = min(p.shape[0] for p in picks)
    singles = combine(picks[0][:k], picks[1][:k], picks[2][:k])
    if normalise:
        result, singles = to_typical_norm(result), to_typical_norm(singles)
    grid = noise_grid(result, noise_scale, noise_seed)
    return Arithmetic(picks, means, result, singles, grid, bool(normalise))


# --------------------------------------------------------------------------- presets


def face_labels() -> dict:
    """The hand-labelled exemplar seeds of the latent tabs (advdemo/data/face_labels.json)."""
    from advdemo.face_attributes import labels

    return labels()


def labelled(conditions: dict[str, bool], part: str = "attributes") -> list[int]:
    """Seeds labelled with every condition, e.g. {"man": True, "glasses": False}.

    part: "attributes" (the sets directions and presets are built from) or "heldout" (only
    ever used to measure).
    """
    sets = face_labels()[part]
    chosen: set[int] | None = None
    for attribute, positive in conditions.items():
        if attribute not in sets:
            raise KeyError(f"no labels for {attribute!r}; known: {', '.join(sets)}")
        seeds = set(sets[attribute]["positive" if positive else "negative"])
        chosen = seeds if chosen is None else chosen & seeds
    return sorted(chosen or ())


@dataclass(frozen=True)
class Preset:
    """One lecture-ready A − B + C: slot names, labelled exemplars per slot.

    The exemplars were chosen by eye from the labelled seeds that satisfy each slot's
    conditions (frontal, clearly showing the attribute), as the DCGAN paper chose three
    exemplars per concept; tests check they still satisfy the conditions.
    """

    key: str
    title: str  # the button's label
    names: tuple[str, str, str]  # slot names A, B, C
    conditions: tuple[dict[str, bool], dict[str, bool], dict[str, bool]]
    seeds: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
    expect: dict[str, bool]  # the attributes the result should carry
    note: str  # one line for the UI: what to look for


PRESETS: tuple[Preset, ...] = (
    Preset(
        key="glasses",
        title="Glasses: man with glasses − man + woman",
        names=("man with glasses", "man without glasses", "woman without glasses"),
        conditions=(
            {"man": True, "glasses": True},
            {"man": True, "glasses": False},
            {"man": False, "glasses": False},
        ),
        seeds=((92, 135, 163), (57, 124, 129), (45, 104, 182)),
        expect={"man": False, "glasses": True},
        note="The DCGAN paper's example: the glasses survive, the face turns towards the "
        "woman's. Compare the single-pick rows: one exemplar each is far less reliable.",
    ),
    Preset(
        key="smile",
        title="Smile: smiling woman − neutral woman + neutral man",
        names=("smiling woman", "neutral woman", "neutral man"),
        conditions=(
            {"man": False, "smile": True},
            {"man": False, "smile": False},
            {"man": True, "smile": False},
        ),
        seeds=((45, 130, 190), (104, 125, 337), (52, 57, 129)),
        expect={"man": True, "smile": True},
        note="The smile is carried over to a man's face: look at the mouth corners and teeth.",
    ),
    Preset(
        key="dark_hair",
        title="Hair: dark-haired man − fair-haired man + fair-haired woman",
        names=("dark-haired man", "fair-haired man", "fair-haired woman"),
        conditions=(
            {"man": True, "dark_hair": True},
            {"man": True, "dark_hair": False},
            {"man": False, "dark_hair": False},
        ),
        seeds=((52, 57, 114), (19, 96, 211), (26, 244, 317)),
        expect={"man": False, "dark_hair": True},
        note="Hair colour is a large, easy direction: the fair-haired woman turns dark-haired.",
    ),
    Preset(
        key="glasses8",
        title="Glasses again, with 8 exemplars per slot",
        names=("men with glasses", "men without glasses", "women without glasses"),
        conditions=(
            {"man": True, "glasses": True},
            {"man": True, "glasses": False},
            {"man": False, "glasses": False},
        ),
        seeds=(
            (92, 135, 163, 185, 334, 341, 551, 646),
            (57, 124, 129, 52, 121, 114, 270, 272),
            (45, 104, 182, 47, 122, 125, 130, 180),
        ),
        expect={"man": False, "glasses": True},
        note="More exemplars average away more of each face's own quirks, so A − B is a "
        "steadier glasses direction: it puts glasses on new faces far more reliably than "
        "three exemplars do.",
    ),
)


def preset(key: str) -> Preset:
    """The preset called `key` (InputError listing the known ones otherwise)."""
    errors.choice("Preset", key, [p.key for p in PRESETS])
    return next(p for p in PRESETS if p.key == key)


# --------------------------------------------------------------------------- pictures


def upscale(images: Tensor, factor: int) -> Tensor:
    """Nearest-neighbour upscaling (B, 3, H, W) by a whole factor: pixels stay pixels."""
    return images.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)


def tile(images: Tensor, ncol: int, *, pad: int = 2, factor: int = 1, fill: float = 1.0) -> Tensor:
    """Images (B, 3, H, W) in rows of ncol -> one (3, H', W') picture with `pad` px gaps."""
    images = upscale(images, factor) if factor > 1 else images
    n, ch, h, w = images.shape
    nrow = math.ceil(n / ncol)
    out = torch.full((ch, nrow * h + (nrow - 1) * pad, ncol * w + (ncol - 1) * pad), fill)
    for i in range(n):
        r, col = divmod(i, ncol)
        out[:, r * (h + pad) : r * (h + pad) + h, col * (w + pad) : col * (w + pad) + w] = images[i]
    return out


def to_image(x: Tensor) -> Image.Image:
    """(3, H, W) in [0, 1] -> RGB PIL image."""
    array = (x.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8)
    return Image.fromarray(array.permute(1, 2, 0).cpu().numpy())


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
        faces = upscale(rows[r], factor)
        for i in range(4):
            left = i * (fw + gap)
            canvas.paste(to_image(faces[i]), (left, top))
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
        grid=to_image(tile(grid, GRID, pad=4, factor=3)),
        singles=equation_rows(single_rows, factor=2, gap=40),
    )


def norms_summary(arith: Arithmetic) -> dict[str, float | list[float]]:
    """Norms that explain the pictures.

    typical: ‖z‖ of a typical N(0, I) code (≈ √nz); averaged / singles: ‖z‖ of the results;
    offset: ‖mean A − mean B‖, the "attribute vector"; offset_chance: what that norm would be
    for two averages of unrelated random codes, √(1/k_A + 1/k_B)·√nz: an offset near it is
    mostly the exemplars' own quirks, not the attribute.
    """
    nz = arith.result.shape[-1]
    k_a, k_b = arith.picks[0].shape[0], arith.picks[1].shape[0]
    return {
        "typical": typical_norm(nz),
        "averaged": float(arith.result.norm()),
        "singles": [float(v) for v in arith.singles.norm(dim=-1)],
        "offset": float((arith.means[0] - arith.means[1]).norm()),
        "offset_chance": math.sqrt(1 / k_a + 1 / k_b) * typical_norm(nz),
    }


# --------------------------------------------------------------------------- inversion


def face_crop(image: Image.Image, side: int = 64) -> Tensor:
    """A validated RGB PIL image -> (1, 3, side, side) in [0, 1]: centre square, area resize.

    Raises InputError for images with (almost) nothing in them: a face has structure.
    """
    w, h = image.size
    s = min(w, h)
    box = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2)
    small = image.convert("RGB").resize((side, side), Image.Resampling.LANCZOS, box=box)
    from advdemo.images import to_tensor

    x = to_tensor(small).clamp(0, 1)
    if float(x.std()) < 0.02:
        raise InputError(
            "The image is (almost) one flat colour; upload a photo of a face, centred and "
            "filling most of the frame."
        )
    return x


# ImageNet has no "person" class: a face makes a classifier spread its belief over things people
# wear. A confident vote for anything else (a tabby cat, an espresso) says "not a face".
WORN_BY_PEOPLE = frozenset(
    {
        "academic gown", "apron", "bathing cap", "bib", "bikini", "bolo tie", "bonnet",
        "bow tie", "brassiere", "bulletproof vest", "cardigan", "cowboy hat", "crash helmet",
        "football helmet", "fur coat", "gasmask", "gown", "hair spray", "jersey", "kimono",
        "lab coat", "lipstick", "maillot", "maillot tank suit", "mask", "military uniform",
        "mortarboard", "neck brace", "necklace", "oxygen mask", "pajama", "poncho",
        "shower cap", "ski mask", "sombrero", "stole", "suit", "sunglass", "sunglasses",
        "sweatshirt", "swimming trunks", "trench coat", "vestment", "wig", "Windsor tie",
    }
)  # fmt: skip
NOT_A_FACE_CONFIDENCE = 0.3  # measured: 0 of 128 generated faces give a non-worn class this


def not_a_face(probabilities: Tensor, labels: Sequence[str]) -> tuple[str, float] | None:
    """What an ImageNet classifier confidently sees instead of a person, or None.

    probabilities: (classes,) softmax output for the uploaded picture. Returns (label, p) when
    the top class has p ≥ NOT_A_FACE_CONFIDENCE and is not something people wear; a hint for
    the user, not a face detector.
    """
    p, index = probabilities.max(dim=-1)
    label = labels[int(index)]
    if float(p) >= NOT_A_FACE_CONFIDENCE and label not in WORN_BY_PEOPLE:
        return label, float(p)
    return None


@dataclass(frozen=True)
class Inversion:
    """The best code found so far for a target image, and how well it reproduces it."""

    code: Tensor  # (nz,) on CPU
    reconstruction: Tensor  # (1, 3, H, W) in [0, 1]: G(code)
    mse: float  # mean squared pixel error in [0, 1] units
    step: int  # optimisation steps done
    steps: int  # steps planned
    history: tuple[float, ...]  # the best restart's mean squared error after each step

    @property
    def psnr(self) -> float:
        """Peak signal-to-noise ratio of the reconstruction, in dB (higher is closer)."""
        return 10 * math.log10(1.0 / max(self.mse, 1e-12))

    @property
    def done(self) -> bool:
        return self.step >= self.steps


def inversion(
    generator: Callable[[Tensor], Tensor],
    target: Tensor,
    *,
    nz: int = NZ,
    steps: int = 150,
    restarts: int = 3,
    candidates: int = 64,
    lr: float = 0.1,
    prior_weight: float = 1e-3,
    seed: int = 0,
    every: int = 10,
    device: torch.device | str = "cpu",
) -> Iterator[Inversion]:
    """Find z with G(z) ≈ target by gradient descent (Adam) on ‖G(z) − x‖² + λ·‖z‖²/nz.

    Yields a snapshot every `every` steps and the final result last (its `done` is True).

    The prior term is the Gaussian prior's negative log-density, scaled: it keeps z where
    N(0, I) codes live, so the code behaves like a sampled one in arithmetic. Restarts: of
    `candidates` seeded random codes, the `restarts` whose faces are already closest to the
    target are optimised together in one batch (they are independent: the summed loss's
    gradient splits per code); the best is returned.

    generator: differentiable codes (B, nz) -> images (B, 3, H, W) in [0, 1]
        (FaceGenerator.forward; its weights need no gradient).
    target: (1, 3, H, W) in [0, 1], the size the generator makes.
    """
    steps = errors.whole("Inversion steps", steps, 1, 2000)
    restarts = errors.whole("Restarts", restarts, 1, 32)
    candidates = max(restarts, errors.whole("Candidates", candidates, 1, 1024))
    every = errors.whole("Report interval", every, 1, None)
    if target.dim() != 4 or target.shape[:2] != (1, 3):
        raise ValueError(f"target must be (1, 3, H, W), got {tuple(target.shape)}")
    device = torch.device(device)
    x = target.to(device, torch.float32)
    gen = torch.Generator().manual_seed(errors.whole("Seed", seed, 0, MAX_SEED))
    pool = torch.randn(candidates, nz, generator=gen)
    with torch.no_grad():
        first = generator(pool.to(device))
        if first.shape[1:] != x.shape[1:]:
            raise ValueError(f"target is {tuple(x.shape)}, generator makes {tuple(first.shape)}")
        start_err = ((first - x) ** 2).flatten(1).mean(1)
    z = pool[start_err.topk(restarts, largest=False).indices.cpu()].to(device)
    z.requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    history: list[float] = []

    def snapshot(step: int, faces: Tensor, err: Tensor, codes: Tensor) -> Inversion:
        best = int(err.argmin())
        return Inversion(
            code=codes[best].detach().cpu().float().clone(),
            reconstruction=faces[best : best + 1].detach().clamp(0, 1).cpu().float(),
            mse=float(err[best]),
            step=step,
            steps=steps,
            history=tuple(history),
        )

    with torch.enable_grad():
        for step in range(steps):
            opt.zero_grad(set_to_none=True)
            faces = generator(z)
            err = ((faces - x) ** 2).flatten(1).mean(1)  # (restarts,)
            if step and step % every == 0:
                yield snapshot(step, faces, err.detach(), z)  # faces of the codes before this step
            loss = err + prior_weight * (z**2).mean(1)
            loss.sum().backward()
            opt.step()
            with torch.no_grad():
                z.clamp_(-MAX_CODE_ENTRY, MAX_CODE_ENTRY)
            history.append(float(err.detach().min()))
    with torch.no_grad():
        faces = generator(z)
        err = ((faces - x) ** 2).flatten(1).mean(1)
        history.append(float(err.min()))
        yield snapshot(steps, faces, err, z)


def invert(generator: Callable[[Tensor], Tensor], target: Tensor, **kwargs) -> Inversion:
    """Run `inversion` to the end and return the final (best) result."""
    result = None
    for result in inversion(generator, target, **kwargs):  # noqa: B007
        pass
    assert result is not None and result.done
    return result
