"""Latent-space operations, face directions and probes, and the views' input checks."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

from advdemo import face_attributes as fa
from advdemo import face_views as fv
from advdemo import inference, latent
from advdemo.errors import InputError

NZ = 100


@pytest.fixture(scope="module")
def g():
    return inference.face_generator()


def n_dirs() -> int:
    return len(fv.directions())


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_image(g):
    a = g.generate(g.sample_z(1234, 1))
    b = g.generate(g.sample_z(1234, 1))
    c = g.generate(g.sample_z(1235, 1))
    assert torch.equal(a, b)
    assert (a - c).abs().mean() > 0.02


def test_face_view_is_deterministic_and_matches_generate(g):
    offsets = [0.0] * n_dirs()
    v1, v2 = fv.face_view(77, offsets), fv.face_view(77, offsets)
    assert v1.image.tobytes() == v2.image.tobytes()
    assert v1.image.size == (64 * fv.FACE_SCALE, 64 * fv.FACE_SCALE)
    torch.testing.assert_close(v1.face, g.generate(g.sample_z(77, 1))[0], atol=1e-5, rtol=0)


def test_faces_and_features_is_one_pass_of_the_generator(g):
    z = g.sample_z(5, 3)
    faces, features = fa.faces_and_features(z)
    torch.testing.assert_close(faces, g.generate(z), atol=1e-5, rtol=0)
    torch.testing.assert_close(features, fa.probe_features(z), atol=1e-5, rtol=1e-5)
    assert features.shape == (3, 1024)


# --------------------------------------------------------------------------- interpolation


@pytest.mark.parametrize("pair", [(0, 1), (10, 11), (123, 4567), (2**32 - 1, 99)])
def test_slerp_keeps_the_norm_and_lerp_does_not(g, pair):
    z0, z1 = g.sample_z(pair[0], 1)[0], g.sample_z(pair[1], 1)[0]
    t = latent.fractions(17)
    ends = torch.stack([z0.norm(), z1.norm()])
    lo, hi = float(ends.min()), float(ends.max())
    s = latent.norms(latent.slerp(z0, z1, t))
    assert float(s.min()) >= 0.95 * lo and float(s.max()) <= 1.05 * hi
    lerp_mid = float(latent.norms(latent.lerp(z0, z1, t))[8])
    assert lerp_mid < 0.95 * lo  # random 100-d codes are nearly orthogonal: ≈ 1/√2 dip


def test_paths_hit_both_endpoints(g):
    z0, z1 = g.sample_z(3, 1)[0], g.sample_z(4, 1)[0]
    t = latent.fractions(5)
    for kind in ("lerp", "slerp"):
        p = latent.path(kind, z0, z1, t)
        torch.testing.assert_close(p[0], z0, atol=1e-5, rtol=0)
        torch.testing.assert_close(p[-1], z1, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="unknown interpolation"):
        latent.path("cubic", z0, z1, t)


def test_slerp_degenerate_cases():
    t = latent.fractions(9)
    v = torch.randn(NZ, generator=torch.Generator().manual_seed(0))
    zero = torch.zeros(NZ)
    # a zero endpoint: no direction to turn, the straight line
    torch.testing.assert_close(latent.slerp(zero, v, t), latent.lerp(zero, v, t))
    torch.testing.assert_close(latent.slerp(v, zero, t), latent.lerp(v, zero, t))
    torch.testing.assert_close(latent.slerp(zero, zero, t), torch.zeros(9, NZ))
    # parallel: only the length changes
    torch.testing.assert_close(latent.slerp(v, 3 * v, t), latent.lerp(v, 3 * v, t))
    # antiparallel: a half circle of constant radius through a perpendicular direction
    p = latent.slerp(v, -v, t)
    assert torch.isfinite(p).all()
    torch.testing.assert_close(latent.norms(p), torch.full((9,), float(v.norm())))
    torch.testing.assert_close(p[-1], -v, atol=1e-5, rtol=0)
    assert abs(float(p[4] @ v)) < 1e-4 * float(v.norm()) ** 2
    torch.testing.assert_close(latent.slerp(v, -v, t), p)  # deterministic
    # almost antiparallel still follows its (unique) great circle smoothly
    q = latent.slerp(v, -v + 1e-3 * torch.ones(NZ), t)
    assert torch.isfinite(q).all()


def test_fractions_needs_two_frames():
    with pytest.raises(ValueError):
        latent.fractions(1)


def test_interpolation_strips_norms_and_gif(g):
    z0, z1 = fv.interpolation_codes(0, 1, [0.0] * n_dirs())
    it = fv.interpolation(z0, z1, 8)
    assert it.lerp_strip.width == 8 * 64 * fv.STRIP_SCALE
    assert it.slerp_strip.size == it.lerp_strip.size
    assert float(it.lerp_norms.min()) < float(it.slerp_norms.min())
    from PIL import Image

    with Image.open(it.gif_path) as gif:
        assert gif.n_frames == 2 * 8 - 2  # there and back
    traces = {tr.name.split()[0]: tr for tr in it.norm_figure.data}
    assert len(traces["lerp"].y) == len(traces["slerp"].y) == 8


# --------------------------------------------------------------------------- truncation


def test_truncate_scale_is_z_times_psi():
    z = torch.randn(4, NZ)
    torch.testing.assert_close(latent.truncate_scale(z, 0.5), 0.5 * z)
    mean = torch.ones(NZ)
    torch.testing.assert_close(latent.truncate_scale(z, 0.0, mean), mean.expand(4, NZ))


@pytest.mark.parametrize("tau", [0.01, 0.5, 1.0, 2.0])
def test_truncate_resample(tau):
    z = torch.randn(8, NZ, generator=torch.Generator().manual_seed(1))
    r = latent.truncate_resample(z, tau, seed=7)
    assert float(r.abs().max()) <= tau
    inside = z.abs() <= tau
    assert torch.equal(r[inside], z[inside])  # only the unusual components are redrawn
    assert torch.equal(r, latent.truncate_resample(z, tau, seed=7))
    if bool((~inside).sum() > 10):
        assert not torch.equal(r, latent.truncate_resample(z, tau, seed=8))
    with pytest.raises(ValueError):
        latent.truncate_resample(z, 0.0, seed=7)


def test_psi_to_zero_collapses_the_grid_to_the_mean_face(g):
    seeds = list(range(300, 316))
    z = torch.cat([g.sample_z(s, 1) for s in seeds])
    psis = [0.0, 0.25, 0.5, 0.75, 1.0]
    faces = g.generate(torch.cat([latent.truncate_scale(z, p) for p in psis])).view(
        5, 16, 3, 64, 64
    )
    div = [latent.diversity(f) for f in faces]
    assert div[0] == pytest.approx(0.0, abs=1e-6)
    mean_face = g.generate(torch.zeros(1, NZ))
    torch.testing.assert_close(faces[0], mean_face.expand(16, 3, 64, 64))
    assert all(a < b for a, b in itertools.pairwise(div)), div


def test_resample_diversity_grows_with_tau():
    curve = fv.diversity_curve("resample", 0, 16)
    small = [d for tau, d in curve if tau <= 2.0]
    assert all(a < b for a, b in itertools.pairwise(small)), curve
    assert small[0] < 0.01


def test_truncation_view(g):
    v = fv.truncation_view(5, "scale", 0.5, 1.0, 100, 6)
    assert v.diversity < v.baseline_diversity
    assert v.grid.size == (3 * 128, 2 * 128)  # 6 faces: 3 columns, 2 rows
    assert v.sweep.width == len(fv.PSI_SWEEP) * 128
    assert "Diversity at ψ = 0.5" in v.summary
    v1 = fv.truncation_view(5, "scale", 1.0, 1.0, 100, 6)
    assert v1.diversity == pytest.approx(v1.baseline_diversity, rel=1e-6)
    g2 = fv.truncation_grid(5, "scale", 0.5, 1.0, 100, 6)  # what a drag redraws
    assert g2.grid.tobytes() == v.grid.tobytes() and g2.summary == v.summary


def test_diversity_measure():
    same = torch.rand(1, 3, 8, 8).expand(4, 3, 8, 8)
    assert latent.diversity(same) == 0.0
    two = torch.stack([torch.zeros(3, 8, 8), torch.ones(3, 8, 8)])
    assert latent.diversity(two) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        latent.diversity(torch.rand(1, 3, 8, 8))


# --------------------------------------------------------------------------- directions


def test_direction_algebra():
    gen = torch.Generator().manual_seed(3)
    d = latent.unit(torch.randn(NZ, generator=gen))
    z = torch.randn(5, NZ, generator=gen)
    assert latent.project(latent.remove_direction(z, d), d).abs().max() < 1e-5
    others = torch.randn(3, NZ, generator=gen)
    o = latent.orthogonalize(d, others)
    assert (others @ o).abs().max() < 1e-5 and float(o.norm()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="zero vector"):
        latent.unit(torch.zeros(NZ))
    offs = torch.tensor([2.0, -1.0])
    dirs = torch.stack([d, o])
    torch.testing.assert_close(latent.apply_offsets(z[0], dirs, offs), z[0] + 2 * d - o)


def test_labels_file_schema():
    doc = fa.labels()
    assert doc["model"] == fa.MODEL and len(doc["note"]) > 100
    for part in ("attributes", "heldout"):
        assert set(doc[part]) == set(fa.ATTRIBUTES)
        for name, sets in doc[part].items():
            assert len(sets["positive"]) >= 12 and len(sets["negative"]) >= 12, name
            assert not set(sets["positive"]) & set(sets["negative"]), name
    for name in fa.ATTRIBUTES:  # held-out seeds never build anything
        built = {s for v in doc["attributes"][name].values() for s in v}
        held = {s for v in doc["heldout"][name].values() for s in v}
        assert not built & held, name


def test_principal_directions_file_matches_a_fresh_computation():
    stored = fa.principal_directions()
    assert stored.vectors.shape == (fa.N_PRINCIPAL, NZ)
    torch.testing.assert_close(stored.vectors.norm(dim=1), torch.ones(fa.N_PRINCIPAL))
    assert bool((stored.explained[:-1] >= stored.explained[1:]).all())
    # the script's computation, rerun, gives the stored directions (the file is not stale)
    fresh = fa.compute_principal_directions()
    cos = (fresh.vectors * stored.vectors).sum(1)
    assert bool((cos > 0.99).all()), cos


def test_probes_are_validated_on_heldout_seeds():
    """The stored accuracies are what the stored weights score on the held-out seeds."""
    for name, probe in fa.probes().items():
        z, y = fa.labelled(name, "heldout")
        acc = fa.accuracy(probe.logits(fa.probe_features(z)), y)
        assert acc == pytest.approx(probe.heldout_accuracy, abs=1e-3), name
        assert acc >= 0.8, (name, acc)


def test_probe_file_matches_the_script():
    doc = json.loads(fa.PROBES_PATH.read_text())
    assert set(doc["probes"]) == set(fa.ATTRIBUTES)
    # refit one probe as the script does (with its cross-validated L2 strength)
    stored = fa.probes()["dark_hair"]
    z, y = fa.labelled("dark_hair", "attributes")
    weight, bias = fa.fit_logistic(fa.probe_features(z), y, stored.l2)
    cos = torch.nn.functional.cosine_similarity(weight, stored.weight, dim=0)
    assert float(cos) > 0.99
    assert bias == pytest.approx(stored.bias, abs=0.05 * (1 + abs(stored.bias)))


@pytest.mark.parametrize("name", fa.ATTRIBUTES)
def test_attribute_direction_moves_heldout_faces_the_labelled_way(name):
    """Moving held-out faces along the attribute's direction raises the probe's score for it,
    and moving them the other way lowers it, for most faces and on average."""
    sets = fa.labels()["heldout"][name]
    z = fa.seed_codes(sets["positive"] + sets["negative"])
    d = fa.attribute_direction(name)
    base = fa.attribute_score(z, name)
    up = fa.attribute_score(z + 3 * d, name)
    down = fa.attribute_score(z - 3 * d, name)
    assert float((up - base).mean()) > 0.15, name
    assert float((base - down).mean()) > 0.15, name
    assert float((up > base).float().mean()) >= 0.8, name
    # and it moves the faces, not just the code: pixels change visibly
    g = inference.face_generator()
    assert float((g.generate(z + 3 * d) - g.generate(z)).abs().mean()) > 0.02


def test_attribute_score_shapes_and_errors():
    z = fa.seed_codes([1, 2])
    assert fa.attribute_score(z, "glasses").shape == (2,)
    assert fa.attribute_score(z[0], "smile").shape == (1,)
    scores = fa.attribute_scores(z)
    assert set(scores) == set(fa.ATTRIBUTES)
    assert all(bool(((s >= 0) & (s <= 1)).all()) for s in scores.values())
    with pytest.raises(ValueError, match="unknown attribute"):
        fa.attribute_score(z, "hat")
    with pytest.raises(ValueError, match="shape"):
        fa.attribute_score(torch.zeros(2, 7), "smile")
    with pytest.raises(ValueError, match="NaN"):
        fa.attribute_score(torch.full((1, NZ), math.nan), "smile")


def test_what_the_explorer_says_about_glasses_and_man():
    """The latent tab's "try this" text: glasses raise P(man), and disentangling cannot help
    much because the named directions are already nearly orthogonal."""
    d = fa.attribute_directions()
    off_diagonal = (d @ d.T - torch.eye(len(d))).abs().max()
    assert float(off_diagonal) <= 0.16 + 0.005
    women = fa.seed_codes(fa.labels()["heldout"]["man"]["negative"])
    glasses = fa.attribute_direction("glasses")
    before = fa.attribute_score(women, "man").mean()
    after = fa.attribute_score(women + 4 * glasses, "man").mean()
    assert float(after) > 1.7 * float(before)
    zeros = [0.0] * n_dirs()
    edit = [*zeros[:10], 4.0, 0.0, 0.0, 0.0]
    seed0 = fv.face_view(0, zeros).scores["man"], fv.face_view(0, edit).scores["man"]
    assert 0.3 < seed0[0] < 0.5 and seed0[1] > 0.85, seed0


def test_disentangled_named_directions_are_mutually_orthogonal():
    m = fv.direction_matrix(disentangle=True)
    named = [i for i, d in enumerate(fv.directions()) if d.named]
    gram = m[named] @ m[named].T
    torch.testing.assert_close(gram, torch.eye(len(named)), atol=1e-5, rtol=0)


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
    ((None, offsets()), "Seed must be a number"),
    ((1, offsets(k0=math.nan)), "Offset along pc1 must be a finite number"),
    ((1, offsets(k3=math.inf)), "Offset along pc4 must be a finite number"),
    ((1, offsets(k10=-math.inf)), "Offset along glasses must be a finite number"),
    ((1, offsets(k11=1e9)), "Offset along smile must be at most 10"),
    ((1, offsets(k12=-11)), "Offset along man must be at least -10"),
    ((1, [0.0] * 3), "Expected 14 direction offsets, got 3"),
]


@pytest.mark.parametrize(("args", "message"), BAD_FACE)
def test_bad_face_inputs_are_rejected(args, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        fv.face_view(*args)


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
def test_bad_frame_counts_are_rejected(frames, message):
    z0, z1 = fv.interpolation_codes(0, 1, offsets())
    with pytest.raises(InputError, match=message):
        fv.interpolation(z0, z1, frames)


def test_bad_end_seed_is_named():
    with pytest.raises(InputError, match="End seed must be at least 0"):
        fv.interpolation_codes(0, -5, offsets())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1, "scale", math.nan, 1.0, 0, 16), "psi"),
        ((1, "scale", -0.1, 1.0, 0, 16), "psi .* must be at least 0"),
        ((1, "scale", 1e6, 1.0, 0, 16), "psi .* must be at most 2"),
        ((1, "resample", 0.7, 0.0, 0, 16), "tau .* must be at least 0.05"),
        ((1, "resample", 0.7, math.inf, 0, 16), "tau .* must be a finite number"),
        ((1, "clip", 0.7, 1.0, 0, 16), "Truncation variant must be one of 'scale', 'resample'"),
        ((1, "scale", 0.7, 1.0, 0, 65), "Number of faces in the grid must be at most 64"),
        ((1, "scale", 0.7, 1.0, 0, -4), "Number of faces in the grid must be at least 4"),
        ((1, "scale", 0.7, 1.0, -1, 16), "First seed of the grid must be at least 0"),
    ],
)
def test_bad_truncation_inputs_are_rejected(args, message):
    with pytest.raises(InputError, match=message):
        fv.truncation_view(*args)
