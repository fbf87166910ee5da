"""Turning anything a user uploads into a validated RGB image, and images <-> tensors.

`load_image` is the single door for uploads (file paths, PIL images, numpy arrays): EXIF
orientation applied, every PIL mode converted to RGB (alpha composited on white), animated
images reduced to their first frame, size limits and the decompression-bomb guard enforced.
Whatever cannot be used raises advdemo.core.errors.InputError with a message a user can act on.

A path that came from a client is trusted only after `confined` has checked that it names a
file inside the folders uploads live in (the UI's upload component does that before anything
opens the file); load_image itself takes paths from trusted code (assets, tests, that check).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from advdemo.core.errors import InputError

ASSETS = Path(__file__).resolve().parents[2] / "assets"

MIN_SIDE = 16  # smaller than this there is nothing to classify or translate
MAX_SIDE = 8192
MAX_PIXELS = 40_000_000  # about 6300×6300: well above any photo a lecture needs
MAX_FILE_BYTES = 25 * 1024 * 1024  # the app's upload limit is lower; this guards the API too

# One answer for every path a client may not use (outside the upload folders, a link leading
# out, missing, not a regular file), so that it tells nothing about files on the server.
NOT_AN_UPLOAD = (
    "This image is not among the uploads on the server (uploads are kept for an hour): "
    "please upload it again."
)


def limit_decoding() -> None:
    """Make PIL refuse to decode more than MAX_PIXELS anywhere in this process, Gradio's own
    preprocessing included (PIL warns above MAX_IMAGE_PIXELS and raises above twice that;
    _from_path refuses the range in between from the header). Called once by app.build_demo: a
    process-wide setting is the app's decision, not a side effect of importing this module."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Composite an image with transparency onto white (what a viewer shows)."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _high_bit_depth_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit (I;16, I, F) greyscale -> 8-bit RGB by scaling the actual range."""
    array = np.asarray(image, dtype=np.float64)
    if not np.isfinite(array).all():
        raise InputError("The image contains invalid (NaN or infinite) pixel values.")
    lo, hi = float(array.min()), float(array.max())
    if image.mode.startswith("I;16") or (image.mode == "I" and lo >= 0 and hi <= 65535):
        lo, hi = 0.0, 65535.0 if hi > 255 else 255.0
    scaled = (array - lo) / (hi - lo) if hi > lo else np.zeros_like(array)
    return Image.fromarray((scaled * 255 + 0.5).astype(np.uint8)).convert("RGB")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL image -> RGB: first frame, EXIF orientation, alpha on white, CMYK, 16-bit, ..."""
    if getattr(image, "is_animated", False):
        image.seek(0)
    # A broken EXIF block must not cost the user their image: keep it unrotated then.
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, SyntaxError):
        image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode == "RGB":
        return image.copy()
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in image.info):
        return _flatten_alpha(image)
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _high_bit_depth_to_rgb(image)
    return image.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV


def _check_size(width: int, height: int) -> None:
    if min(width, height) < MIN_SIDE:
        raise InputError(
            f"The image is {width}×{height} pixels; it needs to be at least "
            f"{MIN_SIDE} pixels on each side."
        )
    if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        raise InputError(
            f"The image is {width}×{height} pixels; the limit is {MAX_SIDE} "
            f"pixels on a side and {MAX_PIXELS // 1_000_000} megapixels. "
            "Please scale it down first."
        )


def _from_array(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise InputError(f"An image array must be H×W, H×W×3 or H×W×4; got shape {array.shape}.")
    _check_size(array.shape[1], array.shape[0])
    if array.dtype == np.uint8:
        data = array
    elif array.dtype == np.uint16:
        data = (array.astype(np.float64) / 257 + 0.5).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise InputError("The image contains NaN or infinite values.")
        top = 1.0 if array.max(initial=0) <= 1.0 else 255.0
        data = (np.clip(array / top, 0, 1) * 255 + 0.5).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        data = (np.clip(array.astype(np.int64), 0, 255)).astype(np.uint8)
        if array.dtype == np.bool_:
            data = data * 255
    else:
        raise InputError(f"Unsupported image array type {array.dtype}.")
    return to_rgb(Image.fromarray(data))


def _bomb(path: Path) -> InputError:
    return InputError(
        f"{path.name!r} declares more than {MAX_PIXELS // 1_000_000} "
        "megapixels; it is refused to protect the server."
    )


def _from_path(path: Path) -> Image.Image:
    if not path.is_file():
        raise InputError(f"No image file at {path.name!r}.")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path.name!r} is empty (0 bytes); please upload an image file.")
    if size > MAX_FILE_BYTES:
        raise InputError(
            f"{path.name!r} is {size / 2**20:.1f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB."
        )
    try:
        # No warnings.catch_warnings() here: it swaps the process-wide filter list and is not
        # thread-safe, so two uploads at once (or Gradio's own catch_warnings in its image
        # preprocessing) could leave another thread's filters in place for good. PIL raises
        # above twice MAX_IMAGE_PIXELS and only warns between; the header check refuses those.
        with Image.open(path) as opened:
            width, height = opened.size  # from the header, before decoding any pixels
            if width * height > MAX_PIXELS:
                raise _bomb(path)
            _check_size(width, height)
            if getattr(opened, "is_animated", False):
                opened.seek(0)
            opened.load()
            return to_rgb(opened)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _bomb(path) from None
    except UnidentifiedImageError:
        raise InputError(
            f"{path.name!r} is not an image this app can read (PNG, JPEG, WebP, "
            "GIF, BMP and TIFF work)."
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(
            f"{path.name!r} could not be decoded; the file looks truncated or corrupt ({exc})."
        ) from None


def confined(path: object, roots: Iterable[str | os.PathLike]) -> Path:
    """`path` fully resolved, if it names a regular file inside one of `roots`.

    Both sides are resolved first, so neither ".." nor a symbolic link leads out of a root.
    Anything else raises InputError(NOT_AN_UPLOAD): the same message whatever the reason.
    """
    if isinstance(path, str | os.PathLike) and str(path):
        try:
            resolved = Path(path).resolve(strict=True)
            if resolved.is_file() and any(
                resolved.is_relative_to(Path(root).resolve()) for root in roots
            ):
                return resolved
        except (OSError, RuntimeError, ValueError):  # missing, a link loop, a NUL byte...
            pass
    raise InputError(NOT_AN_UPLOAD)


def load_image(source: object) -> Image.Image:
    """Any upload (path, PIL image, numpy array) -> a validated RGB PIL image.

    Raises InputError, with a message meant for the user, for anything unusable. A path is
    opened as given: one from a client must have passed `confined` first. (A dict such as
    Gradio's FileData is refused: its path would not have been checked.)
    """
    if source is None:
        raise InputError("No image given: upload a photo or pick an example first.")
    if isinstance(source, str | os.PathLike):
        return _from_path(Path(source))
    if isinstance(source, Image.Image):
        _check_size(*source.size)
        return to_rgb(source)
    if isinstance(source, np.ndarray):
        return _from_array(source)
    raise InputError(f"Expected an image, got {type(source).__name__}.")


def to_tensor(image: Image.Image) -> Tensor:
    """RGB PIL image -> (1, 3, H, W) float32 in [0, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_pil(x: Tensor) -> Image.Image:
    """(3, H, W) or (1, 3, H, W) in [0, 1] -> RGB PIL image (rounded to 8 bits)."""
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError(f"to_pil takes one image, got a batch of {x.shape[0]}")
        x = x[0]
    array = (x.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8)
    return Image.fromarray(array.permute(1, 2, 0).cpu().numpy())


def quantize_8bit(x: Tensor) -> Tensor:
    """Round [0, 1] values to the 256 levels an 8-bit PNG can hold."""
    return torch.round(x.clamp(0, 1) * 255) / 255


def resize_to_multiple(x: Tensor, long_side: int, multiple: int = 4) -> Tensor:
    """Resize (B, 3, H, W) so the long side is about `long_side`, aspect ratio kept, both sides
    rounded to a multiple of `multiple` (CycleGAN's two down/up-samplings need 4)."""
    h, w = x.shape[-2:]
    scale = long_side / max(h, w)
    nh = max(multiple, round(h * scale / multiple) * multiple)
    nw = max(multiple, round(w * scale / multiple) * multiple)
    if (nh, nw) == (h, w):
        return x
    return F.interpolate(
        x, size=(nh, nw), mode="bicubic", align_corners=False, antialias=True
    ).clamp(0, 1)


def sample_batch(side: int) -> Tensor:
    """A fixed, smooth (1, 3, side, side) test pattern in [0, 1] (warm-up, benchmarks)."""
    ramp = torch.linspace(0, 1, side)
    return (
        torch.stack(
            [
                ramp[None, :].expand(side, side),
                ramp[:, None].expand(side, side),
                (1 - ramp)[None, :].expand(side, side),
            ]
        )
        .unsqueeze(0)
        .contiguous()
    )


def asset(name: str) -> Path:
    """Path of a sample photo shipped in assets/."""
    return ASSETS / name
