"""What every attack shares: the `Attack` description the registry lists, the step report,
input checks, the projection onto the eps ball and [0, 1], the loss FGSM and PGD step up, and
the input gradient.

Every attack works on images in [0, 1] (B, C, H, W): normalisation lives inside the model, so
eps is in pixel units (8/255 = eight steps of an 8-bit image). After every step the image is
clamped to [0, 1] and to the L∞ ball of radius eps around the original. Targeted mode is the
sign flip of the loss (step down the loss of the target class instead of up the loss of the true
class). Nothing here knows about Gradio.

Where we quantise to 8 bits (`quantize=True`, what the app uses): inside the loop. Every image
the model sees during the attack lies on the 8-bit grid, so the result is exactly what an 8-bit
PNG holds and saving it changes nothing. FGSM and PGD round each iterate (with eps and the step
size whole multiples of 1/255 their steps stay on the grid anyway; rounding removes float drift
and snaps the random start). The λ method takes small continuous steps that rounding would undo,
so it keeps a float copy, feeds the model that copy rounded (straight-through gradient) and
returns the rounded image.

Which iterate is returned: the best one seen (`best=True`, the default of PGD and the λ method),
not the last. A fixed step can overshoot: once the target is nearly certain the next step may
cost a little, so the last iterate can be weaker than an earlier one, and a run with more steps
could end weaker than a shorter one. "Best" is judged on exactly the image the model saw at each
step, from the logits that step computed anyway (no extra forward per step; one at the end for
the last iterate): with `quantize=True` that image is the 8-bit one the robustness checks judge.
Targeted: the highest log-probability of the target; untargeted: the lowest of the true class
(log-probabilities, because probabilities round to exactly 1 near the top). Ties keep the
earlier iterate, so with the same seed more steps never return a worse image than fewer.
`pgd.pgd_loop` stays the plain last-iterate loop (torchattacks' behaviour, for the benchmark).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from advdemo.core.errors import InputError, finite, whole

Model = Callable[[Tensor], Tensor]  # images (B, C, H, W) in [0, 1] -> logits (B, classes)

MAX_EPS_K = 64  # largest budget the app accepts, in 1/255 steps
MAX_EPS = MAX_EPS_K / 255
MAX_STEPS = 500
MAX_LAMBDA = 100.0
MAX_LR = 0.5

Param = Literal["eps", "step", "steps", "lam"]  # the app's knobs an attack may use

# The settings attacks.run_attack hands on. An attack function takes (model, x) and then, under
# these names, the ones it uses (in its own order, with its own defaults); it is passed only those.
SETTINGS = frozenset(
    {
        "y",
        "eps",
        "target",
        "steps",
        "alpha",
        "lam",
        "lr",
        "random_start",
        "seed",
        "quantize",
        "callback",
        "best",
    }
)


@dataclass(frozen=True)
class Attack:
    """An attack as the registry lists it.

    key: its name in the API's `method` ("fgsm"); title: what it is, in a sentence ("the
    lecture's λ method"); label: what the method radio shows; name: short, for progress bars;
    summary: a str.format template over steps, step_k and lam for
    plot titles; params: which of eps, step (PGD's α, the λ method's learning rate), steps and
    lam it uses; targeted: "optional" (either mode) or "required" (always toward a target);
    function: the attack itself, taking (model, x) and any of SETTINGS by name; arguments: which
    of SETTINGS it takes (read once from its signature; attacks.run_attack passes only those).
    """

    key: str
    title: str
    label: str
    name: str
    summary: str
    params: frozenset[Param]
    targeted: Literal["optional", "required"]
    function: Callable[..., Tensor]
    arguments: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        names = list(inspect.signature(self.function).parameters)
        unknown = set(names[2:]) - SETTINGS
        if names[:2] != ["model", "x"] or unknown:
            raise TypeError(
                f"{self.function.__name__} must take (model, x, ...) and then only settings "
                f"run_attack passes ({', '.join(sorted(SETTINGS))}); got {', '.join(names)}."
            )
        object.__setattr__(self, "arguments", frozenset(names[2:]))

    @property
    def subject(self) -> str:
        """The title to start a sentence with ("The lecture's λ method")."""
        return self.title[:1].upper() + self.title[1:]

    def uses(self, param: Param) -> bool:
        return param in self.params

    def iterations(self, steps: int) -> int:
        """How many steps a run reports to its callback (one for a single-step attack)."""
        return steps if self.uses("steps") else 1

    def describe(self, steps: int, step_k: int, lam: float) -> str:
        """e.g. "PGD, 20 steps of 1/255" (plot titles)."""
        return self.summary.format(steps=steps, step_k=step_k, lam=lam)


@dataclass(frozen=True)
class AttackStep:
    """What an attack reports to its callback: the logits at iterate `iteration` (0 = start).

    Iteration `steps` is the last iterate. Logits are detached, fp32, (B, classes). `returned`,
    on the last report of an attack that keeps its best iterate, says per image (B,) which
    iteration's image it returns; None means the last.
    """

    iteration: int
    steps: int
    logits: Tensor
    returned: Tensor | None = None


StepCallback = Callable[[AttackStep], None]


@dataclass
class ProbabilityTrace:
    """A callback that records, for the first image of the batch, the probability of the true
    class and of the target class at every iteration (for the plots), which iteration's image
    the attack returned (`returned`: its best, or the last), and passes each step on to
    `on_step` (e.g. a progress bar)."""

    true_class: int
    target_class: int | None = None
    on_step: StepCallback | None = None
    iterations: list[int] = field(default_factory=list)
    true_prob: list[float] = field(default_factory=list)
    target_prob: list[float] = field(default_factory=list)
    top1: list[int] = field(default_factory=list)
    chosen: int | None = None

    @property
    def returned(self) -> int | None:
        """The iteration whose image the attack returned (the last one unless it said)."""
        if self.chosen is not None:
            return self.chosen
        return self.iterations[-1] if self.iterations else None

    def __call__(self, step: AttackStep) -> None:
        probs = step.logits[0].float().softmax(-1)
        if step.returned is not None:
            self.chosen = int(step.returned[0])
        self.iterations.append(step.iteration)
        self.true_prob.append(float(probs[self.true_class]))
        if self.target_class is not None:
            self.target_prob.append(float(probs[self.target_class]))
        self.top1.append(int(probs.argmax()))
        if self.on_step is not None:
            self.on_step(step)


def class_labels(value: Tensor | int, x: Tensor, name: str) -> Tensor:
    """An int or a (B,) tensor of class indices -> a (B,) long tensor on x's device."""
    if isinstance(value, Tensor):
        labels = value.to(device=x.device, dtype=torch.long).reshape(-1)
        if labels.numel() == 1 and x.shape[0] > 1:
            labels = labels.expand(x.shape[0])
    elif isinstance(value, Integral) and not isinstance(value, bool):
        labels = torch.full((x.shape[0],), int(value), dtype=torch.long, device=x.device)
    else:
        raise InputError(f"{name} must be a class index or a tensor of them, got {value!r}.")
    if labels.shape[0] != x.shape[0]:
        raise InputError(f"{name} has {labels.shape[0]} labels for {x.shape[0]} images.")
    return labels


def check_images(x: Tensor) -> None:
    """Refuse anything but a float (B, C, H, W) batch with values in [0, 1]."""
    if not isinstance(x, Tensor) or x.dim() != 4 or not x.is_floating_point():
        raise InputError("Attacks take a float tensor of images shaped (B, C, H, W).")
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise InputError("Attacks take images with values in [0, 1] (normalise in the model).")


def check_eps(eps: float) -> float:
    """eps as a float in [0, 64/255], or InputError."""
    eps = finite("eps", eps)
    if eps < 0:
        raise InputError(f"eps must be at least 0, got {eps:g}.")
    if eps > MAX_EPS + 1e-9:
        raise InputError(f"eps must be at most {MAX_EPS_K}/255 ≈ {MAX_EPS:.3f}, got {eps:.4g}.")
    return eps


def check_steps(steps: int) -> int:
    return whole("steps", steps, 1, MAX_STEPS)


def round_in_ball(x_adv: Tensor, x: Tensor, eps: float | Tensor) -> Tensor:
    """Round to the 8-bit grid, staying in [0, 1] and within eps of x (when such a level exists).

    x itself is normally on the grid (it came from an 8-bit image); then the nearest level of
    x_adv is always allowed. Where no level lies within eps of an off-grid x, x_adv is kept.
    """
    # The 1e-4 grey-level slack absorbs float32 error (≈ 2e-5 levels near 255) so on-grid
    # bounds are not lost, while an off-grid x can overshoot the ball by at most 4e-7.
    lo = torch.ceil((x - eps).clamp(0, 1) * 255 - 1e-4) / 255
    hi = torch.floor((x + eps).clamp(0, 1) * 255 + 1e-4) / 255
    rounded = torch.round(x_adv * 255) / 255
    return torch.where(lo <= hi, torch.minimum(torch.maximum(rounded, lo), hi), x_adv)


def project(x_adv: Tensor, x: Tensor, eps: float | Tensor, quantize: bool = False) -> Tensor:
    """Clamp x_adv to the L∞ ball of radius eps around x and to [0, 1] (torchattacks' order),
    then, if `quantize`, onto the 8-bit grid inside both."""
    delta = torch.clamp(x_adv - x, min=-eps, max=eps)
    x_adv = torch.clamp(x + delta, min=0, max=1)
    return round_in_ball(x_adv, x, eps) if quantize else x_adv


def attack_score(logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    """How strong each image's attack is (B,), higher = stronger: log p(target) when targeted,
    −log p(true class) otherwise."""
    logp = logits.float().log_softmax(-1)
    if target is None:
        return -logp.gather(-1, y[:, None])[:, 0]
    return logp.gather(-1, target[:, None])[:, 0]


class BestIterate:
    """The strongest iterate seen so far, per image of the batch (see the module's docstring).

    `offer(image, logits, iteration)` after every forward pass, with the logits of exactly that
    image; `image` is then the best one and `iteration` (B,) where it was met."""

    def __init__(self, y: Tensor, target: Tensor | None) -> None:
        self.y, self.target = y, target
        self.image: Tensor | None = None
        self.score: Tensor | None = None
        self.iteration: Tensor | None = None

    def offer(self, image: Tensor, logits: Tensor, iteration: int) -> None:
        image, score = image.detach(), attack_score(logits.detach(), self.y, self.target)
        if self.image is None:
            self.image, self.score = image.clone(), score
            self.iteration = torch.full_like(score, iteration, dtype=torch.long)
            return
        better = score > self.score  # strictly: ties keep the earlier iterate
        self.score = torch.where(better, score, self.score)
        self.iteration = torch.where(better, iteration, self.iteration)
        self.image = torch.where(better.view(-1, *[1] * (image.dim() - 1)), image, self.image)

    def finish(
        self, model: Model, last: Tensor, steps: int, callback: StepCallback | None
    ) -> Tensor:
        """Offer the last iterate (one forward, run as the loop runs it so an image scores the
        same wherever it comes), report it and the chosen iterations, return the best image."""
        with torch.enable_grad():
            logits = model(last.detach().requires_grad_(True)).detach().float()
        self.offer(last, logits, steps)
        if callback is not None:
            callback(AttackStep(steps, steps, logits, returned=self.iteration))
        return self.image


def attack_loss(logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    """The loss FGSM and PGD step up: cross-entropy of the true class, or minus the
    cross-entropy of the target class when targeted (mean over the batch)."""
    if target is None:
        return F.cross_entropy(logits, y)
    return -F.cross_entropy(logits, target)


def input_gradient(
    model: Model, x: Tensor, y: Tensor | int, *, target: Tensor | int | None = None
) -> Tensor:
    """∇ₓ of `attack_loss` at x: the direction FGSM and PGD follow (its sign)."""
    y_t = class_labels(y, x, "y")
    t_t = None if target is None else class_labels(target, x, "target")
    with torch.enable_grad():
        x_var = x.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(attack_loss(model(x_var), y_t, t_t), x_var)
    return grad


def seeded_uniform(x: Tensor, seed: int | None) -> Tensor:
    """U(−1, 1) noise shaped like x; reproducible from `seed` on every device (drawn on CPU)."""
    if seed is None:
        return torch.empty_like(x).uniform_(-1, 1)
    gen = torch.Generator().manual_seed(int(seed))
    return (torch.rand(x.shape, generator=gen) * 2 - 1).to(x.device, x.dtype)


def deliver(
    model: Model,
    last: Tensor,
    steps: int,
    callback: StepCallback | None,
    kept: BestIterate | None,
) -> Tensor:
    """How an iterative attack ends: the strongest iterate `kept` saw (with the last one
    offered too), or with no `kept` the last iterate; the returned image is reported."""
    if kept is not None:
        return kept.finish(model, last, steps, callback)
    report_result(callback, model, last, steps, steps)
    return last


def report_result(
    callback: StepCallback | None, model: Model, x_adv: Tensor, i: int, n: int
) -> None:
    """Report the returned image's logits (one extra forward, only when someone listens)."""
    if callback is not None:
        with torch.no_grad():
            callback(AttackStep(i, n, model(x_adv).detach().float()))
