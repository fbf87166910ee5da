"""Adversarial-playground figures: FGSM latency and PGD-10 / PGD-40 at 224² against torchattacks
3.5.1, same run, same network and weights, same settings, results compared.

    .venv/bin/python -m benchmarks.bench_attacks [--repeats 5] [--pgd 10 40] [--threads N]

torchattacks is a benchmark-only dependency (never in requirements*.txt; its own pins would
downgrade our HTTP stack): `.venv/bin/pip install --no-deps torchattacks==3.5.1 scipy` (its
package imports scipy on import).

What is compared. torchattacks runs on EfficientNet-Lite0 as ModelStore.classifier() loads it
(eager, BatchNorm as trained, contiguous: how a torchattacks user holds the model). Ours runs
on ModelStore.gradient_classifier() (the same weights with BatchNorm folded into the
convolutions, channels_last), which is what the tab attacks. Settings: the cat's 224² crop,
targeted at "common iguana", ε = 8/255, PGD-10 with α = 2/255 and PGD-40 with α = 1/255, no
random start (torchattacks draws its start from the global RNG, ours from a seed), float
(no 8-bit rounding). Results: our loop on torchattacks' own model must match it bit for bit;
the fast path's result is reported as the largest difference in grey levels, the share of
values that differ, the target's probability, the perturbation's L2 and whether the verdict
(top-1) is the same. Expect the fast path to differ in most pixels: a handful of gradient signs
flip where a ReLU6 input sits on a kink (any change of kernels does that, channels_last alone
too), and PGD's later steps amplify every early difference; what must agree is the outcome.

Timing: wall-clock medians, interleaved (what a user waits for), and CPU time of the process
(what the work costs; on a machine shared with other jobs, wall time mostly measures the queue
for the cores, CPU time stays put).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from benchmarks.common import Row, format_table, interleaved_wall_cpu

TA_VERSION = "3.5.1"
TARGET_SPEEDUP = 1.25
TARGET_FGSM_MS = 60.0
MAX_ENDPOINT_OVERHEAD = 1.3  # the endpoint's first answer against the raw attack (#16)
EPS = 8 / 255
SETTINGS = {10: 2 / 255, 40: 1 / 255}  # steps: step size


INSTALL = ".venv/bin/pip install --no-deps torchattacks==3.5.1 scipy"


def _torchattacks():
    try:
        import torchattacks
    except ImportError as exc:
        print(
            f"torchattacks could not be imported ({type(exc).__name__}: {exc}), so the PGD "
            f"comparison is skipped. It is a benchmark-only dependency: {INSTALL}"
        )
        return None
    if torchattacks.__version__ != TA_VERSION:
        print(f"note: torchattacks {torchattacks.__version__} found; figures were set with 3.5.1")
    return torchattacks


def _ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def measure(repeats: int = 5, pgd_steps: tuple[int, ...] = tuple(SETTINGS)) -> list[Row]:
    from advdemo.adversarial.fgsm import fgsm
    from advdemo.adversarial.pgd import pgd, pgd_last
    from advdemo.core import images
    from advdemo.models.store import ModelStore

    store = ModelStore()
    plain = store.classifier("efficientnet-lite0")
    fast = store.gradient_classifier("efficientnet-lite0")
    x = plain.prepare(images.load_image(images.asset("chelsea.png")))
    y = plain.probabilities(x).argmax(-1).to(x.device)
    iguana = plain.class_index("common iguana")
    target = torch.tensor([iguana], device=x.device)

    ta = _torchattacks()
    rows: list[Row] = []

    # FGSM: one forward + backward to the input, the app's path (8-bit rounding included).
    fgsm_variants = {"ours": lambda: fgsm(fast, x, y, EPS, quantize=True)}
    if ta is not None:
        ta_fgsm = ta.FGSM(plain, eps=EPS)
        fgsm_variants["torchattacks"] = lambda: ta_fgsm(x, y)
    wall, cpu = interleaved_wall_cpu(fgsm_variants, repeats=20, warmup=2)
    baseline = "torchattacks FGSM" if ta is not None else ""
    for name, samples in (("", wall), (", CPU time", cpu)):
        ours_ms = _ms(samples["ours"])
        base = _ms(samples["torchattacks"]) if ta is not None else None
        rows.append(
            Row(
                f"FGSM 224², untargeted, ε = 8/255{name}",
                ours_ms,
                "ms",
                base,
                baseline,
                f"≤ {TARGET_FGSM_MS:.0f} ms",
                ours_ms <= TARGET_FGSM_MS,
            )
        )

    rows += endpoint_overhead(store, repeats)
    if ta is None:
        return rows

    for steps in pgd_steps:
        alpha = SETTINGS[steps]
        atk = ta.PGD(plain, eps=EPS, alpha=alpha, steps=steps, random_start=False)
        atk.set_mode_targeted_by_label(quiet=True)
        atk_fast = ta.PGD(fast, eps=EPS, alpha=alpha, steps=steps, random_start=False)
        atk_fast.set_mode_targeted_by_label(quiet=True)

        def ours(model=fast, steps=steps, alpha=alpha):
            """What the app runs: the fast model, returning the best iterate seen."""
            return pgd(model, x, y, EPS, alpha, steps, target=target, random_start=False)

        # Correctness first: our plain last-iterate loop on torchattacks' own model (the same
        # steps the app's loop takes), and the app path's result.
        reference = atk(x, target)
        same_model = pgd_last(plain, x, y, EPS, alpha, steps, target=target, random_start=False)
        fast_result = ours()
        identical = float((same_model - reference).abs().max()) * 255
        fast_diff = (fast_result - reference).abs()
        probs = [plain.probabilities(r)[0] for r in (reference, fast_result)]
        top1 = [int(p.argmax()) for p in probs]
        sizes = [float((r - x).norm()) for r in (reference, fast_result)]

        wall, cpu = interleaved_wall_cpu(
            {
                "ours": ours,
                "torchattacks": lambda a=atk: a(x, target),
                "torchattacks, fast model": lambda a=atk_fast: a(x, target),
            },
            repeats=repeats,
        )
        ours_ms, ta_ms = _ms(wall["ours"]), _ms(wall["torchattacks"])
        ta_fast_ms = _ms(wall["torchattacks, fast model"])
        ours_cpu, ta_cpu = _ms(cpu["ours"]), _ms(cpu["torchattacks"])
        label = f"PGD-{steps} 224², targeted, ε = 8/255, α = {round(alpha * 255)}/255"
        rows += [
            Row(
                f"{label}: ours",
                ours_ms,
                "ms",
                ta_ms,
                "torchattacks",
                f"≥ {TARGET_SPEEDUP:.2f}×",
                ta_ms / ours_ms >= TARGET_SPEEDUP,
            ),
            Row(
                f"{label}: ours, CPU time",
                ours_cpu,
                "ms",
                ta_cpu,
                "torchattacks",
                f"≥ {TARGET_SPEEDUP:.2f}×",
                ta_cpu / ours_cpu >= TARGET_SPEEDUP,
            ),
            Row(
                f"{label}: torchattacks on our fast model (the loop alone)",
                ta_fast_ms,
                "ms",
                ours_ms,
                "ours",
            ),
            Row(
                f"{label}: our loop vs torchattacks, same model, max |Δ|",
                identical,
                "grey levels",
                target="= 0 (bit-identical)",
                ok=identical == 0.0,
            ),
            Row(
                f"{label}: fast path vs torchattacks, max |Δ|",
                float(fast_diff.max()) * 255,
                "grey levels",
            ),
            Row(
                f"{label}: fast path vs torchattacks, values that differ",
                float((fast_diff > 0).float().mean()) * 100,
                "%",
            ),
            Row(
                f"{label}: p(target) after the fast path",
                float(probs[1][iguana]) * 100,
                "%",
                float(probs[0][iguana]) * 100,
                "torchattacks",
            ),
            Row(
                f"{label}: L2 of the fast path's perturbation",
                sizes[1],
                "",
                sizes[0],
                "torchattacks",
            ),
            Row(
                f"{label}: same top-1 ({plain.labels[top1[0]]}) for both",
                float(top1[0] == top1[1]),
                "(1 = yes)",
                target="= 1",
                ok=top1[0] == top1[1],
            ),
        ]
    return rows


def endpoint_overhead(store, repeats: int = 5) -> list[Row]:
    """The playground's /attack endpoint function against the raw attack it runs (issue #16):
    the cat → iguana preset (targeted PGD-20, ε = 4/255, α = 1/255, 8-bit, best iterate), the
    endpoint from the uploaded file to its first answer (pictures, top-5s, summary) and to its
    whole result (plus PNG, JPEG and transfer checks, plot, download), the shared result
    cache emptied before each call so that every call computes; and a repeated request
    served from the cache."""
    from advdemo.adversarial import attacks
    from advdemo.core import cache, images
    from advdemo.tabs import adversarial

    preset = adversarial.PRESETS[0].values
    path = str(images.asset(preset["image"]))
    model = store.gradient_classifier("efficientnet-lite0")
    x = model.prepare(images.load_image(path))
    y = int(model.probabilities(x).argmax())
    target = model.class_index(preset["target"])
    values = [preset[k] for k in adversarial._PRESET_PARAMETERS]
    results = cache.shared(store)

    def raw():
        attacks.run_attack(
            "pgd",
            model,
            x,
            y,
            eps=preset["eps_k"] / 255,
            target=target,
            steps=preset["steps"],
            alpha=preset["step_k"] / 255,
            quantize=True,
        )

    first, whole = [], []

    def endpoint():
        results.clear()  # every call computes (warm-up kept the preset)
        t0 = time.perf_counter()
        stream = adversarial.attack(store, path, "efficientnet-lite0", *values)
        next(stream)
        first.append(time.perf_counter() - t0)
        for _ in stream:
            pass
        whole.append(time.perf_counter() - t0)

    adversarial.warm_up(store)  # the second model folded and traced, as in the app
    wall, _ = interleaved_wall_cpu({"raw": raw, "endpoint": endpoint}, repeats=repeats)
    first, whole = first[-repeats:], whole[-repeats:]  # not the warm-up call's
    for _ in adversarial.attack(store, path, "efficientnet-lite0", *values):
        pass  # kept now
    t0 = time.perf_counter()
    for _ in adversarial.attack(store, path, "efficientnet-lite0", *values):
        pass
    hit = time.perf_counter() - t0
    raw_ms, first_ms, whole_ms = _ms(wall["raw"]), _ms(first), _ms(whole)
    label = "endpoint /attack, cat → iguana preset (PGD-20, ε = 4/255)"
    return [
        Row(f"{label}: raw attack", raw_ms, "ms"),
        Row(
            f"{label}: first answer (upload → pictures, top-5s)",
            first_ms,
            "ms",
            raw_ms,
            "raw attack",
            f"≤ {MAX_ENDPOINT_OVERHEAD:.1f}× the raw attack",
            first_ms <= MAX_ENDPOINT_OVERHEAD * raw_ms,
        ),
        Row(f"{label}: whole result (checks, plot, PNG)", whole_ms, "ms", raw_ms, "raw attack"),
        Row(f"{label}: the same request again (shared cache)", hit * 1000, "ms", raw_ms, "raw"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per PGD variant")
    parser.add_argument(
        "--pgd",
        type=int,
        nargs="*",
        choices=sorted(SETTINGS),
        default=sorted(SETTINGS),
        help="which PGD lengths to compare (none: FGSM only)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's choice). On a shared machine 1 thread gives the "
        "cleanest CPU times: idle OpenMP workers spin and bill CPU time while they wait",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load average {load:.1f} at start"
    )
    print(format_table(measure(args.repeats, tuple(args.pgd)), "Attacks"))


if __name__ == "__main__":
    main()
