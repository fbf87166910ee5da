"""What the pictures of a 2-D GAN run show, read out of a trainer: the plane (data, samples,
D's heat map, G's gradient arrows, the manifold) and the curves per step, binned.

`snapshot(trainer)` reads what the plane shows out of a trainer (call it under the trainer's
lock; a few milliseconds): D on a grid, G on the trainer's fixed view z (the same z every
frame, so samples glide instead of flickering), the direction G's loss moves each sample, and
a grid of z pushed through G. gan2d.raster draws them. No Gradio here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from advdemo.gan2d import losses
from advdemo.gan2d.data import EXTENT
from advdemo.gan2d.trainer import Gan2dTrainer

REAL = "#222222"
FAKE = "#e8590c"
ARROW = "#1c7ed6"
MANIFOLD = "#7048e8"
COLOURS = ("#e8590c", "#1c7ed6")  # run A, run B in the curves
HEAT_GRID = 48
SHOWN = 300  # samples of each kind drawn
ARROWS = 80
MANIFOLD_LINES = 11
MAX_LINE_POINTS = 400


@dataclass
class Snapshot:
    step: int
    loss: str
    probability: bool
    heat: np.ndarray  # (HEAT_GRID, HEAT_GRID) D's output over the plane
    real: np.ndarray
    fake: np.ndarray
    push: np.ndarray  # −dL_G/dx per shown sample, scaled for drawing
    manifold: np.ndarray  # (lines, points, 2): rows then columns of the z grid through G
    covered: int
    modes: int
    quality: float
    diverged: str | None


def snapshot(trainer: Gan2dTrainer) -> Snapshot:
    t = trainer
    D, G = t.D, t.G
    with torch.no_grad():
        axis = torch.linspace(-EXTENT, EXTENT, HEAT_GRID, dtype=t.dtype)
        yy, xx = torch.meshgrid(axis, axis, indexing="ij")
        grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
        heat = losses.d_output(t.config.loss, D(grid)).view(HEAT_GRID, HEAT_GRID)
        fake, _ = G.forward(t.view_z[:SHOWN])
        out, cache = D.forward(fake, (fake.shape[0],))
        _, d_out = losses.g_loss(t.config.loss, out)
        push = -D.backward(cache, d_out, params=False, inputs=True)[:ARROWS]
        length = push.norm(dim=1, keepdim=True)
        # Arrows as long as the gradient relative to the longest, at most 0.45 of a unit.
        push = push / (length.max() + 1e-12) * 0.45
        ticks = torch.linspace(-2.0, 2.0, MANIFOLD_LINES, dtype=t.dtype)
        fine = torch.linspace(-2.0, 2.0, 41, dtype=t.dtype)
        a, b = torch.meshgrid(ticks, fine, indexing="ij")
        z = torch.zeros((2 * a.numel(), t.config.z_dim), dtype=t.dtype)
        z[: a.numel(), 0], z[: a.numel(), 1] = a.reshape(-1), b.reshape(-1)
        z[a.numel() :, 0], z[a.numel() :, 1] = b.reshape(-1), a.reshape(-1)
        manifold = G(z).view(2 * MANIFOLD_LINES, 41, 2)
    history = t.history
    last = history[-1] if len(history) else (np.nan, np.nan, 0, 0.0)
    if not len(history):
        covered, quality, _ = t.data.measure(fake)
    else:
        covered, quality = int(last[2]), float(last[3])
    return Snapshot(
        t.steps_done,
        t.config.loss,
        t.loss.probability,
        heat.numpy().astype(np.float32),
        t.view_real[:SHOWN].numpy().astype(np.float32),
        fake.numpy().astype(np.float32),
        push.numpy().astype(np.float32),
        manifold.numpy().astype(np.float32),
        covered,
        t.data.modes,
        quality,
        t.diverged,
    )


def binned(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(steps, mean of each bin): at most MAX_LINE_POINTS points however long the run."""
    n = values.shape[0]
    if n <= MAX_LINE_POINTS:
        return np.arange(1, n + 1, dtype=np.float32), values.astype(np.float32)
    edges = np.linspace(0, n, MAX_LINE_POINTS + 1).astype(int)
    sums = np.add.reduceat(np.nan_to_num(values), edges[:-1])
    means = sums / np.diff(edges)
    return ((edges[:-1] + edges[1:]) / 2).astype(np.float32), means.astype(np.float32)
