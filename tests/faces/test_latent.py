"""Latent-space operations on codes: interpolation, truncation, directions, diversity."""

from __future__ import annotations

import itertools

import pytest
import torch

from advdemo.faces import latent

NZ = 100


@pytest.fixture(scope="module")
def g(store):
    return store.face_generator()


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_image(g):
    a = g.generate(g.sample_z(1234, 1))
    b = g.generate(g.sample_z(1234, 1))
    c = g.generate(g.sample_z(1235, 1))
    assert torch.equal(a, b)
    assert (a - c).abs().mean() > 0.02


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
