"""Shared by the adversarial tests: a tiny random CNN, random 8-bit images, and the real
EfficientNet-Lite0 on the store's gradient path with the cat photo and its iguana attack."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advdemo.adversarial.pgd import pgd
from advdemo.core import images

CAT_CLASSES = {"tiger cat", "Egyptian cat", "tabby"}
# Sample photos with an ImageNet class; the accepted labels for each.
SAMPLES = {
    "chelsea.png": CAT_CLASSES,
    "coffee.png": {"espresso", "cup"},
    "rocket.jpg": {"missile", "projectile"},
}


class TinyCNN(nn.Module):
    """A small random convnet on [0, 1] images with smooth activations (for finite differences)."""

    def __init__(self, classes: int = 10, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, classes)
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=gen) * 0.5
            p.requires_grad_(False)
        self.eval()

    def forward(self, x):
        h = torch.tanh(self.conv1((x - 0.5) / 0.25))
        h = torch.tanh(self.conv2(h))
        return self.fc(h.mean(dim=(2, 3))) * 4


@pytest.fixture(scope="module")
def tiny():
    return TinyCNN()


def grid_images(n: int = 3, side: int = 12, seed: int = 1) -> torch.Tensor:
    """Random images on the 8-bit grid, with some pixels at 0 and 1 to exercise the clamp."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, side, side), generator=gen).float() / 255
    x[:, :, 0, :] = 0.0
    x[:, :, -1, :] = 1.0
    return x


@pytest.fixture(scope="module")
def lite0(store):
    """The model the tab attacks: Lite0 on the store's gradient path (BatchNorm folded)."""
    return store.gradient_classifier("efficientnet-lite0")


@pytest.fixture(scope="module")
def cat(lite0):
    photo = images.load_image(images.asset("chelsea.png"))
    return photo, lite0.prepare(photo)


@pytest.fixture(scope="module")
def cat_to_iguana(lite0, cat):
    """The 'cat → iguana' preset: targeted PGD, eps 8/255, 40 steps of 1/255, 8-bit inside."""
    _, x = cat
    y = int(lite0.probabilities(x).argmax())
    iguana = lite0.class_index("common iguana")
    x_adv = pgd(lite0, x, y, 8 / 255, 1 / 255, 40, target=iguana, quantize=True)
    return y, iguana, x_adv
