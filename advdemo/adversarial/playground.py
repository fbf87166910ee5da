"""The adversarial playground's work, from a user's settings to what the tab shows: check the
settings, attack a photo (with progress), measure the perturbation, run the robustness checks
(PNG, JPEG, transfer to a second model), and write the summary, metrics and checks as Markdown;
and the ε sweep. Models come in as arguments; nothing here knows about Gradio.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from torch import Tensor

from advdemo.adversarial import attacks, physical
from advdemo.adversarial.base import (
    MAX_EPS_K,
    MAX_LAMBDA,
    Attack,
    AttackStep,
    ProbabilityTrace,
    check_steps,
)
from advdemo.adversarial.classes import class_from_choice
from advdemo.adversarial.fgsm import fgsm
from advdemo.adversarial.metrics import PerturbationSize, magnified_perturbation, perturbation_size
from advdemo.adversarial.plots import sweep_figure, trace_figure
from advdemo.adversarial.robustness import (
    Check,
    download_frame_size,
    download_image,
    robustness_checks,
)
from advdemo.adversarial.sweep import eps_sweep
from advdemo.core import images
from advdemo.core.errors import InputError, choice, finite, whole
from advdemo.models import registry

MODES = ("untargeted", "targeted")
# Where an attack begins: the photo, or "nothing" (the lecture's first experiment): uniform
# noise (seeded, the same for everyone) or flat mid-grey, which then stands in for the photo.
STARTS = ("photo", "noise", "grey")
NOISE_SEED = 0
SWEEP_KS = range(17)  # eps = 0..16 / 255
SWEEP_PGD_STEPS = 10
TRANSFER_MODELS = ("efficientnet-lite2", "efficientnet-lite0")  # the second model, and its stand-in

CHECKING = "**Does it survive?** Checking the PNG, JPEG, prints and the second model…"

# What a long job tells the user: (done, total) or None for "busy", and a description.
Progress = Callable[[tuple[int, int] | None, str], None]


def _no_progress(done: tuple[int, int] | None, desc: str) -> None:
    return None


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """Checked settings of one attack (or sweep): the attack, the target class (None when
    untargeted) and the budgets in grey levels."""

    attack: Attack
    target_class: int | None
    eps_k: int
    steps: int = 1
    step_k: int = 1
    lam: float = 0.0
    start: str = "photo"


def check_mode(mode: object) -> str:
    return choice("mode", mode, list(MODES))


def _target_class(labels: list[str], target: object, mode: str) -> int | None:
    return class_from_choice(labels, target) if mode == "targeted" else None


def attack_settings(
    labels: list[str], method, eps_k, steps, target, mode, step_k, lam, start="photo"
) -> Settings:
    """The attack endpoint's parameters checked, in the order users see the messages."""
    attack = attacks.get(method)
    mode = check_mode(mode)
    eps_k = whole("eps (k/255)", eps_k, 0, MAX_EPS_K)
    step_k = whole("step size (k/255)", step_k, 1, MAX_EPS_K)
    steps = check_steps(steps)
    lam = finite("λ", lam, 0, MAX_LAMBDA)
    start = choice("start", start, list(STARTS))
    if attack.targeted == "required" and mode != "targeted":
        raise InputError(
            f"{attack.subject} always steers toward a target class: choose 'targeted'."
        )
    target_class = _target_class(labels, target, mode)
    return Settings(attack, target_class, eps_k, steps, step_k, lam, start)


def sweep_settings(labels: list[str], method, target, mode, eps_k) -> Settings:
    """The sweep endpoint's parameters checked."""
    attack = attacks.get(method)
    mode = check_mode(mode)
    eps_k = whole("eps (k/255)", eps_k, 0, MAX_EPS_K)
    return Settings(attack, _target_class(labels, target, mode), eps_k)


AUTO_TRANSFER = "auto"


def transfer_model_name(name: str, chosen: str | None = AUTO_TRANSFER) -> str:
    """The second model of the transfer check: `chosen` (any classifier's registry name but
    the attacked model's, "timm/<name>" included), or by default Lite2 (Lite0 when Lite2 is
    attacked). Names are checked and timm aliases made full (registry.classifier_name)."""
    attacked = registry.classifier_name(name)
    if chosen in (None, "", AUTO_TRANSFER):
        return TRANSFER_MODELS[0] if attacked != TRANSFER_MODELS[0] else TRANSFER_MODELS[1]
    second = registry.classifier_name(chosen)
    if second == attacked:
        raise InputError("The transfer check needs a second model: pick another one.")
    return second


def start_image(photo: Image.Image, start: str, model) -> Image.Image:
    """The picture an attack begins from: the photo itself, or, to start from nothing, flat
    mid-grey or uniform noise (seeded) the size of the download's frame, so the model's centre
    crop takes it pixel for pixel and the PNG to download is that same picture, attacked."""
    if start == "photo":
        return photo
    side = download_frame_size(model.input_size, model.crop_fraction)
    if start == "grey":
        return Image.new("RGB", (side, side), (128, 128, 128))
    if start == "noise":
        rng = np.random.default_rng(NOISE_SEED)
        return Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))
    raise InputError(f"start must be one of {', '.join(STARTS)}; got {start!r}.")


@dataclass(frozen=True)
class Start:
    """The photo as the model sees it: its crop x (1, C, H, W), the clean probabilities
    (classes,) and the predicted class, the one an attack moves away from."""

    x: Tensor
    clean: Tensor
    true_class: int


def start(model, photo: Image.Image, target_class: int | None) -> Start:
    """Prepare the photo; refuse a target the model already predicts."""
    x = model.prepare(photo)
    clean = model.probabilities(x)[0]
    true_class = int(clean.argmax())
    if target_class is not None and target_class == true_class:
        raise InputError(
            f"The model already says '{model.labels[true_class]}': pick a different target."
        )
    return Start(x, clean, true_class)


def first_step(model) -> None:
    """One FGSM step on a test pattern: pays the first call's tracing and allocations."""
    x = images.sample_batch(model.input_size).to(model.device)
    fgsm(model, x, 0, 1 / 255)


# --------------------------------------------------------------------------- the attack


@dataclass(frozen=True)
class AttackReport:
    """What the playground shows after an attack, in the attack endpoint's output order."""

    adversarial: Image.Image  # the model's crop, attacked
    perturbation: Image.Image  # ×10 on mid-grey
    top5_after: dict[str, float]
    metrics: str  # Markdown
    top5_before: dict[str, float]
    original: Image.Image  # the model's crop
    summary: str  # Markdown, one line
    history: go.Figure | None  # confidence per iteration (None in the first answer)
    checks: str  # Markdown table
    download: str | None  # path of the PNG (crop plus frame; None in the first answer)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def outputs(self) -> tuple:
        return tuple(getattr(self, name) for name in self.names())


def run(
    model, begin: Start, settings: Settings, progress: Progress = _no_progress
) -> tuple[Tensor, ProbabilityTrace]:
    """Run the chosen attack on the 8-bit grid, recording the trace and reporting each step."""
    attack, steps, step_k = settings.attack, settings.steps, settings.step_k
    n = attack.iterations(steps)
    progress((0, n), f"{attack.name}: starting")

    def on_step(step: AttackStep) -> None:
        progress((step.iteration, n), f"{attack.name}: step {step.iteration}/{n}")

    trace = ProbabilityTrace(begin.true_class, settings.target_class, on_step=on_step)
    x_adv = attacks.run_attack(
        attack.key,
        model,
        begin.x,
        begin.true_class,
        eps=settings.eps_k / 255,
        target=settings.target_class,
        steps=steps,
        alpha=step_k / 255,
        lam=settings.lam,
        lr=step_k / 255,
        quantize=True,
        callback=trace,
    )
    return x_adv, trace


def attack_stages(
    model,
    photo: Image.Image,
    settings: Settings,
    *,
    second,
    second_name: str,
    folder: Path,
    progress: Progress = _no_progress,
) -> Iterator[AttackReport]:
    """Attack `photo` with `settings` on `model` (a gradient classifier) and report twice: as
    soon as the attack ends, the first answer (the pictures, top-5s, metrics and summary; no
    plot, checks or download yet: `history` and `download` None); then the whole report, with
    the confidence plot, the PNG to download saved in `folder` and the checks on `model` and on
    `second` (another classifier, called `second_name` in the checks). With a start other
    than the photo, the attack begins from that picture instead (see start_image)."""
    photo = start_image(photo, settings.start, model)
    begin = start(model, photo, settings.target_class)
    x_adv, trace = run(model, begin, settings, progress)
    first = first_answer(model, begin, x_adv, settings)
    yield first
    progress(None, "checking PNG, JPEG, prints and the second model")
    path = save_download(model, x_adv, photo, begin.true_class, settings.target_class, folder)
    checks = robustness_checks(
        model,
        x_adv,
        path,
        begin.true_class,
        settings.target_class,
        other=second,
        other_name=second_name,
    )
    png = images.load_image(path)
    checks.insert(-1, physical.print_check(model, png, begin.clean, settings.target_class))
    described = settings.attack.describe(settings.steps, settings.step_k, settings.lam)
    title = f"{described}, ε = {settings.eps_k}/255"
    yield replace(
        first,
        history=trace_figure(trace, model.labels, title, quantized=True),
        checks=checks_markdown(checks, model.labels, settings.target_class),
        download=str(path),
    )


def attack_photo(model, photo: Image.Image, settings: Settings, **kwargs) -> AttackReport:
    """The whole report of `attack_stages` (same arguments), without the first answer."""
    *_, whole = attack_stages(model, photo, settings, **kwargs)
    return whole


def save_download(
    model, x_adv: Tensor, photo: Image.Image, true_class: int, target: int | None, folder: Path
) -> Path:
    """Write the downloadable PNG (see robustness.download_image) under a readable, unique name."""
    aim = model.labels[target] if target is not None else "misclassified"
    name = f"adversarial-{_slug(model.labels[true_class])}-to-{_slug(aim)}-{uuid.uuid4().hex[:8]}"
    path = folder / f"{name}.png"
    download_image(x_adv, model, photo).save(path)
    return path


def first_answer(model, begin: Start, x_adv: Tensor, settings: Settings) -> AttackReport:
    """What the tab shows the moment the attack ends: one forward pass (the attacked crop) and
    the measurements; the plot, the checks and the download follow (see attack_stages)."""
    x, labels, eps_k = begin.x, model.labels, settings.eps_k
    size = perturbation_size(x, x_adv)
    changed = float((x_adv != x).float().mean())
    after = model.probabilities(x_adv)[0]
    return AttackReport(
        adversarial=images.to_pil(x_adv),
        perturbation=images.to_pil(magnified_perturbation(x, x_adv)),
        top5_after=top5(labels, after),
        metrics=metrics_markdown(size, eps_k, changed),
        top5_before=top5(labels, begin.clean),
        original=images.to_pil(x),
        summary=summary_markdown(labels, begin.clean, after, eps_k, size.psnr_db),
        history=None,
        checks=CHECKING,
        download=None,
    )


def top5(labels: list[str], probabilities: Tensor) -> dict[str, float]:
    """{label: probability} of the five most likely classes of one probability vector."""
    values, indices = probabilities.topk(5)
    return {labels[i]: float(v) for v, i in zip(values.tolist(), indices.tolist(), strict=True)}


# --------------------------------------------------------------------------- Markdown


def pct(p: float) -> str:
    return f"{100 * p:.1f} %" if p >= 0.001 else f"{100 * p:.2g} %"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "class"


def metrics_markdown(size: PerturbationSize, eps_k: int, changed: float) -> str:
    psnr = "∞ (identical)" if size.psnr_db == float("inf") else f"{size.psnr_db:.1f} dB"
    return (
        f"**L∞** = {size.linf_k:.0f}/255 = {size.linf:.4f} (budget ε = {eps_k}/255)  \n"
        f"**L2** = {size.l2:.3f}  \n"
        f"**PSNR** = {psnr}  \n"
        f"pixel values changed: {100 * changed:.0f} %"
    )


def checks_markdown(checks: list[Check], labels: list[str], target: int | None) -> str:
    aim = f"top-1 is **{labels[target]}**" if target is not None else "top-1 is not the original"
    rows = [
        f"**Does it survive?** Fooled means {aim}.",
        "",
        "| check | what was done | top-1 | fooled? |",
        "|---|---|---|---|",
    ]
    for c in checks:
        verdict = "**yes**" if c.fooled else "no"
        rows.append(f"| {c.name} | {c.how} | {labels[c.top1]} ({pct(c.top1_prob)}) | {verdict} |")
    return "\n".join(rows)


def summary_markdown(
    labels: list[str], clean: Tensor, after: Tensor, eps_k: int, psnr: float
) -> str:
    """ "cat 90 % → **iguana 99 %** · ε = 4/255, PSNR 45 dB": clean top-1, attacked top-1
    (`clean` and `after`: the probabilities of the crop before and after the attack)."""
    was, now = int(clean.argmax()), int(after.argmax())
    seen = "identical" if psnr == float("inf") else f"PSNR {psnr:.0f} dB"
    return (
        f"### {labels[was]} {pct(float(clean[was]))} → **{labels[now]} "
        f"{pct(float(after[now]))}**  ·  ε = {eps_k}/255, {seen}"
    )


# --------------------------------------------------------------------------- the ε sweep


def sweep_photo(
    model,
    photo: Image.Image,
    settings: Settings,
    ks: Iterable[int] = SWEEP_KS,
    progress: Progress = _no_progress,
) -> go.Figure:
    """Probabilities against eps = k/255: FGSM always (one gradient serves every eps), PGD-10
    as well unless the attack is FGSM (its step size 2.5·eps/10, at least 1/255). The λ
    method has λ, not eps, as its knob, so its sweep shows PGD."""
    ks = list(ks)
    begin = start(model, photo, settings.target_class)
    x, y, target = begin.x, begin.true_class, settings.target_class
    progress((0, len(ks)), "ε sweep: FGSM")
    sweeps = [eps_sweep(model, x, y, ks, method="fgsm", target=target)]
    if settings.attack.key != "fgsm":
        sweeps.append(
            eps_sweep(
                model,
                x,
                y,
                ks,
                method="pgd",
                target=target,
                steps=SWEEP_PGD_STEPS,
                on_chunk=lambda done, total: progress(
                    (done, total), f"ε sweep: PGD-{SWEEP_PGD_STEPS}, {done}/{total} budgets"
                ),
            )
        )
    shown_k = settings.eps_k if settings.eps_k <= max(ks) else None
    return sweep_figure(sweeps, model.labels, y, target, shown_k)
