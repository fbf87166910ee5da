"""Physical-world figures: simulated prints of the playground's cat through EfficientNet-Lite0,
batched against one print per forward pass, measured in the same run.

    .venv/bin/python -m benchmarks physical        (or: python -m benchmarks.bench_physical)

What is measured (the store's gradient path, as the playground uses it; the cat's downloadable
256² frame; 16 transforms at strength 1, seed 0):
- making the 16 photographs (tilt, zoom, blur, light in one batch; JPEG per print): seconds,
  against one print at a time through the same code;
- classifying them through the upload path (centre crop, resize) in one batch of 16, against
  16 forward passes of one print each (physical.classify_photos with batch=1). Same top-1
  answers (checked).
Wall-clock medians and this process's CPU seconds of interleaved repeats (benchmarks.common),
indicative on a shared machine.
"""

from __future__ import annotations

import statistics

import torch

from benchmarks.common import Row, format_table, interleaved_wall_cpu

COUNT = 16


def _setup():
    from advdemo.adversarial import physical
    from advdemo.adversarial.robustness import download_image
    from advdemo.core import images
    from advdemo.models.store import ModelStore

    model = ModelStore().gradient_classifier("efficientnet-lite0")
    photo = images.load_image(images.asset("chelsea.png"))
    frame = download_image(model.prepare(photo), model, photo)
    return model, frame, physical.sample_transforms(COUNT, 1.0, 0)


def measure(repeats: int = 5) -> list[Row]:
    from advdemo.adversarial import physical

    model, frame, ts = _setup()
    photos = physical.print_and_photograph(frame, ts)
    batched = physical.classify_photos(model, photos).argmax(-1)
    single = physical.classify_photos(model, photos, batch=1).argmax(-1)
    assert torch.equal(batched, single), "batching changed an answer"
    wall, cpu = interleaved_wall_cpu(
        {
            "print batch": lambda: physical.print_and_photograph(frame, ts),
            "print one by one": lambda: [physical.print_and_photograph(frame, [t]) for t in ts],
            "classify batch": lambda: physical.classify_photos(model, photos),
            "classify one by one": lambda: physical.classify_photos(model, photos, batch=1),
        },
        repeats,
    )
    med = {name: statistics.median(v) for name, v in wall.items()}
    cpu_med = {name: statistics.median(v) for name, v in cpu.items()}
    return [
        Row(
            f"{COUNT} prints made (wall; CPU {cpu_med['print batch']:.2f} s)",
            med["print batch"],
            "s",
            med["print one by one"],
            "one at a time",
        ),
        Row(
            f"{COUNT} prints classified, one batch (wall; CPU {cpu_med['classify batch']:.2f} s)",
            med["classify batch"],
            "s",
            med["classify one by one"],
            "one per forward",
        ),
    ]


def main() -> None:
    print(format_table(measure(), "physical world"))


if __name__ == "__main__":
    main()
