"""advdemo.cyclegan: sizes, tiling, the official-generator loader, the cycle, the fast path.

The official CycleGAN generators cannot be downloaded here, so the loader is tested on files
made in their layout (junyanz/pytorch-CycleGAN-and-pix2pix: nn.Sequential under 'model.',
InstanceNorm without affine, optional running stats and 'module.' prefix) with random
weights, against a reference forward written below with torch.nn.functional only.

The compiled fast path costs 11-90 s of torch.compile per shape on this machine, so its real
accuracy check is the slow test at the bottom (run with ADVDEMO_SLOW_TESTS=1) and every run of
benchmarks/bench_cyclegan.py; the default run tests the dispatch rules with a stand-in.
"""

from __future__ import annotations

import itertools
import os
import urllib.error

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from advdemo import cyclegan as cg
from advdemo import images, inference
from advdemo.errors import InputError, ModelUnavailable

# --------------------------------------------------------------------------- helpers


def photo(width: int, height: int) -> Image.Image:
    """A real photo (the cat) squeezed to width × height: textured, not a flat test card."""
    return images.load_image(images.asset("chelsea.png")).resize((width, height))


def err(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    d = (a - b).abs()
    return float(d.mean()), float(d.max())


# junyanz ResnetGenerator(3, 3, ngf=64, norm_layer=InstanceNorm2d, n_blocks=9): index of each
# parametrised layer inside `model` and its shape, written out independently of our class.
NGF = 64


def junyanz_layout() -> dict[str, tuple[str, tuple[int, ...]]]:
    """{'model.N': (kind, weight shape)}: conv / convT weights, and 'norm' with channel count."""
    layers: dict[str, tuple[str, tuple[int, ...]]] = {
        "model.1": ("conv", (NGF, 3, 7, 7)),
        "model.2": ("norm", (NGF,)),
        "model.4": ("conv", (2 * NGF, NGF, 3, 3)),
        "model.5": ("norm", (2 * NGF,)),
        "model.7": ("conv", (4 * NGF, 2 * NGF, 3, 3)),
        "model.8": ("norm", (4 * NGF,)),
    }
    for block in range(10, 19):
        for conv, norm in ((1, 2), (5, 6)):
            layers[f"model.{block}.conv_block.{conv}"] = ("conv", (4 * NGF, 4 * NGF, 3, 3))
            layers[f"model.{block}.conv_block.{norm}"] = ("norm", (4 * NGF,))
    layers["model.19"] = ("convT", (4 * NGF, 2 * NGF, 3, 3))  # ConvTranspose: (in, out, k, k)
    layers["model.20"] = ("norm", (2 * NGF,))
    layers["model.22"] = ("convT", (2 * NGF, NGF, 3, 3))
    layers["model.23"] = ("norm", (NGF,))
    layers["model.26"] = ("conv", (3, NGF, 7, 7))
    return layers


def junyanz_checkpoint(seed: int, *, running_stats: bool, module_prefix: bool) -> dict:
    """A state dict as the official release files have it, with random weights."""
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for name, (kind, shape) in junyanz_layout().items():
        if kind == "norm":
            if running_stats:  # saved by PyTorch ≤ 0.3, where InstanceNorm tracked them
                sd[f"{name}.running_mean"] = torch.randn(shape, generator=gen)
                sd[f"{name}.running_var"] = torch.rand(shape, generator=gen) + 0.5
                sd[f"{name}.num_batches_tracked"] = torch.tensor(7)
            continue
        fan_in = shape[0 if kind == "convT" else 1] * shape[2] * shape[3]
        sd[f"{name}.weight"] = torch.randn(shape, generator=gen) / fan_in**0.5
        out_channels = shape[1] if kind == "convT" else shape[0]
        sd[f"{name}.bias"] = torch.randn(out_channels, generator=gen) * 0.1
    if module_prefix:
        sd = {f"module.{k}": v for k, v in sd.items()}
    return sd


def reference_generator(sd: dict, x: torch.Tensor) -> torch.Tensor:
    """junyanz's ResnetGenerator in torch.nn.functional, on [0, 1] images -> [0, 1]."""
    sd = {k.removeprefix("module."): v for k, v in sd.items()}

    def conv(h, name, stride=1, padding=0):
        return F.conv2d(h, sd[f"{name}.weight"], sd[f"{name}.bias"], stride, padding)

    def norm_relu(h, relu=True):
        h = F.instance_norm(h, eps=1e-5)  # no affine, no running stats: what test.py runs
        return F.relu(h) if relu else h

    h = F.pad(x * 2 - 1, (3, 3, 3, 3), mode="reflect")
    h = norm_relu(conv(h, "model.1"))
    h = norm_relu(conv(h, "model.4", 2, 1))
    h = norm_relu(conv(h, "model.7", 2, 1))
    for block in range(10, 19):
        r = norm_relu(conv(F.pad(h, (1, 1, 1, 1), mode="reflect"), f"model.{block}.conv_block.1"))
        r = conv(F.pad(r, (1, 1, 1, 1), mode="reflect"), f"model.{block}.conv_block.5")
        h = h + norm_relu(r, relu=False)
    for name in ("model.19", "model.22"):
        h = F.conv_transpose2d(
            h, sd[f"{name}.weight"], sd[f"{name}.bias"], stride=2, padding=1, output_padding=1
        )
        h = norm_relu(h)
    h = conv(F.pad(h, (3, 3, 3, 3), mode="reflect"), "model.26")
    return (torch.tanh(h) + 1) / 2


@pytest.fixture
def online_dir(tmp_path, monkeypatch):
    """checkpoints/online/ moved to a temporary directory, and an empty model cache: nothing
    this test writes reaches the real download cache, nothing cached leaks in or out."""
    directory = tmp_path / "online"
    directory.mkdir()
    monkeypatch.setattr(inference, "ONLINE_DIR", directory)
    monkeypatch.setattr(inference, "_cache", {})

    def fail(url, dst, *args, **kwargs):  # no test may touch the network
        raise urllib.error.URLError("test: network disabled")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fail)
    return directory


def place(directory, name: str, sd: dict) -> None:
    """Put a checkpoint where inference expects the first-use download of `name`."""
    assert inference.spec(name).weights_path == directory / f"{name}.pth"
    torch.save(sd, directory / f"{name}.pth")


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(("width", "height"), [(333, 517), (517, 333), (99, 701)])
@pytest.mark.parametrize("long_side", [64, 200])
def test_translate_keeps_aspect_ratio_and_range_for_odd_sizes(width, height, long_side):
    result = cg.translate(photo(width, height), cg.BUILTIN, long_side)
    w, h = result.size
    assert abs(max(w, h) - long_side) <= 2
    assert w % 4 == 0 and h % 4 == 0
    # rounding each side to a multiple of 4 moves it by at most 2 px
    assert abs(w / h - width / height) <= (width / height) * (2 / min(w, h) + 2 / max(w, h))
    assert result.original_size == (width, height)
    for t in (result.source, result.translated):
        assert t.shape == (1, 3, h, w)
        assert torch.isfinite(t).all() and t.min() >= 0 and t.max() <= 1
    assert result.reconstruction is None and result.cycle_l1 is None  # no reverse released
    assert result.passes[0].path == "eager"  # nothing compiled in a test process


def test_large_uploads_are_shrunk_cheaply_to_the_same_picture():
    big = photo(3001, 2000)
    x, original = cg.prepare(big, 256)
    assert original == (3001, 2000)
    assert (x.shape[-1], x.shape[-2]) == cg.working_size(3001, 2000, 256) == (256, 172)
    direct = images.resize_to_multiple(images.to_tensor(big), 256, 4)  # the full-size way
    assert err(x, direct)[0] < 0.01


def test_working_size_matches_resize_to_multiple():
    for width, height, side in [(333, 517, 256), (451, 300, 256), (640, 427, 512), (16, 900, 1024)]:
        x = torch.zeros(1, 3, height, width)
        resized = images.resize_to_multiple(x, side, 4)
        assert cg.working_size(width, height, side) == (resized.shape[-1], resized.shape[-2])


@pytest.mark.parametrize(
    ("long_side", "message"),
    [
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (0, "at least 64"),
        (-256, "at least 64"),
        (4096, "at most 1024"),
        (256.5, "whole number"),
        ("big", "must be a number"),
        (None, "must be a number"),
    ],
)
def test_bad_resolutions_are_refused_clearly(long_side, message):
    with pytest.raises(InputError, match=message):
        cg.translate(photo(64, 64), cg.BUILTIN, long_side)


@pytest.mark.parametrize("model", ["no-such-model", "efficientnet-lite0", None, 3])
def test_unknown_models_are_refused_clearly(model):
    with pytest.raises(InputError, match="Model must be one of"):
        cg.translate(photo(64, 64), model, 64)


def test_images_too_thin_for_the_chosen_resolution_are_refused_clearly():
    with pytest.raises(InputError, match="short side would be 4 px"):
        cg.translate(photo(16, 900), cg.BUILTIN, 256)
    assert cg.translate(photo(16, 900), cg.BUILTIN, 512).size == (8, 512)


def test_bad_uploads_get_the_loaders_messages(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(InputError, match=r"could not be decoded|not an image"):
        cg.translate(str(broken), cg.BUILTIN, 64)
    with pytest.raises(InputError, match="No image given"):
        cg.translate(None, cg.BUILTIN, 64)
    with pytest.raises(InputError, match="at least 16 pixels"):
        cg.translate(Image.new("RGB", (8, 300)), cg.BUILTIN, 64)


# --------------------------------------------------------------------------- tiling


@pytest.mark.parametrize("length", [4, 100, 128, 260, 512, 1020, 1024])
@pytest.mark.parametrize("tile", [cg.TILE, 128, 4])
def test_owned_ranges_partition_the_side(length, tile):
    ranges = cg.owned_ranges(length, tile)
    assert ranges[0][0] == 0 and ranges[-1][1] == length
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert all(0 < end - start <= tile for start, end in ranges)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("whole_scale", [2, 4])
def test_segments_split_the_generator_by_resolution(affine, whole_scale):
    from advdemo.nets.cyclegan import ResnetBlock, ResnetGenerator

    net = ResnetGenerator(affine=affine).eval()
    down, middle, up = cg.segments(net, whole_scale)
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
        cg.segments(net, 8)


def test_tiled_equals_untiled():
    """Tiles with halos and whole-map statistics reproduce the untiled forward (measured: max
    |Δ| 2.4e-7 at halo ≥ 8 px); with too small a halo the tile borders show (halo 4: max 0.04,
    halo 0: 0.18), which is what this test would catch."""
    t = inference.translator(cg.BUILTIN)
    x = images.to_tensor(photo(192, 128))
    untiled = t.translate(x)
    for whole_scale in (2, 4):
        tiled = cg.tiled_forward(t, x, tile=64, whole_scale=whole_scale)
        assert err(tiled, untiled)[1] < 1e-5
    assert err(cg.tiled_forward(t, x, tile=64, halo=0), untiled)[1] > 1e-2


@pytest.fixture
def small_tiles(monkeypatch):
    """64 px tiles, so tiled runs in tests stay small."""
    monkeypatch.setattr(cg, "TILE", 64)


def test_large_images_are_tiled_and_report_progress(small_tiles):
    t = inference.translator(cg.BUILTIN)
    x = images.to_tensor(photo(192, 128))
    seen: list[tuple[float, str]] = []
    y, run = cg.generate(
        cg.BUILTIN, x, max_pixels=128 * 128, progress=lambda f, m: seen.append((f, m))
    )
    assert run.path == "tiled" and run.tiles == 6
    assert err(y, t.translate(x))[1] < 1e-5
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert len(seen) == cg.tiled_steps(128, 192, t.net, 64) + 1
    messages = [m for _, m in seen]
    assert "down to 1/2 resolution, sweep 1 of 2, tile 1 of 6" in messages
    assert "the middle layers at 1/2 resolution and below" in messages
    assert "up to full resolution, sweep 2 of 2, tile 6 of 6" in messages
    _, small = cg.generate(cg.BUILTIN, x, max_pixels=192 * 128)
    assert small.path == "eager"  # at the budget: untiled


# --------------------------------------------------------------------------- official loader


VARIANTS = [
    pytest.param(False, False, id="plain"),
    pytest.param(True, False, id="running-stats"),
    pytest.param(False, True, id="module-prefix"),
    pytest.param(True, True, id="both"),
]


@pytest.mark.parametrize(("running_stats", "module_prefix"), VARIANTS)
def test_official_loader_reads_the_junyanz_layout(online_dir, running_stats, module_prefix):
    sd = junyanz_checkpoint(1, running_stats=running_stats, module_prefix=module_prefix)
    place(online_dir, "style_vangogh", sd)
    assert cg.load_message("style_vangogh") is None  # on disk: nothing to download
    x = images.to_tensor(photo(96, 64))
    out = inference.translator("style_vangogh").translate(x)
    mean, worst = err(out, reference_generator(sd, x).clamp(0, 1))
    assert worst < 1e-4, (mean, worst)


@pytest.mark.parametrize("name", [n for n, (rev, _) in inference.CYCLEGAN_OFFICIAL.items()])
def test_every_official_model_has_a_reverse_that_maps_back(name):
    reverse = inference.spec(name).reverse
    if reverse is not None:
        assert inference.spec(reverse).reverse == name
        assert inference.spec(reverse).task == "translator"


def test_cycle_matches_a_reference_pair(online_dir):
    g = junyanz_checkpoint(2, running_stats=True, module_prefix=False)
    f = junyanz_checkpoint(3, running_stats=False, module_prefix=True)
    place(online_dir, "horse2zebra", g)
    place(online_dir, "zebra2horse", f)
    seen: list[tuple[float, str]] = []
    result = cg.translate(
        photo(120, 90), "horse2zebra", 96, progress=lambda p, m: seen.append((p, m))
    )
    x = result.source
    assert result.reverse == "zebra2horse" and x.shape == (1, 3, 72, 96)
    gx = reference_generator(g, x).clamp(0, 1)
    fgx = reference_generator(f, gx).clamp(0, 1)
    assert err(result.translated, gx)[1] < 1e-4
    assert err(result.reconstruction, fgx)[1] < 1e-4
    expected_map = (x - fgx).abs().mean(1)[0]
    assert result.cycle_error.shape == (72, 96)
    assert err(result.cycle_error, expected_map)[1] < 1e-4
    assert result.cycle_l1 == pytest.approx(float(expected_map.mean()), abs=1e-5)
    assert [p.model for p in result.passes] == ["horse2zebra", "zebra2horse"]
    assert [p for p, _ in seen] == sorted(p for p, _ in seen)


def test_cycle_of_tiled_images_is_tiled_both_ways(online_dir, small_tiles):
    for name, seed in (("horse2zebra", 2), ("zebra2horse", 3)):
        place(online_dir, name, junyanz_checkpoint(seed, running_stats=False, module_prefix=False))
    result = cg.translate(photo(300, 200), "horse2zebra", 96, max_pixels=64 * 64)
    assert [p.path for p in result.passes] == ["tiled", "tiled"]
    assert result.reconstruction.shape == result.source.shape
    assert 0 < result.cycle_l1 < 1


def test_offline_download_says_so_and_leaves_no_partial_file(online_dir):
    assert cg.load_message("horse2zebra") == (
        "downloading horse2zebra (official CycleGAN, online) on first use"
    )
    messages: list[str] = []
    with pytest.raises(ModelUnavailable, match="offline; the built-in models work"):
        cg.translate(photo(64, 64), "horse2zebra", 64, progress=lambda p, m: messages.append(m))
    assert messages == ["downloading horse2zebra (official CycleGAN, online) on first use"]
    assert list(online_dir.iterdir()) == []


def test_checkpoint_of_the_wrong_architecture_is_reported(online_dir):
    sd = junyanz_checkpoint(4, running_stats=False, module_prefix=False)
    del sd["model.26.bias"]
    place(online_dir, "style_monet", sd)
    with pytest.raises(ModelUnavailable, match="does not fit its architecture"):
        cg.translate(photo(64, 64), "style_monet", 64)


# --------------------------------------------------------------------------- heat map


def test_heat_map_runs_from_black_to_pale_yellow():
    ramp = torch.linspace(0, 2 * cg.HEAT_MAX, 64).expand(4, 64)
    rgb = torch.tensor(list(cg.heat_map(ramp).get_flattened_data()), dtype=torch.float32).view(
        4, 64, 3
    )
    assert rgb[0, 0].tolist() == [0, 0, 4]
    assert rgb[0, -1].tolist() == [252, 255, 164]  # clipped at HEAT_MAX
    luminance = (rgb[0] * torch.tensor([0.299, 0.587, 0.114])).sum(-1)
    assert (luminance.diff() >= -1.0).all()  # brighter as the error grows
    assert cg.colour_bar(100, 10).size == (100, 10)


# --------------------------------------------------------------------------- fast path


@pytest.fixture
def fake_compiled(monkeypatch):
    """inference.compiled replaced by a counting stand-in (eager plus a tiny offset), and an
    empty set of ready shapes: tests the dispatch rules without paying for torch.compile."""
    calls: list[tuple[int, ...]] = []
    offset = {"value": 0.001}

    def compiled(name, *, bf16):
        model = inference.translator(name)

        def fn(x):
            calls.append(tuple(x.shape[-2:]))
            return model.translate(x) + offset["value"]

        return fn

    monkeypatch.setattr(inference, "compiled", compiled)
    monkeypatch.setattr(cg, "_ready", set())
    return calls, offset


def test_only_shapes_checked_at_warm_up_are_served_compiled(fake_compiled):
    calls, _ = fake_compiled
    x = images.to_tensor(photo(96, 64))
    _, before = cg.generate(cg.BUILTIN, x)
    assert before.path == "eager" and calls == []  # a user never triggers a compile

    reports = cg.warm_fast_path(cg.BUILTIN, [(64, 96)], require_faster=False)
    assert reports[(64, 96)]["max_abs_diff"] == pytest.approx(0.001, abs=1e-4)
    calls.clear()
    y, after = cg.generate(cg.BUILTIN, x)
    assert after.path == "compiled" and calls == [(64, 96)]
    assert err(y, inference.translator(cg.BUILTIN).translate(x))[1] <= cg.FAST_TOLERANCE

    calls.clear()
    _, other = cg.generate(cg.BUILTIN, images.to_tensor(photo(64, 96)))  # not warmed
    assert other.path == "eager" and calls == []


def test_a_fast_path_that_drifts_is_never_served(fake_compiled):
    _, offset = fake_compiled
    offset["value"] = 2 * cg.FAST_TOLERANCE
    reports = cg.warm_fast_path(cg.BUILTIN, [(64, 96)], require_faster=False)
    assert reports[(64, 96)]["ready"] == 0.0
    assert not cg.fast_ready(cg.BUILTIN, (64, 96))


def test_canonical_shapes_cover_every_example_at_256_and_512():
    shapes = cg.canonical_shapes()
    for name in cg.EXAMPLES:
        with Image.open(images.asset(name)) as im:
            for side in (256, 512):
                w, h = cg.working_size(*im.size, side)
                assert (h, w) in shapes
    assert len(shapes) <= 8  # torch._dynamo's recompile limit per code object


SLOW = pytest.mark.skipif(
    not os.environ.get("ADVDEMO_SLOW_TESTS"),
    reason="torch.compile takes 11-90 s per shape here; set ADVDEMO_SLOW_TESTS=1",
)


@pytest.mark.slow
@SLOW
def test_compiled_path_matches_eager_and_serves_while_another_shape_compiles(monkeypatch):
    """The real thing: warm one shape, then compile a second in a background thread (as the
    app's warm-up does) while requests for the first are served compiled and requests for the
    second are served eager until it is ready."""
    import threading

    monkeypatch.setattr(cg, "_ready", set())
    eager = inference.translator(cg.BUILTIN)
    first, second = (172, 256), (256, 256)
    reports = cg.warm_fast_path(cg.BUILTIN, [first], require_faster=False)
    assert reports[first]["max_abs_diff"] <= cg.FAST_TOLERANCE
    x = images.to_tensor(photo(256, 172))
    fast, run = cg.generate(cg.BUILTIN, x)
    assert run.path == "compiled"
    mean, worst = err(fast, eager.translate(x))
    assert worst <= cg.FAST_TOLERANCE and mean <= 0.005, (mean, worst)

    warming = threading.Thread(
        target=cg.warm_fast_path, args=(cg.BUILTIN, [second]), kwargs={"require_faster": False}
    )
    warming.start()
    square = images.to_tensor(photo(256, 256))
    served = []
    while warming.is_alive() and len(served) < 20:
        y, run = cg.generate(cg.BUILTIN, x)
        served.append(run.path)
        assert err(y, fast)[1] < 1e-6  # the same kernels, the same answer
        _, other = cg.generate(cg.BUILTIN, square)
        assert other.path == "eager" or cg.fast_ready(cg.BUILTIN, second)
    warming.join()
    assert served and set(served) == {"compiled"}
    assert cg.generate(cg.BUILTIN, square)[1].path == "compiled"
