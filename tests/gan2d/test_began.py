"""BEGAN: its losses and k_t's control against the formulas, its autoencoder D's hand-written
backward pass against autograd, and a short seeded run on the ring."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from advdemo.gan2d import losses
from advdemo.gan2d.nets import CODE, SLOPE, AutoencoderD
from advdemo.gan2d.trainer import Gan2dTrainer, make_config

F = torch.nn.functional


def test_began_losses_match_the_table_on_hand_made_reconstruction_errors():
    # L(x) = ‖x − AE(x)‖₁ of two real and three generated points, and k_t = 0.3
    real = torch.tensor([0.2, 0.4], dtype=torch.float64, requires_grad=True)
    fake = torch.tensor([1.0, 0.5, 1.5], dtype=torch.float64, requires_grad=True)
    value, d_r, d_f = losses.d_loss("began", real, fake, k=0.3)
    assert float(value.detach()) == pytest.approx((0.2 + 0.4) / 2 - 0.3 * (1.0 + 0.5 + 1.5) / 3)
    auto_r, auto_f = torch.autograd.grad(value, (real, fake))
    torch.testing.assert_close(d_r, auto_r)
    torch.testing.assert_close(d_f, auto_f)
    value, d_f = losses.g_loss("began", fake)
    assert float(value.detach()) == pytest.approx(1.0)  # G only wants its samples rebuilt well
    torch.testing.assert_close(d_f, torch.autograd.grad(value, fake)[0])


def test_k_follows_the_proportional_control_and_stays_in_0_1():
    # k + λ_k (γ L(x) − L(G(z))) with γ = 0.5, λ_k = 0.001
    assert losses.began_k(0.1, 0.8, 0.2) == pytest.approx(0.1 + 0.001 * (0.4 - 0.2))
    assert losses.began_k(0.1, 0.8, 0.6) == pytest.approx(0.1 - 0.001 * 0.2)
    assert losses.began_k(0.0, 0.1, 5.0) == 0.0
    assert losses.began_k(1.0, 50.0, 0.0) == 1.0
    assert losses.began_k(0.5, 1.0, 0.0, gamma=1.0, lambda_k=0.1) == pytest.approx(0.6)


def _reference_errors(D, weights, biases, x, groups, us, vs):
    """‖x − AE(x)‖₁ written plainly for autograd (spectral norm with u, v held fixed)."""
    last = len(weights) - 1
    used = []
    for i, w in enumerate(weights):
        w = w if i < last or D.minibatch_std else w[:, :-1]
        used.append(w / (us[i] @ w @ vs[i]) if D.spectral_norm else w)
    h = x
    for i in range(last):
        h = F.leaky_relu(h @ used[i].t() + biases[i], SLOPE)
    rebuilt = h @ used[last][:, : D.hidden].t() + biases[last]
    if D.minibatch_std:
        parts, start = [], 0
        for n in groups:
            stat = torch.sqrt(h[start : start + n].var(0, unbiased=False) + 1e-8).mean()
            parts.append(rebuilt[start : start + n] + stat * used[last][:, D.hidden])
            start += n
        rebuilt = torch.cat(parts)
    return (x - rebuilt).abs().sum(1)


@pytest.mark.parametrize(
    ("spectral_norm", "minibatch_std"), list(itertools.product([False, True], repeat=2))
)
def test_autoencoder_d_gradients_match_autograd(spectral_norm, minibatch_std):
    gen = torch.Generator().manual_seed(5)
    D = AutoencoderD(12, 2, gen, torch.float64, spectral_norm, minibatch_std)
    assert [w.shape[0] for w in D.weights] == [12, 12, CODE, 12, 12, 2]
    for _ in range(3):
        D.refresh()
    x = torch.randn((16, 2), generator=gen, dtype=torch.float64)
    weights = [w.detach().clone().requires_grad_(True) for w in D.weights]
    biases = [b.detach().clone().requires_grad_(True) for b in D.biases]
    us, vs = list(D._u), [v.detach().clone() for v in D._v]
    n, k = 8, 0.3

    errors, cache = D.forward(x, (n, n))
    value, d_r, d_f = losses.d_loss("began", errors[:n], errors[n:], k)
    D.zero_grad()
    D.backward(cache, torch.cat([d_r, d_f]))
    D.finish_grad()
    ref = _reference_errors(D, weights, biases, x, (n, n), us, vs)
    torch.testing.assert_close(errors, ref.detach())
    ref_value = losses.d_loss("began", ref[:n], ref[n:], k)[0]
    grads = torch.autograd.grad(ref_value, weights + biases, allow_unused=True)
    for mine, theirs in zip(D.grad_weights + D.grad_biases, grads, strict=True):
        theirs = torch.zeros_like(mine) if theirs is None else theirs
        torch.testing.assert_close(mine, theirs, rtol=1e-7, atol=1e-9)

    # G's side: dL_G/dx for L_G = mean L(x̂), through both x's of x − AE(x)
    fake = x[n:].clone().requires_grad_(True)
    errors, cache = D.forward(x[n:], (n,))
    value, d_f = losses.g_loss("began", errors)
    d_x = D.backward(cache, d_f, params=False, inputs=True)
    ref_value = losses.g_loss("began", _reference_errors(D, weights, biases, fake, (n,), us, vs))[0]
    assert float(value) == pytest.approx(float(ref_value.detach()), rel=1e-12)
    torch.testing.assert_close(d_x, torch.autograd.grad(ref_value, fake)[0])


@pytest.fixture(scope="module")
def began_run():
    t = Gan2dTrainer(make_config(loss="began", seed=3, batch=128, g_width=32, d_width=32))
    t.run(150)
    return t


def test_a_short_seeded_began_run_trains_without_diverging(began_run):
    t = began_run
    assert t.diverged is None and t.steps_done == 150
    d_loss, g_loss = t.history[:, 0], t.history[:, 1]
    assert np.isfinite(t.history).all()
    # D learns to rebuild the real data: L_D ≈ L(x) (k_t is small) falls well below its start
    assert d_loss[-30:].mean() < 0.6 * d_loss[0]
    # G's samples are rebuilt better than γ·L(x), so the control raised k_t from 0
    assert g_loss[-30:].mean() < losses.BEGAN_GAMMA * d_loss[-30:].mean()
    assert 0.0 < t.began_k <= 1.0
    assert t.summary()["began_k"] == t.began_k
    # the same seed plays the same run, k_t included
    again = Gan2dTrainer(make_config(loss="began", seed=3, batch=128, g_width=32, d_width=32))
    again.run(150)
    np.testing.assert_array_equal(again.history, t.history)
    assert again.began_k == t.began_k


def test_began_starts_like_the_other_losses_and_waits_for_reset_to_switch():
    base = {"seed": 4, "batch": 32, "g_width": 16, "d_width": 16}
    began = Gan2dTrainer(make_config(loss="began", **base))
    ns = Gan2dTrainer(make_config(loss="ns", **base))
    assert isinstance(began.D, AutoencoderD) and not isinstance(ns.D, AutoencoderD)
    assert torch.equal(began.G.flat, ns.G.flat)  # same G, and the same batches after it
    assert torch.equal(began.rng.get_state(), ns.rng.get_state())
    notes = ns.reconfigure(make_config(loss="began", **base))
    assert ns.config.loss == "ns" and "loss" in notes[0] and "Reset" in notes[0]


def test_began_has_no_gradient_penalty_and_its_d_refuses_one():
    assert losses.loss_info("began").penalty is None  # so the trainer never asks for one
    D = AutoencoderD(8, 1, torch.Generator().manual_seed(0), torch.float32)
    with pytest.raises(TypeError, match="no gradient penalty"):
        D.penalty(torch.zeros((4, 2)), 1.0)
