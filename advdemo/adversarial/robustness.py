"""Does an adversarial image survive the wild: saved as an 8-bit PNG and uploaded again, saved
as JPEG, handed to a second model (transfer)? Plus the downloadable PNG that makes the upload
path give back exactly the attacked pixels."""

from __future__ import annotations

import io
from dataclasses import dataclass

import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from advdemo.core import images


def png_roundtrip(x: Tensor) -> Tensor:
    """Encode one image as an 8-bit PNG and decode it again: (1, 3, H, W) in [0, 1] on CPU."""
    buffer = io.BytesIO()
    images.to_pil(x).save(buffer, format="PNG")
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return images.to_tensor(decoded.convert("RGB"))


def jpeg_roundtrip(x: Tensor, quality: int = 75) -> Tensor:
    """Encode one image as JPEG at `quality` and decode it again (PIL's libjpeg, 4:2:0)."""
    buffer = io.BytesIO()
    images.to_pil(x).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return images.to_tensor(decoded.convert("RGB"))


def is_fooled(top1: int, true_class: int, target: int | None) -> bool:
    """Untargeted: fooled once top-1 is not the true class. Targeted: once top-1 is the target."""
    return top1 == target if target is not None else top1 != true_class


def download_frame_size(input_size: int, crop_fraction: float) -> int:
    """Side of the square PNG whose centre crop a classifier's `prepare` takes at exactly its
    input size: S / crop_fraction (256 for 224 at 0.875), so the crop is an identity resize."""
    side = round(input_size / crop_fraction)
    if (side - input_size) % 2:
        side += 1  # keep the frame symmetric so the crop box starts on a whole pixel
    return side


def download_image(x_adv: Tensor, model, original: Image.Image | None = None) -> Image.Image:
    """The adversarial image as a PIL image that, through load_image + model.prepare, gives back
    exactly x_adv (when x_adv is on the 8-bit grid).

    `prepare` takes a centre crop (crop_fraction of the short side) and resizes it to the input
    size, so x_adv (the prepared S×S crop) alone would be cropped and rescaled again. Instead we
    return the S×S crop inside a frame: a (S / crop_fraction)-pixel square whose centre crop is
    S×S (256 around 224 for EfficientNet-Lite0), so prepare's resize is the identity. The frame
    is the surrounding part of the original photo when given (edge pixels repeated otherwise);
    the model never sees it.
    """
    side = download_frame_size(model.input_size, model.crop_fraction)
    size = model.input_size
    pad = (side - size) // 2
    if original is not None:
        w, h = original.size
        crop = min(w, h) * model.crop_fraction * side / size
        left, top = (w - crop) / 2, (h - crop) / 2
        frame = original.convert("RGB").resize(
            (side, side), Image.Resampling.BICUBIC, box=(left, top, left + crop, top + crop)
        )
    else:
        frame = images.to_pil(F.pad(x_adv.detach().float().cpu(), [pad] * 4, mode="replicate"))
    frame.paste(images.to_pil(x_adv), (pad, pad))
    return frame


@dataclass(frozen=True)
class Check:
    """What a classifier says about one version of the adversarial image."""

    name: str  # e.g. "8-bit PNG, uploaded again"
    how: str  # one line on what was done to the image
    top1: int
    top1_prob: float
    true_prob: float
    target_prob: float | None
    fooled: bool


def _check(name: str, how: str, probs: Tensor, true_class: int, target: int | None) -> Check:
    p = probs[0]
    top1 = int(p.argmax())
    return Check(
        name=name,
        how=how,
        top1=top1,
        top1_prob=float(p[top1]),
        true_prob=float(p[true_class]),
        target_prob=None if target is None else float(p[target]),
        fooled=is_fooled(top1, true_class, target),
    )


def robustness_checks(
    model,
    x_adv: Tensor,
    png: object,
    true_class: int,
    target: int | None = None,
    *,
    other=None,
    other_name: str = "the second model",
    jpeg_quality: int = 75,
) -> list[Check]:
    """Does the attack survive what happens to images in the wild?

    - the adversarial image as attacked;
    - `png` (the downloadable PNG: a path, PIL image or array) through the upload path,
      images.load_image + model.prepare;
    - the attacked crop saved as JPEG at `jpeg_quality` and decoded again;
    - transfer: the same PNG given to `other` (a second classifier), which prepares it its own
      way (centre crop, bicubic resize to its input size, e.g. 260² for EfficientNet-Lite2).

    `model` and `other` are ImageClassifier-like (prepare, probabilities).
    """
    uploaded = images.load_image(png)
    size = model.input_size
    checks = [
        _check(
            "as attacked",
            f"the attacked {size}×{size} crop",
            model.probabilities(x_adv),
            true_class,
            target,
        ),
        _check(
            "PNG, uploaded again",
            "download → upload → centre crop",
            model.probabilities(model.prepare(uploaded)),
            true_class,
            target,
        ),
        _check(
            f"JPEG quality {jpeg_quality}",
            "crop saved as JPEG, decoded",
            model.probabilities(jpeg_roundtrip(x_adv, jpeg_quality)),
            true_class,
            target,
        ),
    ]
    if other is not None:
        s = other.input_size
        checks.append(
            _check(
                "transfer to a second model",
                f"same PNG → {other_name}: centre crop, bicubic to {s}×{s}",
                other.probabilities(other.prepare(uploaded)),
                true_class,
                target,
            )
        )
    return checks
