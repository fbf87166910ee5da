"""CycleGAN translation of a photo, its cycle F(G(x)), and the |x − F(G(x))| map (no Gradio).

`prepare(image, long_side)` resizes the photo (aspect ratio kept, sides multiples of 4; never
past its own size unless asked to upscale);
`translate` runs the generator G and, when the caller passes the reverse generator F, the cycle
F(G(x)) with its per-pixel error map and mean L1: the cycle-consistency term of CycleGAN's
objective made visible. The caller (the tab) loads the generators and hands them in as
`Generator`s: name, loaded network, and its fast path if it has one.

Three ways to run a generator, chosen per request by `generate`:
- compiled: torch.compile + freezing + bf16 (advdemo.translation.fastpath), only for shapes
  compiled and checked against eager at warm-up. A user's request never pays for
  compilation: shapes not ready yet run eager.
- eager: the plain forward (fp32 on CPU), for any other shape within the memory budget.
- tiled: images above MAX_UNTILED_PIXELS, exact, in tiles (advdemo.translation.tiling).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from advdemo.core import errors, images
from advdemo.models import registry
from advdemo.models.wrappers import Translator
from advdemo.translation.tiling import (
    MULTIPLE,
    TILE,
    Progress,
    no_progress,
    owned_ranges,
    tiled_forward,
)

if TYPE_CHECKING:  # fastpath imports this module (the example photos and their sizes)
    from advdemo.translation.fastpath import FastPath

BUILTIN = "cyclegan-photo2vintage"
EXAMPLES = ("chelsea.png", "astronaut.jpg", "coffee.png", "rocket.jpg")  # in assets/
MIN_LONG_SIDE = 64
MAX_LONG_SIDE = 1024
DEFAULT_LONG_SIDE = 256
MIN_SHORT_SIDE = 8  # 2 px at 1/4 resolution, the least the residual blocks' reflection pad takes

# Memory budget of one untiled forward: above 512² pixels we tile. Measured here (eager fp32):
# a 1024² forward grows peak RSS by ~900 MB, a 512² one by ~200 MB.
MAX_UNTILED_PIXELS = 512 * 512
# Heat-map scale: |x − F(G(x))| (mean over RGB, [0, 1] units) at or above this is drawn white-
# yellow. Fixed rather than per image, so maps of different photos and models compare.
HEAT_MAX = 0.25
# Seconds per megapixel of one generator's tiled pass, for the estimate shown before a slow
# run (issue #20: a 1024×680 photo took 34-43 s in the app); the tab refines it as it runs.
TILED_SECONDS_PER_MEGAPIXEL = 55.0


# --------------------------------------------------------------------------- sizes


def working_size(
    width: int, height: int, long_side: int, *, upscale: bool = False
) -> tuple[int, int]:
    """(width, height) with the long side about `long_side`, aspect kept, multiples of 4;
    without `upscale`, at most the photo's own size (its sides rounded down to multiples of 4)."""
    scale = long_side / max(width, height)
    if not upscale:
        scale = min(scale, 1.0)
    w = max(MULTIPLE, round(width * scale / MULTIPLE) * MULTIPLE)
    h = max(MULTIPLE, round(height * scale / MULTIPLE) * MULTIPLE)
    if not upscale:
        w = min(w, max(MULTIPLE, width // MULTIPLE * MULTIPLE))
        h = min(h, max(MULTIPLE, height // MULTIPLE * MULTIPLE))
    return w, h


def is_tiled(width: int, height: int, max_pixels: int = MAX_UNTILED_PIXELS) -> bool:
    """Whether a photo at this working size runs in tiles (slowly: seconds to a minute)."""
    return width * height > max_pixels


def estimated_seconds(
    width: int, height: int, generators: int, per_megapixel: float = TILED_SECONDS_PER_MEGAPIXEL
) -> float:
    """Rough time of a tiled run through `generators` generators at `per_megapixel` s/MP."""
    return width * height / 1e6 * per_megapixel * generators


def check_long_side(long_side: object) -> int:
    return errors.whole("Resolution (long side in pixels)", long_side, MIN_LONG_SIDE, MAX_LONG_SIDE)


def prepare(
    image: object, long_side: int, *, upscale: bool = False
) -> tuple[Tensor, tuple[int, int]]:
    """Any upload -> ((1, 3, H, W) in [0, 1] at the working size, original (width, height)).
    The working size is at most the upload's own unless `upscale`."""
    pil = images.load_image(image)
    long_side = check_long_side(long_side)
    w, h = working_size(*pil.size, long_side, upscale=bool(upscale))
    if min(w, h) < MIN_SHORT_SIDE:
        raise errors.InputError(
            f"The image is {pil.width}×{pil.height}: at {long_side} px on the long side its short "
            f"side would be {min(w, h)} px, and the generator needs at least {MIN_SHORT_SIDE}. "
            "Choose a higher resolution or crop the image."
        )
    original = pil.size
    # A 40-megapixel upload would be a 0.5 GB float tensor: shrink it by an integer factor
    # in PIL first (box filter, cheap), keeping at least twice the target for the final filter.
    factor = max(pil.size) // (2 * max(w, h))
    if factor >= 2:
        pil = pil.reduce(factor)
    x = images.to_tensor(pil)
    if (x.shape[-2], x.shape[-1]) != (h, w):
        x = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False, antialias=True)
    return x.clamp(0, 1), original


# --------------------------------------------------------------------------- translation


def check_model(model_name: object) -> str:
    """`model_name` if the registry has a translator of that name, else InputError."""
    return errors.choice("Model", model_name, registry.names("translator"))


def load_message(model_name: str, weights_path: Path) -> str | None:
    """What a user waits for before `model_name` can run: a download, or nothing
    (`weights_path`: where the caller's model store keeps its weights)."""
    spec = registry.spec(model_name)
    if spec.url is not None and not weights_path.is_file():
        return f"downloading {spec.title} on first use"
    return None


@dataclass(frozen=True)
class Generator:
    """One loaded CycleGAN generator as `generate` runs it."""

    name: str  # its registry name (what the summary shows)
    translator: Translator
    fast: FastPath | None = None  # its compiled shapes, if it has a fast path


@dataclass(frozen=True)
class Pass:
    """How one generator ran: 'compiled', 'eager' or 'tiled' (with how many tiles)."""

    model: str
    path: str
    tiles: int
    seconds: float


def generate(
    generator: Generator,
    x: Tensor,
    *,
    max_pixels: int = MAX_UNTILED_PIXELS,
    tile: int = TILE,
    progress: Progress = no_progress,
) -> tuple[Tensor, Pass]:
    """G(x) for x (1, 3, H, W) in [0, 1] by the fastest correct path; output on CPU in [0, 1].
    Images above `max_pixels` run in `tile`×`tile` tiles."""
    h, w = x.shape[-2:]
    if h % MULTIPLE or w % MULTIPLE:
        raise errors.InputError(f"CycleGAN needs sides that are multiples of 4, got {w}×{h}.")
    name, fast = generator.name, generator.fast
    t0 = time.perf_counter()
    if h * w > max_pixels:
        y = tiled_forward(generator.translator, x, tile=tile, progress=progress)
        tiles = len(owned_ranges(h, tile)) * len(owned_ranges(w, tile))
        return y, Pass(name, "tiled", tiles, time.perf_counter() - t0)
    if fast is not None and fast.ready((h, w)):
        return fast(x), Pass(name, "compiled", 1, time.perf_counter() - t0)
    y = generator.translator.translate(x)
    return y, Pass(name, "eager", 1, time.perf_counter() - t0)


@dataclass(frozen=True)
class Translation:
    """A photo x, its translation G(x) and, where a reverse generator F exists, F(G(x))."""

    model: str
    reverse: str | None
    original_size: tuple[int, int]  # (width, height) of the upload
    source: Tensor  # x: (1, 3, H, W) in [0, 1] at the working size
    translated: Tensor  # G(x)
    reconstruction: Tensor | None  # F(G(x))
    cycle_error: Tensor | None  # (H, W): |x − F(G(x))| averaged over RGB
    cycle_l1: float | None  # its mean: the cycle-consistency term for this one image
    passes: tuple[Pass, ...]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) at which the networks ran."""
        return self.source.shape[-1], self.source.shape[-2]

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.passes)


def translate(
    x: Tensor,
    original_size: tuple[int, int],
    generator: Generator,
    reverse: Generator | None = None,
    *,
    max_pixels: int = MAX_UNTILED_PIXELS,
    tile: int = TILE,
    progress: Progress = no_progress,
) -> Translation:
    """Translate a prepared photo x (see `prepare`) with `generator`; with its `reverse`
    generator, add the cycle F(G(x)), its error map and its mean L1."""
    share = 0.5 if reverse else 1.0  # the fraction of the progress bar G's pass takes

    def part(offset: float, label: str) -> Progress:
        return lambda f, msg: progress(offset + share * f, f"{label}: {msg}")

    run = {"max_pixels": max_pixels, "tile": tile}
    y, g_pass = generate(generator, x, **run, progress=part(0.0, "G(x)"))
    if reverse is None:
        return Translation(generator.name, None, original_size, x, y, None, None, None, (g_pass,))
    back, f_pass = generate(reverse, y, **run, progress=part(share, "F(G(x))"))
    error = (x - back).abs().mean(1)[0]  # (H, W)
    return Translation(
        generator.name,
        reverse.name,
        original_size,
        x,
        y,
        back,
        error,
        float(error.mean()),
        (g_pass, f_pass),
    )


# --------------------------------------------------------------------------- pictures

# Anchor colours of matplotlib's 'inferno' (perceptually uniform, readable in greyscale).
_INFERNO = torch.tensor(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    dtype=torch.float32,
)


def heat_map(error: Tensor, vmax: float = HEAT_MAX) -> Image.Image:
    """(H, W) non-negative values -> RGB heat map, 0 black through red to pale yellow at vmax."""
    if error.dim() != 2:
        raise ValueError(f"heat_map takes an (H, W) map, got shape {tuple(error.shape)}")
    t = (error.float().clamp(0, vmax) / vmax) * (len(_INFERNO) - 1)
    lo = t.floor().long().clamp(max=len(_INFERNO) - 2)
    frac = (t - lo).unsqueeze(-1)
    rgb = _INFERNO[lo] * (1 - frac) + _INFERNO[lo + 1] * frac  # (H, W, 3)
    return Image.fromarray((rgb + 0.5).to(torch.uint8).numpy())


def colour_bar(width: int = 256, height: int = 14, vmax: float = HEAT_MAX) -> Image.Image:
    """The heat map's scale as a horizontal strip, 0 on the left, vmax on the right."""
    ramp = torch.linspace(0, vmax, width).expand(height, width)
    return heat_map(ramp, vmax)
