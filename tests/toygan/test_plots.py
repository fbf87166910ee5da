"""advdemo.toygan.plots: the 1-D GAN's figures are valid, light, and show the trainer's state."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from advdemo.toygan import presets
from advdemo.toygan.analytic import d_star, p_g
from advdemo.toygan.plots import (
    MAX_LINE_POINTS,
    TRAIL_STEPS,
    game_figure,
    phase_figure,
    timeline_figure,
    x_range,
)
from tests.toygan.test_game import trainer_for


@pytest.mark.parametrize("preset", [p.key for p in presets.PRESETS])
def test_figures_are_valid_plotly_and_light(preset):
    trainer = trainer_for(preset)
    for steps in (0, 5, 1500):
        trainer.run(steps)
        for figure in (game_figure(trainer), timeline_figure(trainer), phase_figure(trainer)):
            go.Figure(figure.to_dict())  # validates every property; raises on a bad one
            for trace in figure.data:
                assert len(trace.x) <= 1200, (preset, trace.name, len(trace.x))


def test_game_figure_shows_the_current_state():
    trainer = trainer_for("converges")
    trainer.run(40)
    figure = game_figure(trainer)
    traces = {trace.name.split(" ")[0]: trace for trace in figure.data}
    c = trainer.config
    x = np.asarray(traces["optimal"].x, dtype=float)
    np.testing.assert_allclose(
        traces["optimal"].y, d_star(x, c.mu, c.sigma, trainer.theta), atol=1e-6
    )
    np.testing.assert_allclose(traces["D(x)"].y, trainer.discriminator(x), atol=1e-6)
    np.testing.assert_allclose(traces["generator"].y, p_g(x, trainer.theta), atol=1e-6)
    assert f"{trainer.theta:.2f}" in traces["generator"].name
    # The histogram integrates to the share of the batch inside the plotted range (~1).
    bars = traces["current"]
    assert float(np.sum(bars.y) * bars.width) == pytest.approx(1.0, abs=0.01)


def test_long_runs_are_downsampled_and_axes_hold_still():
    trainer = trainer_for("converges")
    trainer.run(20_000)
    timeline = timeline_figure(trainer)
    for trace in timeline.data:
        assert len(trace.x) <= MAX_LINE_POINTS + 1
    assert "mean of" in timeline.data[0].name
    phase = phase_figure(trainer)
    assert len(phase.data[2].x) == TRAIL_STEPS + 0  # the recent trail at full resolution
    before = (x_range(trainer), phase.layout.xaxis.range, phase.layout.yaxis.range)
    trainer.run(10)
    after_phase = phase_figure(trainer)
    assert before == (
        x_range(trainer),
        after_phase.layout.xaxis.range,
        after_phase.layout.yaxis.range,
    )
