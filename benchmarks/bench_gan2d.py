"""2-D GAN trainer speed: training steps per second at batch 256, G and D of 2 × 128 units.

The app's trainer (advdemo.gan2d: hand-written backward passes on flat parameter buffers, one
OpenMP thread, the step's coverage and quality measured as in the app) is timed interleaved
with
- the same trainer on torch's default threads (two here), which is why it runs on one,
- the straightforward torch loop on one thread: nn.Sequential networks, torch.optim.Adam,
  autograd (and autograd.grad(create_graph=True) for the gradient penalty), as a tutorial
  writes it. (On default threads that loop was 20-38× slower still on this shared VM, and
  took most of the benchmark's minutes, so it is no longer timed.)
All do the same work per step (one D update on a real and a generated batch, one G update;
Adam with β = (0.5, 0.999)), for the MM loss and for WGAN-GP (λ = 10). The hand-written and
the autograd D gradients are first checked equal on one batch.
Run: python -m benchmarks gan2d
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from advdemo.gan2d import losses
from advdemo.gan2d.nets import SLOPE
from advdemo.gan2d.trainer import ADAM_BETAS, Gan2dTrainer, make_config
from advdemo.models.runtime import single_thread
from benchmarks.common import Row, format_table, interleaved_wall_cpu

BATCH, WIDTH = 256, 128
TARGETS = {"mm": 500, "wgan_gp": 200}  # steps/s on the 2-core machine


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(SLOPE))
    return nn.Sequential(*layers)


class NaiveTrainer:
    """The tutorial loop: modules, autograd, torch.optim."""

    def __init__(self, trainer: Gan2dTrainer) -> None:
        c = trainer.config
        self.loss, self.data, self.rng = c.loss, trainer.data, torch.Generator().manual_seed(1)
        self.G = _mlp([c.z_dim, WIDTH, WIDTH, 2])
        self.D = _mlp([2, WIDTH, WIDTH, 1])
        with torch.no_grad():  # the same starting weights as the app's trainer
            for net, ours in ((self.G, trainer.G), (self.D, trainer.D)):
                linears = [m for m in net if isinstance(m, nn.Linear)]
                for m, w, b in zip(linears, ours.weights, ours.biases, strict=True):
                    m.weight.copy_(w[:, : m.weight.shape[1]])
                    m.bias.copy_(b)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=1e-3, betas=ADAM_BETAS)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=1e-3, betas=ADAM_BETAS)

    def d_loss(self, real, fake, alpha):
        out = self.D(torch.cat([real, fake])).view(-1)
        value = losses.d_loss(self.loss, out[:BATCH], out[BATCH:])[0]
        if self.loss == "wgan_gp":
            points = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(self.D(points).sum(), points, create_graph=True)
            value = value + 10.0 * (grad.norm(dim=1) - 1).square().mean()
        return value

    def g_loss(self, z):
        return losses.g_loss(self.loss, self.D(self.G(z)).view(-1))[0]

    def step(self) -> None:
        real = self.data.sample(BATCH, self.rng)
        with torch.no_grad():
            fake = self.G(torch.randn((BATCH, 2), generator=self.rng))
        alpha = torch.rand((BATCH, 1), generator=self.rng)
        self.opt_d.zero_grad()
        self.d_loss(real, fake, alpha).backward()
        self.opt_d.step()
        self.opt_g.zero_grad()
        self.g_loss(torch.randn((BATCH, 2), generator=self.rng)).backward()
        self.opt_g.step()

    def run(self, n: int) -> None:
        for _ in range(n):
            self.step()


def check_same_gradients(loss: str) -> None:
    """The app's hand-written gradients equal autograd's on the tutorial networks."""
    ours = Gan2dTrainer(
        make_config(loss=loss, gp_weight=10.0, batch=BATCH, g_width=WIDTH, d_width=WIDTH)
    )
    naive = NaiveTrainer(ours)
    real = ours.data.sample(BATCH, ours.rng)
    fake = ours.G(torch.randn((BATCH, 2), generator=ours.rng))
    alpha = torch.rand((BATCH, 1), generator=ours.rng)
    out, cache = ours.D.forward(torch.cat([real, fake]), (BATCH, BATCH))
    _, d_r, d_f = losses.d_loss(loss, out[:BATCH], out[BATCH:])
    ours.D.zero_grad()
    ours.D.backward(cache, torch.cat([d_r, d_f]))
    if loss == "wgan_gp":
        ours.D.penalty(torch.lerp(fake, real, alpha), 10.0)
    naive.D.zero_grad()
    naive.d_loss(real, fake, alpha).backward()
    linears = [m for m in naive.D if isinstance(m, nn.Linear)]
    for m, gw, gb in zip(linears, ours.D.grad_weights, ours.D.grad_biases, strict=True):
        torch.testing.assert_close(gw[:, : m.weight.shape[1]], m.weight.grad, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(gb, m.bias.grad, rtol=1e-4, atol=1e-5)


def _single(fn):
    def run():
        with single_thread():
            fn()

    return run


def _steps(trainer: Gan2dTrainer, n: int) -> None:
    """n rounds without the trainer's run(), so on the caller's (default) threads."""
    for _ in range(n):
        trainer.step()


def _fresh(loss: str) -> Gan2dTrainer:
    return Gan2dTrainer(
        make_config(loss=loss, gp_weight=10.0, batch=BATCH, g_width=WIDTH, d_width=WIDTH)
    )


def measure(repeats: int = 7) -> list[Row]:
    rows = []
    for loss, steps in (("mm", 100), ("wgan_gp", 50)):
        check_same_gradients(loss)
        ours, two = _fresh(loss), _fresh(loss)
        naive = NaiveTrainer(ours)
        variants = {
            "ours": lambda t=ours, n=steps: t.run(n),
            "two": lambda t=two, n=steps: _steps(t, n),
            "naive": _single(lambda t=naive, n=steps: t.run(n)),
        }
        wall, cpu = interleaved_wall_cpu(variants, repeats=repeats)
        us = {name: 1e6 * float(np.median(wall[name])) / steps for name in variants}
        cpu_us = {name: 1e6 * float(np.median(cpu[name])) / steps for name in variants}
        target = TARGETS[loss]
        figure = f"2-D GAN step, {loss.upper()}, batch {BATCH}, G and D 2×{WIDTH}"
        ok = 1e6 / us["ours"] >= target
        for name, label in (
            ("two", "same trainer on 2 threads"),
            ("naive", "tutorial torch loop, one thread"),
        ):
            rows.append(Row(figure, us["ours"], "µs", us[name], label, f"≥ {target} steps/s", ok))
        rows.append(Row(f"{figure}, CPU time", cpu_us["ours"], "µs", cpu_us["naive"], "tutorial"))
    return rows


def main() -> None:
    rows = measure()
    print(format_table(rows, "2-D GAN trainer (median of interleaved repeats)"))
    for row in rows:
        print(f"{row.figure}: {1e6 / row.value:,.0f} steps/s", end="")
        if row.baseline is not None:
            print(f"; {row.baseline_name}: {1e6 / row.baseline:,.0f} steps/s", end="")
            print(f" ({row.ratio:.2f}× faster)", end="")
        print()


if __name__ == "__main__":
    main()
