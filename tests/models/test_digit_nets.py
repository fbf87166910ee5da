"""The digits networks: shapes for both image sizes, and weights drawn only from the seed."""

from __future__ import annotations

import pytest
import torch

from advdemo.models.nets import digits as nets


@pytest.mark.parametrize("arch", nets.ARCHITECTURES)
@pytest.mark.parametrize("side", [8, 28])
def test_logits_for_a_batch_of_either_size(arch, side):
    net = nets.reset(nets.build(arch, side), torch.Generator().manual_seed(0))
    logits = net(torch.rand(3, 1, side, side))
    assert logits.shape == (3, 10) and torch.isfinite(logits).all()


@pytest.mark.parametrize("arch", nets.ARCHITECTURES)
def test_same_seed_same_weights_whatever_the_global_random_state(arch):
    torch.manual_seed(1)
    a = nets.reset(nets.build(arch), torch.Generator().manual_seed(7))
    torch.manual_seed(2)
    b = nets.reset(nets.build(arch), torch.Generator().manual_seed(7))
    c = nets.reset(nets.build(arch), torch.Generator().manual_seed(8))
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb)
        assert not torch.equal(pa, pc)


def test_an_unknown_architecture_is_named():
    with pytest.raises(ValueError, match="unknown digits architecture 'vit'"):
        nets.build("vit")
