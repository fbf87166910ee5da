"""Copy the browser tests' screenshots of each tab into docs/screenshots/ as small PNGs.

Run after `python3 bootstrap.py test` (the browser tests write tests/artifacts/*.png):
    .venv/bin/python -m scripts.update_screenshots
Each page is cut to its first `--height` pixels (the part a visitor sees first), scaled to
`--width` and reduced to a 256-colour palette, so the README's pictures stay small in git.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {  # screenshot written by a browser test -> name in docs/screenshots
    "latent.png": "1-latent-explorer.png",
    "truncation.png": "2-truncation.png",
    "arithmetic.png": "3-vector-arithmetic.png",
    "cyclegan.png": "4-cyclegan.png",
    "adversarial.png": "5-adversarial-playground.png",
    "toy_gan_paused.png": "6-1d-gan.png",
    "defences_laptop.png": "7-defences.png",
    "gan_lab_race_1400.png": "8-2d-gan-lab.png",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=900)
    parser.add_argument("--height", type=int, default=1500, help="crop of the page, in px")
    args = parser.parse_args()
    out_dir = ROOT / "docs" / "screenshots"
    out_dir.mkdir(parents=True, exist_ok=True)
    for source, target in SOURCES.items():
        path = ROOT / "tests" / "artifacts" / source
        if not path.exists():
            raise SystemExit(f"{path} is missing: run the browser tests first")
        page = Image.open(path).convert("RGB")
        page = page.crop((0, 0, page.width, min(page.height, args.height)))
        scale = args.width / page.width
        small = page.resize((args.width, round(page.height * scale)), Image.Resampling.LANCZOS)
        small.quantize(256, dither=Image.Dither.NONE).save(out_dir / target, optimize=True)
        print(f"{target}: {(out_dir / target).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
