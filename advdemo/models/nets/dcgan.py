"""DCGAN generator for 64×64 images (the PyTorch DCGAN-tutorial layout, keys `main.N.*`)."""

from __future__ import annotations

from torch import Tensor, nn


class DCGANGenerator(nn.Module):
    """z (B, nz) or (B, nz, 1, 1) -> image (B, nc, 64, 64) in [-1, 1].

    Args:
        nz: length of the latent code z.
        ngf: feature maps in the last hidden layer (the others are 2×, 4×, 8× that).
        nc: output channels (3 for RGB).
    """

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3) -> None:
        super().__init__()
        self.nz = nz

        def up(c_in: int, c_out: int, stride: int, pad: int) -> list[nn.Module]:
            return [
                nn.ConvTranspose2d(c_in, c_out, 4, stride, pad, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(True),
            ]

        self.main = nn.Sequential(
            *up(nz, ngf * 8, 1, 0),  # (B, 512, 4, 4)
            *up(ngf * 8, ngf * 4, 2, 1),  # (B, 256, 8, 8)
            *up(ngf * 4, ngf * 2, 2, 1),  # (B, 128, 16, 16)
            *up(ngf * 2, ngf, 2, 1),  # (B, 64, 32, 32)
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),  # (B, 3, 64, 64)
        )

    def forward(self, z: Tensor) -> Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        return self.main(z)
