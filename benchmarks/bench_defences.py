"""Defences tab: training the digits networks three ways, and the robustness curve.

Each figure beside a baseline timed in the same process, round-robin so drift hits both:
- standard training (the tab's preset, MLP, 30 epochs, one OpenMP thread per batch) against
  the textbook loop on the same data and network (plain PyTorch, the process's threads);
- FGSM- and PGD-adversarial training against standard training (what robustness costs);
- the robustness curve of the three preset models (FGSM and PGD-10 at 10 values of ε, every
  ε attacked in one batch) against the same curve attacked one ε at a time.
Run: python -m benchmarks defences
"""

from __future__ import annotations

import statistics

import torch
import torch.nn.functional as F

from advdemo.adversarial import defence, digits
from advdemo.adversarial.defence import TrainSettings
from advdemo.adversarial.defence_views import CURVE_EPS_K
from advdemo.adversarial.pgd import pgd
from advdemo.models.checkpoints import BUILTIN
from advdemo.models.runtime import single_thread
from benchmarks.common import Row, format_table, interleaved_wall_cpu

PRESET = {"arch": "mlp", "eps": 51 / 255, "lam": 1.0, "epochs": 30, "pgd_steps": 7, "seed": 0}
TARGET_S = {"standard": 5.0, "fgsm": None, "pgd": 45.0, "curve": 3.0}


def textbook(data: digits.DigitData) -> None:
    """Standard training as one would first write it: same network, data, batches, epochs."""
    net = defence.make_net("mlp", data, 0)
    optimiser = torch.optim.Adam(net.parameters(), lr=TrainSettings.lr)
    order = torch.Generator().manual_seed(1)
    for _ in range(PRESET["epochs"]):
        for index in torch.randperm(len(data.train_y), generator=order).split(64):
            loss = F.cross_entropy(net(data.train_x[index]), data.train_y[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()


def curve_one_eps_at_a_time(models, data) -> None:
    """The same curve, each ε attacked on its own (one thread too: only the batching differs)."""
    with single_thread():
        _curve_one_eps_at_a_time(models, data)


def _curve_one_eps_at_a_time(models, data) -> None:
    x, y = data.test_x, data.test_y
    for m in models:
        for k in CURVE_EPS_K:
            eps = k / 255
            defence.fgsm_accuracy(m.net, x, y, [eps])
            x_adv = pgd(m.net, x, y, eps, 2.5 * eps / 10, 10, seed=0)
            defence.accuracy(m.net, x_adv, y)


def measure(repeats: int = 2) -> list[Row]:
    data = digits.load_uci_digits(BUILTIN["digits"].path)
    settings = {m: TrainSettings(method=m, **PRESET) for m in defence.METHODS}
    models = [defence.train(data, s) for s in settings.values()]
    eps_values = [k / 255 for k in CURVE_EPS_K]
    variants = {
        **{m: (lambda s=s: defence.train(data, s)) for m, s in settings.items()},
        "textbook": lambda: textbook(data),
        "curve": lambda: [defence.robustness(m, data, eps_values) for m in models],
        "curve, one ε at a time": lambda: curve_one_eps_at_a_time(models, data),
    }
    wall, cpu = interleaved_wall_cpu(variants, repeats=repeats, warmup=0)
    s = {name: statistics.median(v) for name, v in wall.items()}
    c = {name: statistics.median(v) for name, v in cpu.items()}

    def row(figure, name, base, base_name, target=None):
        ok = None if target is None else s[name] <= target
        return Row(
            figure,
            s[name] * 1000,
            "ms",
            s[base] * 1000,
            base_name,
            f"≤ {target * 1000:.0f} ms" if target else "",
            ok,
        )

    return [
        row(
            "defences: standard training, MLP, 30 epochs",
            "standard",
            "textbook",
            "textbook loop, same data",
            TARGET_S["standard"],
        ),
        row(
            "defences: FGSM-adversarial training (L + λ·L_adv)",
            "fgsm",
            "standard",
            "standard training",
        ),
        row(
            "defences: PGD-adversarial training, 7 steps (Madry)",
            "pgd",
            "standard",
            "standard training",
            TARGET_S["pgd"],
        ),
        row(
            f"defences: robustness curve, 3 models × {len(CURVE_EPS_K)} ε, FGSM + PGD-10",
            "curve",
            "curve, one ε at a time",
            "one ε at a time",
            TARGET_S["curve"],
        ),
        *(
            Row(
                f"defences: {name}, CPU time of this process",
                c[key] * 1000,
                "ms",
                c[base] * 1000,
                f"{base_name}, CPU time",
            )
            for name, key, base, base_name in (
                ("standard training", "standard", "textbook", "textbook loop"),
                ("PGD training", "pgd", "standard", "standard training"),
                ("robustness curve", "curve", "curve, one ε at a time", "one ε at a time"),
            )
        ),
    ]


if __name__ == "__main__":
    print(format_table(measure()))
