"""The lecture's λ method: gradient descent on the image itself toward a one-hot target,
with a squared-L2 penalty λ‖x' − x‖², inside a hard L∞ ball."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from advdemo.adversarial.base import (
    MAX_LAMBDA,
    MAX_LR,
    Attack,
    AttackStep,
    BestIterate,
    Model,
    StepCallback,
    check_eps,
    check_images,
    check_steps,
    class_labels,
    deliver,
    project,
    round_in_ball,
)
from advdemo.core.errors import finite


def lecture_loss(logits: Tensor, x_adv: Tensor, x: Tensor, target: Tensor, lam: float) -> Tensor:
    """½‖softmax(logits) − onehot(target)‖² + λ‖x_adv − x‖², one value per image (B,)."""
    low_precision = logits.dtype in (torch.float16, torch.bfloat16)
    probs = (logits.float() if low_precision else logits).softmax(-1)
    onehot = F.one_hot(target, probs.shape[-1]).to(probs.dtype)
    fit = 0.5 * (probs - onehot).pow(2).sum(-1)
    return fit + lam * (x_adv - x).to(probs.dtype).pow(2).flatten(1).sum(-1)


def lecture_l2(
    model: Model,
    x: Tensor,
    target: Tensor | int,
    lam: float = 1e-3,
    steps: int = 50,
    lr: float = 1 / 255,
    *,
    eps: float = 16 / 255,
    quantize: bool = False,
    callback: StepCallback | None = None,
    best: bool = True,
) -> Tensor:
    r"""The lecture's method: optimise the image itself to minimise
    ½‖softmax(f(x')) − onehot(target)‖² + λ‖x' − x‖², starting at x' = x.

    Paper: the formulation of Stanford CS230 (Katanforoosh & Ng), lecture 3, "Attacking
    networks with adversarial examples"; the trade-off term follows Szegedy et al., "Intriguing
    properties of neural networks", ICLR 2014 (arXiv:1312.6199).

    Distance measure: L2 penalty (λ), inside a hard L∞ ball (eps).

    The steps are Adam's (a gradient-descent variant that scales each pixel's step): the
    squared error on probabilities has tiny gradients while the target's probability is near
    0, and Adam's per-pixel scaling keeps the image moving anyway.

    Args:
        model: images (B, C, H, W) in [0, 1] -> logits (B, classes); normalises inside; eval mode.
        x (Tensor): clean images (B, C, H, W) in [0, 1].
        target (Tensor | int): class(es) to reach. (Default: none, e.g. 39 = common iguana)
        lam (float): λ, weight of the squared L2 distance, 0 ≤ λ ≤ 100. (Default: 1e-3)
        steps (int): gradient steps, 1..500. (Default: 50)
        lr (float): Adam's learning rate in pixel units per step. (Default: 1/255)
        eps (float): hard L∞ budget, 0 ≤ eps ≤ 64/255. (Default: 16/255)
        quantize (bool): the model sees, and you get back, the iterate rounded to the 8-bit grid
            (straight-through: the float copy keeps Adam's small steps). (Default: False)
        callback: called with an AttackStep for iterations 0..steps. (Default: None)
        best (bool): return each image's iterate (0..steps) with the target's highest
            probability, judged on the image the model saw (the 8-bit one with quantize),
            rather than the last; see advdemo.adversarial.base. (Default: True)

    Input range: [0, 1]; returns (B, C, H, W) in [0, 1] with ‖x_adv − x‖∞ ≤ eps.

    Example:
        >>> x_adv = lecture_l2(model, x, target=39, lam=1e-3, steps=50)
        >>> model(x_adv).softmax(-1)[:, 39]  # the iguana's probability, up from about 0
    """
    check_images(x)
    eps = check_eps(eps)
    lam = finite("λ", lam, 0, MAX_LAMBDA)
    steps = check_steps(steps)
    lr = finite("learning rate", lr, 0, MAX_LR)
    t_t = class_labels(target, x, "target")
    x = x.detach()
    shadow = x.clone().requires_grad_(True)  # the float iterate Adam moves
    optimiser = torch.optim.Adam([shadow], lr=lr)

    def seen(s: Tensor) -> Tensor:
        """What the model is shown: s, or exactly s rounded (straight-through gradient)."""
        return round_in_ball(s, x, eps).detach() + (s - s.detach()) if quantize else s

    kept = BestIterate(t_t, t_t) if best else None  # targeted: the target's probability
    with torch.enable_grad():
        for i in range(steps):
            x_adv = seen(shadow)
            logits = model(x_adv)
            optimiser.zero_grad(set_to_none=True)
            lecture_loss(logits, x_adv, x, t_t, lam).sum().backward()
            if kept is not None:
                kept.offer(x_adv, logits.float(), i)
            if callback is not None:
                callback(AttackStep(i, steps, logits.detach().float()))
            optimiser.step()
            with torch.no_grad():
                shadow.copy_(project(shadow, x, eps))
    return deliver(model, seen(shadow.detach()), steps, callback, kept)


ATTACK = Attack(
    key="lecture",
    title="the lecture's λ method",
    label="lecture: ½‖ŷ − y‖² + λ‖x − x₀‖²",
    name="λ method",
    summary="λ method, λ = {lam:g}, {steps} steps",
    params=frozenset({"eps", "step", "steps", "lam"}),
    targeted="required",
    function=lecture_l2,
)
