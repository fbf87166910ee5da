"""Every loss of the table, and the gradient penalty, against its formula on hand-made inputs."""

from __future__ import annotations

import math

import pytest
import torch

from advdemo.gan2d import losses
from advdemo.gan2d.nets import Discriminator

# D's raw outputs on two real and two generated points; for the probability losses these are
# logits chosen so that D(x) = sigmoid(a) is 1/2, 3/4 (real) and 1/4, 1/2 (generated).
A_R = torch.tensor([0.0, math.log(3.0)], dtype=torch.float64)
A_F = torch.tensor([-math.log(3.0), 0.0], dtype=torch.float64)
P_R, P_F = (0.5, 0.75), (0.25, 0.5)

EXPECTED_D = {
    "mm": -(math.log(0.5) + math.log(0.75)) / 2 - (math.log(0.75) + math.log(0.5)) / 2,
    "ns": -(math.log(0.5) + math.log(0.75)) / 2 - (math.log(0.75) + math.log(0.5)) / 2,
    "dragan": -(math.log(0.5) + math.log(0.75)) / 2 - (math.log(0.75) + math.log(0.5)) / 2,
    # scores used as they are: D(x_r) = 0, ln 3; D(x_f) = −ln 3, 0
    "wgan": -(0 + math.log(3)) / 2 + (-math.log(3) + 0) / 2,
    "wgan_gp": -(0 + math.log(3)) / 2 + (-math.log(3) + 0) / 2,
    "lsgan": ((0 - 1) ** 2 + (math.log(3) - 1) ** 2) / 2 + (math.log(3) ** 2 + 0) / 2,
    "hinge": (max(0, 1 - 0) + max(0, 1 - math.log(3))) / 2
    + (max(0, 1 - math.log(3)) + max(0, 1 + 0)) / 2,
    # BEGAN at k_t = 0 (its default here; test_began.py checks k_t > 0 on reconstruction errors)
    "began": (0 + math.log(3)) / 2,
}
EXPECTED_G = {
    "mm": (math.log(1 - 0.25) + math.log(1 - 0.5)) / 2,  # saturating
    "dragan": (math.log(1 - 0.25) + math.log(1 - 0.5)) / 2,  # the table's DRAGAN G loss
    "ns": -(math.log(0.25) + math.log(0.5)) / 2,
    "wgan": -(-math.log(3) + 0) / 2,
    "wgan_gp": -(-math.log(3) + 0) / 2,
    "hinge": -(-math.log(3) + 0) / 2,
    "lsgan": ((-math.log(3) - 1) ** 2 + (0 - 1) ** 2) / 2,
    "began": (-math.log(3) + 0) / 2,
}


def test_every_loss_is_tested():
    assert set(EXPECTED_D) == set(EXPECTED_G) == set(losses.KEYS)


@pytest.mark.parametrize("key", losses.KEYS)
def test_d_loss_matches_its_formula_and_derivative(key):
    a_r, a_f = A_R.clone().requires_grad_(True), A_F.clone().requires_grad_(True)
    value, d_r, d_f = losses.d_loss(key, a_r, a_f)
    assert float(value.detach()) == pytest.approx(EXPECTED_D[key], rel=1e-12)
    auto_r, auto_f = torch.autograd.grad(value, (a_r, a_f))
    torch.testing.assert_close(d_r, auto_r)
    torch.testing.assert_close(d_f, auto_f)


@pytest.mark.parametrize("key", losses.KEYS)
def test_g_loss_matches_its_formula_and_derivative(key):
    a_f = A_F.clone().requires_grad_(True)
    value, d_f = losses.g_loss(key, a_f)
    assert float(value.detach()) == pytest.approx(EXPECTED_G[key], rel=1e-12)
    (auto,) = torch.autograd.grad(value, a_f)
    torch.testing.assert_close(d_f, auto)


def test_saturating_loss_gives_almost_no_gradient_when_d_rejects_the_fakes():
    confident = torch.tensor([-12.0], dtype=torch.float64)  # D(G(z)) ≈ 6e-6
    assert abs(float(losses.g_loss("mm", confident)[1][0])) < 1e-5
    assert abs(float(losses.g_loss("ns", confident)[1][0])) > 0.99


def _linear_d(w1: list[list[float]], w2: list[float]) -> Discriminator:
    """A D with one hidden layer of two units, weights set by hand, biases 0."""
    d = Discriminator(2, 1, torch.Generator().manual_seed(0), torch.float64)
    with torch.no_grad():
        d.weights[0].copy_(torch.tensor(w1, dtype=torch.float64))
        d.weights[1].copy_(torch.tensor([[*w2, 0.0]], dtype=torch.float64))
        for b in d.biases:
            b.zero_()
    d.refresh()
    return d


def test_gradient_penalty_matches_its_formula_by_hand():
    # Hidden units h = lrelu(x₁), lrelu(x₂) and D = 3·h₁ + 4·h₂. Where both inputs are
    # positive ∇D = (3, 4), norm 5; where both are negative ∇D = 0.2·(3, 4), norm 1.
    d = _linear_d([[1.0, 0.0], [0.0, 1.0]], [3.0, 4.0])
    x = torch.tensor([[1.0, 2.0], [-1.0, -3.0]], dtype=torch.float64)
    g, _, _ = d.input_gradient(x)
    torch.testing.assert_close(g, torch.tensor([[3.0, 4.0], [0.6, 0.8]], dtype=torch.float64))
    d.zero_grad()
    value = d.penalty(x, 10.0)
    assert float(value) == pytest.approx(10.0 * ((5 - 1) ** 2 + (1 - 1) ** 2) / 2)
    # d/dw2 of 10·mean((‖g‖ − 1)²): only the first point counts; there g = w2 (slopes 1),
    # so the derivative is 10 · 2 (5 − 1) · w2/5 / 2 = 8·(3, 4) = (24, 32).
    torch.testing.assert_close(
        d.grad_weights[1][0, :2], torch.tensor([24.0, 32.0], dtype=torch.float64)
    )


def test_spectral_norm_bounds_every_layer_and_the_slope_of_d():
    gen = torch.Generator().manual_seed(0)
    d = Discriminator(32, 3, gen, torch.float64, spectral_norm=True)
    for _ in range(30):
        d.refresh()
    for w in d.used:
        assert float(torch.linalg.matrix_norm(w, 2)) == pytest.approx(1.0, abs=1e-3)
    x = torch.randn((500, 2), generator=gen, dtype=torch.float64) * 3
    g, _, _ = d.input_gradient(x)
    assert float(g.norm(dim=1).max()) <= 1.0 + 1e-3
