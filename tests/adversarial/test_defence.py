"""Adversarial training of the digits nets: checks, determinism, stopping, and the lecture's
claims measured on held-out digits (the slow part trains the tab's three preset models)."""

from __future__ import annotations

import math

import pytest
import torch

from advdemo.adversarial import defence, digits, safetynet
from advdemo.adversarial.defence import Training, TrainSettings
from advdemo.adversarial.defence_views import RecentModels, Trainer, settings_for, train_now
from advdemo.core.errors import InputError
from advdemo.models.checkpoints import BUILTIN

PRESET = {"arch": "mlp", "eps_k": 51, "lam": 1.0, "epochs": 30, "pgd_steps": 7, "seed": 0}
PRESET_EPS = 51 / 255


@pytest.fixture(scope="module")
def data():
    return digits.load_uci_digits(BUILTIN["digits"].path)


@pytest.fixture(scope="module")
def small(data):
    """A quarter of the training digits: enough for the quick tests."""
    return digits.DigitData(
        "small", data.train_x[:360], data.train_y[:360], data.test_x, data.test_y
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("eps", math.nan, "finite"),
        ("eps", -0.1, "at least 0"),
        ("eps", 1.0, "at most 64/255"),
        ("lam", -1, "λ must be at least 0"),
        ("lam", 1e9, "λ must be at most 10"),
        ("epochs", 0, "epochs must be at least 1"),
        ("epochs", 10**6, "epochs must be at most 200"),
        ("pgd_steps", 2.5, "whole number"),
        ("arch", "resnet", "architecture must be one of"),
        ("method", "magic", "method must be one of"),
        ("seed", -1, "seed must be at least 0"),
    ],
)
def test_bad_settings_are_refused_with_a_message(field, value, message):
    with pytest.raises(InputError, match=message):
        TrainSettings(**{field: value}).check()


def test_settings_a_method_ignores_do_not_split_the_cache():
    a = TrainSettings(method="standard", eps=0.2, lam=3, pgd_steps=20).check()
    assert a == TrainSettings(method="standard").check()
    b = TrainSettings(method="fgsm", eps=0.2, lam=3, pgd_steps=20).check()
    assert b.lam == 3 and b.pgd_steps == TrainSettings.pgd_steps


@pytest.mark.parametrize("method", defence.METHODS)
def test_same_seed_same_network_and_a_report_per_batch(small, method):
    settings = TrainSettings(arch="mlp", method=method, eps=0.1, epochs=1, seed=3, pgd_steps=2)
    steps = []
    a = defence.train(small, settings, progress=steps.append)
    torch.manual_seed(123)  # the global random state must not matter
    b = defence.train(small, settings)
    assert [s.done for s in steps] == list(range(1, steps[-1].total + 1))
    assert a.complete and len(a.losses) == 1
    for pa, pb in zip(a.net.parameters(), b.net.parameters(), strict=True):
        assert torch.equal(pa, pb)
    c = defence.train(
        small, TrainSettings(arch="mlp", method=method, eps=0.1, epochs=1, seed=4, pgd_steps=2)
    )
    assert not torch.equal(next(a.net.parameters()), next(c.net.parameters()))


def test_a_stop_or_the_time_budget_ends_training_with_the_model_so_far(small):
    settings = TrainSettings(arch="mlp", epochs=50)
    stopped = defence.train(small, settings, should_stop=lambda: True)
    assert stopped.stopped.startswith("stopped after 1 of") and not stopped.complete
    assert not any(p.requires_grad for p in stopped.net.parameters())  # ready for attacks
    over = defence.train(small, settings, budget_s=0.1)
    assert "time budget" in over.stopped and len(over.losses) < 50
    run = Training(small, settings)
    next(iter(run))
    assert run.stop("user pressed Stop").stopped == "user pressed Stop"


def test_recent_models_keep_the_newest_and_a_stopped_run_is_not_cached(small):
    cache = RecentModels(size=2)
    for i in range(3):
        cache.put(("k", i), f"model {i}")  # type: ignore[arg-type]
    assert cache.get(("k", 0)) is None and cache.get(("k", 2)) == "model 2"
    wanted = settings_for(["standard"], "mlp", 51, 1.0, 1, 7, 0)
    trainer = Trainer(small, wanted, RecentModels())
    run = trainer.run()
    next(run, None)
    run.close()  # what the tab's Stop does: the iteration is closed mid-training
    assert trainer.cache.get(trainer.key(wanted[0])) is None


def test_robustness_is_accuracy_and_never_above_clean(small):
    model = defence.train(small, TrainSettings(arch="mlp", epochs=2))
    r = defence.robustness(model, small, [0, 0.1, 0.2], pgd_steps=3)
    assert r.fgsm[0] == pytest.approx(model.clean_accuracy) == r.pgd[0]
    assert all(0 <= v <= model.clean_accuracy + 1e-9 for v in r.fgsm + r.pgd)
    with pytest.raises(InputError, match="at most 64/255"):
        defence.robustness(model, small, [0.5])


@pytest.fixture(scope="module")
def presets(data):
    """The tab's three preset models (standard, FGSM-trained, PGD-trained)."""
    p = PRESET
    wanted = settings_for(
        defence.METHODS, p["arch"], p["eps_k"], p["lam"], p["epochs"], p["pgd_steps"], p["seed"]
    )
    return dict(zip(defence.METHODS, train_now(Trainer(data, wanted, RecentModels())), strict=True))


@pytest.mark.slow
def test_the_lectures_claims_hold_at_the_preset_eps(presets, data):
    x, y = data.test_x, data.test_y
    acc = {
        m: (
            defence.fgsm_accuracy(model.net, x, y, [PRESET_EPS])[0],
            defence.pgd_accuracy(model.net, x, y, [PRESET_EPS])[0],
        )
        for m, model in presets.items()
    }
    assert presets["standard"].clean_accuracy >= 0.95
    # Madry's training holds where the standard network collapses
    assert acc["pgd"][1] >= acc["standard"][1] + 0.35
    # Durham: the FGSM-trained network overfits to the attack it was trained with
    assert acc["fgsm"][0] >= acc["fgsm"][1] + 0.08
    # DS542: robustness costs clean accuracy
    assert presets["pgd"].clean_accuracy < presets["standard"].clean_accuracy


@pytest.mark.slow
def test_safetynet_catches_plain_pgd_and_the_adaptive_attack_gets_past_it(presets, data):
    classifier = presets["standard"].net
    settings = safetynet.DetectorSettings(eps=PRESET_EPS, steps=10, arch="mlp", epochs=10)
    found = safetynet.train_detector(classifier, data, settings)
    plain, adaptive, x_plain, x_adaptive = safetynet.evaluate(classifier, found.net, data, settings)
    assert plain.fooled > 0.8 and plain.false_alarms < 0.15
    assert plain.detected > 0.7  # it catches most non-adaptive examples
    assert adaptive.detected < plain.detected - 0.3
    assert adaptive.fooled_both > plain.fooled_both + 0.3
    for x_adv in (x_plain, x_adaptive):
        assert float((x_adv - data.test_x).abs().max()) <= PRESET_EPS + 1e-6


def test_a_run_past_its_budget_is_shown_but_not_cached(small):
    wanted = settings_for(["standard"], "mlp", 51, 1.0, 200, 7, 0)
    trainer = Trainer(small, wanted, RecentModels(), budget_s=0.1)
    (model,) = train_now(trainer)
    assert "time budget" in model.stopped
    assert trainer.cache.get(trainer.key(wanted[0])) is None
