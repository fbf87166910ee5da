"""Faster versions of a loaded model, for the paths that run it many times.

- `fold_batchnorm`: BatchNorm folded into the convolutions before it, for attacks (forward +
  backward to the input, many times per click). Found without torch.fx: an fx trace patches
  nn.Module.__call__ for the whole process while it runs, and every other thread's model call
  in that window failed (the start-up race of issue #18).
- `compile_forward`: torch.compile with weight freezing (and bf16 autocast where asked) for
  forward-only inference; the inductor options are given to this one compilation, not set on
  the process-wide inductor config that other compilations read.

Both take a model and return a new callable or module; caching them is the model store's job.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

# For attacks (forward + backward to the input, many times per click). Measured on this 2-core
# CPU, Lite0 224², CPU time per FGSM step, interleaved: BatchNorm folded into the convolutions
# 1.20×, plus channels_last 1.54×; channels_last alone 1.18× (benchmarks/bench_attacks.py).
# Gradients stay within float rounding of the plain model's, except where a ReLU6 input sits
# on a kink. torch.compile was slower for forward + backward here, so this stays eager.


def conv_bn_pairs(net: nn.Module, example: Tensor) -> list[tuple[str, str]]:
    """Names of (Conv2d, BatchNorm2d) pairs in `net` where the BatchNorm's input is exactly the
    convolution's output, found by running `example` through `net` once.

    Forward hooks on `net`'s own modules see the data flow; unlike a torch.fx trace (which
    patches nn.Module.__call__ for the whole process while it runs, so every other thread's
    model call fails meanwhile), they touch nothing outside `net`. Modules called more than
    once per forward are left out: one fused weight could not serve both calls."""
    produced: dict[int, tuple[str, Tensor]] = {}  # id(conv output) -> (conv name, output)
    calls: dict[str, int] = {}
    found: list[tuple[str, str]] = []
    handles = []

    def after_conv(name: str):
        def hook(module, args, output) -> None:
            calls[name] = calls.get(name, 0) + 1
            produced[id(output)] = (name, output)  # the tensor is kept, so its id stays unique

        return hook

    def before_bn(name: str):
        def hook(module, args) -> None:
            calls[name] = calls.get(name, 0) + 1
            source = produced.get(id(args[0]))
            if source is not None and source[1] is args[0]:
                found.append((source[0], name))

        return hook

    for name, module in net.named_modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(after_conv(name)))
        elif isinstance(module, nn.BatchNorm2d) and module.track_running_stats:
            handles.append(module.register_forward_pre_hook(before_bn(name)))
    try:
        with torch.no_grad():
            net(example)
    finally:
        for handle in handles:
            handle.remove()
    return [(conv, bn) for conv, bn in found if calls[conv] == 1 and calls[bn] == 1]


def after_norm(bn: nn.Module) -> nn.Module:
    """What is left of a BatchNorm once folded: nothing, or for timm's norm + activation
    layers (BatchNormAct2d: BatchNorm, then its `drop` and `act` modules in one) those two."""
    rest = [m for m in (getattr(bn, "drop", None), getattr(bn, "act", None)) if m is not None]
    rest = [m for m in rest if isinstance(m, nn.Module) and not isinstance(m, nn.Identity)]
    return nn.Sequential(*rest) if rest else nn.Identity()


def fold_batchnorm(net: nn.Module, example: Tensor | None = None) -> nn.Module:
    """A copy of `net` (eval mode) with every BatchNorm2d that directly follows a Conv2d folded
    into that convolution's weight and bias (an activation fused into the norm, as in timm,
    kept after it). Same function, fewer kernels forward and back.

    `example` is one input the network accepts (default: a 64×64 RGB image, which any
    convolutional classifier takes). The pairs come from conv_bn_pairs (no process-wide
    tracing). A convolution whose output also went somewhere besides its BatchNorm would
    change that other use; so the copy is checked against `net` on `example` and a
    ValueError is raised if they differ beyond float rounding."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net = copy.deepcopy(net).eval()
    if not any(isinstance(m, nn.BatchNorm2d) for m in net.modules()):
        return net
    if example is None:
        example = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    example = example.to(next(net.parameters()).device)
    folded = copy.deepcopy(net)
    for conv_name, bn_name in conv_bn_pairs(folded, example):
        conv, bn = folded.get_submodule(conv_name), folded.get_submodule(bn_name)
        for name, replacement in (
            (conv_name, fuse_conv_bn_eval(conv, bn)),
            (bn_name, after_norm(bn)),
        ):
            parent, _, attr = name.rpartition(".")
            setattr(folded.get_submodule(parent) if parent else folded, attr, replacement)
    with torch.no_grad():
        expected, got = net(example), folded(example)
    scale = float(expected.abs().max()) or 1.0
    if not torch.allclose(got, expected, rtol=0, atol=1e-3 * scale):
        raise ValueError("folding BatchNorm changed the network's output; keep it unfolded")
    return folded


def compile_forward(
    model: nn.Module, device: torch.device, *, bf16: bool
) -> Callable[[Tensor], Tensor]:
    """A torch.compile'd, frozen forward of `model` for inference (no gradients).

    Freezing folds the weights into the graph as constants; with bf16 the convolutions run in
    bfloat16 (a win only on CPUs with native bf16: the caller measures, see
    advdemo.translation.fastpath). Compilation happens on the first call for each input
    shape, so call it at warm-up, not in a user's request. Output is fp32 on CPU.
    """
    compiled_model = torch.compile(model, dynamic=False, options={"freezing": True})
    use_bf16 = bf16 and device.type in ("cpu", "cuda")

    def forward(x: Tensor) -> Tensor:
        with torch.inference_mode():
            precision = (
                torch.autocast(device.type, dtype=torch.bfloat16)
                if use_bf16
                else contextlib.nullcontext()
            )
            with precision:
                return compiled_model(x.to(device)).float().cpu()

    return forward
