"""What the app's code holds instead of a bare network: wrappers that work in [0, 1] pixels.

Each wrapper carries what travels with its weights (normalisation, input size, crop, labels)
so that attacks, views and the ε a user sees work on plain pixels: normalisation happens
inside forward(), just before the network.
"""

from __future__ import annotations

import itertools

import torch
from PIL import Image
from torch import Tensor, nn

from advdemo.core.errors import InputError
from advdemo.core.images import to_tensor
from advdemo.models.nets.cyclegan import ResnetGenerator
from advdemo.models.nets.dcgan import DCGANGenerator
from advdemo.models.runtime import forward_precision

RESAMPLING = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}


class _OnDevice(nn.Module):
    """A wrapper that knows the device its weights were moved to."""

    @property
    def device(self) -> torch.device:
        """Where the weights are (or, for a network without any, the normalisation buffers)."""
        return next(itertools.chain(self.parameters(), self.buffers())).device


class FaceGenerator(_OnDevice):
    """A latent code z (B, nz) -> face (B, 3, 64, 64) in [0, 1]."""

    def __init__(self, net: DCGANGenerator) -> None:
        super().__init__()
        self.net = net
        self.nz = net.nz

    def forward(self, z: Tensor) -> Tensor:
        return (self.net(z) + 1) / 2

    def sample_z(self, seed: int, n: int = 1) -> Tensor:
        """n codes from N(0, I), the same for the same seed on every machine (drawn on CPU)."""
        gen = torch.Generator().manual_seed(int(seed))
        return torch.randn(n, self.nz, generator=gen)

    @torch.inference_mode()
    def generate(self, z: Tensor) -> Tensor:
        """Faces for codes z (B, nz), batched in one forward pass; returned on CPU, fp32."""
        with forward_precision(self.device):
            out = self(z.to(self.device, torch.float32))
        return out.float().clamp(0, 1).cpu()


class ImageClassifier(_OnDevice):
    """An image (B, 3, S, S) in [0, 1] -> logits (B, classes); normalises inside."""

    def __init__(
        self,
        net: nn.Module,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        input_size: int,
        labels: list[str],
        crop_fraction: float,
        *,
        interpolation: str = "bicubic",
        crop_mode: str = "center",
    ) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.input_size = input_size
        self.labels = labels
        self.crop_fraction = crop_fraction
        self.interpolation = interpolation
        self.crop_mode = crop_mode

    def forward(self, x: Tensor) -> Tensor:
        return self.net((x - self.mean) / self.std)

    def prepare(self, image: Image.Image) -> Tensor:
        """PIL image -> (1, 3, S, S) in [0, 1] on the device, as the weights were evaluated:
        the centre crop_fraction of the shorter side ("center"; with "squash", of each side,
        so the aspect ratio is not kept), resized with the model's interpolation."""
        w, h = image.size
        if self.crop_mode == "squash":
            cw, ch = w * self.crop_fraction, h * self.crop_fraction
        else:
            cw = ch = min(w, h) * self.crop_fraction
        left, top = (w - cw) / 2, (h - ch) / 2
        crop = image.resize(
            (self.input_size, self.input_size),
            RESAMPLING.get(self.interpolation, Image.Resampling.BICUBIC),
            box=(left, top, left + cw, top + ch),
        )
        return to_tensor(crop).to(self.device)

    @torch.inference_mode()
    def probabilities(self, x: Tensor) -> Tensor:
        """Softmax probabilities (B, classes) for images in [0, 1]; fp32 on CPU."""
        with forward_precision(self.device):
            logits = self(x.to(self.device))
        return logits.float().softmax(-1).cpu()

    def top_k(self, x: Tensor, k: int = 5) -> list[dict[str, float]]:
        """For each image, {label: probability} of its k most likely classes."""
        probs = self.probabilities(x)
        values, indices = probs.topk(k, dim=-1)
        return [
            {self.labels[i]: float(v) for v, i in zip(vs, ix, strict=True)}
            for vs, ix in zip(values.tolist(), indices.tolist(), strict=True)
        ]

    def class_index(self, label: str) -> int:
        try:
            return self.labels.index(label)
        except ValueError:
            raise InputError(
                f"Unknown class {label!r}: pick one of the 1000 ImageNet classes from the list."
            ) from None


class Translator(_OnDevice):
    """CycleGAN generator on [0, 1] images (B, 3, H, W), H and W multiples of 4."""

    def __init__(self, net: ResnetGenerator) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return (self.net(x * 2 - 1) + 1) / 2

    @torch.inference_mode()
    def translate(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if h % 4 or w % 4:
            raise InputError(f"CycleGAN needs sides that are multiples of 4, got {w}×{h}.")
        with forward_precision(self.device):
            out = self(x.to(self.device, torch.float32))
        return out.float().clamp(0, 1).cpu()
