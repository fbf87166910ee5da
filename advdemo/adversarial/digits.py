"""The digit images the defences tab trains on: the built-in 8×8 digits, or MNIST online.

`load_uci_digits(path)` reads the 8×8 digits (UCI optical digits, 1,797 images with values
0..16, as scikit-learn ships them: one row per image, 64 pixels then the label) from the file
fetched at set-up; `load_mnist(root)` reads MNIST through torchvision, downloading it on first
use where there is a network. Both return a `DigitData`: images (N, 1, S, S) in [0, 1] and a
held-out split that depends only on SPLIT_SEED (the same digits are held out on every machine
and for every training seed), stratified so each class keeps its share.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from advdemo.core.errors import ModelUnavailable

SPLIT_SEED = 0
HELD_OUT = 0.2  # share of each class kept out of training
UCI_LEVELS = 16  # the 8×8 digits count pixels of a 4×4 block: 0..16
MNIST_TRAIN = 6000  # MNIST subset sizes: enough to train in seconds on two cores
MNIST_TEST = 1000
DATASETS = ("digits", "mnist")


@dataclass(frozen=True)
class DigitData:
    """Images (N, 1, S, S) in [0, 1] with labels (N,), split into training and held-out."""

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    classes: int = 10

    @property
    def side(self) -> int:
        return int(self.train_x.shape[-1])

    def __repr__(self) -> str:
        return (
            f"DigitData({self.name}, {self.side}×{self.side}, train {len(self.train_y)}, "
            f"held out {len(self.test_y)})"
        )


def split(images: Tensor, labels: Tensor, name: str, seed: int = SPLIT_SEED) -> DigitData:
    """Hold out HELD_OUT of every class, chosen by `seed` alone."""
    generator = torch.Generator().manual_seed(seed)
    test = torch.zeros(len(labels), dtype=torch.bool)
    for c in labels.unique():
        members = (labels == c).nonzero()[:, 0]
        chosen = members[torch.randperm(len(members), generator=generator)]
        test[chosen[: round(len(members) * HELD_OUT)]] = True
    return DigitData(name, images[~test], labels[~test], images[test], labels[test])


def load_uci_digits(path: Path) -> DigitData:
    """The 8×8 digits from scikit-learn's digits.csv.gz at `path` (fetched at set-up)."""
    path = Path(path)
    if not path.is_file():
        raise ModelUnavailable(
            f"The 8×8 digits ({path}) are missing: run `python -m advdemo.models.checkpoints`"
            " (or `python bootstrap.py app`) on a machine that can reach the package index."
        )
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    if table.ndim != 2 or table.shape[1] != 65:
        raise ModelUnavailable(f"{path} is not the digits table (64 pixels and a label a row).")
    images = torch.from_numpy(table[:, :64] / UCI_LEVELS).reshape(-1, 1, 8, 8).contiguous()
    labels = torch.from_numpy(table[:, 64]).long()
    return split(images.clamp(0, 1), labels, "digits")


def load_mnist(root: Path, *, download: bool = True) -> DigitData:
    """MNIST through torchvision (files in torchvision's layout under `root`/MNIST/raw),
    downloaded on first use; a seeded subset of MNIST_TRAIN training and MNIST_TEST test
    images. Offline and not yet downloaded: ModelUnavailable saying so."""
    from torchvision.datasets import MNIST  # imported on use: only this upgrade needs it

    parts = []
    for train in (True, False):
        try:
            dataset = MNIST(str(root), train=train, download=download)
        except (RuntimeError, OSError) as exc:  # torchvision: not found / every mirror failed
            raise ModelUnavailable(
                "MNIST is downloaded on first use, and that failed here "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). This machine "
                "seems to be offline; the built-in 8×8 digits work without a network."
            ) from exc
        images = dataset.data.float().div(255).unsqueeze(1)  # (N, 1, 28, 28)
        labels = dataset.targets.long()
        keep = MNIST_TRAIN if train else MNIST_TEST
        generator = torch.Generator().manual_seed(SPLIT_SEED)
        chosen = torch.randperm(len(labels), generator=generator)[:keep]
        parts += [images[chosen].contiguous(), labels[chosen]]
    return DigitData("mnist", *parts)
