"""The "Adversarial playground" tab: a cat becomes an iguana for the classifier, not for you.

Layout and wiring only: attacks, metrics and robustness checks are advdemo.attacks, the plots
advdemo.attack_plots, the models advdemo.inference. Public API: "classify" (image, model →
top-5), "attack" (image, model, method, eps, steps, target, ... → adversarial image,
perturbation ×10, top-5 after, metrics, top-5 before, original, summary, confidence plot,
robustness checks, PNG) and "eps_sweep" (→ plot of probabilities against eps = 0..16/255).
Per-session state: only which photo the results on screen belong to (gr.State).
"""

from __future__ import annotations

import re
import tempfile
import time
import uuid
from pathlib import Path

import gradio as gr
import torch

from advdemo import attacks, images, inference, ui
from advdemo.attack_plots import sweep_figure, trace_figure
from advdemo.errors import InputError, choice, finite, whole

TITLE = "Adversarial playground"
TAB_ID = "adversarial"

DEFAULT_MODEL = "efficientnet-lite0"
DEFAULT_TARGET = "common iguana"
SWEEP_KS = range(17)  # eps = 0..16 / 255
SWEEP_PGD_STEPS = 10
DOWNLOAD_DIR = Path(tempfile.gettempdir()) / "advdemo-adversarial"
DOWNLOAD_MAX_AGE_S = 3600
IMAGE_HEIGHT = 300
EXAMPLES = ["chelsea.png", "coffee.png", "rocket.jpg", "astronaut.jpg"]

METHOD_CHOICES = [
    ("FGSM: one step", "fgsm"),
    ("PGD: many small steps", "pgd"),
    ("lecture: ½‖ŷ − y‖² + λ‖x − x₀‖²", "lecture"),
]
MODE_CHOICES = [
    ("untargeted: away from the predicted class", "untargeted"),
    ("targeted: toward the class below", "targeted"),
]
MODES = [value for _, value in MODE_CHOICES]

# Each preset: the photo, then the controls it sets; one click sets them and runs the attack.
PRESETS = {
    "cat-iguana": {
        "button": "cat → iguana (targeted PGD)",
        "image": "chelsea.png",
        "method": "pgd",
        "mode": "targeted",
        "target": "common iguana",
        "eps_k": 4,
        "step_k": 1,
        "steps": 20,
        "lam": 1e-3,
    },
    "panda": {
        "button": "panda-style FGSM, ε = 2/255 (espresso)",
        "image": "coffee.png",
        "method": "fgsm",
        "mode": "untargeted",
        "target": "common iguana",
        "eps_k": 2,
        "step_k": 1,
        "steps": 20,
        "lam": 1e-3,
    },
    "lecture": {
        "button": "lecture's λ method (cat → iguana)",
        "image": "chelsea.png",
        "method": "lecture",
        "mode": "targeted",
        "target": "common iguana",
        "eps_k": 16,
        "step_k": 1,
        "steps": 40,
        "lam": 1e-3,
    },
}
PRESET_KEYS = ("method", "mode", "target", "eps_k", "step_k", "steps", "lam")

TRY_THIS = (
    "**Try this:** press *cat → iguana*, then set ε to 1 and run again: does the iguana still "
    "win? Press *ε sweep* to see every budget at once, and read the checks: does the attack "
    "survive JPEG, and does the second model fall for it too?"
)

EXPLANATION = r"""
### What the attack does
The classifier turns an image $x$ (pixel values in $[0, 1]$) into class probabilities
$\hat y(x)$. An attack searches for a second image $x' = x + \delta$ that the network reads
differently while no pixel moves by more than $\varepsilon$: $\|\delta\|_\infty \le \varepsilon$.
Here $\varepsilon$ is counted in grey levels of an 8-bit image, $\varepsilon = k/255$, so
$k = 1$ is the smallest change a PNG can store.

**FGSM** (Goodfellow et al.) takes a single step along the sign of the loss gradient with
respect to the pixels, not the weights:
$$x' = x + \varepsilon\,\operatorname{sign}\!\big(\nabla_x J(\theta, x, y)\big).$$
Why one step can be enough: for a linear score $w^\top x$, the step changes the score by
$w^\top \delta = \varepsilon \|w\|_1$. That grows with the number of inputs, 150,528 values for
a 224×224 colour image, while each pixel still changes by at most $\varepsilon$. Many tiny
nudges, all pushing the same way, add up. Targeted FGSM steps *down* the loss of the chosen
class instead:
$x' = x - \varepsilon\,\operatorname{sign}(\nabla_x J(\theta, x, y_{\text{target}}))$.

**PGD** repeats small FGSM steps of size $\alpha$ from a random start inside the box, and after
each step clips back into it:
$x_{t+1} = \operatorname{clip}_{[x-\varepsilon,\,x+\varepsilon] \cap [0,1]}\big(x_t +
\alpha\,\operatorname{sign}(\nabla_x J)\big)$. It finds much stronger examples than one step.

**The lecture's method** trains the image instead of the network. Starting from the cat, it
runs gradient descent on $x'$ for
$$L(x') = \tfrac12\,\big\|\hat y(x') - y_{\text{iguana}}\big\|_2^2
+ \lambda\,\|x' - x_{\text{cat}}\|_2^2 .$$
The first term pulls the prediction toward the one-hot iguana vector, the second keeps the
picture close to the cat; $\lambda$ sets the exchange rate. (Steps use Adam with the step size
as learning rate: the squared error on probabilities has tiny gradients while
$\hat y_{\text{iguana}} \approx 0$, and Adam scales each pixel's step.) The box
$\|\delta\|_\infty \le \varepsilon$ still applies.

**Reading the result.** The middle picture is $128 + 10 \cdot 255\,\delta$ per channel, clamped:
grey means unchanged (Szegedy et al. showed their perturbations the same way). L∞ is the
largest change in grey levels, L2 is $\|\delta\|_2$ over all 150,528 values, and
$\text{PSNR} = 10 \log_{10}(1/\text{MSE})$ dB; beyond about 40 dB most people see no difference.

**8 bits, on purpose.** Every image the attack tries lies on the 8-bit grid (PGD and FGSM round
each step; the λ method shows the model its rounded image), so the PNG you download is exactly
what fooled the model. It is 256×256: the 224×224 the model sees plus the 16-pixel frame that
the model's centre crop removes, so uploading it again gives the model the very same pixels.
The second model (EfficientNet-Lite2, or Lite0 when you attack Lite2) gets the same PNG its
own way: centre crop, bicubic resize to its input size (260×260 for Lite2), as any upload.
"""

READY = "### Press a preset above, or set the controls and press *Attack*."

CSS = """
#adv-perturbation img { image-rendering: pixelated; }
#adv-summary h3 { margin: 0; font-size: var(--text-xxl); font-weight: 500; }
#adv-metrics p { font-size: var(--text-lg); }
#adv-checks th:last-child, #adv-checks td:last-child { white-space: nowrap; }
"""


# --------------------------------------------------------------------------- helpers


def _classifier(model_name: object) -> inference.ImageClassifier:
    """The model for attacks: BatchNorm folded and channels_last (inference's gradient path)."""
    name = choice("model", model_name, inference.names("classifier"))
    return inference.gradient_classifier(name, progress=True)


@inference.on_warm_up
def _warm_up() -> None:
    """Build both built-in classifiers' gradient paths and take one attack step, so a lecture's
    first click does not pay for tracing and first-call allocations."""
    for name in ("efficientnet-lite0", "efficientnet-lite2"):
        model = inference.gradient_classifier(name)
        x = images.sample_batch(model.input_size).to(inference.device())
        attacks.fgsm(model, x, 0, 1 / 255)


def _transfer_model_name(name: str) -> str:
    return "efficientnet-lite2" if name != "efficientnet-lite2" else "efficientnet-lite0"


def _pct(p: float) -> str:
    return f"{100 * p:.1f} %" if p >= 0.001 else f"{100 * p:.2g} %"


def _prune_downloads() -> None:
    DOWNLOAD_DIR.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - DOWNLOAD_MAX_AGE_S
    for old in DOWNLOAD_DIR.glob("*.png"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except FileNotFoundError:
            continue  # another request pruned it first


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "class"


def _metrics_markdown(size: attacks.PerturbationSize, eps_k: int, changed: float) -> str:
    psnr = "∞ (identical)" if size.psnr_db == float("inf") else f"{size.psnr_db:.1f} dB"
    return (
        f"**L∞** = {size.linf_k:.0f}/255 = {size.linf:.4f} (budget ε = {eps_k}/255)  \n"
        f"**L2** = {size.l2:.3f}  \n"
        f"**PSNR** = {psnr}  \n"
        f"pixel values changed: {100 * changed:.0f} %"
    )


def _checks_markdown(checks: list[attacks.Check], labels: list[str], target: int | None) -> str:
    aim = f"top-1 is **{labels[target]}**" if target is not None else "top-1 is not the original"
    rows = [
        f"**Does it survive?** Fooled means {aim}.",
        "",
        "| check | what was done | top-1 | fooled? |",
        "|---|---|---|---|",
    ]
    for c in checks:
        verdict = "**yes**" if c.fooled else "no"
        rows.append(f"| {c.name} | {c.how} | {labels[c.top1]} ({_pct(c.top1_prob)}) | {verdict} |")
    return "\n".join(rows)


def _summary_markdown(
    labels: list[str], clean: torch.Tensor, after: torch.Tensor, eps_k: int, psnr: float
) -> str:
    was, now = int(clean.argmax()), int(after.argmax())
    seen = "identical" if psnr == float("inf") else f"PSNR {psnr:.0f} dB"
    return (
        f"### {labels[was]} {_pct(float(clean[was]))} → **{labels[now]} "
        f"{_pct(float(after[now]))}**  ·  ε = {eps_k}/255, {seen}"
    )


def _check_target_differs(model, true_class: int, target_class: int | None) -> None:
    if target_class is not None and target_class == true_class:
        raise InputError(
            f"The model already says '{model.labels[true_class]}': pick a different target."
        )


def _check_mode(mode: object) -> str:
    return choice("mode", mode, MODES)


def _check_method(method: object) -> str:
    return choice("method", method, list(attacks.ATTACKS))


# --------------------------------------------------------------------------- callbacks


@ui.friendly
def classify(image, model_name) -> dict[str, float]:
    """Top-5 classes of a photo (api_name "classify").

    image: a photo (file); model_name: a classifier's registry name, e.g.
    "efficientnet-lite0". The photo is centre-cropped and resized as the model expects.
    """
    model = _classifier(model_name)
    x = model.prepare(images.load_image(image))
    return model.top_k(x, 5)[0]


@ui.on_gpu
@ui.friendly
def attack(
    image,
    model_name,
    method,
    eps_k,
    steps,
    target,
    mode,
    step_k,
    lam,
    progress=gr.Progress(),
):
    """Attack a photo (api_name "attack").

    image: a photo; model_name: classifier name ("efficientnet-lite0"); method: "fgsm", "pgd"
    or "lecture"; eps_k: L∞ budget in grey levels, eps = eps_k/255 (0..64); steps: iterations
    (1..500, PGD and lecture); target: an ImageNet class name (used when targeted); mode:
    "untargeted" or "targeted"; step_k: PGD step size / the lecture method's learning rate in
    grey levels (1..64); lam: λ of the lecture's method (0..100).
    Returns the adversarial image (the model's centre crop, attacked), the perturbation ×10 on
    grey, top-5 after, the metrics, top-5 before, the original crop, a one-line summary, the
    confidence plot, the robustness checks and the downloadable PNG (crop plus frame).
    """
    model = _classifier(model_name)
    method = _check_method(method)
    mode = _check_mode(mode)
    eps_k = whole("eps (k/255)", eps_k, 0, attacks.MAX_EPS_K)
    step_k = whole("step size (k/255)", step_k, 1, attacks.MAX_EPS_K)
    steps = attacks.check_steps(steps)
    lam = finite("λ", lam, 0, attacks.MAX_LAMBDA)
    if method == "lecture" and mode != "targeted":
        raise InputError(
            "The lecture's λ method always steers toward a target class: choose 'targeted'."
        )
    target_class = attacks.class_from_choice(model.labels, target) if mode == "targeted" else None
    photo = images.load_image(image)
    x = model.prepare(photo)
    clean = model.probabilities(x)[0]
    true_class = int(clean.argmax())
    _check_target_differs(model, true_class, target_class)

    n = 1 if method == "fgsm" else steps
    name = {"fgsm": "FGSM", "pgd": "PGD", "lecture": "λ method"}[method]
    progress((0, n), desc=f"{name}: starting")

    def on_step(step: attacks.AttackStep) -> None:
        progress((step.iteration, n), desc=f"{name}: step {step.iteration}/{n}")

    trace = attacks.ProbabilityTrace(true_class, target_class, on_step=on_step)
    x_adv = attacks.run_attack(
        method,
        model,
        x,
        true_class,
        eps=eps_k / 255,
        target=target_class,
        steps=steps,
        alpha=step_k / 255,
        lam=lam,
        lr=step_k / 255,
        quantize=True,
        callback=trace,
    )

    progress(None, desc="checking PNG, JPEG and the second model")
    _prune_downloads()
    aim = model.labels[target_class] if target_class is not None else "misclassified"
    path = DOWNLOAD_DIR / (
        f"adversarial-{_slug(model.labels[true_class])}-to-{_slug(aim)}-{uuid.uuid4().hex[:8]}.png"
    )
    attacks.download_image(x_adv, model, photo).save(path)
    other_name = _transfer_model_name(model_name)
    checks = attacks.robustness_checks(
        model,
        x_adv,
        path,
        true_class,
        target_class,
        other=inference.gradient_classifier(other_name),
        other_name=inference.spec(other_name).title.split(",")[0],
    )

    size = attacks.perturbation_size(x, x_adv)
    changed = float((x_adv != x).float().mean())
    described = {
        "fgsm": "FGSM",
        "pgd": f"PGD, {steps} steps of {step_k}/255",
        "lecture": f"λ method, λ = {lam:g}, {steps} steps",
    }[method]
    figure = trace_figure(trace, model.labels, f"{described}, ε = {eps_k}/255", quantized=True)
    after = model.probabilities(x_adv)[0]
    return (
        images.to_pil(x_adv),
        images.to_pil(attacks.magnified_perturbation(x, x_adv)),
        _top5(after, model.labels),
        _metrics_markdown(size, eps_k, changed),
        _top5(clean, model.labels),
        images.to_pil(x),
        _summary_markdown(model.labels, clean, after, eps_k, size.psnr_db),
        figure,
        _checks_markdown(checks, model.labels, target_class),
        str(path),
        image,  # gr.State: which photo the results on screen belong to (hidden from the API)
    )


def _top5(probs: torch.Tensor, labels: list[str]) -> dict[str, float]:
    values, indices = probs.topk(5)
    return {labels[i]: float(v) for v, i in zip(values.tolist(), indices.tolist(), strict=True)}


@ui.on_gpu
@ui.friendly
def sweep(image, model_name, method, target, mode, eps_k, progress=gr.Progress()):
    """Probabilities against eps = 0..16/255 (api_name "eps_sweep").

    FGSM always (one gradient serves every eps); PGD-10 as well unless the method is FGSM (its
    step size 2.5·eps/10, at least 1/255). The lecture's method has λ, not eps, as its knob, so
    its sweep shows PGD. Same image, model, mode and target as the attack.
    """
    model = _classifier(model_name)
    method = _check_method(method)
    mode = _check_mode(mode)
    eps_k = whole("eps (k/255)", eps_k, 0, attacks.MAX_EPS_K)
    target_class = attacks.class_from_choice(model.labels, target) if mode == "targeted" else None
    x = model.prepare(images.load_image(image))
    true_class = int(model.probabilities(x)[0].argmax())
    _check_target_differs(model, true_class, target_class)
    progress((0, len(SWEEP_KS)), desc="ε sweep: FGSM")
    sweeps = [attacks.eps_sweep(model, x, true_class, SWEEP_KS, method="fgsm", target=target_class)]
    if method != "fgsm":
        sweeps.append(
            attacks.eps_sweep(
                model,
                x,
                true_class,
                SWEEP_KS,
                method="pgd",
                target=target_class,
                steps=SWEEP_PGD_STEPS,
                on_chunk=lambda done, total: progress(
                    (done, total), desc=f"ε sweep: PGD-{SWEEP_PGD_STEPS}, {done}/{total} budgets"
                ),
            )
        )
    shown_k = eps_k if eps_k <= max(SWEEP_KS) else None
    return sweep_figure(sweeps, model.labels, true_class, target_class, shown_k)


@ui.friendly
def method_changed(method, mode):
    """Show the controls the chosen method uses; the λ method is always targeted."""
    method = _check_method(method)
    return (
        gr.update(visible=method != "fgsm"),  # step size
        gr.update(visible=method != "fgsm"),  # steps
        gr.update(visible=method == "lecture"),  # λ
        gr.update(
            value="targeted" if method == "lecture" else mode, interactive=method != "lecture"
        ),
    )


@ui.friendly
def mode_changed(mode):
    return gr.update(interactive=_check_mode(mode) == "targeted")


@ui.friendly
def apply_preset(key):
    preset = PRESETS[choice("preset", key, list(PRESETS))]
    return (str(images.asset(preset["image"])), *(preset[k] for k in PRESET_KEYS))


@ui.friendly
def image_changed(image, model_name, results_for):
    """A new photo: forget the previous attack's results and show the new top-5.

    A preset sets the photo and runs the attack at once; on a busy server this event may be
    handled after the attack's results arrived, so results that belong to this very photo
    (results_for) are kept.
    """
    if image is not None and image == results_for:
        cleared = (gr.skip(),) * 10
    else:
        cleared = (None, None, None, "", None, READY, None, "", None, None)
    if image is None:
        return (*cleared, None)
    return (*cleared, classify.__wrapped__(image, model_name))


# --------------------------------------------------------------------------- layout


def build() -> None:
    labels = inference.imagenet_labels()
    class_names = attacks.class_choices(labels)
    model_choices = [(inference.spec(n).title, n) for n in inference.names("classifier")]
    start = PRESETS["cat-iguana"]

    gr.Markdown(TRY_THIS)
    with gr.Row(elem_id="adv-presets"):
        preset_buttons = {
            key: gr.Button(
                p["button"],
                variant="primary" if key == "cat-iguana" else "secondary",
                elem_id=f"adv-preset-{key}",
            )
            for key, p in PRESETS.items()
        }
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=330):
            image = ui.image_upload(
                value=str(images.asset("chelsea.png")),
                label="photo (upload, paste, or pick an example)",
                sources=["upload", "clipboard"],
                height=200,
                elem_id="adv-image",
            )
            gr.Examples(
                examples=[[str(images.asset(n))] for n in EXAMPLES],
                inputs=[image],
                cache_examples=False,
                label="examples (CC0 / public domain)",
                elem_id="adv-examples",
                examples_per_page=len(EXAMPLES),
            )
            model_box = gr.Dropdown(
                model_choices,
                value=DEFAULT_MODEL,
                label="classifier (online ones download on first use)",
                elem_id="adv-model",
            )
            method = gr.Radio(
                METHOD_CHOICES, value=start["method"], label="attack", elem_id="adv-method"
            )
            mode = gr.Radio(MODE_CHOICES, value=start["mode"], label="goal", elem_id="adv-mode")
            target = gr.Dropdown(
                class_names,
                value=DEFAULT_TARGET,
                label="target class (type to search all 1000)",
                filterable=True,
                allow_custom_value=True,  # our own check answers unknown names with suggestions
                elem_id="adv-target",
            )
            eps_k = gr.Slider(
                0,
                attacks.MAX_EPS_K,
                value=start["eps_k"],
                step=1,
                label="ε in grey levels: each pixel moves at most k/255",
                elem_id="adv-eps",
            )
            step_k = gr.Slider(
                1,
                16,
                value=start["step_k"],
                step=1,
                label="step size α in grey levels (λ method: learning rate)",
                elem_id="adv-step",
            )
            steps = gr.Slider(
                1,
                attacks.MAX_STEPS,
                value=start["steps"],
                step=1,
                label="steps",
                elem_id="adv-steps",
            )
            lam = gr.Number(
                value=start["lam"],
                minimum=0,
                maximum=attacks.MAX_LAMBDA,
                label="λ: weight of ‖x − x₀‖² (try 0, 0.001, 0.01)",
                visible=False,
                elem_id="adv-lambda",
            )
            with gr.Row():
                run = gr.Button("Attack", variant="primary", elem_id="adv-run")
                sweep_btn = gr.Button("ε sweep (k = 0…16)", elem_id="adv-sweep")

        with gr.Column(scale=3, elem_id="adv-results"):
            summary = gr.Markdown(
                READY,
                label="summary",
                show_label=False,
                elem_id="adv-summary",
            )
            with gr.Row(equal_height=False):
                with gr.Column(min_width=220):
                    original = gr.Image(
                        label="original (the model's crop)",
                        format="png",
                        height=IMAGE_HEIGHT,
                        buttons=["fullscreen"],
                        interactive=False,
                        elem_id="adv-original",
                    )
                    before = gr.Label(num_top_classes=5, label="top-5 before", elem_id="adv-before")
                with gr.Column(min_width=220):
                    perturbation = gr.Image(
                        label="perturbation ×10 (grey = 0)",
                        format="png",
                        height=IMAGE_HEIGHT,
                        buttons=["fullscreen"],
                        interactive=False,
                        elem_id="adv-perturbation",
                    )
                    metrics = gr.Markdown(label="metrics", show_label=False, elem_id="adv-metrics")
                with gr.Column(min_width=220):
                    adversarial = gr.Image(
                        label="adversarial",
                        format="png",
                        height=IMAGE_HEIGHT,
                        buttons=["fullscreen"],
                        interactive=False,
                        elem_id="adv-adversarial",
                    )
                    after = gr.Label(num_top_classes=5, label="top-5 after", elem_id="adv-after")
                    download = gr.DownloadButton(
                        "⬇ adversarial PNG (re-upload it: still fools the model)",
                        elem_id="adv-download",
                        size="sm",
                    )
            with gr.Row(equal_height=False):
                history = gr.Plot(label="confidence per iteration", elem_id="adv-history")
                sweep_plot = gr.Plot(label="ε sweep", elem_id="adv-sweep-plot")
            checks = gr.Markdown(label="robustness checks", show_label=False, elem_id="adv-checks")

    with gr.Accordion("How it works", open=True, elem_classes="lecture-hide"):
        ui.explanation(EXPLANATION)

    # ---- wiring
    results_for = gr.State(None)
    controls = [method, mode, target, eps_k, step_k, steps, lam]
    attack_inputs = [image, model_box, method, eps_k, steps, target, mode, step_k, lam]
    attack_outputs = [
        adversarial,
        perturbation,
        after,
        metrics,
        before,
        original,
        summary,
        history,
        checks,
        download,
        results_for,
    ]
    cleared_by_new_photo = [
        adversarial,
        perturbation,
        after,
        metrics,
        original,
        summary,
        history,
        checks,
        download,
        sweep_plot,
    ]
    image.change(
        image_changed,
        [image, model_box, results_for],
        [*cleared_by_new_photo, before],
        api_visibility="private",
        show_progress="hidden",
        **ui.LIGHT_LANE,
    )
    model_box.change(classify, [image, model_box], before, api_name="classify", **ui.LIGHT_LANE)
    method.change(
        method_changed,
        [method, mode],
        [step_k, steps, lam, mode],
        api_visibility="private",
        show_progress="hidden",
        queue=False,
    )
    mode.change(
        mode_changed, mode, target, api_visibility="private", show_progress="hidden", queue=False
    )
    # One progress bar, over the picture being made, rather than one on every output.
    attack_progress = {"show_progress_on": [adversarial, history], **ui.HEAVY_LANE}
    run.click(attack, attack_inputs, attack_outputs, api_name="attack", **attack_progress)
    sweep_btn.click(
        sweep,
        [image, model_box, method, target, mode, eps_k],
        sweep_plot,
        api_name="eps_sweep",
        **ui.HEAVY_LANE,
    )
    for key, button in preset_buttons.items():
        button.click(
            lambda k=key: apply_preset(k),
            None,
            [image, *controls],
            api_visibility="private",
            show_progress="hidden",
            queue=False,
        ).then(attack, attack_inputs, attack_outputs, api_visibility="private", **attack_progress)
