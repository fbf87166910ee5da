"""CycleGAN's ResNet generator (junyanz/pytorch-CycleGAN-and-pix2pix layout, keys `model.N.*`).

One class serves both checkpoints we load: the official generators (InstanceNorm without
affine parameters) and vintagify's photo→vintage generator (InstanceNorm with affine=True,
residual blocks stored as `block` rather than `conv_block`; advdemo.models.registry renames them).
"""

from __future__ import annotations

from torch import Tensor, nn


class ResnetBlock(nn.Module):
    """x + conv-norm-relu-conv-norm(x), reflection padded."""

    def __init__(self, dim: int, affine: bool) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, padding=0, bias=True),
            nn.InstanceNorm2d(dim, affine=affine),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, padding=0, bias=True),
            nn.InstanceNorm2d(dim, affine=affine),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Image (B, 3, H, W) in [-1, 1] -> image (B, 3, H, W) in [-1, 1]; H and W multiples of 4.

    Args:
        ngf: feature maps after the first convolution.
        n_blocks: residual blocks at 1/4 resolution (9 for 256² models).
        affine: InstanceNorm with learnable scale and shift (vintagify) or without (official).
    """

    def __init__(
        self,
        ngf: int = 64,
        n_blocks: int = 9,
        affine: bool = False,
        in_channels: int = 3,
        out_channels: int = 3,
    ) -> None:
        super().__init__()

        def norm(c: int) -> nn.Module:
            return nn.InstanceNorm2d(c, affine=affine)

        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, padding=0, bias=True),
            norm(ngf),
            nn.ReLU(True),
        ]
        for mult in (1, 2):  # two stride-2 downsamplings: (B, 256, H/4, W/4)
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True),
                norm(ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4, affine) for _ in range(n_blocks)]
        for mult in (4, 2):  # two stride-2 upsamplings back to (B, 64, H, W)
            layers += [
                nn.ConvTranspose2d(
                    ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=True
                ),
                norm(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
