"""The eps sweep: per-image budgets in one PGD batch, validation, and its clean start."""

from __future__ import annotations

import pytest
import torch

from advdemo.adversarial.pgd import pgd_loop
from advdemo.adversarial.sweep import eps_sweep
from advdemo.core.errors import InputError
from tests.adversarial.conftest import grid_images


def test_pgd_per_image_budgets_are_respected(tiny):
    """The eps sweep batches several budgets; each image must keep its own."""
    x = grid_images(n=4).clone()
    eps = torch.tensor([0, 1, 4, 16], dtype=torch.float32).view(-1, 1, 1, 1) / 255
    alpha = torch.full_like(eps, 2 / 255)
    y = tiny(x).argmax(-1)
    x_adv = pgd_loop(tiny, x, y, eps, alpha, 3, None, True, 0, True, None)
    per_image = (x_adv - x).abs().flatten(1).max(-1).values
    assert (per_image <= eps.flatten() + 1e-6).all()
    assert per_image[3] > 4 / 255  # the largest budget is used


def test_sweep_validates_and_starts_from_the_clean_image(tiny):
    x = grid_images(n=1)
    y = int(tiny(x).argmax())
    for method in ("fgsm", "pgd"):
        sweep = eps_sweep(tiny, x, y, range(0, 5), method=method, target=3, steps=2)
        assert sweep.ks == [0, 1, 2, 3, 4]
        clean = tiny(x).softmax(-1)[0]
        assert sweep.true_prob[0] == pytest.approx(float(clean[y]), abs=1e-6)
        assert sweep.target_prob[0] == pytest.approx(float(clean[3]), abs=1e-6)
    with pytest.raises(InputError, match="FGSM or PGD"):
        eps_sweep(tiny, x, y, method="lecture")
    with pytest.raises(InputError, match="at most 64"):
        eps_sweep(tiny, x, y, [65])
