"""1-D GAN trainer speed: training steps per second at batch 256, against two baselines.

The trainer (numpy, hand-derived gradients, whole-batch) is timed interleaved in one
process with (a) the same algorithm written sample by sample in plain Python, and (b) the
same algorithm in torch with autograd computing the gradients. All three are first checked
to produce the same gradients on the same batch, so the comparison is like for like.
Run: python -m benchmarks.bench_toygan
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from advdemo.toygan.game import (
    ToyGanTrainer,
    discriminator_loss_and_grads,
    generator_loss_and_grad,
    make_config,
)
from benchmarks.common import Row, format_table, interleaved

BATCH = 256
TARGET_STEPS_PER_S = 5_000


def _sigmoid(a: float) -> float:
    return 1.0 / (1.0 + math.exp(-a)) if a >= 0 else math.exp(a) / (1.0 + math.exp(a))


def naive_grads(w, b, theta, x_real, x_fake, z):
    """Per-sample Python loops: (grad_w, grad_b) of J(D) and dJ(G)/dtheta (non-saturating)."""
    grad_w = grad_b = 0.0
    for x in x_real:
        err = _sigmoid(w * x + b) - 1.0
        grad_w += err * x / len(x_real)
        grad_b += err / len(x_real)
    for x in x_fake:
        err = _sigmoid(w * x + b)
        grad_w += err * x / len(x_fake)
        grad_b += err / len(x_fake)
    grad_theta = 0.0
    for zi in z:
        grad_theta += -w * (1.0 - _sigmoid(w * (zi + theta) + b)) / len(z)
    return grad_w, grad_b, grad_theta


class NaiveTrainer:
    """Alternating SGD, k = 1, with the per-sample gradients above."""

    def __init__(self, mu=2.0, theta=-2.0, lr=0.05, seed=0):
        self.mu, self.theta, self.w, self.b, self.lr = mu, theta, 0.0, 0.0, lr
        self.rng = np.random.default_rng(seed)

    def run(self, n: int) -> None:
        for _ in range(n):
            noise = self.rng.standard_normal(3 * BATCH).tolist()
            x_real = [self.mu + e for e in noise[:BATCH]]
            x_fake = [self.theta + e for e in noise[BATCH : 2 * BATCH]]
            grad_w, grad_b, _ = naive_grads(self.w, self.b, self.theta, x_real, x_fake, [])
            self.w -= self.lr * grad_w
            self.b -= self.lr * grad_b
            _, _, grad_theta = naive_grads(self.w, self.b, self.theta, [], [], noise[2 * BATCH :])
            self.theta -= self.lr * grad_theta


class AutogradTrainer:
    """Alternating SGD, k = 1, with torch autograd computing every gradient."""

    def __init__(self, mu=2.0, theta=-2.0, lr=0.05, seed=0):
        self.mu, self.lr = mu, lr
        self.w = torch.zeros((), dtype=torch.float64, requires_grad=True)
        self.b = torch.zeros((), dtype=torch.float64, requires_grad=True)
        self.theta = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
        self.generator = torch.Generator().manual_seed(seed)

    def run(self, n: int) -> None:
        for _ in range(n):
            noise = torch.randn(3 * BATCH, dtype=torch.float64, generator=self.generator)
            x_real = self.mu + noise[:BATCH]
            x_fake = self.theta.detach() + noise[BATCH : 2 * BATCH]
            loss_d = F.softplus(-(self.w * x_real + self.b)).mean()
            loss_d = loss_d + F.softplus(self.w * x_fake + self.b).mean()
            grad_w, grad_b = torch.autograd.grad(loss_d, (self.w, self.b))
            with torch.no_grad():
                self.w -= self.lr * grad_w
                self.b -= self.lr * grad_b
            a_fake = self.w.detach() * (noise[2 * BATCH :] + self.theta) + self.b.detach()
            (grad_theta,) = torch.autograd.grad(F.softplus(-a_fake).mean(), (self.theta,))
            with torch.no_grad():
                self.theta -= self.lr * grad_theta


def check_same_gradients() -> None:
    """All three implementations give the same gradients on one batch."""
    rng = np.random.default_rng(1)
    w, b, theta = 0.7, -0.2, -1.0
    x_real, z_d, z = 2.0 + rng.standard_normal((3, BATCH))
    x_fake = theta + z_d
    _, gw, gb = discriminator_loss_and_grads(w, b, x_real, x_fake)
    _, gt = generator_loss_and_grad(theta, w, b, z, "non_saturating")
    naive = naive_grads(w, b, theta, x_real.tolist(), x_fake.tolist(), z.tolist())
    tw, tb, tt = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (w, b, theta))
    loss_d = F.softplus(-(tw * torch.from_numpy(x_real) + tb)).mean()
    loss_d = loss_d + F.softplus(tw * torch.from_numpy(x_fake) + tb).mean()
    auto_w, auto_b = torch.autograd.grad(loss_d, (tw, tb))
    (auto_t,) = torch.autograd.grad(F.softplus(-(w * (torch.from_numpy(z) + tt) + b)).mean(), (tt,))
    for ours, theirs in ((gw, gb, gt), naive), ((gw, gb, gt), (auto_w, auto_b, auto_t)):
        np.testing.assert_allclose(ours, [float(v) for v in theirs], rtol=1e-9, atol=1e-12)


def measure(repeats: int = 7) -> list[Row]:
    check_same_gradients()
    trainers = {
        "numpy": (ToyGanTrainer(make_config(batch=BATCH)[0]), 2000),
        "numpy, Adam, k = 5": (
            ToyGanTrainer(make_config(batch=BATCH, optimizer="adam", k_d=5)[0]),
            400,
        ),
        "autograd": (AutogradTrainer(), 200),
        "naive": (NaiveTrainer(), 20),
    }
    times = interleaved(
        {name: (lambda t=t, n=n: t.run(n)) for name, (t, n) in trainers.items()},
        repeats=repeats,
        warmup=1,
    )
    us_per_step = {
        name: 1e6 * float(np.median(times[name])) / n for name, (_, n) in trainers.items()
    }
    ours = us_per_step["numpy"]
    ok = 1e6 / ours >= TARGET_STEPS_PER_S
    target = f"≤ {1e6 / TARGET_STEPS_PER_S:.0f} µs (≥ {TARGET_STEPS_PER_S:,} steps/s)"
    return [
        Row(
            "1-D GAN step, batch 256, SGD, k = 1",
            ours,
            "µs",
            us_per_step["naive"],
            "per-sample Python loop",
            target,
            ok,
        ),
        Row(
            "1-D GAN step, batch 256, SGD, k = 1",
            ours,
            "µs",
            us_per_step["autograd"],
            "torch autograd",
            target,
            ok,
        ),
        Row("1-D GAN step, batch 256, Adam, k = 5", us_per_step["numpy, Adam, k = 5"], "µs"),
    ]


def main() -> None:
    rows = measure()
    print(format_table(rows, "1-D GAN trainer (median of interleaved repeats)"))
    for row in rows:
        print(f"{row.figure}: {1e6 / row.value:,.0f} steps/s", end="")
        if row.baseline is not None:
            print(f"; {row.baseline_name}: {1e6 / row.baseline:,.0f} steps/s", end="")
            print(f" ({row.ratio:.1f}× faster)", end="")
        print()


if __name__ == "__main__":
    main()
