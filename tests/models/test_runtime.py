"""The runtime: device choice and its override."""

from __future__ import annotations

import pytest
import torch

from advdemo.models import runtime


def test_device_override(monkeypatch):
    monkeypatch.setenv(runtime.ENV_DEVICE, "cpu")
    assert runtime.pick_device() == torch.device("cpu")
    if not torch.cuda.is_available():
        monkeypatch.setenv(runtime.ENV_DEVICE, "cuda")
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            runtime.pick_device()
    monkeypatch.delenv(runtime.ENV_DEVICE)
    expected = "cuda" if torch.cuda.is_available() else None
    assert runtime.pick_device().type in ({expected} if expected else {"mps", "cpu"})
