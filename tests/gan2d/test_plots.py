"""advdemo.gan2d.plots: valid, light figures that show the trainer's state."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from advdemo.gan2d.plots import MAX_LINE_POINTS, curves_figure, plane_figure, snapshot
from advdemo.gan2d.trainer import Gan2dTrainer, make_config


@pytest.mark.parametrize("loss", ["ns", "wgan_gp"])
def test_figures_are_valid_plotly_and_light(loss):
    t = Gan2dTrainer(make_config(loss=loss, g_width=16, d_width=16, batch=64))
    for steps in (0, 3):
        t.run(steps)
        figures = (plane_figure(snapshot(t), "A: "), curves_figure([("A", t), ("B", t)]))
        for figure in figures:
            go.Figure(figure.to_dict())  # validates every property
            assert len(figure.to_json()) < 120_000  # ~10 frames a second must stay light


def test_the_plane_shows_the_generator_on_its_fixed_z_and_the_arrows_follow_the_loss():
    t = Gan2dTrainer(make_config(loss="ns", g_width=16, d_width=16, batch=64))
    t.run(2)
    snap = snapshot(t)
    np.testing.assert_allclose(snap.fake, t.G(t.view_z[: len(snap.fake)]).numpy(), rtol=1e-6)
    # each arrow points down G's loss: a small move along it lowers −log D(G(z)) at that sample
    x = torch.from_numpy(snap.fake[:20])
    before = torch.nn.functional.softplus(-t.D(x)).sum()
    after = torch.nn.functional.softplus(-t.D(x + 1e-3 * torch.from_numpy(snap.push[:20]))).sum()
    assert float(after) < float(before)
    names = [trace.name for trace in plane_figure(snap).data]
    assert names[0] == "D's output" and "generated G(z)" in names and "real data" in names


def test_long_histories_are_binned():
    t = Gan2dTrainer(make_config(g_width=8, d_width=8, batch=8))
    t.run(MAX_LINE_POINTS + 50)
    for trace in curves_figure([("A", t)]).data:
        assert len(trace.x) <= MAX_LINE_POINTS
