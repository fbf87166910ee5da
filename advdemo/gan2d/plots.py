"""Figures of a 2-D GAN run: the plane (data, samples, D's heat map, G's gradient arrows, the
manifold) and the measured curves per step (modes covered, quality, losses).

`snapshot(trainer)` reads what the plane shows out of a trainer (call it under the trainer's
lock; a few milliseconds): D on a grid, G on the trainer's fixed view z (the same z every
frame, so samples glide instead of flickering), the direction G's loss moves each sample, and
a grid of z pushed through G. The figure builders are pure functions of snapshots and
trainers' histories, redrawn ~10 times a second, so they are built from plain dicts without
plotly's validation (tests validate them) and send float32. No Gradio here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
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
FONT = {"family": "Arial, Helvetica, sans-serif", "color": "#2a2f3a", "size": 13}
_AXIS = {"gridcolor": "#e5e8ef", "linecolor": "#9aa0ab", "zeroline": False, "ticks": "outside"}


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


def _figure(data: list[dict], layout: dict) -> go.Figure:
    base = {"paper_bgcolor": "white", "plot_bgcolor": "white", "font": FONT}
    return go.Figure(data=data, layout={**base, **layout}, _validate=False)


def _segments(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y of line segments in one trace, separated by NaN (plotly breaks lines there)."""
    n = starts.shape[0]
    xy = np.full((n, 3, 2), np.nan, dtype=np.float32)
    xy[:, 0], xy[:, 1] = starts, ends
    return xy[:, :, 0].reshape(-1), xy[:, :, 1].reshape(-1)


def _polylines(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, m, _ = lines.shape
    xy = np.full((n, m + 1, 2), np.nan, dtype=np.float32)
    xy[:, :m] = lines
    return xy[:, :, 0].reshape(-1), xy[:, :, 1].reshape(-1)


def plane_figure(snap: Snapshot, title: str = "", height: int = 520) -> go.Figure:
    """The plane: D's heat map, real and generated samples, G's arrows, the manifold."""
    axis = np.linspace(-EXTENT, EXTENT, HEAT_GRID, dtype=np.float32)
    finite = np.isfinite(snap.heat)
    values = np.where(finite, snap.heat, 0.0) if finite.any() else np.zeros_like(snap.heat)
    if snap.probability:
        heat = {"zmin": 0.0, "zmax": 1.0, "colorscale": "RdBu", "reversescale": False}
        key = "heat map D(x): red → 1 (real), blue → 0 (fake)"
    else:
        middle = float(np.median(values))
        spread = float(np.abs(values - middle).max()) or 1.0
        heat = {"zmin": middle - spread, "zmax": middle + spread, "colorscale": "RdBu"}
        key = "heat map: D's score, red high (real), blue low (fake)"
        if snap.loss == "began":  # D's output is its reconstruction error: low looks real
            heat["reversescale"] = True
            key = "heat map: D's error ‖x − AE(x)‖₁, red low (real), blue high"
    ax, ay = _segments(snap.fake[:ARROWS], snap.fake[:ARROWS] + snap.push)
    mx, my = _polylines(snap.manifold)
    data = [
        {
            "type": "heatmap",
            "x": axis,
            "y": axis,
            "z": values.astype(np.float32),
            "opacity": 0.55,
            "zsmooth": "best",
            "showscale": False,
            "hoverinfo": "skip",
            "name": "D's output",
            **heat,
        },
        {
            "type": "scatter",
            "x": mx,
            "y": my,
            "mode": "lines",
            "line": {"color": MANIFOLD, "width": 1},
            "opacity": 0.45,
            "name": "G's manifold (grid of z)",
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "x": snap.real[:, 0],
            "y": snap.real[:, 1],
            "mode": "markers",
            "marker": {"color": REAL, "size": 4},
            "name": "real data",
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "x": snap.fake[:, 0],
            "y": snap.fake[:, 1],
            "mode": "markers",
            "marker": {"color": FAKE, "size": 5, "line": {"color": "white", "width": 0.5}},
            "name": "generated G(z)",
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "x": ax,
            "y": ay,
            "mode": "lines",
            "line": {"color": ARROW, "width": 1.2},
            "name": "G's gradient (where its loss moves each sample)",
            "hoverinfo": "skip",
        },
    ]
    headline = (
        f"step {snap.step:,} · {snap.covered} of {snap.modes} modes · "
        f"{100 * snap.quality:.0f}% high quality"
    )
    if snap.diverged:
        headline = f"step {snap.step:,}: diverged"
    square = {**_AXIS, "range": [-EXTENT, EXTENT], "constrain": "domain"}
    layout = {
        "title": {
            # one size for both lines: a size set inside the text would escape lecture mode's
            # scaling of every figure's fonts (ui.page)
            "text": f"{title}{headline}<br>{key}",
            "font": {"size": 13},
            "x": 0.02,
        },
        "height": height,
        "margin": {"l": 40, "r": 10, "t": 56, "b": 20},
        "xaxis": square,
        "yaxis": {**square, "scaleanchor": "x", "scaleratio": 1},
        "legend": {"orientation": "h", "y": -0.07, "yanchor": "top", "font": {"size": 11}},
        "showlegend": True,
        "uirevision": "plane",
    }
    return _figure(data, layout)


def _binned(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(steps, mean of each bin): at most MAX_LINE_POINTS points however long the run."""
    n = values.shape[0]
    if n <= MAX_LINE_POINTS:
        return np.arange(1, n + 1, dtype=np.float32), values.astype(np.float32)
    edges = np.linspace(0, n, MAX_LINE_POINTS + 1).astype(int)
    sums = np.add.reduceat(np.nan_to_num(values), edges[:-1])
    means = sums / np.diff(edges)
    return ((edges[:-1] + edges[1:]) / 2).astype(np.float32), means.astype(np.float32)


def curves_figure(runs: list[tuple[str, Gan2dTrainer]], height: int = 520) -> go.Figure:
    """Per step: modes covered, share of high-quality samples, and both losses; one colour per
    run (a race draws both). Long runs are averaged into ≤ MAX_LINE_POINTS bins."""
    data: list[dict] = []
    modes = max(t.data.modes for _, t in runs)
    for i, (name, t) in enumerate(runs):
        h = t.history
        colour = COLOURS[i % len(COLOURS)]
        tag = f"{name}: " if len(runs) > 1 else ""
        for column, axis, label, dash in (
            (2, "y", "modes covered", "solid"),
            (3, "y2", "high-quality share", "solid"),
            (0, "y3", "L_D", "solid"),
            (1, "y3", "L_G", "dot"),
        ):
            x, y = _binned(h[:, column] * (100 if column == 3 else 1))
            data.append(
                {
                    "type": "scatter",
                    "x": x,
                    "y": y,
                    "mode": "lines",
                    "yaxis": axis,
                    "line": {"color": colour, "width": 1.6, "dash": dash},
                    "name": f"{tag}{label}",
                    "showlegend": column in (0, 1) or (len(runs) > 1 and column == 2),
                }
            )
    steps = max(max(t.steps_done for _, t in runs), 10)
    layout = {
        "height": height,
        "margin": {"l": 60, "r": 10, "t": 10, "b": 40},
        "xaxis": {**_AXIS, "range": [0, steps], "title": {"text": "step"}, "anchor": "y3"},
        "yaxis": {
            **_AXIS,
            "domain": [0.7, 1.0],
            "range": [-0.3, modes + 0.5],
            "title": {"text": f"modes (of {modes})"},
        },
        "yaxis2": {**_AXIS, "domain": [0.37, 0.63], "range": [-3, 103], "title": {"text": "% HQ"}},
        "yaxis3": {**_AXIS, "domain": [0.0, 0.3], "title": {"text": "loss"}},
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "font": {"size": 11}},
        "uirevision": "curves",
    }
    return _figure(data, layout)
