"""advdemo.translation.tiling: the exact tiled forward, and when generate() takes it."""

from __future__ import annotations

import itertools

import pytest
import torch

from advdemo.core import images
from advdemo.translation import cyclegan as cg
from advdemo.translation import tiling
from tests.translation.test_cyclegan import err, generator, photo


@pytest.mark.parametrize("length", [4, 100, 128, 260, 512, 1020, 1024])
@pytest.mark.parametrize("tile", [tiling.TILE, 128, 4])
def test_owned_ranges_partition_the_side(length, tile):
    ranges = tiling.owned_ranges(length, tile)
    assert ranges[0][0] == 0 and ranges[-1][1] == length
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert all(0 < end - start <= tile for start, end in ranges)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("whole_scale", [2, 4])
def test_segments_split_the_generator_by_resolution(affine, whole_scale):
    from advdemo.models.nets.cyclegan import ResnetBlock, ResnetGenerator

    net = ResnetGenerator(affine=affine).eval()
    down, middle, up = tiling.segments(net, whole_scale)
    assert down + middle + up == list(net.model)
    assert not any(isinstance(m, ResnetBlock) for m in down + up)
    assert isinstance(middle[0], torch.nn.InstanceNorm2d)
    assert isinstance(up[0], torch.nn.ConvTranspose2d)
    assert sum(isinstance(m, ResnetBlock) for m in middle) == 9
    x = torch.rand(1, 3, 32, 48)
    with torch.inference_mode():
        h = torch.nn.Sequential(*down)(x)
        assert h.shape[-2:] == (32 // whole_scale, 48 // whole_scale)
        h = torch.nn.Sequential(*middle)(h)
        assert h.shape[-2:] == (32 // whole_scale, 48 // whole_scale)
        assert torch.nn.Sequential(*up)(h).shape == x.shape
    with pytest.raises(ValueError, match="cannot split"):
        tiling.segments(net, 8)


def test_tiled_equals_untiled(store):
    """Tiles with halos and whole-map statistics reproduce the untiled forward (measured: max
    |Δ| 2.4e-7 at halo ≥ 8 px); with too small a halo the tile borders show (halo 4: max 0.04,
    halo 0: 0.18), which is what this test would catch."""
    t = store.translator(cg.BUILTIN)
    x = images.to_tensor(photo(192, 128))
    untiled = t.translate(x)
    for whole_scale in (2, 4):
        tiled = tiling.tiled_forward(t, x, tile=64, whole_scale=whole_scale)
        assert err(tiled, untiled)[1] < 1e-5
    assert err(tiling.tiled_forward(t, x, tile=64, halo=0), untiled)[1] > 1e-2


def test_large_images_are_tiled_and_report_progress(store):
    """(64 px tiles, so tiled runs in tests stay small.) Issue #20: the bar moved by steps of
    equal weight, then sat at 47 % through the middle layers, most of the work, in one step."""
    t = store.translator(cg.BUILTIN)
    x = images.to_tensor(photo(192, 128))
    seen: list[tuple[float, str]] = []
    y, run = cg.generate(
        generator(store),
        x,
        max_pixels=128 * 128,
        tile=64,
        progress=lambda f, m: seen.append((f, m)),
    )
    assert run.path == "tiled" and run.tiles == 6
    assert err(y, t.translate(x))[1] < 1e-5
    fractions = [f for f, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(a < b for a, b in itertools.pairwise(fractions))  # every report moves the bar
    assert len(seen) == tiling.tiled_steps(128, 192, t.net, 64) + 1
    messages = [m for _, m in seen]
    assert messages[0].startswith("down to 1/2 resolution, sweep 1 of 2, tile 1 of 6")
    assert any(m.startswith("up to full resolution, sweep 2 of 2, tile 6 of 6") for m in messages)
    middle = [(f, m) for f, m in seen if m.startswith("middle layers")]
    assert len(middle) >= 9  # one report per layer at least (9 residual blocks)
    assert middle[0][0] < 0.3  # weighted by work: the cheap tiles take little of the bar
    assert all(" s left" in m for m in messages[1:-1])  # estimated from the work done so far
    _, small = cg.generate(generator(store), x, max_pixels=192 * 128, tile=64)
    assert small.path == "eager"  # at the budget: untiled
