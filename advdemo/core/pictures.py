"""Pictures of generated faces: nearest-neighbour upscaling, one grid layout, caption text.

Plain tensors in, PIL images out; no model, no Gradio. Faces are (3, H, W) or batches
(N, 3, H, W) in [0, 1]. Upscaling is nearest-neighbour on purpose: each generated pixel
becomes a sharp block, so nothing is smoothed or invented.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from advdemo.core.images import to_pil

CAPTION_SIZE = 14  # px, the captions under grid cells
CAPTION_LINE = 18  # px per caption line
ASCII_FALLBACK = str.maketrans({"ψ": "psi", "τ": "tau", "‖": "|"})


def upscale(face: Tensor, factor: int) -> Image.Image:
    """One face (3, H, W) (or (1, 3, H, W)) -> PIL image `factor`× larger, nearest-neighbour."""
    image = to_pil(face)
    if factor == 1:
        return image
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


@lru_cache(maxsize=4)  # a font file read once per size: a constant, not state
def _font(size: int) -> tuple[ImageFont.ImageFont | ImageFont.FreeTypeFont, bool]:
    """A caption font and whether it has Greek letters (DejaVu where installed; PIL's own
    font, captions spelled in ASCII, elsewhere)."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size), True
    except OSError:
        return ImageFont.load_default(size=size), False


def draw_text(
    draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int, colour: str = "black"
) -> None:
    """`text` centred on x = xy[0], its top at xy[1] (ASCII spelling where fonts lack ψ, τ)."""
    font, greek = _font(size)
    draw.text(
        xy, text if greek else text.translate(ASCII_FALLBACK), fill=colour, font=font, anchor="ma"
    )


def face_grid(
    faces: Tensor,
    columns: int,
    *,
    scale: int = 1,
    pad: int = 0,
    captions: Sequence[str] | None = None,
) -> Image.Image:
    """Faces (N, 3, H, W) in rows of `columns`, each `scale`× larger, `pad` px of white
    between cells (none at the edges), with optional captions (lines split on "\\n") under
    each face. Cells left over in the last row stay white."""
    n = faces.shape[0]
    h, w = faces.shape[-2] * scale, faces.shape[-1] * scale
    rows = math.ceil(n / columns)
    caption_h = 4 + CAPTION_LINE * max(c.count("\n") + 1 for c in captions) if captions else 0
    cell_h = h + caption_h
    sheet = Image.new(
        "RGB", (columns * w + (columns - 1) * pad, rows * cell_h + (rows - 1) * pad), "white"
    )
    draw = ImageDraw.Draw(sheet) if captions else None
    for i in range(n):
        r, c = divmod(i, columns)
        x, y = c * (w + pad), r * (cell_h + pad)
        sheet.paste(upscale(faces[i], scale), (x, y))
        if draw is not None and captions:
            for j, line in enumerate(captions[i].split("\n")):
                draw_text(draw, (x + w / 2, y + h + 2 + CAPTION_LINE * j), line, CAPTION_SIZE)
    return sheet


def strip(
    faces: Tensor, captions: Sequence[str] | None = None, *, scale: int, row: int
) -> Image.Image:
    """Faces side by side, wrapping after `row` of them, with optional captions under."""
    return face_grid(faces, min(faces.shape[0], row), scale=scale, captions=captions)


def square_grid(faces: Tensor, *, scale: int, pad: int = 0) -> Image.Image:
    """Faces in a near-square grid (⌈√N⌉ columns)."""
    return face_grid(faces, math.ceil(math.sqrt(faces.shape[0])), scale=scale, pad=pad)
