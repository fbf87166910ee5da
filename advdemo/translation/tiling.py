"""Exact tiled CycleGAN forward: bounded memory for large images, the untiled result.

The full-resolution layers, whose 64-channel activations dominate memory, run in TILE×TILE
tiles whose windows overlap their neighbours by HALO pixels (more than those layers' receptive
field; the overlap is cut off, not blended); the layers at 1/2 and 1/4 resolution run on the
whole map. InstanceNorm needs per-channel statistics of the whole feature map, so tiles
normalised on their own would disagree in colour and leave seams; here the tiles are swept
once per norm layer to accumulate the whole map's exact statistics first. The result equals
the untiled forward up to float rounding: no seams, no approximation; about half the peak
memory for ~1.25× the CPU time (measured at 1024²).

Progress is reported once per tile and once per layer of the whole-map part, each step weighted
by its share of the work (multiply-adds), with the seconds left estimated from the work done so
far: the whole-map layers are most of the work, and a bar counting steps would sit still there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

from advdemo.models.nets.cyclegan import ResnetGenerator
from advdemo.models.wrappers import Translator

MULTIPLE = 4  # two stride-2 down/up-samplings: tile and halo are multiples of it
TILE = 512  # tile side in input pixels (a tile is at most the untiled budget)
# Layers at 1/2 and 1/4 resolution run on the whole map, full-resolution ones in tiles. At
# 1024² (CPU seconds / peak RSS growth, measured here): untiled 16.4 s / 900 MB; this 20.3 s /
# 467 MB; tiling the 1/2-resolution layers as well (WHOLE_SCALE = 4) 24.7 s / 396 MB.
WHOLE_SCALE = 2
HALO = 16  # pixels each tile's window reaches into its neighbours: > the receptive field of
# the tiled layers (6 px going down, about 9 px going up), so every kept pixel is exact

Progress = Callable[[float, str], None]  # (fraction done in [0, 1], message)


def no_progress(fraction: float, message: str) -> None:
    """Progress sink used when the caller passes none."""


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


Box = tuple[int, int, int, int]  # rows [r0, r1) and columns [c0, c1)


def _windows(height: int, width: int, tile: int, halo: int) -> Iterator[tuple[Box, Box]]:
    """Every tile, row by row: its own part and its window reaching `halo` px further."""
    for r0, r1 in owned_ranges(height, tile):
        for c0, c1 in owned_ranges(width, tile):
            rows = (max(0, r0 - halo), min(height, r1 + halo))
            yield (r0, r1, c0, c1), (*rows, max(0, c0 - halo), min(width, c1 + halo))


def _sweep_stops(layers: Sequence[nn.Module]) -> list[int]:
    """Where each sweep of `_tiled_segment` stops: at every InstanceNorm, then at the end."""
    return [i for i, m in enumerate(layers) if isinstance(m, nn.InstanceNorm2d)] + [len(layers)]


# The progress bar's weights: CPU time per unit of work relative to a multiply-add of the
# residual blocks' 3×3 convolutions, measured here once per layer type (fp32, one thread, a
# 384×256 photo). Thin convolutions (3 channels in or out) and transposed ones run far below
# the blocks' speed, and a norm or pad costs as much per element as hundreds of multiply-adds:
# counted by multiply-adds alone, the full-resolution tiles would look like 2 % of the work.
_NORM_COST = 250  # per element of an InstanceNorm (it reads the map twice)
_ELEMENT_COST = 60  # per element of a pad, activation or other elementwise layer


def _conv_cost(conv: nn.Conv2d | nn.ConvTranspose2d) -> float:
    """Relative cost of one multiply-add of `conv` (see _NORM_COST)."""
    if min(conv.in_channels, conv.out_channels) <= 4:
        return 4.0
    if isinstance(conv, nn.ConvTranspose2d):
        return 3.0
    return 1.5 if conv.stride != (1, 1) else 1.0


def _work(
    layers: Sequence[nn.Module], channels: int, area: float = 1.0
) -> tuple[float, int, float]:
    """Estimated work of `layers` per input pixel, in the units above (their input having
    `area` pixels per input pixel), and the channels and area they leave."""
    work = 0.0
    leaves = (m for layer in layers for m in layer.modules() if not list(m.children()))
    for m in leaves:
        if not isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            cost = _NORM_COST if isinstance(m, nn.InstanceNorm2d) else _ELEMENT_COST
            work += area * channels * cost
            continue
        kh, kw = m.kernel_size
        macs = m.in_channels * m.out_channels * kh * kw / m.groups * _conv_cost(m)
        step = m.stride[0] * m.stride[1]
        if isinstance(m, nn.ConvTranspose2d):
            work, area = work + area * macs, area * step
        else:
            area /= step
            work += area * macs
        channels = m.out_channels
    return work, channels, area


def _segment_work(
    layers: Sequence[nn.Module], channels: int, height: int, width: int, tile: int, halo: int
) -> tuple[list[float], int]:
    """The work of each step `_tiled_segment` reports, in its order; the channels it leaves."""
    stops = _sweep_stops(layers)
    per_pixel = [_work(layers[:stop], channels)[0] for stop in stops]
    works = [
        w * (wr1 - wr0) * (wc1 - wc0)
        for w in per_pixel
        for _, (wr0, wr1, wc0, wc1) in _windows(height, width, tile, halo)
    ]
    return works, _work(layers, channels)[1]


def _plan(
    net: ResnetGenerator, height: int, width: int, tile: int, halo: int, whole_scale: int
) -> list[float]:
    """The work of every progress step `tiled_forward` reports, in order."""
    down, middle, up = segments(net, whole_scale)
    works, channels = _segment_work(down, 3, height, width, tile, halo)
    area = 1.0  # pixels per pixel of the middle's input (1/4 of them at 1/4 resolution)
    pixels = (height // whole_scale) * (width // whole_scale)
    for layer in middle:
        work, channels, area = _work([layer], channels, area)
        works.append(work * pixels)
    small = (height // whole_scale, width // whole_scale, tile // whole_scale)
    return works + _segment_work(up, channels, *small, halo // whole_scale)[0]


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
    height, width = x.shape[-2:]
    stops = _sweep_stops(layers)
    sweeps, tiles = len(stops), len(owned_ranges(height, tile)) * len(owned_ranges(width, tile))
    stats: list[tuple[Tensor, Tensor]] = []
    out: Tensor | None = None
    for sweep, stop in enumerate(stops):
        last = sweep == sweeps - 1
        moments = _Moments()
        windows = _windows(height, width, tile, halo)
        for n, ((r0, r1, c0, c1), (wr0, wr1, wc0, wc1)) in enumerate(windows):
            progress(f"{label}, sweep {sweep + 1} of {sweeps}, tile {n + 1} of {tiles}")
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
            if not last:
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
        if not last:
            stats.append(moments.mean_var(x))
    assert out is not None
    return out


def tiled_steps(
    height: int, width: int, net: ResnetGenerator, tile: int, whole_scale: int = WHOLE_SCALE
) -> int:
    """How many progress steps `tiled_forward` reports for an H×W image (before the last, 1.0)."""
    return len(_plan(net, height, width, tile, HALO, whole_scale))


@torch.inference_mode()
def tiled_forward(
    translator: Translator,
    x: Tensor,
    *,
    tile: int = TILE,
    halo: int = HALO,
    whole_scale: int = WHOLE_SCALE,
    progress: Progress = no_progress,
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
    plan = _plan(net, height, width, tile, halo, whole_scale)
    works, total, done, start = iter(plan), sum(plan), 0.0, time.perf_counter()

    def step(message: str) -> None:
        """Report the work done before this step, and the seconds left at the rate so far."""
        nonlocal done
        if done > 0:
            left = (time.perf_counter() - start) * (total - done) / done
            message += f"; about {max(1, round(left))} s left in this pass"
        progress(done / total, message)
        done += next(works)

    level = f"1/{whole_scale} resolution"
    h = x.to(translator.device, torch.float32) * 2 - 1
    h = _tiled_segment(down, h, tile, halo, step, f"down to {level}")
    for n, layer in enumerate(middle):
        step(f"middle layers at {level} and below, layer {n + 1} of {len(middle)}")
        h = layer(h)
    h = _tiled_segment(
        up, h, tile // whole_scale, halo // whole_scale, step, "up to full resolution"
    )
    progress(1.0, f"{len(plan)} steps done")
    return ((h + 1) / 2).float().clamp(0, 1).cpu()
