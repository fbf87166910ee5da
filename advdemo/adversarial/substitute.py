"""Black box by transfer: train a substitute on nothing but the target's answers (labels), attack
the substitute in white box, and see how often its adversarial examples fool the target.

Usage (digits: images (N, 1, 8, 8) in [0, 1]; the target is seen only through its labels):

    from advdemo.adversarial.substitute import train_substitute, transfer_rates
    def make_net(gen):                       # a fresh substitute, weights drawn from gen
        return digits_nets.reset(digits_nets.build("mlp"), gen)
    sub = train_substitute(target_labels, seed_x, make_net, rounds=4, lam=0.1, seed=0)
    sub.net, sub.queries, sub.history        # the trained net, labels asked for, per round
    report = transfer_rates(target_labels, [sub.net], test_x, test_y, eps=0.2)
    report.rate("substitute 1", "untargeted"), report.rate("substitute 1", "targeted")

Training follows Papernot et al., "Practical Black-Box Attacks against Machine Learning"
(AsiaCCS 2017, arXiv:1602.02697): start from a small seed set, ask the target for its labels,
train, then grow the set with Jacobian-based dataset augmentation, x + λ·sign(∂F_y(x)/∂x) for
each x with the target's label y (F the substitute's softmax), ask for the new points' labels
only, and train again. λ changes sign every `flip_every` rounds (the paper's periodic step), so
the new points do not all walk off in one direction. Every image whose label is asked for is
one query; a point is never asked twice; `budget` caps them (the last round's new points are
then a seeded random subset).

Transfer: `transfer_rates` attacks each substitute, and when there are several their ensemble
(the mean of their softmax outputs, as Liu et al. fuse models, ICLR 2017, arXiv:1611.02770),
with PGD or FGSM from advdemo.adversarial, untargeted and targeted (a seeded random wrong class
per image), and counts how often the target is fooled, on the images the target classifies
correctly. CS294's lecture notes: untargeted examples transfer far more easily; ensembles help
targeted ones.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advdemo.adversarial.base import check_eps, check_images, check_steps
from advdemo.adversarial.fgsm import fgsm
from advdemo.adversarial.pgd import pgd
from advdemo.core.errors import InputError, choice, finite, whole
from advdemo.core.errors import seed as check_seed
from advdemo.models.runtime import single_thread

# images (N, C, H, W) in [0, 1] -> the target's predicted classes (N,): all a substitute sees.
LabelFn = Callable[[Tensor], Tensor]
# a fresh substitute (images in [0, 1] -> logits), its weights drawn from the generator given.
MakeNet = Callable[[torch.Generator], nn.Module]
Progress = Callable[[tuple[int, int] | None, str], None]
StopFn = Callable[[], bool]

MODES = ("untargeted", "targeted")
TRANSFER_METHODS = ("pgd", "fgsm")
MAX_ROUNDS = 8
MAX_QUERIES = 100_000
MAX_EPOCHS = 200
SMALL_IMAGE = 64 * 64  # values per image up to which the work runs on one OpenMP thread


def _threads(x: Tensor) -> contextlib.AbstractContextManager:
    """One OpenMP thread for small images (the digits): a second one only waits on tiny
    tensors while other requests share the cores."""
    return single_thread() if x[0].numel() <= SMALL_IMAGE else contextlib.nullcontext()


@dataclass(frozen=True)
class SubstituteRound:
    """One round of substitute training: its number (0 first), the images trained on, the
    label queries spent so far, and the share of those images on which the trained substitute
    agrees with the target's labels."""

    round: int
    images: int
    queries: int
    agreement: float


@dataclass(frozen=True)
class Substitute:
    """A trained substitute: `net` (eval mode, parameters frozen; images -> logits), the label
    queries it cost, its rounds, its final data set (images, the target's labels), the wall
    seconds and whether should_stop() ended training early."""

    net: nn.Module
    queries: int
    history: list[SubstituteRound]
    images: Tensor
    labels: Tensor
    seconds: float
    stopped: bool


def _check_batch(x: object, name: str) -> None:
    if isinstance(x, Tensor) and x.dim() == 4 and len(x) == 0:
        raise InputError(f"No {name}: give at least one.")
    check_images(x)


def _ask(query_labels: LabelFn, x: Tensor) -> Tensor:
    with torch.no_grad():
        labels = query_labels(x)
    if not isinstance(labels, Tensor) or labels.shape != (len(x),) or labels.is_floating_point():
        shape = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise TypeError(
            f"query_labels must map {len(x)} images to ({len(x)},) classes; got {shape}"
        )
    return labels.detach().to("cpu", torch.long)


def _fit(
    net: nn.Module,
    x: Tensor,
    y: Tensor,
    epochs: int,
    lr: float,
    batch_size: int,
    gen: torch.Generator,
    stop: StopFn,
) -> bool:
    """Adam on cross-entropy, minibatches in a seeded order; True if stopped."""
    net.train()
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    with torch.enable_grad():
        for _ in range(epochs):
            if stop():
                return True
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), batch_size):
                chosen = order[start : start + batch_size]
                optimiser.zero_grad(set_to_none=True)
                F.cross_entropy(net(x[chosen]), y[chosen]).backward()
                optimiser.step()
    return False


def jacobian_augment(net: nn.Module, x: Tensor, y: Tensor, lam: float) -> Tensor:
    """Papernot's augmentation: x + λ·sign(∂F_y(x)/∂x), F the substitute's softmax, clamped to
    [0, 1]; one new image per image of x (N, C, H, W) with its label y (N,)."""
    with torch.enable_grad():
        x_var = x.detach().clone().requires_grad_(True)
        probs = net(x_var).softmax(-1)
        (grad,) = torch.autograd.grad(probs.gather(1, y[:, None]).sum(), x_var)
    return (x + lam * grad.sign()).clamp(0, 1).detach()


def _agreement(net: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float((net(x).argmax(-1) == y).float().mean())


def train_substitute(
    query_labels: LabelFn,
    seed_images: Tensor,
    make_net: MakeNet,
    *,
    rounds: int = 4,
    lam: float = 0.1,
    seed: int = 0,
    budget: int = MAX_QUERIES,
    epochs: int = 30,
    lr: float = 1e-2,
    batch_size: int = 64,
    flip_every: int = 3,
    progress: Progress | None = None,
    should_stop: StopFn | None = None,
) -> Substitute:
    """Train a substitute of the target behind `query_labels` (see the module's docstring).

    Args:
        query_labels: images (N, C, H, W) in [0, 1] -> the target's classes (N,) (long); the
            only access to the target, called under torch.no_grad().
        seed_images: (N, C, H, W) in [0, 1], the attacker's few starting images (e.g. 10 per
            class); their labels come from the target, not from the caller.
        make_net: generator -> a fresh substitute network (images -> logits); it must draw its
            weights from that generator (e.g. advdemo.models.nets.digits.reset).
        rounds: training rounds, 1..8; the data set doubles between rounds (N·2^(rounds−1)
            images and as many queries at the end, at most `budget`).
        lam: λ, the augmentation's step in pixel units, 0..1 (the paper: 0.1).
        seed: seeds the weights and the minibatch order (0..2³²−1).
        budget: most label queries, 1..100,000 (must cover the seed images).
        epochs: passes over the data per round, 1..200; lr: Adam's step; batch_size: minibatch.
        flip_every: λ changes sign every this many rounds (0 = never).
        progress: progress((round, rounds), text) per round; should_stop: polled every epoch.

    Returns a Substitute. Raises InputError for bad values.
    """
    started = time.perf_counter()
    _check_batch(seed_images, "seed images")
    rounds = whole("rounds", rounds, 1, MAX_ROUNDS)
    lam = finite("λ", lam, 0, 1)
    seed = check_seed("seed", seed)
    budget = whole("query budget", budget, 1, MAX_QUERIES)
    epochs = whole("epochs", epochs, 1, MAX_EPOCHS)
    lr = finite("learning rate", lr, 1e-6, 1)
    batch_size = whole("batch size", batch_size, 1, 4096)
    flip_every = whole("flip_every", flip_every, 0, MAX_ROUNDS)
    if len(seed_images) > budget:
        raise InputError(
            f"The query budget ({budget}) does not cover the {len(seed_images)} seed images."
        )
    report = progress or (lambda done, text: None)
    stop = should_stop or (lambda: False)
    with _threads(seed_images):
        return _train(
            query_labels,
            seed_images,
            make_net,
            rounds,
            lam,
            seed,
            budget,
            epochs,
            lr,
            batch_size,
            flip_every,
            report,
            stop,
            started,
        )


def _train(
    query_labels,
    seed_images,
    make_net,
    rounds,
    lam,
    seed,
    budget,
    epochs,
    lr,
    batch_size,
    flip_every,
    report,
    stop,
    started,
) -> Substitute:
    """train_substitute on checked arguments."""
    gen = torch.Generator().manual_seed(seed)
    net = make_net(gen)
    x = seed_images.detach().float().cpu()
    y = _ask(query_labels, x)
    with torch.no_grad():
        classes = int(net(x[:1]).shape[-1])
    if ((y < 0) | (y >= classes)).any():
        raise TypeError(f"query_labels answered classes outside the substitute's 0..{classes - 1}")
    queries = len(x)
    history: list[SubstituteRound] = []
    stopped = False
    for r in range(rounds):
        report((r, rounds), f"substitute: round {r + 1}/{rounds}, {len(x)} images")
        if _fit(net, x, y, epochs, lr, batch_size, gen, stop):
            stopped = True
            break
        net.eval()
        history.append(SubstituteRound(r, len(x), queries, _agreement(net, x, y)))
        left = budget - queries
        if r == rounds - 1 or left == 0:
            break
        sign = -1.0 if flip_every and (r // flip_every) % 2 else 1.0
        new = jacobian_augment(net, x, y, sign * lam)
        if len(new) > left:  # the budget takes a seeded random subset of the new points
            new = new[torch.randperm(len(new), generator=gen)[:left].sort().values]
        new_y = _ask(query_labels, new)
        queries += len(new)
        x, y = torch.cat([x, new]), torch.cat([y, new_y])
    report((rounds, rounds), f"substitute: done, {queries} queries")
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return Substitute(net, queries, history, x, y, time.perf_counter() - started, stopped)


def train_substitutes(
    query_labels: LabelFn,
    seed_images: Tensor,
    make_nets: MakeNet | Sequence[MakeNet],
    *,
    count: int = 3,
    seed: int = 0,
    **options,
) -> list[Substitute]:
    """`count` substitutes for an ensemble, substitute i with seed + i (and make_nets[i] when
    a sequence is given, e.g. an MLP and a CNN); options as train_substitute's. Each one
    queries the target on its own: the total is the sum of their `queries`."""
    count = whole("substitutes", count, 1, 8)
    seed = check_seed("seed", seed)
    makers = [make_nets] * count if callable(make_nets) else list(make_nets)
    if len(makers) != count:
        raise InputError(f"{count} substitutes need {count} networks, got {len(makers)}.")
    return [
        train_substitute(query_labels, seed_images, make, seed=(seed + i) % 2**32, **options)
        for i, make in enumerate(makers)
    ]


# --------------------------------------------------------------------------- transfer


class Ensemble(nn.Module):
    """Several classifiers as one: log of the mean of their softmax outputs (usable as logits:
    cross-entropy and argmax see the fused probabilities)."""

    def __init__(self, nets: Sequence[nn.Module]) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, x: Tensor) -> Tensor:
        probs = torch.stack([net(x).softmax(-1) for net in self.nets]).mean(0)
        return probs.clamp_min(1e-30).log()


@dataclass(frozen=True)
class TransferRow:
    """One attacker in one mode: the share of the images whose adversarial version fools the
    attacked model itself (`white_box`) and the target (`transfer`), out of `images` (those
    the target classifies correctly)."""

    attacker: str  # "substitute 1", ..., "ensemble of 3"
    mode: str  # "untargeted" | "targeted"
    white_box: float
    transfer: float
    images: int


@dataclass(frozen=True)
class TransferReport:
    """Rows per attacker and mode; `targets` the class each image was steered to when
    targeted; `queries` the images the target was asked about (clean ones included)."""

    rows: list[TransferRow]
    eps: float
    method: str
    targets: Tensor
    queries: int

    def rate(self, attacker: str, mode: str) -> float:
        """The transfer rate of `attacker` ("substitute 1", "ensemble of 3") in `mode`."""
        for row in self.rows:
            if row.attacker == attacker and row.mode == mode:
                return row.transfer
        raise KeyError((attacker, mode))


def _attack(model, x, y, target, eps, method, steps, seed) -> Tensor:
    if method == "fgsm":
        return fgsm(model, x, y, eps, target=target)
    alpha = max(2.5 * eps / steps, 1e-4)
    return pgd(model, x, y, eps, alpha, steps, target=target, seed=seed)


def transfer_rates(
    target_predict: LabelFn,
    substitutes: Sequence[nn.Module],
    images: Tensor,
    labels: Tensor,
    *,
    eps: float,
    modes: Sequence[str] = MODES,
    method: str = "pgd",
    steps: int = 20,
    targets: Tensor | None = None,
    seed: int = 0,
    ensemble: bool = True,
) -> TransferReport:
    """Attack each substitute (and, with two or more and `ensemble`, all of them fused) in
    white box and measure how often the examples fool the target.

    Args:
        target_predict: images -> the target's classes (N,); the only access to the target.
        substitutes: networks (images in [0, 1] -> logits), e.g. Substitute.net.
        images, labels: (N, C, H, W) in [0, 1] and their true classes (N,).
        eps: L∞ budget in pixel units, 0..64/255; modes: any of "untargeted", "targeted".
        method: "pgd" (steps of 2.5·eps/steps from a random start, seeded) or "fgsm".
        targets: (N,) target classes for the targeted mode; None = a seeded random wrong class.
        seed: seeds the targets and PGD's start.

    Returns a TransferReport (rows in the order: substitutes, then the ensemble; each in the
    order of `modes`). Raises InputError for bad values.
    """
    _check_batch(images, "images")
    eps = check_eps(eps)
    method = choice("method", method, list(TRANSFER_METHODS))
    steps = check_steps(steps)
    seed = check_seed("seed", seed)
    modes = [choice("mode", m, list(MODES)) for m in modes]
    if not substitutes:
        raise InputError("Transfer needs at least one substitute.")
    labels = labels.detach().to("cpu", torch.long).reshape(-1)
    if labels.shape != (len(images),):
        raise InputError(f"{len(labels)} labels for {len(images)} images.")
    with torch.no_grad():
        classes = int(substitutes[0](images[:1]).shape[-1])
    if targets is None:
        gen = torch.Generator().manual_seed(seed)
        targets = (labels + torch.randint(1, classes, labels.shape, generator=gen)) % classes
    targets = targets.detach().to("cpu", torch.long).reshape(-1)
    if targets.shape != labels.shape or (targets == labels).any():
        raise InputError("Targets must be one class per image, each different from its label.")
    with _threads(images):
        return _transfer(
            target_predict,
            substitutes,
            images,
            labels,
            targets,
            eps,
            modes,
            method,
            steps,
            seed,
            ensemble,
        )


def _transfer(
    target_predict,
    substitutes,
    images,
    labels,
    targets,
    eps,
    modes,
    method,
    steps,
    seed,
    ensemble,
) -> TransferReport:
    """transfer_rates on checked arguments."""
    right = _ask(target_predict, images) == labels
    queries = len(images)
    x, y, t = images[right], labels[right], targets[right]
    attackers = [(f"substitute {i + 1}", net) for i, net in enumerate(substitutes)]
    if ensemble and len(substitutes) > 1:
        attackers.append((f"ensemble of {len(substitutes)}", Ensemble(substitutes).eval()))
    rows = []
    for name, model in attackers:
        for mode in modes:
            aim = t if mode == "targeted" else None
            x_adv = _attack(model, x, y, aim, eps, method, steps, seed) if len(x) else x
            with torch.no_grad():
                own = model(x_adv).argmax(-1)
            theirs = _ask(target_predict, x_adv)
            queries += len(x_adv)
            fooled_own = own == t if aim is not None else own != y
            fooled = theirs == t if aim is not None else theirs != y
            n = max(len(x), 1)
            rows.append(
                TransferRow(
                    name, mode, float(fooled_own.sum()) / n, float(fooled.sum()) / n, len(x)
                )
            )
    return TransferReport(rows, eps, method, targets, queries)
