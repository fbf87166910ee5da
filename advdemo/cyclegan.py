"""CycleGAN translation of a photo, its cycle F(G(x)), and the |x − F(G(x))| map (no Gradio).

`translate(image, model_name, long_side)` resizes the photo (aspect ratio kept, sides multiples
of 4), runs the generator G and, when the registry names a reverse generator F, the cycle
F(G(x)) with its per-pixel error map and mean L1: the cycle-consistency term of CycleGAN's
objective made visible.

Three ways to run a generator, chosen per request:
- compiled: torch.compile + freezing + bf16 (inference.compiled), only for (model, shape) pairs
  compiled and checked against eager at warm-up (`warm_fast_path`). A user's request never pays
  for compilation: shapes not ready yet run eager.
- eager: the plain forward (fp32 on CPU), for any other shape within the memory budget.
- tiled: images above MAX_UNTILED_PIXELS. The full-resolution layers, whose 64-channel
  activations dominate memory, run in TILE×TILE tiles whose windows overlap their neighbours
  by HALO pixels (more than those layers' receptive field; the overlap is cut off, not
  blended); the layers at 1/2 and 1/4 resolution run on the whole map. InstanceNorm needs
  per-channel statistics of the whole feature map, so tiles normalised on their own would
  disagree in colour and leave seams; here the tiles are swept once per norm layer to
  accumulate the whole map's exact statistics first. The result equals the untiled forward
  up to float rounding: no seams, no approximation; about half the peak memory for ~1.25×
  the CPU time (measured at 1024²).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from advdemo import errors, images, inference
from advdemo.nets.cyclegan import ResnetGenerator

log = logging.getLogger("advdemo.cyclegan")

BUILTIN = "cyclegan-photo2vintage"
MIN_LONG_SIDE = 64
MAX_LONG_SIDE = 1024
DEFAULT_LONG_SIDE = 256
MULTIPLE = 4  # two stride-2 down/up-samplings
MIN_SHORT_SIDE = 8  # 2 px at 1/4 resolution, the least the residual blocks' reflection pad takes

# Memory budget of one untiled forward: above 512² pixels we tile. Measured here (eager fp32):
# a 1024² forward grows peak RSS by ~900 MB, a 512² one by ~200 MB.
MAX_UNTILED_PIXELS = 512 * 512
TILE = 512  # tile side in input pixels (a tile is at most the untiled budget)
# Layers at 1/2 and 1/4 resolution run on the whole map, full-resolution ones in tiles. At
# 1024² (CPU seconds / peak RSS growth, measured here): untiled 16.4 s / 900 MB; this 20.3 s /
# 467 MB; tiling the 1/2-resolution layers as well (WHOLE_SCALE = 4) 24.7 s / 396 MB.
WHOLE_SCALE = 2
HALO = 16  # pixels each tile's window reaches into its neighbours: > the receptive field of
# the tiled layers (6 px going down, about 9 px going up), so every kept pixel is exact

# The compiled bf16 path must stay this close to eager fp32 (max |Δ| on [0, 1] pixels) for a
# shape to be served compiled. Measured: max 0.007-0.011, mean 0.001 (see tests and benchmark).
FAST_TOLERANCE = 0.03
# Heat-map scale: |x − F(G(x))| (mean over RGB, [0, 1] units) at or above this is drawn white-
# yellow. Fixed rather than per image, so maps of different photos and models compare.
HEAT_MAX = 0.25

Progress = Callable[[float, str], None]  # (fraction done in [0, 1], message)


def _no_progress(fraction: float, message: str) -> None:
    """Progress sink used when the caller passes none."""


# --------------------------------------------------------------------------- sizes


def working_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """(width, height) with the long side about `long_side`, aspect kept, multiples of 4."""
    scale = long_side / max(width, height)
    w = max(MULTIPLE, round(width * scale / MULTIPLE) * MULTIPLE)
    h = max(MULTIPLE, round(height * scale / MULTIPLE) * MULTIPLE)
    return w, h


def check_long_side(long_side: object) -> int:
    return errors.whole("Resolution (long side in pixels)", long_side, MIN_LONG_SIDE, MAX_LONG_SIDE)


def prepare(image: object, long_side: int) -> tuple[Tensor, tuple[int, int]]:
    """Any upload -> ((1, 3, H, W) in [0, 1] at the working size, original (width, height))."""
    pil = images.load_image(image)
    long_side = check_long_side(long_side)
    w, h = working_size(*pil.size, long_side)
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


# --------------------------------------------------------------------------- tiling


class _Moments:
    """Per-channel mean and variance accumulated over pieces of a feature map (Chan et al.'s
    pairwise combination, in float64), so statistics over tiles equal the whole map's."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: Tensor | None = None
        self.m2: Tensor | None = None

    def add(self, h: Tensor) -> None:  # h: (1, C, h, w)
        n = h.shape[-2] * h.shape[-1]
        mean = h.mean((0, 2, 3)).double()
        m2 = h.var((0, 2, 3), unbiased=False).double() * n
        if self.mean is None or self.m2 is None:
            self.count, self.mean, self.m2 = n, mean, m2
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta.square() * (self.count * n / total)
        self.count = total

    def mean_var(self, like: Tensor) -> tuple[Tensor, Tensor]:
        assert self.mean is not None and self.m2 is not None
        shape = (1, -1, 1, 1)
        mean = self.mean.view(shape).to(like.device, like.dtype)
        return mean, (self.m2 / self.count).view(shape).to(like.device, like.dtype)


def _normalise(norm: nn.InstanceNorm2d, h: Tensor, mean: Tensor, var: Tensor) -> Tensor:
    """InstanceNorm with statistics measured elsewhere (on the whole map, tile by tile)."""
    h = (h - mean) * torch.rsqrt(var + norm.eps)
    if norm.affine:
        h = h * norm.weight.view(1, -1, 1, 1) + norm.bias.view(1, -1, 1, 1)
    return h


def segments(
    net: ResnetGenerator, whole_scale: int
) -> tuple[list[nn.Module], list[nn.Module], list[nn.Module]]:
    """The generator's layers split by resolution into (down, middle, up): `middle` holds every
    layer working at 1/whole_scale of the input's resolution or less (2 or 4), `down` the
    layers before it, `up` the layers after it."""
    layers = list(net.model)
    downs = [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d) and m.stride != (1, 1)]
    ups = [i for i, m in enumerate(layers) if isinstance(m, nn.ConvTranspose2d)]
    levels = {2: 1, 4: 2}  # stride-2 layers between full resolution and 1/whole_scale
    if whole_scale not in levels or len(downs) < 2 or len(ups) < 2:
        raise ValueError(f"cannot split this generator at 1/{whole_scale} resolution")
    n = levels[whole_scale]
    start = downs[n - 1] + 1  # after the n-th downsampling
    end = ups[len(ups) - n]  # at the upsampling that leaves 1/whole_scale
    return layers[:start], layers[start:end], layers[end:]


def owned_ranges(length: int, tile: int) -> list[tuple[int, int]]:
    """[start, end) ranges of at most `tile` pixels partitioning [0, length)."""
    return [(start, min(start + tile, length)) for start in range(0, length, tile)]


def _tiled_segment(
    layers: list[nn.Module],
    x: Tensor,
    tile: int,
    halo: int,
    progress: Callable[[str], None],
    label: str,
) -> Tensor:
    """Run local layers (pads, convolutions, InstanceNorms, activations) over the whole map x
    tile by tile, exactly. Each tile's window extends `halo` pixels into its neighbours (more
    than the layers' receptive field), and only the tile's own part of the result is kept.
    Every InstanceNorm needs statistics of the whole map, so the tiles are swept once per
    norm layer, up to that layer, accumulating them; a last sweep computes the output."""
    norm_at = [i for i, layer in enumerate(layers) if isinstance(layer, nn.InstanceNorm2d)]
    height, width = x.shape[-2:]
    rows, cols = owned_ranges(height, tile), owned_ranges(width, tile)
    stats: list[tuple[Tensor, Tensor]] = []
    out: Tensor | None = None
    sweeps = len(norm_at) + 1
    for sweep in range(sweeps):
        stop = norm_at[sweep] if sweep < len(norm_at) else len(layers)
        moments = _Moments()
        for n, ((r0, r1), (c0, c1)) in enumerate((r, c) for r in rows for c in cols):
            progress(
                f"{label}, sweep {sweep + 1} of {sweeps}, tile {n + 1} of {len(rows) * len(cols)}"
            )
            wr0, wr1 = max(0, r0 - halo), min(height, r1 + halo)
            wc0, wc1 = max(0, c0 - halo), min(width, c1 + halo)
            h = x[..., wr0:wr1, wc0:wc1]
            k = 0
            for layer in layers[:stop]:
                if isinstance(layer, nn.InstanceNorm2d):
                    h = _normalise(layer, h, *stats[k])
                    k += 1
                else:
                    h = layer(h)
            scale = h.shape[-1] / (wc1 - wc0)  # 1, 1/2, 1/4 going down; 2, 4 going up
            if h.shape[-2] != round((wr1 - wr0) * scale):
                raise ValueError("tiles must keep the aspect of their window")
            part = h[
                ...,
                round((r0 - wr0) * scale) : round((r1 - wr0) * scale),
                round((c0 - wc0) * scale) : round((c1 - wc0) * scale),
            ]
            if sweep < len(norm_at):
                moments.add(part)
                continue
            if out is None:
                out_shape = (1, h.shape[1], round(height * scale), round(width * scale))
                out = torch.empty(out_shape, device=h.device, dtype=h.dtype)
            out[
                ...,
                round(r0 * scale) : round(r1 * scale),
                round(c0 * scale) : round(c1 * scale),
            ] = part
        if sweep < len(norm_at):
            stats.append(moments.mean_var(x))
    assert out is not None
    return out


def tiled_steps(
    height: int, width: int, net: ResnetGenerator, tile: int, whole_scale: int = WHOLE_SCALE
) -> int:
    """How many progress steps `tiled_forward` reports for an H×W image."""
    down, _, up = segments(net, whole_scale)
    tiles = len(owned_ranges(height, tile)) * len(owned_ranges(width, tile))
    small = tile // whole_scale
    tiles_up = len(owned_ranges(height // whole_scale, small)) * len(
        owned_ranges(width // whole_scale, small)
    )
    sweeps = [1 + sum(isinstance(layer, nn.InstanceNorm2d) for layer in s) for s in (down, up)]
    return sweeps[0] * tiles + 1 + sweeps[1] * tiles_up


@torch.inference_mode()
def tiled_forward(
    translator: inference.Translator,
    x: Tensor,
    *,
    tile: int = TILE,
    halo: int = HALO,
    whole_scale: int = WHOLE_SCALE,
    progress: Progress = _no_progress,
) -> Tensor:
    """G(x) for x (1, 3, H, W) in [0, 1] with bounded memory and the untiled result.

    The layers above 1/whole_scale of the input's resolution (whose activations take the
    most memory per input pixel) run in tile×tile tiles; the rest runs on the whole map.
    `tile` and `halo` are in input pixels, multiples of 4.
    """
    if tile % MULTIPLE or halo % MULTIPLE:
        raise ValueError("tile and halo must be multiples of 4")
    net = translator.net
    down, middle, up = segments(net, whole_scale)
    height, width = x.shape[-2:]
    total = tiled_steps(height, width, net, tile, whole_scale)
    done = 0

    def step(message: str) -> None:
        nonlocal done
        progress(done / total, message)
        done += 1

    level = f"1/{whole_scale} resolution"
    h = x.to(inference.device(), torch.float32) * 2 - 1
    h = _tiled_segment(down, h, tile, halo, step, f"down to {level}")
    step(f"the middle layers at {level} and below")
    for layer in middle:
        h = layer(h)
    h = _tiled_segment(
        up, h, tile // whole_scale, halo // whole_scale, step, "up to full resolution"
    )
    progress(1.0, f"{total} steps done")
    return ((h + 1) / 2).float().clamp(0, 1).cpu()


# --------------------------------------------------------------------------- fast path


_ready: set[tuple[str, tuple[int, int]]] = set()  # (model, (H, W)) served compiled
_ready_lock = threading.Lock()


def fast_ready(model_name: str, shape: tuple[int, int]) -> bool:
    with _ready_lock:
        return (model_name, shape) in _ready


def ready_shapes(model_name: str) -> list[tuple[int, int]]:
    with _ready_lock:
        return sorted(s for m, s in _ready if m == model_name)


@cache
def canonical_shapes(long_sides: Sequence[int] = (256, 512)) -> tuple[tuple[int, int], ...]:
    """(H, W) the example photos get at the given resolutions: the shapes worth compiling.

    The three landscape examples (451×300, 600×400, 640×427) all land on 172×256 and 340×512,
    the square one on 256² and 512², so four compiled shapes cover every preset at 256 and 512.
    """
    shapes = []
    for side in long_sides:
        for name in EXAMPLES:
            with Image.open(images.asset(name)) as im:
                w, h = working_size(*im.size, side)
            if (h, w) not in shapes:
                shapes.append((h, w))
    return tuple(shapes)


def check_image(shape: tuple[int, int]) -> Tensor:
    """A real photo squeezed to `shape`, for checking the compiled path against eager."""
    photo = images.to_tensor(images.load_image(images.asset(EXAMPLES[0])))
    return F.interpolate(photo, size=shape, mode="bilinear", antialias=True, align_corners=False)


def warm_fast_path(
    model_name: str = BUILTIN,
    shapes: Sequence[tuple[int, int]] | None = None,
    *,
    tolerance: float = FAST_TOLERANCE,
    require_faster: bool = True,
) -> dict[tuple[int, int], dict[str, float]]:
    """Compile `model_name` for each shape (seconds to minutes each; meant for the background
    warm-up), check it against eager fp32, and serve that shape compiled from then on if the
    output is within `tolerance` and (if `require_faster`) it ran faster than eager: bf16 is
    only a win on CPUs with bf16 instructions. Returns what it measured."""
    fast = inference.compiled(model_name, bf16=True)
    eager = inference.translator(model_name)
    reports = {}
    for shape in shapes if shapes is not None else canonical_shapes():
        if fast_ready(model_name, shape):
            continue
        x = check_image(shape)
        t0 = time.perf_counter()
        y_fast = fast(x).clamp(0, 1)  # compiles for this shape
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        y_fast = fast(x).clamp(0, 1)
        fast_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        y_eager = eager.translate(x)
        eager_s = time.perf_counter() - t0
        diff = float((y_fast - y_eager).abs().max())
        ok = diff <= tolerance and (fast_s < eager_s or not require_faster)
        report = {
            "compile_s": compile_s,
            "fast_s": fast_s,
            "eager_s": eager_s,
            "max_abs_diff": diff,
            "ready": float(ok),
        }
        reports[shape] = report
        if ok:
            with _ready_lock:
                _ready.add((model_name, shape))
        log.info(
            "cyclegan fast path %s %s: compile %.1fs, %.3fs vs eager %.3fs, max|Δ| %.4f -> %s",
            model_name,
            shape,
            compile_s,
            fast_s,
            eager_s,
            diff,
            "serving compiled" if ok else "staying eager",
        )
    return reports


def _compile_in_background() -> None:
    # Compiling takes both cores for 20-70 s after start; students who open the app meanwhile
    # must not feel it (profiled under the load test: the compile thread took a third of the
    # CPU samples while sliders waited).
    inference.lower_thread_priority()
    try:
        warm_fast_path(BUILTIN)
    except Exception:  # an optimisation only: requests keep running eager
        log.exception("compiling the CycleGAN fast path failed; serving eager")


def _warm_hook() -> None:
    """Compile in a thread of its own (about 15-25 s per shape here), so the other tabs'
    warm-up hooks, which take seconds, do not wait minutes behind it."""
    threading.Thread(
        target=_compile_in_background, name="advdemo-cyclegan-compile", daemon=True
    ).start()


inference.on_warm_up(_warm_hook)


# --------------------------------------------------------------------------- translation


@dataclass(frozen=True)
class Pass:
    """How one generator ran: 'compiled', 'eager' or 'tiled' (with how many tiles)."""

    model: str
    path: str
    tiles: int
    seconds: float


def generate(
    model_name: str,
    x: Tensor,
    *,
    max_pixels: int = MAX_UNTILED_PIXELS,
    progress: Progress = _no_progress,
) -> tuple[Tensor, Pass]:
    """G(x) for x (1, 3, H, W) in [0, 1] by the fastest correct path; output on CPU in [0, 1]."""
    h, w = x.shape[-2:]
    if h % MULTIPLE or w % MULTIPLE:
        raise errors.InputError(f"CycleGAN needs sides that are multiples of 4, got {w}×{h}.")
    translator = inference.translator(model_name)
    t0 = time.perf_counter()
    if h * w > max_pixels:
        tile = TILE  # read at call time (tests shrink it)
        y = tiled_forward(translator, x, tile=tile, progress=progress)
        tiles = len(owned_ranges(h, tile)) * len(owned_ranges(w, tile))
        return y, Pass(model_name, "tiled", tiles, time.perf_counter() - t0)
    if fast_ready(model_name, (h, w)):
        y = inference.compiled(model_name, bf16=True)(x).clamp(0, 1)
        return y, Pass(model_name, "compiled", 1, time.perf_counter() - t0)
    y = translator.translate(x)
    return y, Pass(model_name, "eager", 1, time.perf_counter() - t0)


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


def load_message(model_name: str) -> str | None:
    """What a user waits for before `model_name` can run: a download, or nothing."""
    spec = inference.spec(model_name)
    if spec.url is not None and not spec.weights_path.is_file():
        return f"downloading {spec.title} on first use"
    return None


def _load(model_name: str, progress: Progress, at: float) -> None:
    message = load_message(model_name)
    if message is not None:
        progress(at, message)
    inference.translator(model_name, progress=message is not None)


def translate(
    image: object,
    model_name: str = BUILTIN,
    long_side: int = DEFAULT_LONG_SIDE,
    *,
    max_pixels: int = MAX_UNTILED_PIXELS,
    progress: Progress = _no_progress,
) -> Translation:
    """Translate one photo (any upload images.load_image accepts) with translator `model_name`
    at `long_side` pixels on the long side; add the cycle F(G(x)) if the model has a reverse."""
    translators = inference.names("translator")
    model_name = errors.choice("Model", model_name, translators)
    x, original_size = prepare(image, long_side)
    reverse = inference.spec(model_name).reverse
    share = 0.5 if reverse else 1.0  # the fraction of the progress bar G's pass takes

    def part(offset: float, label: str) -> Progress:
        return lambda f, msg: progress(offset + share * f, f"{label}: {msg}")

    _load(model_name, progress, 0.0)
    y, g_pass = generate(model_name, x, max_pixels=max_pixels, progress=part(0.0, "G(x)"))
    if reverse is None:
        return Translation(model_name, None, original_size, x, y, None, None, None, (g_pass,))
    _load(reverse, progress, share)
    back, f_pass = generate(reverse, y, max_pixels=max_pixels, progress=part(share, "F(G(x))"))
    error = (x - back).abs().mean(1)[0]  # (H, W)
    return Translation(
        model_name,
        reverse,
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


EXAMPLES = ("chelsea.png", "astronaut.jpg", "coffee.png", "rocket.jpg")
