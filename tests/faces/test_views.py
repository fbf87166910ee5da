"""The latent explorer's views: the edited face and its read-outs, interpolation, bad inputs."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from advdemo.core.errors import InputError
from advdemo.faces import attributes as fa
from advdemo.faces import views as fv


@pytest.fixture(scope="module")
def g(store):
    return store.face_generator()


@pytest.fixture(scope="module")
def dirs(g):
    return fv.directions(g)


def n_dirs() -> int:
    return len(fv.SLIDER_KEYS)


def test_directions_are_the_sliders_in_order(dirs):
    assert tuple(d.key for d in dirs) == fv.SLIDER_KEYS
    assert len(dirs) == n_dirs() == 14
    assert dirs.plain.shape == dirs.disentangled.shape == (14, 100)


def test_face_view_is_deterministic_and_matches_generate(g, dirs):
    offsets = [0.0] * n_dirs()
    v1, v2 = fv.face_view(g, dirs, 77, offsets), fv.face_view(g, dirs, 77, offsets)
    assert v1.image.tobytes() == v2.image.tobytes()
    assert v1.image.size == (64 * fv.FACE_SCALE, 64 * fv.FACE_SCALE)
    torch.testing.assert_close(v1.face, g.generate(g.sample_z(77, 1))[0], atol=1e-5, rtol=0)


def test_interpolation_strips_norms_and_gif(g, dirs):
    z0, z1 = fv.interpolation_codes(g, dirs, 0, 1, [0.0] * n_dirs())
    it = fv.interpolation(g, z0, z1, 8)
    assert it.lerp_strip.width == 8 * 64 * fv.STRIP_SCALE
    assert it.slerp_strip.size == it.lerp_strip.size
    assert float(it.lerp_norms.min()) < float(it.slerp_norms.min())
    with Image.open(it.gif_path) as gif:
        assert gif.n_frames == 2 * 8 - 2  # there and back
    traces = {tr.name.split()[0]: tr for tr in it.norm_figure.data}
    assert len(traces["lerp"].y) == len(traces["slerp"].y) == 8


@pytest.mark.parametrize("frames", [fv.STRIP_ROW + 1, fv.MAX_FRAMES])
def test_wrapped_strips_keep_t_and_norm_under_every_frame(g, dirs, frames):
    """Past one row (16 frames) the strips wrap; every row keeps its captions: each cell is as
    tall as in a one-row strip, and the band under every face has text in it."""
    z0, z1 = fv.interpolation_codes(g, dirs, 0, 1, [0.0] * n_dirs())
    one_row = fv.interpolation(g, z0, z1, fv.STRIP_ROW).lerp_strip
    face = 64 * fv.STRIP_SCALE
    assert one_row.height > face  # the captioned reference
    it = fv.interpolation(g, z0, z1, frames)
    rows = math.ceil(frames / fv.STRIP_ROW)
    for strip in (it.lerp_strip, it.slerp_strip):
        assert strip.size == (fv.STRIP_ROW * face, rows * one_row.height)
        grey = strip.convert("L")
        for i in range(frames):
            r, c = divmod(i, fv.STRIP_ROW)
            band = grey.crop(
                (c * face, r * one_row.height + face, (c + 1) * face, (r + 1) * one_row.height)
            )
            assert band.getextrema()[0] < 128, f"frame {i} has no caption"


def test_what_the_explorer_says_about_glasses_and_man(g, dirs):
    """The latent tab's "try this" text: glasses raise P(man), and disentangling cannot help
    much because the named directions are already nearly orthogonal."""
    d = fa.attribute_directions(g)
    off_diagonal = (d @ d.T - torch.eye(len(d))).abs().max()
    assert float(off_diagonal) <= 0.16 + 0.005
    women = fa.seed_codes(g, fa.labels()["heldout"]["man"]["negative"])
    glasses = fa.attribute_direction(g, "glasses")
    before = fa.attribute_score(g, women, "man").mean()
    after = fa.attribute_score(g, women + 4 * glasses, "man").mean()
    assert float(after) > 1.7 * float(before)
    zeros = [0.0] * n_dirs()
    edit = [*zeros[:10], 4.0, 0.0, 0.0, 0.0]
    seed0 = (
        fv.face_view(g, dirs, 0, zeros).scores["man"],
        fv.face_view(g, dirs, 0, edit).scores["man"],
    )
    assert 0.3 < seed0[0] < 0.5 and seed0[1] > 0.85, seed0


def test_disentangled_named_directions_are_mutually_orthogonal(dirs):
    m = dirs.matrix(disentangle=True)
    named = [i for i, d in enumerate(dirs) if d.named]
    gram = m[named] @ m[named].T
    torch.testing.assert_close(gram, torch.eye(len(named)), atol=1e-5, rtol=0)
    torch.testing.assert_close(dirs.matrix(disentangle=False), dirs.plain)


# --------------------------------------------------------------------------- bad inputs


def offsets(**changes: object) -> list[object]:
    values: list[object] = [0.0] * n_dirs()
    for i, v in changes.items():
        values[int(i.removeprefix("k"))] = v
    return values


BAD_FACE = [
    ((math.nan, offsets()), "Seed must be a finite number"),
    ((-1, offsets()), "Seed must be at least 0"),
    ((2**40, offsets()), "Seed must be at most"),
    ((1.5, offsets()), "Seed must be a whole number"),
    (("abc", offsets()), "Seed must be a number"),
    ((None, offsets()), "Seed is empty: type a number"),
    ((1, offsets(k0=math.nan)), "Offset along pc1 must be a finite number"),
    ((1, offsets(k3=math.inf)), "Offset along pc4 must be a finite number"),
    ((1, offsets(k10=-math.inf)), "Offset along glasses must be a finite number"),
    ((1, offsets(k11=1e9)), "Offset along smile must be at most 10"),
    ((1, offsets(k12=-11)), "Offset along man must be at least -10"),
    ((1, [0.0] * 3), "Expected 14 direction offsets, got 3"),
]


@pytest.mark.parametrize(("args", "message"), BAD_FACE)
def test_bad_face_inputs_are_rejected(g, dirs, args, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        fv.face_view(g, dirs, *args)


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (-3, "Number of frames must be at least 2"),
        (0, "Number of frames must be at least 2"),
        (65, "Number of frames must be at most 64"),
        (10_000, "Number of frames must be at most 64"),
        (math.nan, "Number of frames must be a finite number"),
        (math.inf, "Number of frames must be a finite number"),
        (2.5, "Number of frames must be a whole number"),
    ],
)
def test_bad_frame_counts_are_rejected(g, dirs, frames, message):
    z0, z1 = fv.interpolation_codes(g, dirs, 0, 1, offsets())
    with pytest.raises(InputError, match=message):
        fv.interpolation(g, z0, z1, frames)


def test_bad_end_seed_is_named(g, dirs):
    with pytest.raises(InputError, match="End seed must be at least 0"):
        fv.interpolation_codes(g, dirs, 0, -5, offsets())


def test_a_given_code_replaces_the_seed_and_takes_the_slider_edits(g, dirs):
    """#15 "edit your own photo": the explorer edits an uploaded face's code (found by
    inversion) exactly as it edits a seed's; the seed is then not used."""
    code = g.sample_z(4242, 1)[0]
    zero = [0.0] * n_dirs()
    by_seed = fv.face_view(g, dirs, 4242, zero)
    by_code = fv.face_view(g, dirs, 0, zero, code=code.tolist())
    assert by_code.image.tobytes() == by_seed.image.tobytes()
    glasses = [0.0] * (n_dirs() - 4) + [4.0, 0.0, 0.0, 0.0]
    edited = fv.face_view(g, dirs, 0, glasses, code=code.tolist())
    assert torch.allclose(edited.z, fv.edited_code(g, dirs, 4242, glasses))
    assert edited.scores["glasses"] > by_code.scores["glasses"] + 0.2
    z0, _ = fv.interpolation_codes(g, dirs, 0, 57, zero, code=code.tolist())
    assert torch.equal(z0, code)
    assert torch.equal(fv.start_code(g, 9, []), g.sample_z(9, 1)[0])  # empty: the seed's


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ([0.5] * 3, "list of 3 numbers; a code has exactly 100"),
        ([float("nan")] * 100, "NaN or infinite"),
        ([50.0] * 100, "within ±10"),
        (["a"] * 100, "numbers only"),
        ({"z": 1}, "must be a list of 100 numbers"),
    ],
)
def test_bad_codes_are_refused_with_a_message(g, dirs, code, message):
    with pytest.raises(InputError, match=message):
        fv.face_view(g, dirs, 0, [0.0] * n_dirs(), code=code)
