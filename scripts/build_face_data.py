"""Recreate the face GAN's cached directions and probes from the hand labels.

    .venv/bin/python -m scripts.build_face_data

Writes advdemo/faces/data/face_directions.json (GANSpace principal directions) and
advdemo/faces/data/face_probes.json (attribute probes, with held-out accuracies), prints the
accuracies, and renders /tmp/face_directions.png: for four seeds, each direction at
−4, −2, 0, +2, +4 — look at it to name the principal directions. Notes naming them are kept
from the stored file as long as the recomputed directions match it (|cos| > 0.99).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from advdemo.core.images import to_pil
from advdemo.faces import attributes as fa
from advdemo.models.store import ModelStore
from advdemo.models.wrappers import FaceGenerator

SHEET = Path("/tmp/face_directions.png")
SHEET_SEEDS = (0, 7, 57, 200)
SHEET_STEPS = (-4.0, -2.0, 0.0, 2.0, 4.0)


def direction_sheet(g: FaceGenerator, vectors: torch.Tensor, names: list[str]) -> Image.Image:
    """One row per direction: each sheet seed moved along it by SHEET_STEPS."""
    steps = torch.tensor(SHEET_STEPS)
    gap, side, label = 8, 64, 110
    width = label + len(SHEET_SEEDS) * (len(steps) * side + gap)
    sheet = Image.new("RGB", (width, len(vectors) * side), "white")
    draw = ImageDraw.Draw(sheet)
    base = fa.seed_codes(g, list(SHEET_SEEDS))
    for k, (v, name) in enumerate(zip(vectors, names, strict=True)):
        z = (base[:, None, :] + steps[None, :, None] * v).reshape(-1, g.nz)
        faces = g.generate(z)
        draw.text((4, k * side + 26), name, fill="black")
        for i, face in enumerate(faces):
            s, j = divmod(i, len(steps))
            sheet.paste(to_pil(face), (label + s * (len(steps) * side + gap) + j * side, k * side))
    return sheet


def main() -> None:
    g = ModelStore().face_generator()
    t0 = time.perf_counter()
    pd = fa.compute_principal_directions(g)
    notes = [""] * len(pd.vectors)
    if fa.DIRECTIONS_PATH.exists():
        old = json.loads(fa.DIRECTIONS_PATH.read_text())
        old_v = torch.tensor(old["vectors"])
        if old_v.shape == pd.vectors.shape and bool(
            ((old_v * pd.vectors).sum(1).abs() > 0.99).all()
        ):
            notes = list(old["notes"])
        else:
            print("principal directions changed: look at the sheet and write new notes")
    fa.DIRECTIONS_PATH.write_text(
        json.dumps(fa.directions_document(pd, notes), indent=1, ensure_ascii=False) + "\n"
    )
    print(f"principal directions: {time.perf_counter() - t0:.1f} s -> {fa.DIRECTIONS_PATH}")
    print("explained variance:", " ".join(f"{v:.3f}" for v in pd.explained.tolist()))

    t0 = time.perf_counter()
    probes = {name: fa.train_probe(g, name) for name in fa.ATTRIBUTES}
    fa.PROBES_PATH.write_text(
        json.dumps(fa.probes_document(probes), indent=1, ensure_ascii=False) + "\n"
    )
    print(f"probes: {time.perf_counter() - t0:.1f} s -> {fa.PROBES_PATH}")
    for name, p in probes.items():
        print(
            f"  {name:10s} held-out accuracy {p.heldout_accuracy:.3f}  "
            f"train {p.train_accuracy:.3f}  l2 {p.l2:g}"
        )

    names = [f"PC{k + 1} {n}".strip() for k, n in enumerate(notes)]
    vectors = torch.cat([pd.vectors, fa.attribute_directions(g)])
    names += list(fa.ATTRIBUTES)
    direction_sheet(g, vectors, names).save(SHEET)
    print(f"sheet: {SHEET}")


if __name__ == "__main__":
    main()
