"""Latent explorer and truncation figures: a slider move to a new decoded face in Chromium,
the generator alone beside it, and the server time of a 16-frame strip with its GIF.

    .venv/bin/python -m benchmarks.bench_latent [--moves 20] [--no-browser]

Server figures are timed interleaved in one process (variant, baseline, variant, ...); the
browser figure alternates slider moves with a do-nothing Gradio round trip on the same page.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics

import torch

from benchmarks.common import (
    ECHO_JS,
    Row,
    format_table,
    interleaved,
    median_ms,
    tab_in_chromium,
)

TARGET_SLIDER_MS = 100.0
TARGET_STRIP_MS = 300.0
STRIP_FRAMES = 16


def server_rows(repeats: int = 20) -> list[Row]:
    from advdemo.faces import views as fv
    from advdemo.models.store import ModelStore
    from advdemo.ui import serving

    g = ModelStore().face_generator()
    dirs = fv.directions(g)
    zeros = [0.0] * len(dirs)
    edited = zeros[:]
    edited[-4] = 2.5  # glasses
    z1 = g.sample_z(57, 1)
    z32 = g.sample_z(3, 2 * STRIP_FRAMES)
    z0, z_end = fv.interpolation_codes(g, dirs, 57, 0, zeros)

    def png(image, level: int) -> int:
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=level)
        return buf.tell()

    face = fv.face_view(g, dirs, 57, edited)
    times = interleaved(
        {
            "generator": lambda: g.generate(z1),
            "face_view": lambda: fv.face_view(g, dirs, 57, edited),
            "png": lambda: png(face.image, serving.PNG_COMPRESSION),
            "png6": lambda: png(face.image, 6),
            "generator32": lambda: g.generate(z32),
            "strip": lambda: fv.interpolation(g, z0, z_end, STRIP_FRAMES),
        },
        repeats=repeats,
    )
    gen, view = median_ms(times["generator"]), median_ms(times["face_view"])
    strip, gen32 = median_ms(times["strip"]), median_ms(times["generator32"])
    return [
        Row("generator alone, 1 face (64×64)", gen, "ms"),
        Row(
            "server: face + probe read-outs + 6× upscale",
            view,
            "ms",
            gen,
            "generator alone",
        ),
        Row(
            f"server: PNG encoding of the 384×384 face (zlib level {serving.PNG_COMPRESSION})",
            median_ms(times["png"]),
            "ms",
            median_ms(times["png6"]),
            "PIL's default level 6",
        ),
        Row(
            f"server: {STRIP_FRAMES}-frame lerp + slerp strips, ‖z‖ plot and GIF",
            strip,
            "ms",
            gen32,
            f"generator alone, {2 * STRIP_FRAMES} faces in one batch",
            f"≤ {TARGET_STRIP_MS:.0f} ms",
            strip <= TARGET_STRIP_MS,
        ),
    ]


# One slider move, timed inside the page: from the input event to the new <img> decoded.
MOVE_JS = """
async (value) => {
  const face = () => document.querySelector('#latent-face img');
  const old = face().src;
  const slider = document.querySelector('#latent-glasses input[type=range]');
  const t0 = performance.now();
  slider.value = String(value);
  slider.dispatchEvent(new Event('input', { bubbles: true }));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no new face within 30 s')), 30000);
    const check = () => {
      const img = face();
      if (img && img.src !== old) {
        img.decode().then(
          () => { clearTimeout(timer); resolve(); },
          () => requestAnimationFrame(check));
      } else {
        requestAnimationFrame(check);
      }
    };
    check();
  });
  return performance.now() - t0;
}
"""


def browser_rows(moves: int) -> list[Row]:
    import app as app_module
    from advdemo.models.store import ModelStore
    from advdemo.tabs import latent_explorer as tab

    slider_ms: list[float] = []
    echo_ms: list[float] = []
    css = app_module.BASE_CSS + tab.CSS
    with tab_in_chromium(tab, ModelStore(), css, "#latent-face img") as page:
        for i in range(moves + 2):  # the first two warm the path up
            value = round(-4 + 8 * ((i * 7) % 17) / 16, 1) or 0.5  # varied, never 0
            moved = page.evaluate(MOVE_JS, value)
            echoed = page.evaluate(ECHO_JS)
            if i >= 2:
                slider_ms.append(moved)
                echo_ms.append(echoed)
    value = statistics.median(slider_ms)
    return [
        Row(
            f"slider move → new face decoded in Chromium (median of {len(slider_ms)})",
            value,
            "ms",
            statistics.median(echo_ms),
            "Gradio round trip doing nothing",
            f"≤ {TARGET_SLIDER_MS:.0f} ms",
            value <= TARGET_SLIDER_MS,
        ),
        Row("  same, 90th percentile", statistics.quantiles(slider_ms, n=10)[-1], "ms"),
    ]


def measure(browser: bool = True, moves: int = 20) -> list[Row]:
    rows = server_rows()
    if browser:
        rows = browser_rows(moves) + rows
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--moves", type=int, default=20)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {load:.1f}")
    print(format_table(measure(not args.no_browser, args.moves), "Latent explorer"))


if __name__ == "__main__":
    main()
