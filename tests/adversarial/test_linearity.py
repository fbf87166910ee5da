"""The linear view (advdemo.adversarial.linearity) and the attack's start from nothing
(playground.start_image): hand-computed ε‖w‖₁, the range checks, the figures, and on the real
EfficientNet-Lite0 the logits within a grey level and the iguana made from flat grey."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from advdemo.adversarial import linearity as lin
from advdemo.adversarial import playground
from advdemo.adversarial.lecture import lecture_l2
from advdemo.core import images
from advdemo.core.errors import InputError

IGUANA = 39
TIGER_CAT = 282


def test_eps_times_l1_norm_matches_a_hand_computation():
    w = torch.tensor([0.5, -0.25, 0.1, -0.15])  # ‖w‖₁ = 1.0
    assert lin.linear_change(w, 0.1) == pytest.approx(0.1)
    # ε·m·n at ε = 1/255 with m = 0.01: 784 → 0.030745, 150,528 → 5.90306
    rows = lin.linear_growth(1 / 255, 0.01, [("mnist", 784), ("imagenet", 224 * 224 * 3)])
    assert [(label, n) for label, n, _ in rows] == [("mnist", 784), ("imagenet", 150_528)]
    assert rows[0][2] == pytest.approx(0.030745, abs=1e-6)
    assert rows[1][2] == pytest.approx(5.90306, abs=1e-5)
    sizes = lin.growth_sizes(224)
    assert [n for _, n in sizes] == [64, 784, 3072, 12_288, 49_152, 150_528]
    assert "this model" in sizes[-1][0]


@pytest.mark.parametrize(
    ("lo", "hi", "message"),
    [
        (math.nan, 1, "ε from (k/255) must be a finite number"),
        (-1, math.inf, "ε to (k/255) must be a finite number"),
        (4, -4, "must increase"),
        (2, 2, "must increase"),
        (-64, 1, "at least -32"),
        (0, 33, "at most 32"),
        (0, 0.1, "too narrow"),
        (None, 1, "is empty"),
    ],
)
def test_bad_ranges_get_clear_messages(lo, hi, message):
    with pytest.raises(InputError, match=re.escape(message)):
        lin.check_range(lo, hi)


def test_range_points_hold_zero_and_the_first_grey_level():
    ks = lin.range_points(-32, 32)
    assert ks == sorted(ks) and ks[0] == -32 and ks[-1] == 32
    assert {-1.0, -0.5, 0.0, 0.5, 1.0} <= set(ks)
    assert lin.range_points(2, 4) == np.linspace(2, 4, lin.POINTS).round(6).tolist()


def test_a_straight_line_fits_with_r2_one_and_a_bend_does_not():
    assert lin.line_fit([0, 1, 2, 3], [1, 3, 5, 7]).r2 == pytest.approx(1.0)
    assert lin.line_fit([0, 1, 2, 3], [1, 3, 5, 7]).slope == pytest.approx(2.0)
    assert lin.line_fit([-2, -1, 0, 1, 2], [4, 1, 0, 1, 4]).r2 == pytest.approx(0.0, abs=1e-9)


def made_up_curves() -> lin.LogitCurves:
    return lin.LogitCurves(
        eps_k=[-1.0, 0.0, 1.0],
        true_class=1,
        target_class=2,
        true_logits=[9.0, 8.0, 7.0],
        target_logits=[-1.0, 0.0, 1.5],
        true_tangent=-1.0,
        target_tangent=1.2,
        grad_l1=300.0,
        n=3 * 10 * 10,
        side=10,
        loss_at_0=0.5,
        loss_at_growth=1.5,
    )


def test_the_figures_show_both_logits_their_tangents_and_the_linear_view():
    labels = ["a", "cat", "iguana"]
    curves = made_up_curves()
    fig = json.loads(lin.curves_figure(curves, labels).to_json())
    names = [t["name"] for t in fig["data"]]
    assert names[0] == "cat (true), line fit R² = 1.00"
    assert names[2].startswith("iguana (target), line fit R² = 0.99")
    assert names[1] == "cat: tangent at 0, -1.00 per level"
    growth = json.loads(lin.growth_figure(curves).to_json())
    line, star = growth["data"]
    # m = 300 / 300 = 1, ε = 1/255: ε·m·n = n / 255 for every size
    assert line["x"] == [64, 300, 784, 3072, 12_288, 49_152]
    assert line["y"] == pytest.approx([n / 255 for n in line["x"]])
    assert star["x"] == [300] and star["y"] == [1.0]
    text = lin.summary_markdown(curves, labels)
    assert "ε‖w‖₁ = ε·m·n = **1.18**" in text and "moves by **1.00**" in text


def test_starting_from_nothing_gives_grey_or_seeded_noise_the_size_of_the_frame(lite0):
    photo = images.load_image(str(images.asset("chelsea.png")))
    assert playground.start_image(photo, "photo", lite0) is photo
    grey = playground.start_image(photo, "grey", lite0)
    assert grey.size == (256, 256) and np.all(np.asarray(grey) == 128)
    noise = np.asarray(playground.start_image(photo, "noise", lite0))
    assert noise.shape == (256, 256, 3) and noise.std() > 60  # uniform over 0..255
    assert np.array_equal(noise, np.asarray(playground.start_image(photo, "noise", lite0)))
    with pytest.raises(InputError, match="start must be one of"):
        playground.attack_settings(
            lite0.labels, "lecture", 8, 5, "common iguana", "targeted", 1, 0, "cat"
        )
    old = playground.attack_settings(lite0.labels, "pgd", 4, 5, "common iguana", "targeted", 1, 0)
    assert old.start == "photo"


@pytest.mark.slow
def test_the_real_models_logits_are_near_straight_within_one_grey_level(lite0):
    """The linear view holds locally: over ±1 grey level along sign(∇ₓJ) both logits lie close
    to a line and move the way their tangents at 0 say. (Over ±32 they do not: the app says so.)"""
    x = lite0.prepare(images.load_image(str(images.asset("chelsea.png"))))
    curves = lin.logit_curves(lite0, x, TIGER_CAT, IGUANA, [-1.0, -0.5, 0.0, 0.5, 1.0])
    assert curves.true_fit.r2 > 0.9 and curves.target_fit.r2 > 0.9
    assert curves.true_fit.slope < 0 < curves.target_fit.slope
    assert curves.true_tangent < 0 < curves.target_tangent
    # the tangent predicts the fitted slope to within a factor of 3
    assert 1 / 3 < curves.true_fit.slope / curves.true_tangent < 3
    # the loss grows at ε = 1/255, by the order of ε‖∇ₓJ‖₁
    change = curves.loss_at_growth - curves.loss_at_0
    assert 0.25 < change / (curves.grad_l1 / 255) < 1.5
    assert curves.n == 150_528 and curves.side == 224


@pytest.mark.slow
def test_lambda_zero_from_flat_grey_reaches_the_iguana(lite0):
    """The lecture's first experiment: no photo, no closeness term, and the model is sure."""
    grey = playground.start_image(None, "grey", lite0)
    x = lite0.prepare(grey)
    assert int(lite0.probabilities(x)[0].argmax()) != IGUANA
    x_adv = lecture_l2(lite0, x, IGUANA, lam=0.0, steps=12, lr=4 / 255, eps=32 / 255, quantize=True)
    p = lite0.probabilities(x_adv)[0]
    assert int(p.argmax()) == IGUANA and float(p[IGUANA]) > 0.5
    assert float((x_adv - x).abs().max()) <= 32 / 255 + 1e-6
