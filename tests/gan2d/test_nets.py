"""The hand-written backward passes against autograd and against finite differences."""

from __future__ import annotations

import itertools

import pytest
import torch

from advdemo.gan2d import losses
from advdemo.gan2d.nets import SLOPE, Discriminator, Generator
from advdemo.gan2d.trainer import Gan2dTrainer, make_config

F = torch.nn.functional


def reference_d(D: Discriminator, weights, biases, x, groups, us=None, vs=None):
    """D written plainly for autograd: raw weights in, spectral norm with fixed u, v."""
    last = len(weights) - 1
    used = []
    for i, w in enumerate(weights):
        w = w if i < last or D.minibatch_std else w[:, :-1]
        if D.spectral_norm:
            w = w / (us[i] @ w @ vs[i])
        used.append(w)
    h = x
    for i in range(last):
        h = F.leaky_relu(h @ used[i].t() + biases[i], SLOPE)
    out = h @ used[last][:, : D.hidden].t() + biases[last]
    out = out.view(-1)
    if D.minibatch_std:
        parts, start = [], 0
        for n in groups:
            part = h[start : start + n]
            stat = torch.sqrt(part.var(0, unbiased=False) + 1e-8).mean()
            parts.append(out[start : start + n] + stat * used[last][0, D.hidden])
            start += n
        out = torch.cat(parts)
    return out


def reference_penalty(D, weights, biases, x, weight, us, vs):
    x = x.clone().requires_grad_(True)
    # the minibatch feature is held fixed in the penalty: compute it on a detached copy
    if D.minibatch_std:
        hidden = x.detach()
        for i in range(len(weights) - 1):
            w = weights[i] / (us[i] @ weights[i] @ vs[i]) if D.spectral_norm else weights[i]
            hidden = F.leaky_relu(hidden @ w.t() + biases[i], SLOPE)
        stat = torch.sqrt(hidden.var(0, unbiased=False) + 1e-8).mean().detach()
        out = reference_d_no_std(D, weights, biases, x, us, vs)
        w_last = weights[-1] / (us[-1] @ weights[-1] @ vs[-1]) if D.spectral_norm else weights[-1]
        out = out + stat * w_last[0, D.hidden]
    else:
        out = reference_d(D, weights, biases, x, (x.shape[0],), us, vs)
    (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return weight * (g.norm(dim=1) - 1).square().mean()


def reference_d_no_std(D, weights, biases, x, us, vs):
    last = len(weights) - 1
    h = x
    for i in range(last):
        w = weights[i] / (us[i] @ weights[i] @ vs[i]) if D.spectral_norm else weights[i]
        h = F.leaky_relu(h @ w.t() + biases[i], SLOPE)
    w = weights[last] / (us[last] @ weights[last] @ vs[last]) if D.spectral_norm else weights[last]
    return (h @ w[:, : D.hidden].t() + biases[last]).view(-1)


def _case(spectral_norm, minibatch_std, depth=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    D = Discriminator(16, depth, gen, torch.float64, spectral_norm, minibatch_std)
    for _ in range(3):  # let the power iteration settle a little
        D.refresh()
    x = torch.randn((20, 2), generator=gen, dtype=torch.float64)
    params = [w.detach().clone().requires_grad_(True) for w in D.weights]
    biases = [b.detach().clone().requires_grad_(True) for b in D.biases]
    last = D.layers - 1
    us = list(D._u) if spectral_norm else None
    vs = []
    if spectral_norm:
        # the used weights' u, v: for the last layer without the minibatch column, v is shorter
        vs = [v.detach().clone() for v in D._v]
        us = [D._u[i] for i in range(D.layers)]
    del last
    return D, x, params, biases, us, vs


OPTIONS = list(itertools.product([False, True], [False, True]))


@pytest.mark.parametrize(("spectral_norm", "minibatch_std"), OPTIONS)
@pytest.mark.parametrize("loss", losses.KEYS)
def test_d_gradient_matches_autograd(loss, spectral_norm, minibatch_std):
    D, x, weights, biases, us, vs = _case(spectral_norm, minibatch_std)
    n = 10
    out, cache = D.forward(x, (n, n))
    value, d_r, d_f = losses.d_loss(loss, out[:n], out[n:])
    D.zero_grad()
    D.backward(cache, torch.cat([d_r, d_f]))
    info = losses.loss_info(loss)
    penalty_points = x[:n] * 0.7 + x[n:] * 0.3
    if info.penalty:
        value = value + D.penalty(penalty_points, 10.0)
    D.finish_grad()

    ref_out = reference_d(D, weights, biases, x, (n, n), us, vs)
    torch.testing.assert_close(ref_out.detach(), out)
    ref_value, _, _ = losses.d_loss(loss, ref_out[:n], ref_out[n:])
    if info.penalty:
        ref_value = ref_value + reference_penalty(D, weights, biases, penalty_points, 10.0, us, vs)
    grads = torch.autograd.grad(ref_value, weights + biases, allow_unused=True)
    torch.testing.assert_close(float(value), float(ref_value.detach()))
    ours = D.grad_weights + D.grad_biases
    for mine, theirs in zip(ours, grads, strict=True):
        theirs = torch.zeros_like(mine) if theirs is None else theirs
        torch.testing.assert_close(mine, theirs, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(("spectral_norm", "minibatch_std"), OPTIONS)
@pytest.mark.parametrize("loss", losses.KEYS)
def test_g_gradient_matches_autograd(loss, spectral_norm, minibatch_std):
    gen = torch.Generator().manual_seed(3)
    G = Generator(3, 16, 2, gen, torch.float64)
    D, _, weights, biases, us, vs = _case(spectral_norm, minibatch_std)
    z = torch.randn((12, 3), generator=gen, dtype=torch.float64)
    fake, g_cache = G.forward(z)
    out, d_cache = D.forward(fake, (12,))
    value, d_f = losses.g_loss(loss, out)
    d_x = D.backward(d_cache, d_f, params=False, inputs=True)
    G.grad.zero_()
    G.backward(g_cache, d_x)

    g_params = [p.detach().clone().requires_grad_(True) for p in G.weights + G.biases]
    h = z
    for i in range(G.layers):
        h = h @ g_params[i].t() + g_params[G.layers + i]
        if i < G.layers - 1:
            h = F.leaky_relu(h, SLOPE)
    ref_value, _ = losses.g_loss(loss, reference_d(D, weights, biases, h, (12,), us, vs))
    grads = torch.autograd.grad(ref_value, g_params)
    torch.testing.assert_close(float(value), float(ref_value.detach()))
    for mine, theirs in zip(G.grad_weights + G.grad_biases, grads, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("loss", ["wgan_gp", "dragan", "ns", "hinge"])
def test_a_whole_d_step_gradient_matches_finite_differences(loss):
    """The trainer's D gradient (SN, minibatch feature, penalty) against central differences
    of the D loss, with the batch, α and the power iteration's u, v held fixed."""
    config = make_config(
        loss=loss, d_width=8, g_width=8, batch=16, spectral_norm=True, minibatch_std=True
    )
    t = Gan2dTrainer(config, dtype=torch.float64)
    D = t.D
    real = t.data.sample(16, t.rng)
    fake = t.G(t._z(16))
    points = torch.lerp(fake, real, 0.3)

    def objective() -> float:
        D.refresh(iterate=False)
        out, _ = D.forward(torch.cat([real, fake]), (16, 16))
        value = losses.d_loss(loss, out[:16], out[16:])[0]
        if losses.loss_info(loss).penalty:
            g, _, _ = D.input_gradient(points)
            value = value + 10.0 * (g.norm(dim=1) - 1).square().mean()
        return float(value)

    D.refresh()
    out, cache = D.forward(torch.cat([real, fake]), (16, 16))
    _, d_r, d_f = losses.d_loss(loss, out[:16], out[16:])
    D.zero_grad()
    D.backward(cache, torch.cat([d_r, d_f]))
    if losses.loss_info(loss).penalty:
        D.penalty(points, 10.0)
    D.finish_grad()
    analytic = D.grad.clone()
    gen = torch.Generator().manual_seed(1)
    for index in torch.randperm(D.flat.numel(), generator=gen)[:25].tolist():
        keep = float(D.flat[index])
        D.flat[index] = keep + 1e-6
        up = objective()
        D.flat[index] = keep - 1e-6
        down = objective()
        D.flat[index] = keep
        numeric = (up - down) / 2e-6
        assert abs(numeric - float(analytic[index])) <= 1e-5 + 1e-4 * abs(numeric), index
