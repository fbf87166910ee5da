"""advdemo.translation.cyclegan: sizes, the official-generator loader, the cycle, the heat map.

The official CycleGAN generators cannot be downloaded here, so the loader is tested on files
made in their layout (junyanz/pytorch-CycleGAN-and-pix2pix: nn.Sequential under 'model.',
InstanceNorm without affine, optional running stats and 'module.' prefix) with random
weights, against a reference forward written below with torch.nn.functional only.

Tiling is tested in test_tiling.py, the compiled fast path in test_fastpath.py; the helpers
here (photos, official-layout checkpoints, a reference forward) serve all three and the tab's
tests. Online models are placed in the `offline_store` fixture's download folder.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from advdemo.core import images
from advdemo.core.errors import InputError, ModelUnavailable
from advdemo.models import registry
from advdemo.models.store import ModelStore
from advdemo.translation import cyclegan as cg
from tests.conftest import place_online

# --------------------------------------------------------------------------- helpers


def photo(width: int, height: int) -> Image.Image:
    """A real photo (the cat) squeezed to width × height: textured, not a flat test card."""
    return images.load_image(images.asset("chelsea.png")).resize((width, height))


def err(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    d = (a - b).abs()
    return float(d.mean()), float(d.max())


def generator(store: ModelStore, name: str = cg.BUILTIN, fast=None) -> cg.Generator:
    return cg.Generator(name, store.translator(name), fast)


def translate(store: ModelStore, image, model, long_side, **options) -> cg.Translation:
    """What the tab does with a request: check the model's name and the photo, then load G
    (and F where the model has a reverse) from `store` and translate."""
    name = cg.check_model(model)
    x, original_size = cg.prepare(image, long_side)
    forward = generator(store, name)
    reverse = registry.spec(name).reverse
    back = generator(store, reverse) if reverse is not None else None
    return cg.translate(x, original_size, forward, back, **options)


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


def place(store: ModelStore, name: str, sd: dict) -> None:
    """Put a checkpoint where `store` expects the first-use download of `name`."""
    assert (
        store.weights_path(registry.spec(name)) == store.checkpoint_dir / "online" / f"{name}.pth"
    )
    place_online(store, name, sd)


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(("width", "height"), [(333, 517), (517, 333), (99, 701)])
@pytest.mark.parametrize("long_side", [64, 200])
def test_translate_keeps_aspect_ratio_and_range_for_odd_sizes(store, width, height, long_side):
    result = translate(store, photo(width, height), cg.BUILTIN, long_side)
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
    assert result.passes[0].path == "eager"  # no fast path given: nothing compiled


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
        size = cg.working_size(width, height, side, upscale=True)
        assert size == (resized.shape[-1], resized.shape[-2])


def test_small_photos_run_at_their_own_size_unless_upscaling_is_asked_for():
    """Issue #20: a 451×300 photo at 1024 px ran at 1024×680 (slow, and no more detail)."""
    x, original = cg.prepare(photo(451, 300), 1024)
    assert original == (451, 300)
    assert x.shape[-2:] == (300, 448)  # its own size, rounded down to multiples of 4
    x, _ = cg.prepare(photo(451, 300), 1024, upscale=True)
    assert x.shape[-2:] == (680, 1024)
    assert cg.working_size(451, 300, 256) == cg.working_size(451, 300, 256, upscale=True)
    assert cg.working_size(60, 40, 64) == (60, 40)
    assert cg.working_size(60, 40, 64, upscale=True) == (64, 44)


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
        (None, "is empty"),
    ],
)
def test_bad_resolutions_are_refused_clearly(store, long_side, message):
    with pytest.raises(InputError, match=message):
        translate(store, photo(64, 64), cg.BUILTIN, long_side)


@pytest.mark.parametrize("model", ["no-such-model", "efficientnet-lite0", None, 3])
def test_unknown_models_are_refused_clearly(model):
    with pytest.raises(InputError, match="Model must be one of"):
        cg.check_model(model)


def test_images_too_thin_for_the_chosen_resolution_are_refused_clearly(store):
    with pytest.raises(InputError, match="short side would be 4 px"):
        cg.prepare(photo(16, 900), 256)
    assert translate(store, photo(16, 900), cg.BUILTIN, 512).size == (8, 512)


def test_bad_uploads_get_the_loaders_messages(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(InputError, match=r"could not be decoded|not an image"):
        cg.prepare(str(broken), 64)
    with pytest.raises(InputError, match="No image given"):
        cg.prepare(None, 64)
    with pytest.raises(InputError, match="at least 16 pixels"):
        cg.prepare(Image.new("RGB", (8, 300)), 64)


# --------------------------------------------------------------------------- official loader


VARIANTS = [
    pytest.param(False, False, id="plain"),
    pytest.param(True, False, id="running-stats"),
    pytest.param(False, True, id="module-prefix"),
    pytest.param(True, True, id="both"),
]


@pytest.mark.parametrize(("running_stats", "module_prefix"), VARIANTS)
def test_official_loader_reads_the_junyanz_layout(offline_store, running_stats, module_prefix):
    sd = junyanz_checkpoint(1, running_stats=running_stats, module_prefix=module_prefix)
    place(offline_store, "style_vangogh", sd)
    weights = offline_store.weights_path(registry.spec("style_vangogh"))
    assert cg.load_message("style_vangogh", weights) is None  # on disk: nothing to download
    x = images.to_tensor(photo(96, 64))
    out = offline_store.translator("style_vangogh").translate(x)
    mean, worst = err(out, reference_generator(sd, x).clamp(0, 1))
    assert worst < 1e-4, (mean, worst)


@pytest.mark.parametrize("name", [n for n, (rev, _) in registry.CYCLEGAN_OFFICIAL.items()])
def test_every_official_model_has_a_reverse_that_maps_back(name):
    reverse = registry.spec(name).reverse
    if reverse is not None:
        assert registry.spec(reverse).reverse == name
        assert registry.spec(reverse).task == "translator"


def test_cycle_matches_a_reference_pair(offline_store):
    g = junyanz_checkpoint(2, running_stats=True, module_prefix=False)
    f = junyanz_checkpoint(3, running_stats=False, module_prefix=True)
    place(offline_store, "horse2zebra", g)
    place(offline_store, "zebra2horse", f)
    seen: list[tuple[float, str]] = []
    result = translate(
        offline_store, photo(120, 90), "horse2zebra", 96, progress=lambda p, m: seen.append((p, m))
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


def test_cycle_of_tiled_images_is_tiled_both_ways(offline_store):
    for name, seed in (("horse2zebra", 2), ("zebra2horse", 3)):
        sd = junyanz_checkpoint(seed, running_stats=False, module_prefix=False)
        place(offline_store, name, sd)
    result = translate(
        offline_store, photo(300, 200), "horse2zebra", 96, max_pixels=64 * 64, tile=64
    )
    assert [p.path for p in result.passes] == ["tiled", "tiled"]
    assert result.reconstruction.shape == result.source.shape
    assert 0 < result.cycle_l1 < 1


def test_offline_download_says_so_and_leaves_no_partial_file(offline_store):
    """(The tab shows this message as progress before it loads: tests/tabs/test_cyclegan.py.)"""
    weights = offline_store.weights_path(registry.spec("horse2zebra"))
    assert cg.load_message("horse2zebra", weights) == (
        "downloading horse2zebra (official CycleGAN, online) on first use"
    )
    with pytest.raises(ModelUnavailable, match="offline; the built-in models work"):
        offline_store.translator("horse2zebra")
    assert list((offline_store.checkpoint_dir / "online").iterdir()) == []


def test_checkpoint_of_the_wrong_architecture_is_reported(offline_store):
    sd = junyanz_checkpoint(4, running_stats=False, module_prefix=False)
    del sd["model.26.bias"]
    place(offline_store, "style_monet", sd)
    with pytest.raises(ModelUnavailable, match="does not fit its architecture"):
        translate(offline_store, photo(64, 64), "style_monet", 64)


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
