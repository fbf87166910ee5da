"""Perturbation size (L∞, L2, PSNR) and the ×10 view on mid-grey."""

from __future__ import annotations

import math

import pytest
import torch

from advdemo.adversarial.metrics import magnified_perturbation, perturbation_size


def test_perturbation_size_and_magnified_view():
    x = torch.full((1, 3, 4, 5), 0.5)
    assert perturbation_size(x, x).psnr_db == math.inf
    x_adv = x + 2 / 255
    size = perturbation_size(x, x_adv)
    assert size.linf_k == pytest.approx(2, abs=1e-4)
    assert size.l2 == pytest.approx(2 / 255 * math.sqrt(60), rel=1e-4)
    assert size.psnr_db == pytest.approx(20 * math.log10(255 / 2), abs=1e-3)
    shown = magnified_perturbation(x, x + torch.tensor([8, 0, -8]).view(1, 3, 1, 1) / 255)
    assert shown[0, :, 0, 0].mul(255).round().tolist() == [208, 128, 48]
    huge = magnified_perturbation(x, x + 0.4)
    assert float(huge.max()) == 1.0  # clamped, as in Szegedy et al.'s figure
