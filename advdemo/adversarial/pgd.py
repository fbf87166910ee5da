"""PGD, projected gradient descent: iterated FGSM steps from a random start in the eps ball."""

from __future__ import annotations

import torch
from torch import Tensor

from advdemo.adversarial.base import (
    MAX_EPS,
    Attack,
    AttackStep,
    BestIterate,
    Model,
    StepCallback,
    attack_loss,
    check_eps,
    check_images,
    check_steps,
    class_labels,
    deliver,
    project,
    seeded_uniform,
)
from advdemo.core.errors import finite


def pgd(
    model: Model,
    x: Tensor,
    y: Tensor | int,
    eps: float,
    alpha: float,
    steps: int,
    *,
    target: Tensor | int | None = None,
    random_start: bool = True,
    seed: int | None = 0,
    quantize: bool = False,
    callback: StepCallback | None = None,
    best: bool = True,
) -> Tensor:
    r"""PGD, projected gradient descent: iterated FGSM steps of size alpha, projected back onto
    the eps ball and [0, 1] after each, from a random start inside the ball.

    Paper: Madry, Makelov, Schmidt, Tsipras, Vladu, "Towards Deep Learning Models Resistant to
    Adversarial Attacks", ICLR 2018 (arXiv:1706.06083); without the random start it is the
    iterative FGSM (BIM) of Kurakin, Goodfellow, Bengio (arXiv:1607.02533).

    Distance measure: L∞.

    Args:
        model: images (B, C, H, W) in [0, 1] -> logits (B, classes); normalises inside; eval mode.
        x (Tensor): clean images (B, C, H, W) in [0, 1].
        y (Tensor | int): true classes (B,) or one class for all; the class to move away from.
        eps (float): L∞ budget in pixel units, 0 ≤ eps ≤ 64/255. (Default: none, e.g. 8/255)
        alpha (float): step size in pixel units. (Default: none, e.g. 1/255 or 2/255)
        steps (int): number of gradient steps, 1..500. (Default: none, e.g. 10 or 40)
        target (Tensor | int | None): class(es) to move toward instead. (Default: None, untargeted)
        random_start (bool): start from a uniform random point in the ball. (Default: True)
        seed (int | None): seed of the random start; None = the global RNG. (Default: 0)
        quantize (bool): round every iterate to the 8-bit grid inside the ball; use whole
            multiples of 1/255 for eps and alpha then. (Default: False)
        callback: called with an AttackStep for iterations 0..steps. (Default: None)
        best (bool): return each image's strongest iterate (0..steps) rather than the last:
            the target's highest probability, or the true class's lowest, judged on the image
            the model saw (the 8-bit one with quantize); see advdemo.adversarial.base.
            (Default: True)

    Input range: [0, 1]; returns (B, C, H, W) in [0, 1] with ‖x_adv − x‖∞ ≤ eps. With
    best=False, random_start=False, quantize=False it matches torchattacks.PGD bit for bit
    (`pgd_last`).

    Example:
        >>> x_adv = pgd(model, x, y, eps=8 / 255, alpha=1 / 255, steps=40, target=39)
        >>> model(x_adv).argmax(-1)  # 39, the common iguana, on most photos
    """
    check_images(x)
    eps = check_eps(eps)
    alpha = finite("step size", alpha, 0, MAX_EPS)
    steps = check_steps(steps)
    y_t = class_labels(y, x, "y")
    t_t = None if target is None else class_labels(target, x, "target")
    return pgd_loop(
        model,
        x.detach(),
        y_t,
        eps,
        alpha,
        steps,
        t_t,
        random_start,
        seed,
        quantize,
        callback,
        keep_best=best,
    )


def pgd_last(*args, **kwargs) -> Tensor:
    """`pgd` returning the last iterate (torchattacks' behaviour; the benchmark compares it)."""
    return pgd(*args, **kwargs, best=False)


def pgd_loop(
    model: Model,
    x: Tensor,
    y: Tensor,
    eps: float | Tensor,
    alpha: float | Tensor,
    steps: int,
    target: Tensor | None,
    random_start: bool,
    seed: int | None,
    quantize: bool,
    callback: StepCallback | None,
    *,
    keep_best: bool = False,
) -> Tensor:
    """PGD's loop on checked arguments (labels as (B,) tensors); eps and alpha may be
    (B, 1, 1, 1) tensors, one budget per image (the eps sweep batches several budgets).
    Returns the last iterate (torchattacks' behaviour), or with `keep_best` each image's
    strongest one (base.BestIterate), scored from the logits each step computes anyway: the
    steps themselves are the same either way."""
    x_adv = x.clone()
    if random_start:
        x_adv = project(x_adv + seeded_uniform(x, seed) * eps, x, eps, quantize)
    elif quantize:
        x_adv = project(x_adv, x, eps, quantize)
    kept = BestIterate(y, target) if keep_best else None
    with torch.enable_grad():
        for i in range(steps):
            x_adv.requires_grad_(True)
            logits = model(x_adv)
            (grad,) = torch.autograd.grad(attack_loss(logits, y, target), x_adv)
            logits = logits.detach().float()
            if kept is not None:
                kept.offer(x_adv, logits, i)
            if callback is not None:
                callback(AttackStep(i, steps, logits))
            x_adv = x_adv.detach() + alpha * grad.sign()
            x_adv = project(x_adv, x, eps, quantize).detach()
    return deliver(model, x_adv, steps, callback, kept)


ATTACK = Attack(
    key="pgd",
    title="PGD (iterative FGSM, random start)",
    label="PGD: many small steps",
    name="PGD",
    summary="PGD, {steps} steps of {step_k}/255",
    params=frozenset({"eps", "step", "steps"}),
    targeted="optional",
    function=pgd,
)
