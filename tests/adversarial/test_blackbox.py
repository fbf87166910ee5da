"""The query-only attack: it fools models through their probabilities alone (never autograd),
counts every image it asks about, keeps to its budget, repeats itself for a seed, can be
stopped, and refuses bad values with a message."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import pytest
import torch

from advdemo.adversarial import blackbox
from advdemo.adversarial.blackbox import METHODS, query_attack
from advdemo.core.errors import InputError
from tests.adversarial.conftest import TinyCNN, grid_images

EPS = 32 / 255  # the tiny random CNN needs a large budget to be fooled within 300 queries
BUDGET = 200


class Target:
    """A model behind a probability function that counts what it is asked and fails the test
    at any use of autograd: its parameters require gradients, and a hook on every output
    raises if a backward pass ever reaches it."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        for p in model.parameters():
            p.requires_grad_(True)
        self.images = 0
        self.calls = 0
        self.batches: list[int] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        assert not x.requires_grad, "the attack handed the target an image that tracks gradients"
        self.images += len(x)
        self.calls += 1
        self.batches.append(len(x))
        with torch.enable_grad():  # as a careless target would: build a graph if allowed
            out = self.model(x).softmax(-1)
        if out.requires_grad:
            out.register_hook(_no_backward)
        return out

    def untouched(self) -> bool:
        return all(p.grad is None for p in self.model.parameters())


def _no_backward(grad):
    raise AssertionError("a backward pass reached the black-box target")


@contextlib.contextmanager
def no_autograd(monkeypatch):
    """Any backward or autograd.grad call while the attack runs fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the query attack used autograd")

    with monkeypatch.context() as m:
        m.setattr(torch.Tensor, "backward", refuse)
        m.setattr(torch.autograd, "grad", refuse)
        m.setattr(torch.autograd, "backward", refuse)
        yield


@pytest.fixture
def target():
    return Target(TinyCNN())


@pytest.fixture(scope="module")
def batch():
    x = grid_images(3, 12)
    with torch.no_grad():
        y = TinyCNN()(x).argmax(-1)
    return x, y


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_fools_with_probabilities_only(method, target, batch, monkeypatch):
    x, y = batch
    with no_autograd(monkeypatch):
        result = query_attack(target, x, y, eps=EPS, budget=BUDGET, seed=0, method=method)
    assert target.untouched()
    assert bool(result.success[1])  # the image every method fools in its budget
    assert int(result.success.sum()) >= (1 if method == "nes" else 2)
    assert (result.queries <= BUDGET).all()
    assert int(result.queries.sum()) == target.images  # every image asked about is counted
    assert result.calls == target.calls
    # Only the ball and [0, 1]; the model really is fooled by what is returned.
    assert (result.images - x).abs().max() <= EPS + 1e-6
    assert result.images.min() >= 0 and result.images.max() <= 1
    with torch.no_grad():
        after = target.model(result.images).argmax(-1)
    assert torch.equal(after != y, result.success)


def test_targeted_reaches_the_target(target, batch, monkeypatch):
    x, y = batch[0][1:2], batch[1][1:2]
    goal = (y + 1) % 10
    with no_autograd(monkeypatch):
        result = query_attack(target, x, y, eps=EPS, budget=150, seed=0, target=goal)
    assert result.success.all()
    with torch.no_grad():
        assert torch.equal(target.model(result.images).argmax(-1), goal)


def test_budget_is_never_exceeded(target, batch):
    x, y = batch
    for budget in (1, 2, 7, 41):
        for method in METHODS:
            before = target.images
            result = query_attack(target, x, y, eps=2 / 255, budget=budget, seed=0, method=method)
            assert target.images - before == int(result.queries.sum())
            assert (result.queries <= budget).all()
            # At 2/255 none is fooled: each spends its whole budget.
            assert (result.queries[~result.success] == budget).all()


def test_same_seed_same_result_and_batching_changes_nothing(target, batch):
    x, y = batch
    for method in METHODS:
        a = query_attack(target, x, y, eps=EPS, budget=40, seed=3, method=method)
        b = query_attack(target, x, y, eps=EPS, budget=40, seed=3, method=method, max_batch=1)
        assert torch.equal(a.images, b.images) and torch.equal(a.queries, b.queries)
        assert b.calls > a.calls  # one image per call, same count
        # Each image's attack does not depend on the others in the batch.
        fewer = query_attack(target, x[:2], y[:2], eps=EPS, budget=40, seed=3, method=method)
        assert torch.equal(fewer.images[1], a.images[1])
        assert torch.equal(fewer.queries, a.queries[:2])
    other = query_attack(target, x, y, eps=EPS, budget=40, seed=4)
    assert not torch.equal(other.images, a.images)


def test_trace_and_success_curve_agree(target, batch):
    x, y = batch
    result = query_attack(target, x, y, eps=EPS, budget=BUDGET, seed=0)
    trace = result.margin_trace
    assert trace.shape == (3, int(result.queries.max()))
    assert not torch.isnan(trace).any()
    # Square always takes its striped start (query 2); from there the best only improves.
    assert (trace[:, 2:] <= trace[:, 1:-1]).all()
    for i in range(3):
        hit = int(result.queries_to_success[i])
        if result.success[i]:
            assert trace[i, hit - 1] < 0 and (trace[i, : hit - 1] >= 0).all()
        else:
            assert hit == -1 and (trace[i] >= 0).all()
    q, rate = result.success_curve()
    assert q[0] == 1 and len(q) == trace.shape[1]
    assert math.isclose(float(rate[-1]), float(result.success.float().mean()))
    assert (rate[1:] >= rate[:-1]).all()


def test_stop_ends_early_with_the_best_so_far(target, batch):
    x, y = batch
    polls = []

    def stop():
        polls.append(1)
        return len(polls) > 5

    seen = []
    result = query_attack(
        target,
        x,
        y,
        eps=2 / 255,
        budget=1000,
        seed=0,
        should_stop=stop,
        progress=lambda done, text: seen.append((done, text)),
    )
    assert result.stopped
    assert int(result.queries.max()) < 20
    assert seen and seen[0][0] == (0, 1000) and all(d[1] == 1000 for d, _ in seen)


def test_digits_shaped_images_and_a_single_image(batch):
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    x = torch.rand(1, 8, 8, generator=gen)  # one (C, H, W) image
    y = int(net(x[None]).argmax())
    probs = Target(net)
    result = query_attack(probs, x, y, eps=0.25, budget=200, seed=0, method="simba-pixel")
    assert result.images.shape == (1, 1, 8, 8) and result.success.all()
    assert probs.untouched()


def test_same_as_counts_a_group_of_classes_as_the_label(target, batch):
    x, y = batch
    with torch.no_grad():
        second = target.model(x).topk(2).indices[:, 1]
    group = sorted({int(c) for c in second})
    plain = query_attack(target, x, y, eps=EPS, budget=60, seed=0)
    grouped = query_attack(target, x, y, eps=EPS, budget=60, seed=0, same_as=group)
    with torch.no_grad():
        top = target.model(grouped.images).argmax(-1)
    for i in range(3):
        if grouped.success[i]:
            assert int(top[i]) != int(y[i]) and int(top[i]) not in group
    assert (grouped.margin_trace[:, 0] >= plain.margin_trace[:, 0]).all()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"eps": float("nan")}, "eps must be a finite number"),
        ({"eps": -1 / 255}, "eps must be at least 0"),
        ({"eps": 1e9}, "eps must be at most"),
        ({"budget": 0}, "query budget must be at least 1"),
        ({"budget": -5}, "query budget must be at least 1"),
        ({"budget": float("nan")}, "query budget must be a finite number"),
        ({"budget": 2.5}, "query budget must be a whole number"),
        ({"budget": 10**12}, "query budget must be at most 10000"),
        ({"seed": -1}, "seed must be at least 0"),
        ({"method": "gradient"}, "method must be one of"),
        ({"target": 9}, "target class is the true class"),
        ({"label": 10}, "label 10 is not a class of this model"),
        ({"target": 12}, "target 12 is not a class of this model"),
        ({"target": 1, "same_as": [2]}, "same_as is for untargeted attacks"),
        ({"same_as": [-3]}, "same_as must hold class indices"),
        ({"nes_samples": 0}, "NES samples must be at least 1"),
    ],
)
def test_bad_values_are_refused(options, message, target):
    x = grid_images(1, 12)
    settings = {"label": 9, "eps": 8 / 255, "budget": 50, "seed": 0, **options}
    label = settings.pop("label")
    with pytest.raises(InputError, match=message):
        query_attack(target, x, label, **settings)


def test_bad_images_and_a_logits_function_are_refused(target):
    with pytest.raises(InputError, match="values in \\[0, 1\\]"):
        query_attack(target, torch.full((1, 3, 4, 4), 2.0), 0, eps=0.1, budget=5, seed=0)
    with pytest.raises(TypeError, match="probabilities"):
        query_attack(lambda x: target.model(x), grid_images(1, 12), 0, eps=0.1, budget=5, seed=0)


def test_zero_eps_spends_one_query(target, batch):
    x, y = batch
    result = query_attack(target, x, y, eps=0, budget=50, seed=0)
    assert result.queries.tolist() == [1, 1, 1] and torch.equal(result.images, x)


def test_the_module_never_imports_a_gradient_helper():
    """The attack code itself names no autograd entry point."""
    source = Path(blackbox.__file__).read_text()
    for name in ("backward(", "torch.autograd", "enable_grad", "requires_grad", "input_gradient"):
        assert name not in source


# --------------------------------------------------------------------------- the real model


def test_the_cat_is_fooled_through_probabilities_alone(store, monkeypatch):
    """EfficientNet-Lite0 and the playground's cat, untargeted at ε = 4/255 (the playground's
    default): the query attack changes the top-1 within its budget, seeing only
    probabilities. (The cat's top two are tiger cat 38 % and Egyptian cat 37 %, so this takes
    a handful of queries.)"""
    from advdemo.core import images

    model = store.classifier("efficientnet-lite0")
    x = model.prepare(images.load_image(images.asset("chelsea.png")))
    y = int(model.probabilities(x).argmax())
    seen = []

    def probs(batch):
        seen.append(len(batch))
        return model.probabilities(batch)

    with no_autograd(monkeypatch):
        result = query_attack(probs, x, y, eps=4 / 255, budget=100, seed=0, method="square")
    assert all(p.grad is None for p in model.parameters())
    assert bool(result.success[0]) and int(result.queries[0]) <= 100
    assert sum(seen) == int(result.queries[0])
    after = int(model.probabilities(result.images).argmax())
    assert after != y
    assert (result.images - x).abs().max() <= 4 / 255 + 1e-6
