"""The generator's layers as the latent explorer lists them: read from the loaded network."""

from __future__ import annotations

import torch

from advdemo.faces import architecture as arch
from advdemo.models.nets.dcgan import DCGANGenerator
from advdemo.models.wrappers import FaceGenerator


def test_the_built_in_generator(store):
    G = store.face_generator()
    layers = arch.generator_layers(G)
    groups = arch.blocks(layers)
    assert [arch.shape_text(g[-1].shape) for g in groups] == [
        "512×4×4",
        "256×8×8",
        "128×16×16",
        "64×32×32",
        "3×64×64",
    ]
    assert sum(layer.parameters for layer in layers) == sum(p.numel() for p in G.net.parameters())
    text = arch.architecture_markdown(G)
    assert "| input | the code z | 100×1×1 | |" in text
    assert "**3,576,704**" in text  # the DCGAN of the PyTorch tutorial, 64 feature maps
    assert "transposed conv 100→512, 4×4, stride 1, padding 0" in text


def test_another_generator_gets_its_own_table():
    """Nothing typed in: a narrower generator with a shorter code gives other numbers."""
    small = FaceGenerator(DCGANGenerator(nz=16, ngf=8)).eval()
    layers = arch.generator_layers(small)
    assert layers[0].shape == (64, 4, 4) and layers[-1].shape == (3, 64, 64)
    text = arch.architecture_markdown(small)
    assert "| input | the code z | 16×1×1 | |" in text
    total = sum(p.numel() for p in small.net.parameters())
    assert f"**{total:,}**" in text and total < 100_000
    # the hooks are gone: running the network again records nothing new
    small(torch.zeros(1, 16))
    assert len(arch.generator_layers(small)) == len(layers)
