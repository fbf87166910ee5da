"""The playground's "why" section: the iguana-from-nothing preset's attack and the linear view,
each beside a baseline measured in the same run (the cat → iguana preset's attack; one FGSM
step), on the built-in EfficientNet-Lite0's gradient path.

    .venv/bin/python -m benchmarks.bench_why [--repeats 3]

Times are the library calls the endpoints make (no Gradio, no result cache: the app keeps each
preset's answer, so only the first press pays this); wall and this process's CPU seconds, as
on a shared machine the wall time also measures the queue for the cores.
"""

from __future__ import annotations

import argparse
import statistics

from benchmarks.common import Row, format_table, interleaved_wall_cpu


def measure(repeats: int = 3) -> list[Row]:
    from advdemo.adversarial import linearity as lin
    from advdemo.adversarial import playground
    from advdemo.adversarial.fgsm import fgsm
    from advdemo.core import images
    from advdemo.models.store import ModelStore
    from advdemo.tabs import adversarial as tab

    store = ModelStore()
    model = store.gradient_classifier(tab.DEFAULT_MODEL)
    photo = images.load_image(str(images.asset("chelsea.png")))

    def preset_run(key: str):
        _, *values = tab.apply_preset(key, tab._PRESET_PARAMETERS)
        method, eps_k, steps, target, mode, step_k, lam, start = values
        settings = playground.attack_settings(
            model.labels, method, eps_k, steps, target, mode, step_k, lam, start
        )
        begin = playground.start(
            model, playground.start_image(photo, start, model), settings.target_class
        )
        return lambda: playground.run(model, begin, settings)

    nothing, cat = preset_run("nothing"), preset_run("cat-iguana")
    x = model.prepare(photo)
    true_class, iguana = int(model.probabilities(x)[0].argmax()), model.class_index("common iguana")
    ks = lin.range_points(-lin.MAX_K, lin.MAX_K)
    variants = {
        "nothing": nothing,
        "cat": cat,
        "linearity": lambda: lin.logit_curves(model, x, true_class, iguana, ks),
        "fgsm": lambda: fgsm(model, x, true_class, 1 / 255),
    }
    wall, cpu = interleaved_wall_cpu(variants, repeats=repeats)
    x_adv, _ = nothing()
    confidence = float(model.probabilities(x_adv)[0][iguana]) * 100

    def med(samples):
        return statistics.median(samples)

    return [
        Row(
            "iguana from nothing: 12 λ steps from flat grey, wall",
            med(wall["nothing"]),
            "s",
            med(wall["cat"]),
            "cat → iguana, PGD-20",
        ),
        Row(
            "iguana from nothing, CPU of this process",
            med(cpu["nothing"]),
            "s",
            med(cpu["cat"]),
            "cat → iguana, PGD-20",
        ),
        Row(
            "iguana from nothing: iguana's probability reached",
            confidence,
            "%",
            target="≥ 90 %",
            ok=confidence >= 90,
        ),
        Row(
            f"linear view, ε −32 … 32/255 ({len(ks)} images, 3 gradients), wall",
            med(wall["linearity"]),
            "s",
            med(wall["fgsm"]),
            "one FGSM step",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(format_table(measure(args.repeats), "the playground's why section"))


if __name__ == "__main__":
    main()
