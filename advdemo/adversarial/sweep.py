"""The eps sweep: one image attacked at every budget eps = k/255, the class probabilities after
each (FGSM from one gradient; PGD with several budgets batched)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

from advdemo.adversarial.base import (
    MAX_EPS_K,
    Model,
    check_images,
    check_steps,
    input_gradient,
    project,
)
from advdemo.adversarial.pgd import pgd_loop
from advdemo.core.errors import InputError, whole


@dataclass(frozen=True)
class Sweep:
    """Probabilities of the true and the target class after an attack at each eps = k/255."""

    method: str
    ks: list[int]
    true_prob: list[float]
    target_prob: list[float] | None
    top1: list[int]
    steps: int


def sweep_alpha_k(k: int, steps: int) -> int:
    """PGD step size (in 1/255) for the sweep: 2.5·eps/steps (Madry et al.), at least 1/255."""
    return max(1, round(2.5 * k / steps))


@torch.no_grad()
def _probs(model: Model, x: Tensor, chunk: int = 8) -> Tensor:
    return torch.cat([model(part).float().softmax(-1) for part in x.split(chunk)]).cpu()


def eps_sweep(
    model: Model,
    x: Tensor,
    y: int,
    ks: Iterable[int] = range(17),
    *,
    method: str = "fgsm",
    target: int | None = None,
    steps: int = 10,
    seed: int | None = 0,
    quantize: bool = True,
    chunk: int = 6,
    on_chunk: Callable[[int, int], None] | None = None,
) -> Sweep:
    """Attack one image (1, C, H, W) at eps = k/255 for each k and record the probabilities.

    FGSM needs one gradient for all k (its step is eps·sign of the same gradient). PGD runs
    `steps` iterations with step size `sweep_alpha_k`, the images of several k in one batch
    (`chunk` at a time; `on_chunk(done, total)` after each), and keeps each budget's strongest
    iterate, as the attack itself does (see advdemo.adversarial.base).
    """
    ks = [whole("k", k, 0, MAX_EPS_K) for k in ks]
    if not ks:
        raise InputError("The eps sweep needs at least one eps.")
    if method not in ("fgsm", "pgd"):
        raise InputError(f"The eps sweep runs FGSM or PGD, not {method!r}.")
    check_images(x)
    if x.shape[0] != 1:
        raise InputError("The eps sweep takes one image.")
    steps = check_steps(steps)
    x = x.detach()
    eps = torch.tensor(ks, dtype=x.dtype, device=x.device).view(-1, 1, 1, 1) / 255
    if method == "fgsm":
        grad = input_gradient(model, x, y, target=target)
        batch = project(x + eps * grad.sign(), x, eps, quantize)
        probs = _probs(model, batch)
        if on_chunk is not None:
            on_chunk(len(ks), len(ks))
    else:
        alpha = (
            torch.tensor(
                [sweep_alpha_k(k, steps) for k in ks], dtype=x.dtype, device=x.device
            ).view(-1, 1, 1, 1)
            / 255
        )
        parts = []
        for start in range(0, len(ks), chunk):
            n = min(chunk, len(ks) - start)
            xs = x.expand(n, -1, -1, -1).contiguous(memory_format=_memory_format(x))
            ys = torch.full((n,), y, dtype=torch.long, device=x.device)
            ts = None if target is None else torch.full_like(ys, target)
            e, a = eps[start : start + n], alpha[start : start + n]
            parts.append(
                pgd_loop(model, xs, ys, e, a, steps, ts, True, seed, quantize, None, keep_best=True)
            )
            if on_chunk is not None:
                on_chunk(start + n, len(ks))
        probs = _probs(model, torch.cat(parts))
    return Sweep(
        method=method,
        ks=ks,
        true_prob=probs[:, y].tolist(),
        target_prob=None if target is None else probs[:, target].tolist(),
        top1=probs.argmax(-1).tolist(),
        steps=1 if method == "fgsm" else steps,
    )


def _memory_format(x: Tensor) -> torch.memory_format:
    if (
        x.dim() == 4
        and x.is_contiguous(memory_format=torch.channels_last)
        and not x.is_contiguous()
    ):
        return torch.channels_last
    return torch.contiguous_format
