"""The 2-D GAN trainer: data and their checks, determinism, divergence, the race's common start,
and the measured mode coverage of the presets over several seeds."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from advdemo.core.errors import InputError
from advdemo.gan2d import data, presets
from advdemo.gan2d.playback import Playback, same_start
from advdemo.gan2d.trainer import Gan2dTrainer, check_run_length, make_config

SMALL = {"g_width": 16, "d_width": 16, "batch": 64}


# --- data ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ring", "grid", "moons", "spiral"])
def test_real_data_is_all_high_quality_and_covers_every_mode(name):
    dataset = data.make_dataset(name)
    covered, quality, counts = dataset.measure(dataset.sample(4000, torch.Generator()))
    assert covered == dataset.modes == {"ring": 8, "grid": 25, "moons": 8, "spiral": 10}[name]
    assert quality > 0.98  # a 2-D Gaussian has 1 − exp(−9/2) = 98.9 % of its mass within 3σ
    assert counts.min() > 0.5 * counts.mean()


def test_samples_on_one_mode_cover_one_mode():
    ring = data.ring()
    x = ring.support[3] + 0.05 * torch.randn((500, 2), generator=torch.Generator())
    covered, quality, counts = ring.measure(x)
    assert covered == 1 and counts[3] == counts.sum() and quality > 0.95
    far = torch.zeros((500, 2))  # the centre of the ring is no mode
    assert ring.measure(far)[:2] == (0, 0.0)


def test_user_points_are_read_scaled_and_grouped():
    dataset = data.user_points("x,y\n10, 10\n12;10\n11\t14\n")
    assert dataset.support.shape == (3, 2) and dataset.modes == 3
    assert math.isclose(float(dataset.support.abs().max()), data.USER_SCALE, rel_tol=1e-6)
    many = "\n".join(f"{math.cos(t):.4f}, {math.sin(t):.4f}" for t in np.linspace(0, 6, 500))
    assert data.user_points(many).modes == data.MAX_USER_MODES


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   \n  ", "empty"),
        ("x,y\n", "at least two"),
        ("1, 2\n1, 2", "at least two different"),
        ("1, 2\n3", "has 1 values"),
        ("1, 2\nthree, 4", "not two numbers"),
        ("1, 2\nnan, 4", "not finite"),
        ("\n".join(["1, 2"] * (data.MAX_POINTS + 1)), "Too many points"),
        ("1, 2\n" * 50_000, "too long"),
        (None, "empty"),
        (42, "must be text"),
    ],
)
def test_bad_point_sets_get_a_clear_message(text, message):
    with pytest.raises(InputError, match=message):
        data.user_points(text)


# --- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lr_d": 0}, "must be positive"),
        ({"lr_g": float("nan")}, "finite"),
        ({"lr_g": 50}, "far too large"),
        ({"g_width": 100_000}, "at most 256"),
        ({"d_width": 2.5}, "whole number"),
        ({"batch": 0}, "at least 8"),
        ({"batch": 10**9}, "at most 1024"),
        ({"z_dim": 1}, "at least 2"),
        ({"loss": "ebgan"}, "loss must be one of"),  # a GAN the tab does not offer
        ({"dataset": "cats"}, "data set must be one of"),
        ({"spectral_norm": "yes"}, "true or false"),
        ({"k_d": None}, "Please fill in"),
        ({"temperature": 3}, "Unknown setting"),
    ],
)
def test_bad_settings_get_a_clear_message(changes, message):
    with pytest.raises(InputError, match=message):
        make_config(**changes)


def test_too_long_a_run_is_refused_with_what_fits():
    config = make_config(g_width=256, d_width=256, d_depth=4, g_depth=4, batch=1024, k_d=10)
    with pytest.raises(InputError, match="at most"):
        check_run_length(config, 20_000)


# --- training ----------------------------------------------------------------------------------


def test_a_run_is_deterministic_however_it_is_split():
    config = make_config(loss="wgan_gp", spectral_norm=True, minibatch_std=True, **SMALL)
    one, two = Gan2dTrainer(config), Gan2dTrainer(config)
    one.run(12)
    for _ in range(4):
        two.run(3)
    assert torch.equal(one.G.flat, two.G.flat) and torch.equal(one.D.flat, two.D.flat)
    np.testing.assert_array_equal(one.history, two.history)
    assert one.history.shape == (12, 4) and np.isfinite(one.history).all()


def test_looking_at_a_run_does_not_change_it():
    from advdemo.gan2d.plots import snapshot

    config = make_config(**SMALL)
    watched, alone = Gan2dTrainer(config), Gan2dTrainer(config)
    for _ in range(3):
        watched.run(2)
        snapshot(watched)
        watched.summary()
    alone.run(6)
    assert torch.equal(watched.G.flat, alone.G.flat)


def test_a_diverging_run_stops_and_says_so():
    t = Gan2dTrainer(make_config(loss="lsgan", optimizer="sgd", lr_d=1.0, lr_g=1.0, **SMALL))
    with torch.no_grad():
        t.D.flat.mul_(1e3)  # a D far out of scale: its squared errors overflow at once
        t.D.refresh()
    played = t.run(50)
    assert played < 50 and t.diverged and "diverged at step" in t.diverged
    assert not t.step() and t.steps_done == played
    assert t.summary()["diverged"] == t.diverged


def test_the_race_starts_both_runs_from_identical_weights():
    for preset in presets.PRESETS:
        race = presets.race(preset)
        if race is None:
            continue
        playback = Playback.start(presets.settings(preset), race, 1, 10)
        assert playback.a.config != playback.b.config
        assert same_start(playback.a, playback.b)
        assert torch.equal(playback.a.data.support, playback.b.data.support)
        torch.testing.assert_close(playback.a.view_z, playback.b.view_z)
        playback.advance(2)
        assert playback.a.steps_done == playback.b.steps_done == 2  # in step


def test_a_race_played_on_two_threads_is_the_race_played_on_one():
    """Run B plays in a pool while A plays in the caller (one frame's halves on both cores):
    step for step the same histories and weights as one run after the other."""
    preset = next(p for p in presets.PRESETS if presets.race(p) is not None)
    small = {**presets.settings(preset), **SMALL}
    alone, paired = (Playback.start(small, presets.race(preset), 3, 30) for _ in range(2))
    with ThreadPoolExecutor(1) as pool:
        for _ in range(3):
            alone.advance()
            paired.advance(pool=pool)
    for one, two in zip(alone.runs, paired.runs, strict=True):
        assert one.steps_done == two.steps_done == 9
        np.testing.assert_array_equal(one.history, two.history)
        assert torch.equal(one.G.flat, two.G.flat) and torch.equal(one.D.flat, two.D.flat)


def test_settings_change_live_but_networks_wait_for_reset():
    t = Gan2dTrainer(make_config(**SMALL))
    t.run(2)
    notes = t.reconfigure(make_config(**{**SMALL, "loss": "hinge", "g_width": 32, "seed": 4}))
    assert t.config.loss == "hinge" and t.config.g_width == 16 and t.config.seed == 0
    assert "G width" in notes[0] and "seed" in notes[0] and "Reset" in notes[0]
    assert t.run(2) == 2


def _final_coverage(settings: dict, steps: int, seed: int) -> int:
    t = Gan2dTrainer(make_config(**{**settings, "seed": seed}))
    t.run(steps)
    assert t.diverged is None
    return t.evaluate(4000)["modes_covered"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wgan_gp_covers_the_ring_and_the_collapse_preset_does_not(seed):
    """The race preset's two runs after its steps, on three seeds: B (WGAN-GP) covers at
    least 7 of the 8 modes, A (the collapse preset's NS GAN) clearly fewer."""
    race = presets.preset("wgan_gp")
    steps = race["budget"]
    wgan_gp = {**presets.settings(race), **presets.race(race)}
    collapse = presets.settings(presets.preset("collapse"))
    assert _final_coverage(wgan_gp, steps, seed) >= 7
    assert _final_coverage(collapse, steps, seed) <= 4
