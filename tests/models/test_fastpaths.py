"""Fast paths: BatchNorm folding is the same function, and refuses when it would not be.
(That preparing a model disturbs no other thread's: test_concurrency.py.)"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advdemo.models import fastpaths, registry


def _randomised(name: str) -> nn.Module:
    torch.manual_seed(0)
    net = registry.spec(name).build().eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    return net


# Every registered classifier but timm's listed ones, of which one stands for the rest (timm's
# norm + activation layers; building all five would cost the suite seconds for no new case).
FOLDED = [n for n in registry.names("classifier") if not n.startswith("timm/")]
FOLDED.append("timm/inception_v3.tf_adv_in1k")


@pytest.mark.parametrize("name", FOLDED)
def test_folding_batchnorm_keeps_every_classifier_the_same_function(name):
    """Every registered classifier architecture (random weights, random BN statistics)."""
    net = _randomised(name)
    side = max(64, registry.spec(name).input_size // 3)  # Inception needs at least 75²
    x = torch.rand(1, 3, side, side)  # convnets take any size; keeps the test fast
    folded = fastpaths.fold_batchnorm(net, x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    if not any(isinstance(m, nn.BatchNorm2d) for m in net.modules()):  # ViT: nothing to fold
        original, copied = net.state_dict(), folded.state_dict()
        assert original.keys() == copied.keys()
        assert all(torch.equal(original[k], copied[k]) for k in original)
        return
    with torch.no_grad():
        expected, got = net(x), folded(x)
    assert (got - expected).abs().max() <= 1e-3 * expected.abs().max()


def test_a_conv_whose_output_is_also_used_elsewhere_is_refused():
    class Shortcut(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.bn = nn.BatchNorm2d(3).eval()
            self.bn.running_mean.fill_(0.5)

        def forward(self, x):
            h = self.conv(x)
            return self.bn(h) + h  # folding would change the second use of h

    with pytest.raises(ValueError, match="changed the network's output"):
        fastpaths.fold_batchnorm(Shortcut())
