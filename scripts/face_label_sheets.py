"""Contact sheets of the hand-labelled face seeds, to check or extend face_labels.json.

    .venv/bin/python -m scripts.face_label_sheets                 # every labelled set
    .venv/bin/python -m scripts.face_label_sheets --seeds 550 100 # 100 new seeds to label

The labels are advdemo/faces/data/face_labels.json. Each face is drawn at 3× with
nearest-neighbour scaling and its seed above it; sheets go to /tmp/face_labels/ (or --out).
Labels are judged by a person looking at these sheets.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from advdemo.core import pictures
from advdemo.faces.attributes import LABELS_PATH as LABELS
from advdemo.models.store import ModelStore
from advdemo.models.wrappers import FaceGenerator


def contact_sheet(
    g: FaceGenerator, seeds: list[int], *, scale: int = 3, cols: int = 8
) -> Image.Image:
    """Faces for `seeds` in a grid, each captioned with its seed."""
    faces = g.generate(torch.cat([g.sample_z(s, 1) for s in seeds]))  # (N, 3, 64, 64)
    side, caption = 64 * scale, 14
    rows = max(1, -(-len(seeds) // cols))
    sheet = Image.new("RGB", (cols * side, rows * (side + caption)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (seed, face) in enumerate(zip(seeds, faces, strict=True)):
        r, c = divmod(i, cols)
        x, y = c * side, r * (side + caption)
        sheet.paste(pictures.upscale(face, scale), (x, y + caption))
        draw.text((x + 2, y + 1), str(seed), fill="black")
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/face_labels"))
    parser.add_argument("--seeds", type=int, nargs=2, metavar=("START", "COUNT"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    g = ModelStore().face_generator()
    if args.seeds:
        start, count = args.seeds
        for first in range(start, start + count, 64):
            seeds = list(range(first, min(first + 64, start + count)))
            path = args.out / f"seeds_{first}.png"
            contact_sheet(g, seeds).save(path)
            print(path)
        return
    labels = json.loads(LABELS.read_text())
    for part in ("attributes", "heldout"):
        for attribute, sets in labels[part].items():
            for sign, seeds in sets.items():
                for k in range(0, len(seeds), 64):
                    path = args.out / f"{part}_{attribute}_{sign}_{k // 64}.png"
                    contact_sheet(g, seeds[k : k + 64]).save(path)
                    print(path, len(seeds[k : k + 64]))


if __name__ == "__main__":
    main()
