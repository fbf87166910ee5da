"""The face generator's layers, read from the loaded model: what each does, its output shape
and its parameter count (issue #15, "The architecture").

One code is run through the network with a forward hook on every layer, so the table follows
whatever generator is loaded (another width, another depth) instead of a typed-in copy of the
DCGAN slide. Pure PyTorch; no Gradio.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from advdemo.models.wrappers import FaceGenerator


@dataclass(frozen=True)
class Layer:
    """One layer of the generator as it ran on one code."""

    name: str  # the module's path in the network, e.g. "main.0"
    kind: str  # what it does, in words, with its settings
    shape: tuple[int, ...]  # its output for one code, without the batch axis (C, H, W)
    parameters: int  # learned numbers (BatchNorm's running statistics are not counted)


def _describe(module: nn.Module) -> str:
    if isinstance(module, nn.ConvTranspose2d):
        k, s, p = module.kernel_size[0], module.stride[0], module.padding[0]
        return (
            f"transposed conv {module.in_channels}→{module.out_channels}, "
            f"{k}×{k}, stride {s}, padding {p}"
        )
    if isinstance(module, nn.Conv2d):
        k, s = module.kernel_size[0], module.stride[0]
        return f"conv {module.in_channels}→{module.out_channels}, {k}×{k}, stride {s}"
    if isinstance(module, nn.BatchNorm2d):
        return f"batch norm ({module.num_features} scales and shifts)"
    if isinstance(module, nn.ReLU):
        return "ReLU"
    if isinstance(module, nn.Tanh):
        return "tanh (to [−1, 1])"
    return type(module).__name__


def generator_layers(generator: FaceGenerator) -> list[Layer]:
    """Every leaf layer of `generator.net` in the order it runs on one code."""
    net = generator.net
    rows: list[Layer] = []
    hooks = []
    for name, module in net.named_modules():
        if any(True for _ in module.children()):
            continue  # containers: their leaves are listed

        def record(mod, _inputs, output, name=name):
            rows.append(
                Layer(
                    name=name,
                    kind=_describe(mod),
                    shape=tuple(output.shape[1:]),
                    parameters=sum(p.numel() for p in mod.parameters()),
                )
            )

        hooks.append(module.register_forward_hook(record))
    try:
        with torch.inference_mode():
            z = torch.zeros(1, generator.nz, device=generator.device)
            net(z)
    finally:
        for hook in hooks:
            hook.remove()
    return rows


def shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(n) for n in shape)


def blocks(layers: list[Layer]) -> list[list[Layer]]:
    """Layers grouped as the DCGAN slide draws them: each (transposed) convolution with the
    normalisation and activation after it."""
    groups: list[list[Layer]] = []
    for layer in layers:
        if not groups or "conv" in layer.kind:
            groups.append([layer])
        else:
            groups[-1].append(layer)
    return groups


def architecture_markdown(generator: FaceGenerator) -> str:
    """The generator as a compact Markdown table, one row per block: what it does, its output
    shape and its parameters, and the total (all read from the loaded network)."""
    layers = generator_layers(generator)
    total = sum(p.numel() for p in generator.net.parameters())
    lines = [
        "| block | layers | output (channels × height × width) | parameters |",
        "|---|---|---|---:|",
        f"| input | the code z | {generator.nz}×1×1 | |",
    ]
    for i, group in enumerate(blocks(layers), start=1):
        kinds = " → ".join(layer.kind for layer in group)
        params = sum(layer.parameters for layer in group)
        lines.append(f"| {i} | {kinds} | {shape_text(group[-1].shape)} | {params:,} |")
    lines.append(f"| **total** | | {shape_text(layers[-1].shape)} | **{total:,}** |")
    return "\n".join(lines)
