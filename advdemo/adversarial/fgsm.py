"""FGSM, the fast gradient sign method: one step of size eps along the sign of the gradient."""

from __future__ import annotations

import torch
from torch import Tensor

from advdemo.adversarial.base import (
    Attack,
    AttackStep,
    Model,
    StepCallback,
    attack_loss,
    check_eps,
    check_images,
    class_labels,
    project,
    report_result,
)


def fgsm(
    model: Model,
    x: Tensor,
    y: Tensor | int,
    eps: float,
    *,
    target: Tensor | int | None = None,
    quantize: bool = False,
    callback: StepCallback | None = None,
) -> Tensor:
    r"""FGSM, the fast gradient sign method: one step of size eps along the gradient's sign.

    Paper: Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial Examples",
    ICLR 2015 (arXiv:1412.6572).

    Distance measure: L∞.

    Args:
        model: images (B, C, H, W) in [0, 1] -> logits (B, classes); normalises inside; eval mode.
        x (Tensor): clean images (B, C, H, W) in [0, 1].
        y (Tensor | int): true classes (B,) or one class for all; the class to move away from.
        eps (float): L∞ budget in pixel units, 0 ≤ eps ≤ 64/255. (Default: none, e.g. 8/255)
        target (Tensor | int | None): class(es) to move toward instead. (Default: None, untargeted)
        quantize (bool): return an image on the 8-bit grid, still within eps. (Default: False)
        callback: called with an AttackStep at iteration 0 (x) and 1 (the result). (Default: None)

    Input range: [0, 1]; returns (B, C, H, W) in [0, 1] with ‖x_adv − x‖∞ ≤ eps.

    Example:
        >>> x_adv = fgsm(model, x, y, eps=8 / 255)
        >>> model(x_adv).argmax(-1)  # usually no longer y
    """
    check_images(x)
    eps = check_eps(eps)
    y_t = class_labels(y, x, "y")
    t_t = None if target is None else class_labels(target, x, "target")
    x = x.detach()
    with torch.enable_grad():
        x_var = x.clone().requires_grad_(True)
        logits = model(x_var)
        (grad,) = torch.autograd.grad(attack_loss(logits, y_t, t_t), x_var)
    if callback is not None:
        callback(AttackStep(0, 1, logits.detach().float()))
    x_adv = project(x + eps * grad.sign(), x, eps, quantize).detach()
    report_result(callback, model, x_adv, 1, 1)
    return x_adv


ATTACK = Attack(
    key="fgsm",
    title="FGSM (one step)",
    label="FGSM: one step",
    name="FGSM",
    summary="FGSM",
    params=frozenset({"eps"}),
    targeted="optional",
    function=fgsm,
)
