"""How large a perturbation is (L∞, L2, PSNR) and how to show it (×10 on mid-grey)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class PerturbationSize:
    """Size of x_adv − x: L∞ (also in 1/255 steps), L2 (over all values, [0, 1] units), PSNR."""

    linf: float
    l2: float
    psnr_db: float  # inf when nothing changed

    @property
    def linf_k(self) -> float:
        return self.linf * 255


def perturbation_size(x: Tensor, x_adv: Tensor) -> PerturbationSize:
    """L∞, L2 and PSNR (peak 1.0) of the difference of two images (one image each)."""
    delta = (x_adv.detach().float() - x.detach().float()).cpu()
    mse = float(delta.pow(2).mean())
    psnr = math.inf if mse == 0 else 10 * math.log10(1.0 / mse)
    return PerturbationSize(float(delta.abs().max()), float(delta.norm()), psnr)


def magnified_perturbation(x: Tensor, x_adv: Tensor, factor: float = 10.0) -> Tensor:
    """(x_adv − x) × factor on mid-grey, as Szegedy et al. showed it: 8-bit value
    128 + factor·255·δ, clamped. Grey = unchanged, lighter = raised, darker = lowered."""
    delta = x_adv.detach().float() - x.detach().float()
    return ((128 + factor * 255 * delta).clamp(0, 255) / 255).cpu()
