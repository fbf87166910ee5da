"""The truncation sweep as an animated GIF (StyleGAN3 issue #160 asks for it)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from advdemo.core.errors import InputError
from advdemo.faces import truncation as ft


@pytest.fixture(scope="module")
def g(store):
    return store.face_generator()


def _frames(path) -> list[np.ndarray]:
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.info.get("loop") == 0  # loops forever
        return [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)]


@pytest.mark.parametrize("variant", ["scale", "resample"])
def test_the_gif_sweeps_the_whole_range_there_and_back(g, variant):
    values = ft.gif_values(variant)
    path = ft.sweep_gif(g, 7, variant)
    frames = _frames(path)
    n = len(values)
    assert len(frames) == 2 * n - 2  # there and back, the end frames once
    side = 64 * ft.GIF_SCALE
    assert frames[0].shape[1] == side and frames[0].shape[0] > side
    np.testing.assert_array_equal(frames[1], frames[-1])  # the way back mirrors the way there
    # each frame's face is the generator's face of the seed at that value (palette aside)
    z1 = g.sample_z(7, 1)
    for i in (0, n // 2, n - 1):
        code = ft.truncate(z1, variant, values[i], [7])
        face = np.asarray(ft.pictures.upscale(g.generate(code)[0], ft.GIF_SCALE))
        shown = frames[i][26 : 26 + side].astype(int)
        assert np.abs(shown - face.astype(int)).mean() < 4.0


def test_psi_zero_is_the_mean_face_and_psi_one_the_seed_itself(g):
    frames = _frames(ft.sweep_gif(g, 3, "scale"))
    other = _frames(ft.sweep_gif(g, 11, "scale"))
    side = 64 * ft.GIF_SCALE
    face = slice(26, 26 + side)
    np.testing.assert_array_equal(frames[0][face], other[0][face])  # ψ = 0: every seed alike
    one = ft.GIF_PSI.index(1.0)
    untruncated = g.generate(g.sample_z(3, 1))[0]
    expected = np.asarray(ft.pictures.upscale(untruncated, ft.GIF_SCALE)).astype(int)
    assert np.abs(frames[one][face].astype(int) - expected).mean() < 4.0
    assert not torch.equal(g.sample_z(3, 1), g.sample_z(11, 1))


@pytest.mark.parametrize(
    ("seed", "variant", "message"),
    [(-1, "scale", "Seed"), (3.5, "scale", "Seed"), (3, "blur", "Truncation variant")],
)
def test_bad_values_get_a_clear_message(g, seed, variant, message):
    with pytest.raises(InputError, match=message):
        ft.sweep_gif(g, seed, variant)
