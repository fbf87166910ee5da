"""EfficientNet-Lite (ReLU6, no squeeze-excite, TF 'same' padding) in the lukemelas key layout.

The Lite variants drop squeeze-and-excite and swish (for integer hardware) and keep the stem
and head sizes fixed when scaling; the key names match efficientnet-pytorch's
(`_conv_stem`, `_blocks.N._depthwise_conv`, `_fc`, ...), so the packaged checkpoints load
with strict=True.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

BN_EPS = 1e-3
BN_MOMENTUM = 0.01

# EfficientNet-B0's stages: (repeats, kernel, stride, expand ratio, in channels, out channels)
B0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


@dataclass(frozen=True)
class LiteConfig:
    width: float  # channel multiplier
    depth: float  # repeat multiplier
    resolution: int  # the input side the model was trained at
    dropout: float


LITE_CONFIGS = {
    "lite0": LiteConfig(1.0, 1.0, 224, 0.2),
    "lite1": LiteConfig(1.0, 1.1, 240, 0.2),
    "lite2": LiteConfig(1.1, 1.2, 260, 0.3),
    "lite3": LiteConfig(1.2, 1.4, 280, 0.3),
    "lite4": LiteConfig(1.4, 1.8, 300, 0.3),
}


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count by `width`, rounded to a multiple of `divisor` (as TF does)."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's 'same' padding, worked out for each input size."""

    def forward(self, x: Tensor) -> Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        pad_h = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pad_w = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Inverted residual: 1×1 expand, k×k depthwise, 1×1 project; identity skip if shapes allow."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(c_in, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._project_conv = nn.Conv2d(hidden, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        h = x
        if self.has_expand:
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite(nn.Module):
    """Normalised image (B, 3, H, W) -> logits (B, num_classes)."""

    def __init__(self, variant: str = "lite0", num_classes: int = 1000) -> None:
        super().__init__()
        if variant not in LITE_CONFIGS:
            raise ValueError(
                f"unknown EfficientNet-Lite variant {variant!r}; known: {sorted(LITE_CONFIGS)}"
            )
        cfg = LITE_CONFIGS[variant]
        self.config = cfg
        stem, head = 32, 1280  # Lite models keep stem and head fixed when scaling
        self._conv_stem = SameConv2d(3, stem, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(stem, eps=BN_EPS, momentum=BN_MOMENTUM)
        blocks: list[nn.Module] = []
        last = len(B0_STAGES) - 1
        for i, (repeats, kernel, stride, expand, c_in, c_out) in enumerate(B0_STAGES):
            c_in = stem if i == 0 else round_filters(c_in, cfg.width)
            c_out = round_filters(c_out, cfg.width)
            # Lite: the first and last stages keep one block whatever the depth multiplier
            n = repeats if i in (0, last) else math.ceil(repeats * cfg.depth)
            for j in range(n):
                blocks.append(
                    MBConv(
                        c_in if j == 0 else c_out, c_out, kernel, stride if j == 0 else 1, expand
                    )
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(round_filters(320, cfg.width), head, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(head, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._dropout = nn.Dropout(cfg.dropout)
        self._fc = nn.Linear(head, num_classes)

    def features(self, x: Tensor) -> Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)))  # (B, 1280, H/32, W/32)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x).mean(dim=(2, 3))
        return self._fc(self._dropout(x))
