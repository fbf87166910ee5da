"""Training small digit classifiers three ways, and measuring how robust each one is.

- standard: minimise the cross-entropy L(x, y) on clean digits;
- "fgsm": the lecture's adversarial training, L(x, y) + λ·L(x_adv, y) with x_adv = FGSM(x) at
  budget ε, made afresh against the current network for every batch;
- "pgd": Madry et al.'s min-max training: the loss on PGD examples only (random start, a few
  steps of 2.5·ε/steps), i.e. minimise an approximation of max over the ε-ball of L.

A `Training` yields a `TrainProgress` after every batch (so a caller can draw progress, stop
early, or hand the work to a thread it can close) and ends with its `TrainedModel`; `train`
runs one to the end with a callback, a stop check and a time budget. The
same seed gives the same network: its weights, the batch order and PGD's random starts are all
drawn from generators seeded by it, never from the process-wide random state.

`robustness` measures accuracy on held-out digits against ε under FGSM and PGD (white box: the
attack sees the model's gradients), the same attacks the playground runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advdemo.adversarial.base import check_eps
from advdemo.adversarial.digits import DigitData
from advdemo.adversarial.fgsm import fgsm
from advdemo.adversarial.pgd import pgd, pgd_loop
from advdemo.core.errors import InputError, choice, finite, seed, whole
from advdemo.models.nets import digits as nets
from advdemo.models.runtime import single_thread

METHODS = ("standard", "fgsm", "pgd")
METHOD_TITLES = {
    "standard": "standard",
    "fgsm": "FGSM-trained (L + λ·L_adv)",
    "pgd": "PGD-trained (Madry)",
}
ATTACKS = ("fgsm", "pgd")
MAX_EPOCHS = 200
MAX_PGD_STEPS = 40
MAX_LAMBDA = 10.0
MAX_BUDGET_S = 600.0
PGD_STEP_FACTOR = 2.5  # PGD's step size is 2.5·ε/steps (Madry et al.), in training and tests


@dataclass(frozen=True)
class TrainSettings:
    """How to train one digits classifier (every field checked by `check`).

    arch: "mlp" or "cnn"; method: "standard", "fgsm" or "pgd"; eps: the training budget in
    pixel units (0..64/255; unused by standard training); lam: λ, the weight of the FGSM
    term (0..10); epochs: passes over the training digits (1..200); seed: weights, batch
    order and PGD's starts; pgd_steps: PGD's steps per batch in training (1..40); batch_size
    and lr: Adam's minibatches and learning rate.
    """

    arch: str = "cnn"
    method: str = "standard"
    eps: float = 0.1
    lam: float = 1.0
    epochs: int = 20
    seed: int = 0
    pgd_steps: int = 7
    batch_size: int = 64
    lr: float = 2e-3

    def check(self) -> TrainSettings:
        """The same settings with every value checked (InputError naming a bad one), and the
        values a method does not use set to their defaults, so that equal trainings have equal
        settings (the cache key)."""
        method = choice("method", self.method, METHODS)
        checked = TrainSettings(
            arch=choice("architecture", self.arch, nets.ARCHITECTURES),
            method=method,
            eps=check_eps(self.eps),
            lam=finite("λ", self.lam, 0, MAX_LAMBDA),
            epochs=whole("epochs", self.epochs, 1, MAX_EPOCHS),
            seed=seed("seed", self.seed),
            pgd_steps=whole("PGD steps", self.pgd_steps, 1, MAX_PGD_STEPS),
            batch_size=whole("batch size", self.batch_size, 8, 1024),
            lr=finite("learning rate", self.lr, 1e-5, 0.1),
        )
        if method != "pgd":
            checked = replace(checked, pgd_steps=TrainSettings.pgd_steps)
        if method != "fgsm":
            checked = replace(checked, lam=TrainSettings.lam)
        if method == "standard":
            checked = replace(checked, eps=TrainSettings.eps)
        return checked

    @property
    def title(self) -> str:
        return METHOD_TITLES[self.method]


@dataclass(frozen=True)
class TrainProgress:
    """Where a training run is: batches done of all, the epoch, the latest mean loss."""

    done: int
    total: int
    epoch: int
    epochs: int
    loss: float
    seconds: float

    @property
    def fraction(self) -> float:
        return self.done / self.total


@dataclass
class TrainedModel:
    """A trained classifier (eval mode, parameters frozen) with how its training went.

    losses: the mean training loss per finished epoch; stopped: why training ended early
    ("" if it ran every epoch); clean_accuracy: on the held-out digits."""

    net: nn.Module
    settings: TrainSettings
    dataset: str
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    stopped: str = ""
    clean_accuracy: float = float("nan")

    @property
    def complete(self) -> bool:
        return not self.stopped

    def __call__(self, x: Tensor) -> Tensor:
        return self.net(x)


def make_net(arch: str, data: DigitData, seed_value: int) -> nn.Module:
    """A fresh `arch` network for `data`'s image size, its weights drawn from `seed_value`."""
    net = nets.build(arch, data.side, data.classes)
    return nets.reset(net, torch.Generator().manual_seed(seed_value))


def batch_loss(net: nn.Module, x: Tensor, y: Tensor, settings: TrainSettings, step: int) -> Tensor:
    """The training loss of one batch under `settings.method` (the adversarial examples are
    made against the network as it is at this step)."""
    if settings.method == "standard":
        return F.cross_entropy(net(x), y)
    if settings.method == "fgsm":
        x_adv = fgsm(net, x, y, settings.eps)
        return F.cross_entropy(net(x), y) + settings.lam * F.cross_entropy(net(x_adv), y)
    alpha = PGD_STEP_FACTOR * settings.eps / settings.pgd_steps
    x_adv = pgd(
        net,
        x,
        y,
        settings.eps,
        min(alpha, settings.eps) if settings.eps > 0 else 0.0,
        settings.pgd_steps,
        seed=settings.seed * 1_000_003 + step,
        best=False,
    )
    return F.cross_entropy(net(x_adv), y)


class Training:
    """One training run of a classifier on `data` as `settings` say.

    Iterate it to train: it yields a TrainProgress after every batch and, past `budget_s`
    seconds, stops after the current batch (saying so in `result.stopped`). Between two
    batches `stop(reason)` ends it early. `result` is the TrainedModel (ready, in eval mode,
    once the iteration has ended or `stop` was called).
    """

    def __init__(
        self, data: DigitData, settings: TrainSettings, *, budget_s: float | None = None
    ) -> None:
        self.settings = settings.check()
        self.budget_s = (
            None if budget_s is None else finite("time budget", budget_s, 0.1, MAX_BUDGET_S)
        )
        self.data = data
        net = make_net(self.settings.arch, data, self.settings.seed)
        self.result = TrainedModel(net, self.settings, data.name)
        self.elapsed = 0.0
        self.finished = False

    def __iter__(self) -> Iterator[TrainProgress]:
        settings, data, net = self.settings, self.data, self.result.net
        optimiser = torch.optim.Adam(net.parameters(), lr=settings.lr)
        order = torch.Generator().manual_seed(settings.seed + 1)
        n = len(data.train_y)
        per_epoch = -(-n // settings.batch_size)
        total = per_epoch * settings.epochs
        start = time.perf_counter()
        done = 0
        net.train()
        for epoch in range(settings.epochs):
            permutation = torch.randperm(n, generator=order)
            running = 0.0
            for b in range(per_epoch):
                index = permutation[b * settings.batch_size : (b + 1) * settings.batch_size]
                with single_thread():  # tiny tensors: a second OpenMP thread only waits
                    loss = batch_loss(net, data.train_x[index], data.train_y[index], settings, done)
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
                running += float(loss.detach())
                done += 1
                self.elapsed = time.perf_counter() - start
                yield TrainProgress(
                    done, total, epoch, settings.epochs, running / (b + 1), self.elapsed
                )
                if self.budget_s is not None and self.elapsed > self.budget_s and done < total:
                    self.result.stopped = (
                        f"time budget of {self.budget_s:g} s reached in epoch {epoch + 1}"
                    )
                    break
            self.result.losses.append(running / (b + 1))
            if self.result.stopped:
                break
        self._finish()

    def stop(self, reason: str) -> TrainedModel:
        """End the run now (between batches): the model as it is, marked `reason`."""
        if not self.finished:
            self.result.stopped = reason
            self._finish()
        return self.result

    def _finish(self) -> None:
        """Freeze the network for evaluation and attacks; measure its held-out accuracy."""
        self.finished = True
        result = self.result
        result.seconds = self.elapsed
        result.net.eval()
        for p in result.net.parameters():
            p.requires_grad_(False)
        result.clean_accuracy = accuracy(result.net, self.data.test_x, self.data.test_y)


def train(
    data: DigitData,
    settings: TrainSettings,
    *,
    progress: Callable[[TrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    budget_s: float | None = None,
) -> TrainedModel:
    """Train to the end: `progress` after every batch; once `should_stop()` is true the run
    ends after that batch (the model so far, marked as stopped)."""
    run = Training(data, settings, budget_s=budget_s)
    for step in run:
        if progress is not None:
            progress(step)
        if should_stop is not None and should_stop():
            return run.stop(f"stopped after {step.done} of {step.total} batches")
    return run.result


@torch.no_grad()
def accuracy(model: Callable[[Tensor], Tensor], x: Tensor, y: Tensor) -> float:
    return float((model(x).argmax(-1) == y).float().mean())


def check_eps_list(eps_values: Sequence[float]) -> list[float]:
    values = [check_eps(e) for e in eps_values]
    if not values or len(values) > 64:
        raise InputError("Give between 1 and 64 values of ε.")
    return values


def fgsm_accuracy(model, x: Tensor, y: Tensor, eps_values: Sequence[float]) -> list[float]:
    """Held-out accuracy after FGSM at each ε."""
    return [accuracy(model, fgsm(model, x, y, eps), y) for eps in check_eps_list(eps_values)]


def pgd_accuracy(
    model, x: Tensor, y: Tensor, eps_values: Sequence[float], *, steps: int = 10, seed_value=0
) -> list[float]:
    """Held-out accuracy after PGD (random start, `steps` steps of 2.5·ε/steps, each image's
    strongest iterate) at each ε, every budget attacked in one batch."""
    values = check_eps_list(eps_values)
    steps = whole("PGD steps", steps, 1, MAX_PGD_STEPS)
    k = len(values)
    eps = torch.tensor(values, dtype=x.dtype).repeat_interleave(len(y)).view(-1, 1, 1, 1)
    xs, ys = x.repeat(k, 1, 1, 1), y.repeat(k)
    x_adv = pgd_loop(
        model,
        xs,
        ys,
        eps,
        PGD_STEP_FACTOR * eps / steps,
        steps,
        None,
        True,
        seed_value,
        False,
        None,
        keep_best=True,
    )
    with torch.no_grad():
        right = (model(x_adv).argmax(-1) == ys).float().view(k, -1)
    return right.mean(1).tolist()


@dataclass(frozen=True)
class Robustness:
    """Held-out accuracy against ε for one model, under each white-box attack."""

    title: str
    eps: list[float]
    fgsm: list[float]
    pgd: list[float]


def robustness(
    model: TrainedModel, data: DigitData, eps_values: Sequence[float], *, pgd_steps: int = 10
) -> Robustness:
    """FGSM and PGD accuracy of `model` on `data`'s held-out digits at every ε."""
    x, y = data.test_x, data.test_y
    # One OpenMP thread: these are small networks, and on two shared cores a second thread
    # mostly waits (benchmarks/bench_defences.py: ~10× slower training under load).
    with single_thread():
        return Robustness(
            model.settings.title,
            list(eps_values),
            fgsm_accuracy(model.net, x, y, eps_values),
            pgd_accuracy(model.net, x, y, eps_values, steps=pgd_steps),
        )
