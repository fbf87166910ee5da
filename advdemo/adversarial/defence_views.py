"""What the defences tab shows, from a user's settings: the three trainings, the comparison of
their robustness (curve, grid, table), and the detector's report. No Gradio here: the tab hands
in the data and a cache, and turns the results into components.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import plotly.graph_objects as go
import torch
from PIL import Image
from torch import Tensor

from advdemo.adversarial import defence_plots, safetynet
from advdemo.adversarial.base import MAX_EPS_K
from advdemo.adversarial.defence import (
    Robustness,
    TrainedModel,
    Training,
    TrainProgress,
    TrainSettings,
    robustness,
)
from advdemo.adversarial.digits import DigitData
from advdemo.adversarial.pgd import pgd
from advdemo.core.errors import whole

CURVE_EPS_K = (0, 8, 16, 24, 32, 40, 48, 56, 64)  # the robustness curve's ε, in grey levels
CURVE_PGD_STEPS = 10
GRID_COLUMNS = 10  # one held-out digit of each class
STATUS_EVERY_S = 0.5  # how often a running training reports (and may be stopped)


class RecentModels:
    """The most recently used trained models, at most `size` of them (a lecture's second
    click with the same settings is instant; arbitrary settings from the API cannot fill the
    memory). Thread-safe."""

    def __init__(self, size: int = 24) -> None:
        self.size = size
        self._items: OrderedDict[tuple, TrainedModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> TrainedModel | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
            return self._items.get(key)

    def put(self, key: tuple, model: TrainedModel) -> None:
        with self._lock:
            self._items[key] = model
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def eps_from_k(eps_k: object, name: str = "ε") -> float:
    """ε in grey levels (a whole k in 0..64) to pixel units k/255."""
    return whole(f"{name} (grey levels)", eps_k, 0, MAX_EPS_K) / 255


def settings_for(methods, arch, eps_k, lam, epochs, pgd_steps, seed) -> list[TrainSettings]:
    """Checked settings of each method's training from the tab's controls."""
    eps = eps_from_k(eps_k, "training ε")
    return [
        TrainSettings(arch, method, eps, lam, epochs, seed, pgd_steps).check() for method in methods
    ]


class Trainer:
    """Trains (or takes from `cache`) one model per settings, in order.

    Iterate `run()`: it yields a one-line status at most every STATUS_EVERY_S seconds (the
    tab shows it; closing the iteration stops the training within one batch); `models` holds
    the finished ones. `progress(fraction, text)` is called after every batch. A training that
    runs past `budget_s` seconds ends there: its model is used (its summary says so) but not
    cached."""

    def __init__(
        self,
        data: DigitData,
        wanted: list[TrainSettings],
        cache: RecentModels,
        progress: Callable[[float, str], None] | None = None,
        budget_s: float | None = None,
    ) -> None:
        self.data, self.wanted, self.cache, self.progress = data, wanted, cache, progress
        self.budget_s = budget_s
        self.models: list[TrainedModel] = []
        self._unfinished: dict[TrainSettings, TrainedModel] = {}

    def key(self, settings: TrainSettings) -> tuple:
        return (self.data.name, settings)

    def run(self) -> Iterator[str]:
        untrained = [s for s in self.wanted if self.cache.get(self.key(s)) is None]
        for i, settings in enumerate(untrained):
            label = f"training {settings.title} ({i + 1} of {len(untrained)})"
            run = Training(self.data, settings, budget_s=self.budget_s)
            last = -1.0
            for step in run:
                text = self._status(label, step)
                if self.progress is not None:
                    self.progress((i + step.fraction) / len(untrained), text)
                if step.seconds - last >= STATUS_EVERY_S:
                    last = step.seconds
                    yield text
            if run.result.complete:
                self.cache.put(self.key(settings), run.result)
            else:
                self._unfinished[settings] = run.result
        self.models = [self.cache.get(self.key(s)) or self._unfinished[s] for s in self.wanted]

    @staticmethod
    def _status(label: str, step: TrainProgress) -> str:
        return f"{label}: epoch {step.epoch + 1} of {step.epochs}, loss {step.loss:.3f}"


def train_now(trainer: Trainer) -> list[TrainedModel]:
    """Run a trainer to the end without showing its status (tests, benchmarks, warm-up)."""
    for _ in trainer.run():
        pass
    return trainer.models


def grid_digits(data: DigitData) -> tuple[Tensor, Tensor]:
    """The first held-out digit of each class, 0 to 9."""
    picks = [int((data.test_y == c).nonzero()[0, 0]) for c in range(GRID_COLUMNS)]
    return data.test_x[picks], data.test_y[picks]


@dataclass
class Comparison:
    """The three models side by side: curves, the grid at ε, and a summary table."""

    curves: list[tuple[str, Robustness]]
    eps: float
    summary: str
    figure: go.Figure
    grid: Image.Image
    losses: go.Figure


def compare(models: list[TrainedModel], data: DigitData, eps: float) -> Comparison:
    """Robust accuracy of each model against ε (FGSM and PGD) and its attacked digits at `eps`
    (PGD, white box against that very model)."""
    eps_values = sorted({k / 255 for k in CURVE_EPS_K} | {eps})
    curves = [(m.settings.method, robustness(m, data, eps_values)) for m in models]
    x, y = grid_digits(data)
    rows = []
    for m in models:
        x_adv = pgd(m.net, x, y, eps, 2.5 * eps / CURVE_PGD_STEPS, CURVE_PGD_STEPS, seed=0)
        with torch.no_grad():
            rows.append((m.settings.title.split(" (")[0], x_adv, m.net(x_adv).argmax(-1)))
    return Comparison(
        curves,
        eps,
        summary_table(models, curves, eps),
        defence_plots.robustness_figure(curves, eps),
        defence_plots.digit_grid(x, y, rows, eps),
        defence_plots.loss_figure([(m.settings.method, m) for m in models]),
    )


def summary_table(
    models: list[TrainedModel], curves: list[tuple[str, Robustness]], eps: float
) -> str:
    """A Markdown table: clean, FGSM and PGD accuracy at `eps`, training time per model."""
    k = round(eps * 255)
    lines = [
        f"| model | clean | FGSM, ε = {k}/255 | PGD-{CURVE_PGD_STEPS}, ε = {k}/255 | trained in |",
        "|---|---|---|---|---|",
    ]
    for m, (_, r) in zip(models, curves, strict=True):
        i = min(range(len(r.eps)), key=lambda j: abs(r.eps[j] - eps))
        cut = f" ({m.stopped})" if m.stopped else ""
        lines.append(
            f"| {m.settings.title} | {m.clean_accuracy:.1%} | {r.fgsm[i]:.1%} | "
            f"{r.pgd[i]:.1%} | {m.seconds:.1f} s{cut} |"
        )
    return "\n".join(lines)


def training_report(model: TrainedModel) -> str:
    s = model.settings
    what = {
        "standard": "clean digits only",
        "fgsm": f"clean + λ = {s.lam:g} × FGSM examples at ε = {round(s.eps * 255)}/255",
        "pgd": f"PGD-{s.pgd_steps} examples at ε = {round(s.eps * 255)}/255",
    }[s.method]
    ended = f" ({model.stopped})" if model.stopped else ""
    return (
        f"### {s.title}: {model.clean_accuracy:.1%} of held-out digits right\n"
        f"{s.arch.upper()}, {len(model.losses)} epochs on {what}, seed {s.seed}, "
        f"{model.seconds:.1f} s{ended}."
    )


@dataclass
class DetectorView:
    summary: str
    figure: go.Figure
    grid: Image.Image


def detector_view(
    classifier: TrainedModel,
    detector: TrainedModel,
    data: DigitData,
    settings: safetynet.DetectorSettings,
    weight: float,
) -> DetectorView:
    """The detector against plain and adaptive PGD on held-out digits, with pictures."""
    plain, adaptive, x_plain, x_adaptive = safetynet.evaluate(
        classifier.net, detector.net, data, settings, weight=weight
    )
    x, y = grid_digits(data)
    picks = torch.stack([(data.test_x == d).flatten(1).all(1).nonzero()[0, 0] for d in x])
    rows = []
    for title, images in (("plain PGD", x_plain[picks]), ("adaptive", x_adaptive[picks])):
        with torch.no_grad():
            said = classifier.net(images).argmax(-1)
            flagged = detector.net(images).argmax(-1) == safetynet.ADVERSARIAL
        rows.append((title, images, said, flagged))
    grid = defence_plots.digit_grid(
        x,
        y,
        [r[:3] for r in rows],
        settings.eps,
        show_perturbation=False,
        flags=[r[3] for r in rows],
    )
    k = round(settings.eps * 255)
    summary = (
        f"### The detector flags {plain.detected:.0%} of the digits plain PGD fooled; "
        f"against the adaptive attack, {adaptive.detected:.0%}\n"
        f"ε = {k}/255, PGD-{settings.steps}. Classifier: {classifier.settings.title}, "
        f"{classifier.clean_accuracy:.1%} clean. Detector: {detector.clean_accuracy:.1%} right "
        f"on held-out clean and PGD digits, false alarms on {plain.false_alarms:.0%} of clean "
        f"ones. Fooled both: {plain.fooled_both:.0%} of digits with plain PGD, "
        f"{adaptive.fooled_both:.0%} with the adaptive attack (weight {weight:g})."
    )
    return DetectorView(summary, defence_plots.detection_figure([plain, adaptive]), grid)
