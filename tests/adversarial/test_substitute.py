"""Substitute training (the target seen through labels only) and transfer: untargeted examples
transfer more than targeted ones, queries are counted and capped, the same seed gives the same
substitute, and bad values are refused.

The target is a small MLP trained here on a synthetic 8×8 data set (ten noisy, shifted
prototypes), so these tests need no data files; the tab's own digits run in the slow test at
the end when the digits file has been fetched."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advdemo.adversarial.substitute import (
    Ensemble,
    jacobian_augment,
    train_substitute,
    train_substitutes,
    transfer_rates,
)
from advdemo.core.errors import InputError
from advdemo.models.runtime import single_thread

EPS = 0.2  # ≈ 51/255: the digits' pixels come in steps of 1/16


def synthetic_digits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ten fixed random 8×8 prototypes, shifted by up to a pixel, dimmed and noised."""
    protos = (torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.6).float()
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    shifts = torch.randint(-1, 2, (n, 2), generator=gen).tolist()
    x = torch.stack(
        [torch.roll(protos[c], tuple(s), (1, 2)) for c, s in zip(y, shifts, strict=True)]
    )
    x = x * (0.6 + 0.4 * torch.rand(n, 1, 1, 1, generator=gen))
    return (x + 0.15 * torch.randn(x.shape, generator=gen)).clamp(0, 1), y


def mlp(gen: torch.Generator, hidden: int = 64) -> nn.Module:
    """A fresh MLP on 8×8 images with weights drawn from `gen`."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * p.shape[-1] ** -0.5)
    return net


class LabelOracle:
    """The target as a substitute sees it: labels only; counts every image; its parameters
    require gradients and must never receive any."""

    def __init__(self, net: nn.Module) -> None:
        self.net, self.images = net, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        assert not x.requires_grad
        self.images += len(x)
        return self.net(x).argmax(-1)

    def untouched(self) -> bool:
        return all(p.grad is None for p in self.net.parameters())


@pytest.fixture(scope="module")
def world():
    """(target net, training images/labels, held-out images/labels), the target trained here."""
    x, y = synthetic_digits(600, 1)
    test_x, test_y = synthetic_digits(300, 2)
    target = mlp(torch.Generator().manual_seed(5), hidden=128)
    optimiser = torch.optim.Adam(target.parameters(), 1e-2)
    gen = torch.Generator().manual_seed(0)
    with single_thread():
        for _ in range(8):
            for idx in torch.randperm(len(x), generator=gen).split(100):
                optimiser.zero_grad()
                F.cross_entropy(target(x[idx]), y[idx]).backward()
                optimiser.step()
    for p in target.parameters():
        p.grad = None
    target.eval()
    accuracy = float((target(test_x).argmax(-1) == test_y).float().mean())
    assert accuracy > 0.95  # the target must be worth attacking
    return target, (x, y), (test_x, test_y)


def seeds(world, per_class: int = 5) -> torch.Tensor:
    _, (x, y), _ = world
    return torch.cat([x[(y == c).nonzero()[:per_class, 0]] for c in range(10)])


@pytest.fixture(scope="module")
def trained(world):
    """Three substitutes on 5 seed images per class, 4 rounds (400 label queries each)."""
    oracle = LabelOracle(world[0])
    subs = train_substitutes(
        oracle, seeds(world), mlp, count=3, rounds=4, lam=0.1, seed=0, epochs=20
    )
    return oracle, subs


def test_the_target_is_seen_only_through_counted_labels(trained):
    oracle, subs = trained
    assert oracle.untouched()
    assert [s.queries for s in subs] == [400, 400, 400]  # 50 seeds, doubled three times
    assert oracle.images == sum(s.queries for s in subs)
    for s in subs:
        assert [r.images for r in s.history] == [50, 100, 200, 400]
        assert [r.queries for r in s.history] == [50, 100, 200, 400]
        assert len(s.images) == len(s.labels) == 400
        assert torch.equal(s.labels, oracle.net(s.images).argmax(-1))  # the target's labels
        assert s.history[-1].agreement > 0.9
        assert not any(p.requires_grad for p in s.net.parameters()) and not s.net.training


def test_untargeted_transfers_more_than_targeted(world, trained):
    target, _, (test_x, test_y) = world
    _, subs = trained
    oracle = LabelOracle(target)
    report = transfer_rates(oracle, [s.net for s in subs], test_x, test_y, eps=EPS, seed=0)
    assert [(r.attacker, r.mode) for r in report.rows] == [
        (name, mode)
        for name in ("substitute 1", "substitute 2", "substitute 3", "ensemble of 3")
        for mode in ("untargeted", "targeted")
    ]
    for name in ("substitute 1", "ensemble of 3"):
        untargeted, targeted = report.rate(name, "untargeted"), report.rate(name, "targeted")
        assert untargeted > targeted + 0.1, (name, untargeted, targeted)
        assert untargeted > 0.2  # the examples do reach the target
    for row in report.rows:  # in white box the substitute itself is fooled more often
        assert row.white_box >= row.transfer
        assert row.images == int((target(test_x).argmax(-1) == test_y).sum())
    assert oracle.images == report.queries == len(test_x) + 8 * report.rows[0].images
    assert oracle.untouched()
    assert (report.targets != test_y).all()


def test_fgsm_transfer_and_one_mode(world, trained):
    target, _, (test_x, test_y) = world
    _, subs = trained
    report = transfer_rates(
        lambda x: target(x).argmax(-1),
        [subs[0].net],
        test_x[:100],
        test_y[:100],
        eps=EPS,
        method="fgsm",
        modes=["untargeted"],
    )
    assert [(r.attacker, r.mode) for r in report.rows] == [("substitute 1", "untargeted")]
    assert report.rows[0].transfer > 0.1


def test_budget_caps_the_queries(world):
    oracle = LabelOracle(world[0])
    sub = train_substitute(oracle, seeds(world), mlp, rounds=4, seed=0, budget=130, epochs=5)
    assert sub.queries == oracle.images == 130
    assert [r.images for r in sub.history] == [50, 100, 130]  # the last round takes 30 new
    assert len(sub.images) == 130


def test_same_seed_same_substitute_and_another_seed_differs(world):
    runs = [
        train_substitute(
            lambda x: world[0](x).argmax(-1), seeds(world, 2), mlp, rounds=2, seed=s, epochs=5
        )
        for s in (7, 7, 8)
    ]
    same = [
        torch.equal(a, b)
        for a, b in zip(*(r.net.state_dict().values() for r in runs[:2]), strict=True)
    ]
    assert all(same) and torch.equal(runs[0].images, runs[1].images)
    first, other = runs[0].net.state_dict(), runs[2].net.state_dict()
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_augmentation_moves_each_point_by_lambda_inside_the_image_range(world, trained):
    _, subs = trained
    x, y = seeds(world), subs[0].labels[:50]
    new = jacobian_augment(subs[0].net, x, y, 0.1)
    step = (new - x).abs()
    assert step.max() <= 0.1 + 1e-6 and new.min() >= 0 and new.max() <= 1
    assert (step.flatten(1).amax(1) > 0.09).all()  # every point moved
    assert torch.equal(subs[0].images[:50], x)  # the seeds stay; new points come after them


def test_stop_ends_training(world):
    calls = []
    sub = train_substitute(
        lambda x: world[0](x).argmax(-1),
        seeds(world, 1),
        mlp,
        rounds=3,
        epochs=10,
        should_stop=lambda: calls.append(1) or len(calls) > 12,  # polled once per epoch
    )
    assert sub.stopped and len(sub.history) == 1 and sub.queries == 20


def test_ensemble_fuses_probabilities(trained):
    _, subs = trained
    nets = [s.net for s in subs]
    x = subs[0].images[:5]
    fused = Ensemble(nets)(x).exp()
    mean = torch.stack([n(x).softmax(-1) for n in nets]).mean(0)
    assert torch.allclose(fused, mean, atol=1e-6)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rounds": 0}, "rounds must be at least 1"),
        ({"rounds": float("nan")}, "rounds must be a finite number"),
        ({"rounds": 99}, "rounds must be at most 8"),
        ({"lam": -0.1}, "λ must be at least 0"),
        ({"lam": float("inf")}, "λ must be a finite number"),
        ({"seed": -3}, "seed must be at least 0"),
        ({"budget": 10}, "does not cover the 20 seed images"),
        ({"budget": 10**9}, "query budget must be at most"),
        ({"epochs": 0}, "epochs must be at least 1"),
    ],
)
def test_bad_training_values_are_refused(options, message, world):
    with pytest.raises(InputError, match=message):
        train_substitute(lambda x: world[0](x).argmax(-1), seeds(world, 2), mlp, **options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"eps": float("nan")}, "eps must be a finite number"),
        ({"eps": -0.1}, "eps must be at least 0"),
        ({"eps": 5.0}, "eps must be at most"),
        ({"modes": ["sideways"]}, "mode must be one of"),
        ({"method": "cw"}, "method must be one of"),
        ({"steps": 0}, "steps must be at least 1"),
        ({"targets": torch.arange(10)}, "different from its label"),
    ],
)
def test_bad_transfer_values_are_refused(options, message, world, trained):
    _, subs = trained
    x, y = world[2][0][:10], torch.arange(10)
    settings = {"eps": EPS, **options}
    with pytest.raises(InputError, match=message):
        transfer_rates(lambda z: world[0](z).argmax(-1), [subs[0].net], x, y, **settings)
    with pytest.raises(InputError, match="at least one substitute"):
        transfer_rates(lambda z: z, [], x, y, eps=EPS)


def test_no_seed_images_and_a_bad_oracle_are_refused(world):
    with pytest.raises(InputError, match="No seed images"):
        train_substitute(lambda x: x, torch.zeros(0, 1, 8, 8), mlp)
    with pytest.raises(TypeError, match="query_labels must map"):
        train_substitute(lambda x: world[0](x), seeds(world, 1), mlp)  # logits, not labels
    with pytest.raises(TypeError, match="outside the substitute"):
        train_substitute(lambda x: world[0](x).argmax(-1) + 10, seeds(world, 1), mlp)


# --------------------------------------------------------------------------- the built-in digits


@pytest.mark.slow
def test_on_the_builtin_digits_untargeted_transfers_more_and_the_ensemble_helps():
    """The tab's setting: the 8×8 digits, an MLP target trained on the training split, three
    MLP substitutes from 10 digits per class (800 label queries each), PGD at ε = 0.2 on the
    held-out digits. Measured (seed 0): untargeted 38-50 %, targeted 7-17 %; the ensemble's
    targeted rate at least the substitutes' mean."""
    from advdemo.adversarial.digits import load_uci_digits
    from advdemo.models.checkpoints import BUILTIN
    from advdemo.models.nets import digits as nets

    data = load_uci_digits(BUILTIN["digits"].path)
    gen = torch.Generator().manual_seed(0)
    target = nets.reset(nets.build("mlp"), gen)
    optimiser = torch.optim.Adam(target.parameters(), 1e-3)
    with single_thread():
        for _ in range(30):
            for idx in torch.randperm(len(data.train_y), generator=gen).split(64):
                optimiser.zero_grad()
                F.cross_entropy(target(data.train_x[idx]), data.train_y[idx]).backward()
                optimiser.step()
    target.eval()
    assert float((target(data.test_x).argmax(-1) == data.test_y).float().mean()) > 0.95
    oracle = LabelOracle(target)
    picks = torch.cat([(data.train_y == c).nonzero()[:10, 0] for c in range(10)])
    subs = train_substitutes(
        oracle,
        data.train_x[picks],
        lambda g: nets.reset(nets.build("mlp"), g),
        count=3,
        rounds=4,
        seed=0,
    )
    assert oracle.images == 3 * 800
    report = transfer_rates(oracle, [s.net for s in subs], data.test_x, data.test_y, eps=0.2)
    names = ["substitute 1", "substitute 2", "substitute 3", "ensemble of 3"]
    for name in names:
        assert report.rate(name, "untargeted") > report.rate(name, "targeted") + 0.15
    singles = [report.rate(n, "targeted") for n in names[:3]]
    assert report.rate("ensemble of 3", "targeted") >= sum(singles) / 3
