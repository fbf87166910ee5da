"""advdemo.toygan.game and .presets: the trainer, its analytic helpers, and the presets' stories."""

from __future__ import annotations

import math

import numpy as np
import pytest

from advdemo.core.errors import InputError
from advdemo.toygan import presets
from advdemo.toygan.analytic import (
    best_logistic_discriminator,
    d_star,
    expected_gradients,
    js_divergence,
    p_data,
    p_g,
)
from advdemo.toygan.game import (
    BLOW_UP_LIMIT,
    ToyGanTrainer,
    discriminator_loss_and_grads,
    generator_loss_and_grad,
    gradient_field,
    make_config,
)

LN2 = math.log(2.0)


def settings(preset: str) -> dict[str, object]:
    return presets.settings(presets.preset(preset))


def budget(preset: str) -> int:
    return presets.preset(preset)["budget"]


def trainer_for(preset: str, **changes) -> ToyGanTrainer:
    config, _ = make_config(**{**settings(preset), **changes})
    return ToyGanTrainer(config)


def max_d_deviation(trainer: ToyGanTrainer) -> float:
    """Largest |D(x) - 1/2| over the data range mu ± 2 sigma."""
    c = trainer.config
    x = np.linspace(c.mu - 2 * c.sigma, c.mu + 2 * c.sigma, 201)
    return float(np.abs(trainer.discriminator(x) - 0.5).max())


# --- the game settles where the theory says ----------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_converges_preset_reaches_the_equilibrium(seed):
    trainer = trainer_for("converges", seed=seed)
    start_gap = abs(trainer.theta - trainer.config.mu)
    trainer.run(budget("converges"))

    assert trainer.diverged is None
    assert abs(trainer.theta - trainer.config.mu) < 0.05 < start_gap
    assert max_d_deviation(trainer) < 0.02
    assert js_divergence(trainer.config.mu, trainer.config.sigma, trainer.theta) < 1e-3
    # At D = 1/2 the losses sit at their equilibrium values 2 ln 2 and ln 2.
    assert trainer.history.column("d_loss")[-200:].mean() == pytest.approx(2 * LN2, abs=0.01)
    assert trainer.history.column("g_loss")[-200:].mean() == pytest.approx(LN2, abs=0.01)


def test_saturating_loss_moves_theta_slower_early_than_non_saturating():
    saturating = trainer_for("saturating")
    non_saturating = trainer_for("saturating", g_loss="non_saturating")
    assert saturating.theta == non_saturating.theta
    saturating.run(200)
    non_saturating.run(200)
    start = settings("saturating")["theta0"]

    moved_saturating = saturating.theta - start
    moved_non_saturating = non_saturating.theta - start
    assert moved_non_saturating > 3.0  # most of the way to mu = 2 from -4
    assert 0 < moved_saturating < 0.2 * moved_non_saturating


def test_strong_discriminator_freezes_only_the_saturating_generator():
    frozen = trainer_for("d_strong")
    frozen.run(1000)
    assert abs(frozen.theta - frozen.config.theta0) < 0.1
    assert frozen.history.column("d_loss")[-100:].mean() < 0.05  # D wins outright

    rescued = trainer_for("d_strong", g_loss="non_saturating")
    rescued.run(300)
    assert abs(rescued.theta - rescued.config.mu) < 0.2


def test_simultaneous_updates_keep_oscillating_where_alternating_ones_settle():
    steps = budget("oscillates")
    simultaneous = trainer_for("oscillates")
    alternating = trainer_for("oscillates", update="alternating")
    simultaneous.run(steps)
    alternating.run(steps)
    mu = simultaneous.config.mu

    late_swing_sim = np.abs(simultaneous.history.column("theta")[-1000:] - mu).max()
    late_swing_alt = np.abs(alternating.history.column("theta")[-1000:] - mu).max()
    assert late_swing_sim > 0.8
    assert late_swing_alt < 0.5 * late_swing_sim


def test_wider_data_matches_the_mean_but_not_the_distribution():
    trainer = trainer_for("wide_data")
    trainer.run(budget("wide_data"))
    c = trainer.config
    assert abs(trainer.theta - c.mu) < 0.05
    assert max_d_deviation(trainer) < 0.05
    assert js_divergence(c.mu, c.sigma, trainer.theta) > 0.05


def test_every_preset_is_valid_and_plays_without_diverging():
    for preset in presets.PRESETS:
        key = preset.key
        config, notes = make_config(**presets.settings(preset))
        assert notes == [], key
        trainer = ToyGanTrainer(config)
        trainer.run(300)
        assert trainer.diverged is None, key
        assert preset.note and preset.label and preset["steps_per_frame"] >= 1
        assert set(preset.values) == set(presets.CONTROL_KEYS), key


def test_presets_keep_their_labels_and_an_unknown_one_is_refused_clearly():
    assert [(p.key, p.label) for p in presets.PRESETS] == [
        ("converges", "converges"),
        ("saturating", "saturating loss stalls"),
        ("d_strong", "D too strong"),
        ("d_weak", "D too weak"),
        ("oscillates", "oscillates (simultaneous updates)"),
        ("wide_data", "real data wider than G (σ = 2)"),
        ("d_optimal", "D optimal every step (Proposition 2)"),
        ("narrow_data", "real data narrower than G (σ = 0.5)"),
    ]
    assert presets.DEFAULT_PRESET == "converges"
    with pytest.raises(InputError, match="preset must be one of"):
        presets.preset("explodes")


# --- the analytic side -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mu", "sigma", "theta"), [(2, 1, -2), (0, 1, 0.5), (1, 2, -1), (-3, 0.5, 2)]
)
def test_d_star_is_the_density_ratio(mu, sigma, theta):
    x = np.linspace(-8, 8, 401)
    ratio = p_data(x, mu, sigma) / (p_data(x, mu, sigma) + p_g(x, theta))
    np.testing.assert_allclose(d_star(x, mu, sigma, theta), ratio, rtol=1e-10, atol=1e-15)
    if sigma == 1 and theta == mu:
        np.testing.assert_allclose(d_star(x, mu, sigma, theta), 0.5)


@pytest.mark.parametrize(("mu", "theta"), [(2, -2), (0, 0.5), (-3, 4), (1, 1)])
def test_with_unit_sigma_the_best_logistic_d_is_d_star(mu, theta):
    w, b = best_logistic_discriminator(mu, 1.0, theta)
    assert w == pytest.approx(mu - theta, abs=1e-8)
    assert b == pytest.approx((theta**2 - mu**2) / 2, abs=1e-8)
    x = np.linspace(mu - 6, mu + 6, 301)
    np.testing.assert_allclose(1 / (1 + np.exp(-(w * x + b))), d_star(x, mu, 1.0, theta), atol=1e-8)


def test_with_other_sigma_no_logistic_d_reaches_d_star():
    mu = theta = 2.0
    w, b = best_logistic_discriminator(mu, 2.0, theta)
    assert abs(w) < 1e-8 and abs(b) < 1e-8  # the best straight line is flat: D = 1/2
    x = np.linspace(-4, 8, 301)
    assert np.abs(d_star(x, mu, 2.0, theta) - 0.5).max() > 0.3


def test_trained_discriminator_approaches_the_optimum_for_a_frozen_generator():
    # A generator learning rate of 1e-9 leaves theta in place (to 1e-5) while D trains.
    config, _ = make_config(mu=1.0, theta0=-1.0, lr_g=1e-9, lr_d=0.5, k_d=5, batch=1024)
    trainer = ToyGanTrainer(config)
    trainer.run(800)
    w_best, b_best = best_logistic_discriminator(1.0, 1.0, trainer.theta)
    assert trainer.w == pytest.approx(w_best, abs=0.1)
    assert trainer.b == pytest.approx(b_best, abs=0.1)


def test_js_divergence_limits_symmetry_and_vectorisation():
    assert js_divergence(1.5, 1.0, 1.5) < 1e-12
    assert js_divergence(0.0, 1.0, 25.0) == pytest.approx(LN2, abs=1e-9)
    assert js_divergence(0.0, 1.0, 2.0) == pytest.approx(js_divergence(0.0, 1.0, -2.0), abs=1e-12)
    offsets = np.array([0.0, 0.3, 1.0, 2.0, 4.0, 8.0])
    values = js_divergence(0.0, 1.0, offsets)
    assert values.shape == offsets.shape
    assert np.all(np.diff(values) > 0)
    np.testing.assert_allclose(values, [js_divergence(0.0, 1.0, t) for t in offsets], atol=1e-9)
    # Cross-check one value against a Monte Carlo estimate of the definition.
    rng = np.random.default_rng(0)
    xp, xq = rng.normal(0.0, 2.0, 400_000), rng.normal(1.0, 1.0, 400_000)

    def log_m(x):
        return np.log(0.5 * p_data(x, 0.0, 2.0) + 0.5 * p_g(x, 1.0))

    monte_carlo = 0.5 * np.mean(np.log(p_data(xp, 0.0, 2.0)) - log_m(xp)) + 0.5 * np.mean(
        np.log(p_g(xq, 1.0)) - log_m(xq)
    )
    assert js_divergence(0.0, 2.0, 1.0) == pytest.approx(monte_carlo, abs=3e-3)


# --- gradients -----------------------------------------------------------------------------


def central_difference(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_discriminator_gradients_match_finite_differences(seed):
    rng = np.random.default_rng(seed)
    w, b = rng.normal(0, 1.5, 2)
    x_real, x_fake = rng.normal(2, 1, 64), rng.normal(-1, 1, 48)
    _, grad_w, grad_b = discriminator_loss_and_grads(w, b, x_real, x_fake)

    def loss_at(w_, b_):
        return discriminator_loss_and_grads(w_, b_, x_real, x_fake)[0]

    assert grad_w == pytest.approx(central_difference(lambda v: loss_at(v, b), w), rel=1e-6)
    assert grad_b == pytest.approx(central_difference(lambda v: loss_at(w, v), b), rel=1e-6)


@pytest.mark.parametrize("g_loss", ["non_saturating", "saturating"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generator_gradient_matches_finite_differences(g_loss, seed):
    rng = np.random.default_rng(seed)
    theta, w, b = rng.normal(0, 1.5, 3)
    z = rng.normal(size=64)
    _, grad_theta = generator_loss_and_grad(theta, w, b, z, g_loss)
    numeric = central_difference(lambda t: generator_loss_and_grad(t, w, b, z, g_loss)[0], theta)
    assert grad_theta == pytest.approx(numeric, rel=1e-6)


def test_losses_are_finite_when_d_is_certain():
    # a = ±800: naive log(sigmoid) would give -inf here.
    loss, grad_w, grad_b = discriminator_loss_and_grads(
        100.0, 0.0, np.array([-8.0]), np.array([8.0])
    )
    assert math.isfinite(loss) and loss == pytest.approx(1600.0)
    assert (grad_w, grad_b) == pytest.approx((16.0, 0.0))
    loss_g, grad_theta = generator_loss_and_grad(8.0, -100.0, 0.0, np.zeros(1), "non_saturating")
    assert loss_g == pytest.approx(800.0) and grad_theta == pytest.approx(100.0)


@pytest.mark.parametrize("g_loss", ["non_saturating", "saturating"])
def test_expected_gradients_match_a_huge_batch(g_loss):
    mu, sigma, theta, w, b = 1.0, 1.5, -0.5, 0.8, -0.3
    rng = np.random.default_rng(0)
    n = 1_000_000
    x_real, z = rng.normal(mu, sigma, n), rng.normal(size=n)
    _, batch_gw, batch_gb = discriminator_loss_and_grads(w, b, x_real, z + theta)
    _, batch_gt = generator_loss_and_grad(theta, w, b, z, g_loss)
    exp_gt, exp_gw, exp_gb = expected_gradients(theta, w, b, mu, sigma, g_loss)
    assert (float(exp_gt), float(exp_gw), float(exp_gb)) == pytest.approx(
        (batch_gt, batch_gw, batch_gb), abs=5e-3
    )


def test_gradient_field_points_towards_the_data_and_vanishes_at_equilibrium():
    config, _ = make_config(mu=0.0, theta0=0.0)
    d_theta, d_w = gradient_field(
        np.array([-1.0, 0.0, 1.0]), np.array([-0.5, 0.0, 0.5]), 0.0, config
    )
    # rows: w = -0.5, 0, 0.5; columns: theta = -1, 0, 1
    assert abs(d_theta[1, 1]) < 1e-12 and abs(d_w[1, 1]) < 1e-12
    assert d_theta[2, 1] > 0 and d_theta[0, 1] < 0  # G climbs D's slope
    assert d_w[1, 0] > 0 and d_w[1, 2] < 0  # D tilts towards the real data


# --- optimisers, determinism, validation, divergence ---------------------------------------------


def test_adam_matches_torch():
    torch = pytest.importorskip("torch")
    config, _ = make_config(optimizer="adam", lr_d=0.01, lr_g=0.02, seed=5, batch=32)
    trainer = ToyGanTrainer(config)
    w = torch.tensor(trainer.w, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(trainer.b, dtype=torch.float64, requires_grad=True)
    theta = torch.tensor(trainer.theta, dtype=torch.float64, requires_grad=True)
    betas = (config.adam_beta1, config.adam_beta2)
    opt_d = torch.optim.Adam([w, b], lr=config.lr_d, betas=betas, eps=config.adam_eps)
    opt_g = torch.optim.Adam([theta], lr=config.lr_g, betas=betas, eps=config.adam_eps)
    reference_rng = np.random.default_rng(config.seed)  # the trainer's noise stream, replayed
    noise = reference_rng.standard_normal(1 << 16)
    pos = 0
    for _ in range(50):
        eps = torch.from_numpy(noise[pos : pos + 96])
        pos += 96
        x_real = config.mu + config.sigma * eps[:32]
        x_fake = theta.detach() + eps[32:64]
        opt_d.zero_grad()
        loss_d = torch.nn.functional.softplus(-(w * x_real + b)).mean() + (
            torch.nn.functional.softplus(w * x_fake + b).mean()
        )
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = torch.nn.functional.softplus(-(w.detach() * (eps[64:96] + theta) + b.detach()))
        loss_g.mean().backward()
        opt_g.step()
        trainer.step()
        assert trainer.w == pytest.approx(w.item(), abs=1e-10)
        assert trainer.b == pytest.approx(b.item(), abs=1e-10)
        assert trainer.theta == pytest.approx(theta.item(), abs=1e-10)


def test_sgd_step_is_a_plain_gradient_step():
    config, _ = make_config(lr_d=0.1, lr_g=0.2, batch=16, seed=3)
    trainer = ToyGanTrainer(config)
    noise = np.random.default_rng(3).standard_normal(48)
    x_real, x_fake, z = config.mu + noise[:16], config.theta0 + noise[16:32], noise[32:48]
    _, grad_w, grad_b = discriminator_loss_and_grads(0.0, 0.0, x_real, x_fake)
    w, b = -0.1 * grad_w, -0.1 * grad_b
    _, grad_theta = generator_loss_and_grad(config.theta0, w, b, z, "non_saturating")
    trainer.step()
    assert (trainer.w, trainer.b) == pytest.approx((w, b), abs=1e-14)
    assert trainer.theta == pytest.approx(config.theta0 - 0.2 * grad_theta, abs=1e-14)


def test_a_seed_fixes_the_run_however_the_steps_are_split():
    config, _ = make_config(seed=11, k_d=3, batch=100, optimizer="adam", lr_d=0.01, lr_g=0.01)
    whole_run, split_run = ToyGanTrainer(config), ToyGanTrainer(config)
    whole_run.run(700)
    split_run.run(37)
    split_run.step()
    split_run.run(662)
    for name in ("theta", "w", "b", "d_loss", "g_loss"):
        np.testing.assert_array_equal(
            whole_run.history.column(name), split_run.history.column(name)
        )
    other_seed = ToyGanTrainer(make_config(seed=12, k_d=3, batch=100)[0])
    other_seed.run(10)
    assert other_seed.history.column("theta")[10] != whole_run.history.column("theta")[10]


def test_reconfigure_carries_the_run_on_under_new_settings():
    trainer = trainer_for("saturating")
    trainer.run(100)
    theta, w, b = trainer.theta, trainer.w, trainer.b
    trainer.reconfigure(make_config(**{**settings("saturating"), "g_loss": "non_saturating"})[0])
    assert (trainer.theta, trainer.w, trainer.b) == (theta, w, b)
    trainer.run(200)
    assert abs(trainer.theta - trainer.config.mu) < 0.5  # the non-saturating loss took over


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sigma": 0}, "must be positive"),
        ({"sigma": -1.0}, "must be positive"),
        ({"sigma": float("nan")}, "finite"),
        ({"sigma": 50}, "at most 5"),
        ({"mu": float("inf")}, "finite"),
        ({"mu": 11}, "at most 10"),
        ({"lr_d": 100}, "far too large"),
        ({"lr_g": 0}, "must be positive"),
        ({"lr_g": -0.1}, "must be positive"),
        ({"lr_d": "fast"}, "must be a number"),
        ({"k_d": 0}, "at least 1"),
        ({"k_d": 2.5}, "whole number"),
        ({"k_d": 21}, "at most 20"),
        ({"batch": 0}, "at least 1"),
        ({"batch": 10_000}, "at most 4096"),
        ({"seed": -1}, "at least 0"),
        ({"optimizer": "rmsprop"}, "must be one of"),
        ({"g_loss": "wasserstein"}, "must be one of"),
        ({"update": "random"}, "must be one of"),
        ({"lr_d": None}, "Please fill in: D learning rate"),
        ({"temperature": 1}, "Unknown setting"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(settings, message):
    with pytest.raises(InputError, match=message):
        make_config(**settings)


def test_simultaneous_mode_uses_one_d_step_and_says_so():
    config, notes = make_config(update="simultaneous", k_d=5)
    assert config.k_d == 1
    assert len(notes) == 1 and "k = 5" in notes[0]


def test_divergence_stops_the_run_and_keeps_the_last_finite_state():
    config, _ = make_config(lr_d=3.0, lr_g=3.0, mu=10.0, theta0=-10.0, batch=16)
    trainer = ToyGanTrainer(config)
    played = trainer.run(1000)

    assert played < 50
    assert trainer.diverged is not None and "diverged at step" in trainer.diverged
    assert trainer.steps_done == played and trainer.history.size == played + 1
    for value in (trainer.theta, trainer.w, trainer.b):
        assert math.isfinite(value) and abs(value) <= BLOW_UP_LIMIT
    assert not trainer.step() and trainer.run(10) == 0  # stays stopped
    assert trainer.summary()["diverged"] == trainer.diverged
