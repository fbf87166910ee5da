"""advdemo.gan2d.plots and .raster: what a frame shows is read out of the trainer, and the
pictures draw it where it is (heat map colours, samples, colour bar, curves)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from advdemo.gan2d import raster
from advdemo.gan2d.data import EXTENT
from advdemo.gan2d.plots import MAX_LINE_POINTS, binned, snapshot
from advdemo.gan2d.trainer import Gan2dTrainer, make_config

SMALL = {"g_width": 16, "d_width": 16, "batch": 64}


@pytest.fixture(scope="module")
def trained() -> Gan2dTrainer:
    t = Gan2dTrainer(make_config(loss="ns", **SMALL))
    t.run(3)
    return t


def pixel(image: Image.Image, x: float, y: float) -> np.ndarray:
    """The colour at plane point (x, y) of a plane picture."""
    (px, py) = raster._to_pixels(np.array([x, y]))
    return np.asarray(image)[round(float(py)), round(float(px))].astype(int)


def test_the_snapshot_shows_the_generator_on_its_fixed_z_and_the_arrows_follow_the_loss(trained):
    t = trained
    snap = snapshot(t)
    np.testing.assert_allclose(snap.fake, t.G(t.view_z[: len(snap.fake)]).numpy(), rtol=1e-6)
    # each arrow points down G's loss: a small move along it lowers −log D(G(z)) at that sample
    x = torch.from_numpy(snap.fake[:20])
    before = torch.nn.functional.softplus(-t.D(x)).sum()
    after = torch.nn.functional.softplus(-t.D(x + 1e-3 * torch.from_numpy(snap.push[:20]))).sum()
    assert float(after) < float(before)


def test_the_plane_picture_draws_the_heat_map_the_samples_and_its_key(trained):
    snap = snapshot(trained)
    heat = np.zeros_like(snap.heat)
    heat[:, heat.shape[1] // 2 :] = 1.0  # D says "real" on the right half, "fake" on the left
    far = np.full((2, 2), 10 * EXTENT, dtype=np.float32)  # off the plane: must not be drawn
    blank = dict(real=far, fake=far, push=np.zeros_like(far), manifold=np.full((1, 2, 2), 9.0))
    image = raster.plane_image(snap.__class__(**{**vars(snap), "heat": heat, **blank}), "A: ")
    assert image.size == (raster.WIDTH, raster.HEIGHT)
    palette = raster.heat_palette()
    assert np.abs(pixel(image, 2.4, 0.5) - palette[255]).max() <= 2  # red where D(x) = 1
    assert np.abs(pixel(image, -2.4, 0.5) - palette[0]).max() <= 2  # blue where D(x) = 0
    right_margin = np.asarray(image)[raster.TOP : raster.TOP + raster.PLOT, -6:]
    assert (right_margin > 250).all()  # nothing off the plane spilled into the margins
    # a sample is drawn where it is, in its colour, on top of the map
    dots = {**blank, "fake": np.array([[1.0, -1.0]], np.float32), "push": np.zeros((1, 2))}
    image = raster.plane_image(snap.__class__(**{**vars(snap), "heat": heat, **dots}))
    orange = np.array(Image.new("RGB", (1, 1), raster.FAKE).getpixel((0, 0)))
    assert np.abs(pixel(image, 1.0, -1.0) - orange).max() <= 2


def test_a_score_heat_map_is_centred_and_its_bar_says_what_the_colours_mean(trained):
    snap = snapshot(trained)
    values = np.linspace(-3.0, 5.0, snap.heat.size).reshape(snap.heat.shape)
    values[0, 0] = np.nan  # a non-finite value is drawn at the middle, not as an error
    score = snap.__class__(**{**vars(snap), "heat": values, "probability": False})
    shown, lo, hi = raster.heat_range(score)
    assert np.isfinite(shown).all() and (lo + hi) / 2 == pytest.approx(np.nanmedian(values))
    assert raster.nice_ticks(lo, hi, 4) and raster.nice_ticks(0, 1, 4) == [0, 0.25, 0.5, 0.75, 1]
    assert raster.plane_image(score).size == (raster.WIDTH, raster.HEIGHT)


def test_began_draws_a_low_reconstruction_error_as_real(trained):
    """BEGAN's D outputs its reconstruction error, low where it takes x for real: the map's
    red (real) end is the low end, the bar's values run from the top down, and it says so."""
    snap = snapshot(trained)
    heat = np.ones_like(snap.heat)
    heat[:, : heat.shape[1] // 2] = 0.0  # small error on the left half: D says "real" there
    far = np.full((2, 2), 10 * EXTENT, dtype=np.float32)
    blank = dict(real=far, fake=far, push=np.zeros_like(far), manifold=np.full((1, 2, 2), 9.0))
    began = {"heat": heat, "probability": False, "loss": "began", **blank}
    error = snap.__class__(**{**vars(snap), **began})
    assert raster.heat_kind(error) == "error"
    _, fake_end, real_end = raster.heat_range(error)
    assert real_end < fake_end
    image = raster.plane_image(error)
    palette = raster.heat_palette()
    assert np.abs(pixel(image, -2.4, 0.5) - palette[255]).max() <= 2  # low error: red, real
    assert np.abs(pixel(image, 2.4, 0.5) - palette[0]).max() <= 2  # high error: blue, fake
    assert raster.KEYS["error"] != raster.KEYS["score"]


def test_the_curves_picture_draws_each_run_in_its_colour(trained):
    image = np.asarray(raster.curves_image([("A", trained), ("B", trained)]))
    for colour in raster.COLOURS:  # both runs' lines (and legend) are on it
        rgb = np.array(Image.new("RGB", (1, 1), colour).getpixel((0, 0)))
        assert (np.abs(image.astype(int) - rgb).max(-1) <= 8).sum() > 50
    nan = Gan2dTrainer(make_config(loss="ns", **SMALL))  # no steps yet: empty, not an error
    assert raster.curves_image([("A", nan)]).size == (raster.WIDTH, raster.HEIGHT)


def test_a_picture_goes_into_the_page_as_an_inline_jpeg_with_its_step(trained):
    snap = snapshot(trained)
    tag = raster.picture_html(raster.plane_image(snap), 'A: step 3 <"x">', snap.step, "plane")
    assert 'data-step="3"' in tag and "&lt;&quot;x&quot;&gt;" in tag  # alt text escaped
    data = tag.split("base64,")[1].split('"')[0]
    decoded = Image.open(io.BytesIO(base64.b64decode(data)))
    assert decoded.format == "JPEG" and decoded.size == (raster.WIDTH, raster.HEIGHT)


def test_long_histories_are_binned():
    values = np.arange(MAX_LINE_POINTS * 3, dtype=np.float64)
    x, y = binned(values)
    assert len(x) == len(y) == MAX_LINE_POINTS
    assert y[0] == pytest.approx(1.0) and x[-1] == pytest.approx(len(values) - 1.5)
