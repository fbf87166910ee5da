"""The 1-D GAN's lecture figures: the two generator costs with the batch on them (CS230 II.C),
D trained to optimality each step (DS542, Proposition 2) and JS split into quality and
coverage (DS542)."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from advdemo.core.errors import InputError
from advdemo.toygan.analytic import (
    best_logistic_discriminator,
    expected_gradients,
    js_divergence,
    js_parts,
)
from advdemo.toygan.costs import batch_costs, costs_figure
from advdemo.toygan.game import (
    MAX_RUN_STEPS,
    ToyGanTrainer,
    check_run_length,
    generator_loss_and_grad,
    make_config,
    run_work,
)
from advdemo.toygan.plots import timeline_figure
from tests.toygan.test_game import budget, trainer_for

HALF_LN2 = 0.5 * math.log(2.0)


# --- the generator costs ---------------------------------------------------------------------


@pytest.mark.parametrize("g_loss", ["saturating", "non_saturating"])
def test_batch_costs_are_the_trainers_own_cost_and_gradient(g_loss):
    trainer = trainer_for("converges", g_loss=g_loss)
    trainer.run(30)
    numbers = batch_costs(trainer)
    z = trainer.last_generated - trainer.theta
    cost, grad = generator_loss_and_grad(trainer.theta, trainer.w, trainer.b, z, g_loss)
    assert numbers[f"{g_loss}_cost"] == pytest.approx(cost)
    assert numbers[f"{g_loss}_grad_theta"] == pytest.approx(grad)
    d = trainer.discriminator(trainer.last_generated)
    assert numbers["mean_d_of_g_z"] == pytest.approx(float(d.mean()))


def test_the_saturating_preset_shows_the_batch_where_log_1_minus_d_is_flat():
    trainer = trainer_for("saturating")
    trainer.run(200)
    numbers = batch_costs(trainer)
    assert numbers["mean_d_of_g_z"] < 0.1  # D rejects the fakes
    assert abs(numbers["saturating_grad_theta"]) * 10 < abs(numbers["non_saturating_grad_theta"])


def test_costs_figure_puts_the_batch_on_both_curves_and_marks_the_cost_in_use():
    trainer = trainer_for("saturating")
    trainer.run(50)
    figure = costs_figure(trainer)
    go.Figure(figure.to_dict())  # valid plotly
    lines = [t for t in figure.data if t.mode == "lines"]
    batches = [t for t in figure.data if t.mode == "markers"]
    assert len(lines) == len(batches) == 2
    saturating, non_saturating = lines
    x = np.asarray(saturating.x, dtype=float)
    np.testing.assert_allclose(saturating.y, np.log1p(-x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(non_saturating.y, -np.log(x), rtol=1e-5, atol=1e-5)
    assert saturating.line.width > non_saturating.line.width  # the preset uses log(1 − D)
    assert "G uses this" in saturating.name
    for trace, cost in zip(batches, (np.log1p, lambda d: -np.log(d)), strict=True):
        d = np.asarray(trace.x, dtype=float)
        expected = cost(-d) if cost is np.log1p else cost(d)
        np.testing.assert_allclose(trace.y, np.clip(expected, -5, 5), rtol=1e-4, atol=1e-4)
        assert len(d) <= 160
    assert f"{batch_costs(trainer)['mean_d_of_g_z']:.3f}" in figure.layout.title.text


# --- D trained to optimality ----------------------------------------------------------------


def test_d_optimal_is_validated_and_noted():
    with pytest.raises(InputError, match="true or false"):
        make_config(d_optimal="yes")
    config, notes = make_config(d_optimal=True, k_d=5)
    assert config.d_optimal and any("k and the update mode do not apply" in n for n in notes)
    assert run_work(config, 1) > run_work(make_config(d_optimal=False, k_d=1)[0], 1)
    with pytest.raises(InputError, match="too much work"):
        check_run_length(make_config(d_optimal=True, batch=4096)[0], MAX_RUN_STEPS)


def test_each_step_sets_d_to_the_best_logistic_d_for_the_current_theta():
    for sigma in (1.0, 2.0):
        trainer = trainer_for("d_optimal", sigma=sigma)
        for _ in range(5):
            theta_before = trainer.theta
            trainer.step()
            w, b = best_logistic_discriminator(trainer.config.mu, sigma, theta_before)
            assert (trainer.w, trainer.b) == pytest.approx((w, b), abs=1e-8)
        if sigma == 1.0:  # then it is D* itself: w = μ − θ, b = (θ² − μ²)/2
            assert trainer.w == pytest.approx(trainer.config.mu - theta_before)


def test_against_d_star_the_saturating_cost_descends_twice_the_js_divergence():
    """Proposition 2's setting: V(D*, G) = −ln 4 + 2 JS, so G's expected gradient against D*
    is 2 dJS/dθ (D's own change does not count at its optimum)."""
    mu = 2.0
    for theta in (-1.0, 0.5, 1.5, 3.0):
        w, b = best_logistic_discriminator(mu, 1.0, theta)
        grad_theta, *_ = expected_gradients(theta, w, b, mu, 1.0, "saturating")
        h = 1e-4
        djs = (js_divergence(mu, 1.0, theta + h) - js_divergence(mu, 1.0, theta - h)) / (2 * h)
        assert float(grad_theta) == pytest.approx(2 * djs, rel=1e-3, abs=1e-6)


def test_the_d_optimal_preset_glides_down_js_without_swinging():
    trainer = trainer_for("d_optimal")
    trainer.run(budget("d_optimal"))
    c = trainer.config
    theta = trainer.history.column("theta")
    js = js_divergence(c.mu, c.sigma, theta)
    assert abs(trainer.theta - c.mu) < 0.05 and js[-1] < 1e-3
    assert theta.max() < c.mu + 0.1  # no overshoot, no swing
    assert np.all(np.diff(js[::10]) <= 1e-4)  # JS falls step after step (batch noise aside)
    # The same settings with D learning by SGD swing past μ.
    sgd = ToyGanTrainer(make_config(**{**c.__dict__, "d_optimal": False})[0])
    sgd.run(budget("d_optimal"))
    assert sgd.history.column("theta").max() > c.mu + 0.1


# --- JS in two parts --------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_js_parts_add_up_and_order_by_the_spreads(sigma):
    thetas = np.linspace(-4, 8, 25)
    quality, coverage = js_parts(2.0, sigma, thetas)
    np.testing.assert_allclose(quality + coverage, js_divergence(2.0, sigma, thetas), atol=1e-9)
    assert np.all((quality >= 0) & (quality <= HALF_LN2 + 1e-12))
    assert np.all((coverage >= 0) & (coverage <= HALF_LN2 + 1e-12))
    q, cov = js_parts(2.0, sigma, 2.0)  # G on the data's mean
    if sigma == 1.0:
        np.testing.assert_allclose(quality, coverage, atol=1e-9)  # mirror images
        assert q == pytest.approx(0.0, abs=1e-9) and cov == pytest.approx(0.0, abs=1e-9)
    elif sigma > 1.0:  # G (σ = 1) is the narrower one: its part is the larger
        assert q > cov > 0
    else:
        assert cov > q > 0
    far_q, far_cov = js_parts(2.0, sigma, 40.0)  # no overlap: each half of ln 2
    assert far_q == pytest.approx(HALF_LN2, abs=1e-6)
    assert far_cov == pytest.approx(HALF_LN2, abs=1e-6)


def test_the_training_curves_draw_js_with_its_two_parts():
    trainer = trainer_for("wide_data")
    trainer.run(300)
    figure = timeline_figure(trainer)
    by_name = {t.name.split(":")[0].split(" =")[0]: t for t in figure.data if t.xaxis == "x3"}
    js, quality, coverage = by_name["JS(p_data, p_g)"], by_name["quality"], by_name["coverage"]
    np.testing.assert_allclose(
        np.asarray(js.y), np.asarray(quality.y) + np.asarray(coverage.y), atol=1e-5
    )
    c = trainer.config
    q_now, cov_now = js_parts(c.mu, c.sigma, trainer.theta)
    assert quality.y[-1] == pytest.approx(q_now, abs=2e-3)
    assert coverage.y[-1] == pytest.approx(cov_now, abs=2e-3)
    summary = trainer.summary()
    assert summary["js_quality"] == pytest.approx(q_now)
    assert summary["js_coverage"] == pytest.approx(cov_now)
