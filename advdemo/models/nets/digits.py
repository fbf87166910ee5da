"""Small classifiers for grey digit images (8×8 or 28×28), trained live in the defences tab.

Both take (B, 1, S, S) images in [0, 1] and return logits (B, classes); the normalisation is
inside, as with every model of the app, so attacks and ε work in pixel units. Their weights are
drawn from a torch.Generator handed in (`reset`), never from the process-wide random state
that other users' requests share.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

ARCHITECTURES = ("mlp", "cnn")


class DigitsMLP(nn.Module):
    """Two hidden ReLU layers on the flattened image: side² → hidden → hidden → classes."""

    def __init__(self, side: int = 8, hidden: int = 128, classes: int = 10) -> None:
        super().__init__()
        self.side = side
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(side * side, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layers((x - 0.5) * 2)  # (B, classes)


class DigitsCNN(nn.Module):
    """Three 3×3 convolutions (8, 16, 32 maps) with one 2× pooling, then a 4×4 average grid
    and two linear layers; 8×8 digits pass the grid unchanged, 28×28 ones are pooled. Kept
    this small so a robustness curve (thousands of attacked images) takes a second or two."""

    def __init__(self, side: int = 8, classes: int = 10) -> None:
        super().__init__()
        self.side = side
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),  # (B, 8, S, S)
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 16, S/2, S/2)
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),  # (B, 32, 4, 4)
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 16, 64), nn.ReLU(), nn.Linear(64, classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features((x - 0.5) * 2))  # (B, classes)


def build(arch: str, side: int = 8, classes: int = 10) -> nn.Module:
    """The architecture called `arch` ("mlp" or "cnn"), weights not yet drawn."""
    if arch == "mlp":
        return DigitsMLP(side, classes=classes)
    if arch == "cnn":
        return DigitsCNN(side, classes=classes)
    raise ValueError(f"unknown digits architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")


@torch.no_grad()
def reset(net: nn.Module, generator: torch.Generator) -> nn.Module:
    """Draw every weight afresh from `generator` (PyTorch's default scheme for Linear and
    Conv2d: Kaiming-uniform weights, biases uniform in ±1/√fan_in), so the same seed gives the
    same network whatever else the process has drawn."""
    for module in net.modules():
        if isinstance(module, nn.Linear | nn.Conv2d):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                fan_in = module.weight[0].numel()
                bound = 1 / math.sqrt(fan_in)
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
    return net
