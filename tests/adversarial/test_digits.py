"""The digits data: the built-in 8×8 table, its fixed held-out split, and MNIST's loader on
files made here in torchvision's format (the real ones cannot be downloaded offline)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from advdemo.adversarial import digits
from advdemo.core.errors import ModelUnavailable
from advdemo.models.checkpoints import BUILTIN


@pytest.fixture(scope="module")
def data():
    return digits.load_uci_digits(BUILTIN["digits"].path)


def test_the_built_in_digits_are_1797_images_in_0_1_with_a_stratified_held_out_fifth(data):
    assert data.side == 8 and data.classes == 10
    assert len(data.train_y) + len(data.test_y) == 1797
    assert data.train_x.shape[1:] == (1, 8, 8)
    assert 0 <= float(data.train_x.min()) and float(data.train_x.max()) == 1.0
    counts = data.test_y.bincount(minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # ~20 % of each class's ~180
    # no digit is in both halves
    train = {tuple(r) for r in data.train_x.flatten(1).tolist()}
    overlap = sum(tuple(r) in train for r in data.test_x.flatten(1).tolist())
    assert overlap <= 5  # a few handwritten 8×8 digits are exact duplicates in the table


def test_the_split_depends_on_its_seed_only(data):
    again = digits.load_uci_digits(BUILTIN["digits"].path)
    assert torch.equal(again.test_x, data.test_x) and torch.equal(again.test_y, data.test_y)
    images = torch.cat([data.train_x, data.test_x])
    labels = torch.cat([data.train_y, data.test_y])
    other = digits.split(images, labels, "digits", seed=1)
    assert not torch.equal(other.test_y, data.test_y)


def test_a_missing_or_wrong_file_gets_a_message(tmp_path):
    with pytest.raises(ModelUnavailable, match=r"advdemo\.models\.checkpoints"):
        digits.load_uci_digits(tmp_path / "nothing.csv.gz")
    wrong = tmp_path / "wrong.csv.gz"
    with gzip.open(wrong, "wt") as f:
        f.write("1,2,3\n4,5,6\n")
    with pytest.raises(ModelUnavailable, match="not the digits table"):
        digits.load_uci_digits(wrong)


def _idx(path, array: np.ndarray) -> None:
    """Write `array` (uint8) in the IDX format MNIST ships in (big-endian header)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_mnist_loads_files_in_torchvisions_layout(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 70), ("t10k", 30)):
        _idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    data = digits.load_mnist(tmp_path, download=False)
    assert data.name == "mnist" and data.side == 28
    assert len(data.train_y) == 70 and len(data.test_y) == 30  # fewer than the subset sizes
    assert data.train_x.dtype == torch.float32 and float(data.train_x.max()) <= 1.0
    assert set(data.test_y.tolist()) <= set(range(10))


def test_mnist_without_files_or_network_says_so(tmp_path):
    with pytest.raises(ModelUnavailable, match="offline; the built-in 8×8 digits"):
        digits.load_mnist(tmp_path, download=False)
