"""The "Adversarial playground" tab: a cat becomes an iguana for the classifier, not for you.

Layout and wiring only: attacks, checks, metrics and plots are advdemo.adversarial (the
playground module runs a whole attack), the models come from the store. Public API:
"classify" (image, model → top-5), "attack" (image, model, method, eps, steps, target, ... →
adversarial image, perturbation ×10, top-5 after, metrics, top-5 before, original, summary,
confidence plot, robustness checks, PNG) and "eps_sweep" (→ plot of probabilities against
eps = 0..16/255); "linearity" and the attack's start are tabs/adversarial_why.py's.
Per-session state: the photo last chosen (ui.SessionLatest); the page empties old results.
"""

from __future__ import annotations

import inspect
import json

import gradio as gr

from advdemo import ui
from advdemo.adversarial import attacks, physical, playground
from advdemo.adversarial.base import MAX_EPS_K, MAX_LAMBDA, MAX_STEPS
from advdemo.adversarial.classes import class_choices
from advdemo.core import cache, files, images
from advdemo.core.presets import Preset, by_key
from advdemo.models import registry
from advdemo.models.store import ModelStore
from advdemo.tabs import adversarial_physical as physical_section
from advdemo.tabs import adversarial_request as request
from advdemo.tabs import adversarial_why as why

TITLE = "Adversarial playground"
TAB_ID = "adversarial"

DEFAULT_MODEL = "efficientnet-lite0"
DEFAULT_TARGET = "common iguana"
DOWNLOAD_MAX_AGE_S = 3600
IMAGE_HEIGHT = 300
EXAMPLES = ["chelsea.png", "coffee.png", "rocket.jpg", "astronaut.jpg"]
OPENING_PHOTO = EXAMPLES[0]

MODE_CHOICES = [
    ("untargeted: away from the predicted class", "untargeted"),
    ("targeted: toward the class below", "targeted"),
]

# Each preset: the photo, then the controls it sets; one click sets them and runs the attack.
PRESETS = (
    Preset(
        "cat-iguana",
        "cat → iguana (targeted PGD)",
        {
            "image": "chelsea.png",
            "method": "pgd",
            "mode": "targeted",
            "target": "common iguana",
            "eps_k": 4,
            "step_k": 1,
            "steps": 20,
            "lam": 1e-3,
            "start": "photo",
        },
    ),
    Preset(
        "panda",
        "panda-style FGSM, ε = 2/255 (espresso)",
        {
            "image": "coffee.png",
            "method": "fgsm",
            "mode": "untargeted",
            "target": "common iguana",
            "eps_k": 2,
            "step_k": 1,
            "steps": 20,
            "lam": 1e-3,
            "start": "photo",
        },
    ),
    Preset(
        "lecture",
        "lecture's λ method (cat → iguana)",
        {
            "image": "chelsea.png",
            "method": "lecture",
            "mode": "targeted",
            "target": "common iguana",
            "eps_k": 16,
            "step_k": 1,
            "steps": 40,
            "lam": 1e-3,
            "start": "photo",
        },
    ),
    why.NOTHING,
)

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
Its step size never shrinks, though: near the top the next step can overshoot, and the
confidence curve dips again, so the last step is not always the best one. The app therefore
hands back the strongest 8-bit image any step produced (the star on the curve); more steps can
only help. The λ method and the ε sweep do the same.

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

# The attack endpoint's parameters a preset sets, in the endpoint's order after the model.
AUTO_TRANSFER = playground.AUTO_TRANSFER
_PRESET_PARAMETERS = ("method", "eps_k", "steps", "target", "mode", "step_k", "lam", "start")

READY = "### Press a preset above, or set the controls and press *Attack*."

CSS = """
#adv-perturbation img { image-rendering: pixelated; }
#adv-summary h3 { margin: 0; font-size: var(--text-xxl); font-weight: 500; }
#adv-metrics p { font-size: var(--text-lg); }
#adv-checks th:last-child, #adv-checks td:last-child { white-space: nowrap; }
#adv-image label { max-width: 100%; white-space: normal; }
"""


# --------------------------------------------------------------------------- endpoints


def warm_up(store: ModelStore) -> None:
    """Build both built-in classifiers' gradient paths (BatchNorm folded: every attack runs on
    the first, every transfer check asks the second) and take one attack step on each, so a
    lecture's first click pays for neither the folding and tracing nor first-call allocations;
    then run the presets once (see below)."""
    for name in ("efficientnet-lite0", "efficientnet-lite2"):
        playground.first_step(store.gradient_classifier(name))
    # The presets are what a whole lecture hall presses at once: computed here, a few seconds
    # of CPU, every press is served from the shared result cache; the opening photo's top-5 too.
    for preset in PRESETS:
        image, *values = apply_preset(preset.key, _PRESET_PARAMETERS)
        for _ in attack(store, image, DEFAULT_MODEL, *values):
            pass
    opening_top5(store)


def classify(store: ModelStore, image, model_name) -> dict[str, float]:
    """Top-5 classes of a photo (api_name "classify").

    image: a photo (file); model_name: a classifier's registry name, e.g.
    "efficientnet-lite0". The photo is centre-cropped and resized as the model expects.
    """
    model = request.classifier(store, model_name)
    photo = physical.check_photo(images.load_image(image))  # a webcam frame, too

    def top5() -> dict[str, float]:
        return model.top_k(model.prepare(photo), 5)[0]

    return cache.shared(store).get(cache.content_key("classify", model_name, photo), top5)


def attack(
    store: ModelStore,
    image,
    model_name,
    method,
    eps_k,
    steps,
    target,
    mode,
    step_k,
    lam,
    start="photo",
    transfer=AUTO_TRANSFER,
    progress=gr.Progress(),
):
    """Attack a photo (api_name "attack").

    image: a photo; model_name: classifier name ("efficientnet-lite0"); method: "fgsm", "pgd"
    or "lecture"; eps_k: L∞ budget in grey levels, eps = eps_k/255 (0..64); steps: iterations
    (1..500, PGD and lecture); target: an ImageNet class name (used when targeted); mode:
    "untargeted" or "targeted"; step_k: PGD step size / the lecture method's learning rate in
    grey levels (1..16); lam: λ of the lecture's method (0..100); start: where the attack begins,
    "photo" (the default), or from nothing: "noise" or "grey" (then the photo is not used).
    transfer: the second model of the transfer check ("auto", or any classifier name,
    "timm/<name>" included).
    Returns the adversarial image (the model's centre crop, attacked), the perturbation ×10 on
    grey, top-5 after, the metrics, top-5 before, the original crop, a one-line summary, the
    confidence plot, the robustness checks and the downloadable PNG (crop plus frame). Streams:
    the pictures, top-5s and summary come first, as soon as the attack ends (without plot and
    PNG); the complete result, which gradio_client returns, follows the checks.
    """
    values = (method, eps_k, steps, target, mode, step_k, lam, start)
    asked = request.read(store, image, model_name, *values, transfer=transfer)
    folder = files.output_dir("adversarial")
    files.prune(folder, "*.png", DOWNLOAD_MAX_AGE_S)
    # the second model is loaded now: if it is unavailable, the user hears so before the attack
    second_model = store.gradient_classifier(asked.second, progress=True)

    def stages():
        return playground.attack_stages(
            asked.model,
            asked.photo,
            asked.settings,
            second=second_model,
            second_name=registry.spec(asked.second).title.split(",")[0],
            folder=folder,
            progress=lambda done, desc: progress(done, desc=desc),
        )

    # The same photo, model and settings give the same report: computed once for everyone
    # (a lecture's preset), kept while its PNG to download still exists. The first answer
    # (pictures, top-5s) comes as soon as the attack ends, the plot and the checks after.
    valid = request.download_exists
    for report in cache.shared(store).stream(asked.attack_key, stages, valid=valid):
        yield report.outputs()


def attack_known(
    store: ModelStore,
    image,
    model_name,
    method,
    eps_k,
    steps,
    target,
    mode,
    step_k,
    lam,
    start="photo",
    transfer=AUTO_TRANSFER,
    progress=None,
) -> bool:
    """Whether /attack with these values is kept or being computed (so it skips the lane)."""
    values = (method, eps_k, steps, target, mode, step_k, lam, start)
    asked = request.read(store, image, model_name, *values, transfer=transfer)
    return cache.shared(store).known(asked.attack_key, valid=request.download_exists)


def sweep(
    store: ModelStore, image, model_name, method, target, mode, eps_k, progress=gr.Progress()
):
    """Probabilities against eps = 0..16/255 (api_name "eps_sweep").

    FGSM always (one gradient serves every eps); PGD-10 as well unless the method is FGSM (its
    step size 2.5·eps/10, at least 1/255). The lecture's method has λ, not eps, as its knob, so
    its sweep shows PGD. Same image, model, mode and target as the attack.
    """
    model = request.classifier(store, model_name)
    settings = playground.sweep_settings(model.labels, method, target, mode, eps_k)
    photo = images.load_image(image)
    key = cache.content_key(
        "sweep", model_name, photo, settings.attack.key, settings.target_class, settings.eps_k
    )
    return cache.shared(store).get(
        key,
        lambda: playground.sweep_photo(
            model, photo, settings, progress=lambda done, desc: progress(done, desc=desc)
        ),
    )


def opening_top5(store: ModelStore) -> dict[str, float]:
    """The top-5 of the photo the tab opens with (the cat), shown as the page loads (#20:
    'top-5 before' stayed empty until another photo was picked)."""
    return classify(store, str(images.asset(OPENING_PHOTO)), DEFAULT_MODEL)


def method_changed(method, mode):
    """Show the controls the chosen attack uses; one that needs a target is always targeted."""
    chosen = attacks.get(method)
    required = chosen.targeted == "required"
    return (
        gr.update(visible=chosen.uses("step")),  # step size
        gr.update(visible=chosen.uses("steps")),
        gr.update(visible=chosen.uses("lam")),
        gr.update(value="targeted" if required else mode, interactive=not required),
    )


def mode_changed(mode):
    return gr.update(interactive=playground.check_mode(mode) == "targeted")


def apply_preset(key, names: tuple[str, ...]):
    """The preset's photo, then its values of the controls `names`, in that order."""
    preset = by_key(PRESETS, key)
    return (str(images.asset(preset["image"])), *preset.pick(*names))


# What a new photo empties, and what each shows empty: everything the old photo's attack and
# ε sweep left (its top-5 before is replaced by the new photo's, see new_photo_top5).
CLEARED_BY_NEW_PHOTO = {
    "adversarial": None,
    "perturbation": None,
    "top5_after": None,
    "metrics": "",
    "original": None,
    "summary": READY,
    "history": None,
    "checks": "",
    "download": None,
    "sweep_plot": None,
}


def clear_in_page_js(outputs: dict[str, gr.components.Component]) -> str:
    """JavaScript returning the empty values of `outputs` (named as in CLEARED_BY_NEW_PHOTO) as
    the server sends them (an empty Label is {}, not null), for a js-only event: the page empties
    them itself, as the photo changes. Emptied by a server event, they could be emptied after the
    attack a preset starts with its photo answered (a cached answer comes at once)."""
    values = []
    for name, component in outputs.items():
        value = component.postprocess(CLEARED_BY_NEW_PHOTO[name])
        values.append(value.model_dump() if hasattr(value, "model_dump") else value)
    return f"() => {json.dumps(values)}"


def new_photo_top5(store: ModelStore, image, model_name) -> dict[str, float] | None:
    """The top-5 of a new photo ("top-5 before"); none when the photo was removed."""
    return None if image is None else classify(store, image, model_name)


# --------------------------------------------------------------------------- layout


def _photo() -> gr.Image:
    """The upload box with the example photos under it."""
    image = ui.image_upload(
        value=str(images.asset(OPENING_PHOTO)),
        label="photo (upload or webcam)",  # paste works too; the examples below say the rest
        sources=["upload", "clipboard", "webcam"],
        webcam_options=gr.WebcamOptions(mirror=False),  # a held-up print as printed
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
    return image


def _controls(start: Preset) -> dict[str, gr.components.Component]:
    """The left column's inputs, keyed as the endpoints' parameters are."""
    model_choices = [(registry.spec(n).title, n) for n in registry.names("classifier")]
    return {
        "image": _photo(),
        "model_name": gr.Dropdown(
            model_choices,
            value=DEFAULT_MODEL,
            label="classifier (online ones download on first use; or type timm/<any timm name>)",
            allow_custom_value=True,  # any timm ImageNet model; registry.classifier_name checks
            elem_id="adv-model",
        ),
        "transfer": gr.Dropdown(
            [("automatic: Lite2 (Lite0 when Lite2 is attacked)", AUTO_TRANSFER), *model_choices],
            value=AUTO_TRANSFER,
            label="transfer check: second model",
            allow_custom_value=True,
            elem_id="adv-transfer",
        ),
        "method": gr.Radio(
            attacks.choices(), value=start["method"], label="attack", elem_id="adv-method"
        ),
        "mode": gr.Radio(MODE_CHOICES, value=start["mode"], label="goal", elem_id="adv-mode"),
        "target": gr.Dropdown(
            class_choices(registry.imagenet_labels()),
            value=DEFAULT_TARGET,
            label="target class (type to search all 1000)",
            filterable=True,
            allow_custom_value=True,  # our own check answers unknown names with suggestions
            elem_id="adv-target",
        ),
        "eps_k": gr.Slider(
            0,
            MAX_EPS_K,
            value=start["eps_k"],
            step=1,
            label="ε in grey levels: each pixel moves at most k/255",
            elem_id="adv-eps",
        ),
        "step_k": gr.Slider(
            1,
            16,
            value=start["step_k"],
            step=1,
            label="step size α in grey levels (λ method: learning rate)",
            elem_id="adv-step",
        ),
        "steps": gr.Slider(
            1, MAX_STEPS, value=start["steps"], step=1, label="steps", elem_id="adv-steps"
        ),
        "lam": gr.Number(
            value=start["lam"],
            minimum=0,
            maximum=MAX_LAMBDA,
            label="λ: weight of ‖x − x₀‖² (try 0, 0.001, 0.01)",
            visible=False,
            elem_id="adv-lambda",
        ),
        "start": why.start_control(start["start"]),
    }


def _picture(label: str, elem_id: str) -> gr.Image:
    return gr.Image(
        label=label,
        format="png",
        height=IMAGE_HEIGHT,
        buttons=["fullscreen"],
        interactive=False,
        elem_id=elem_id,
    )


def _results() -> dict[str, gr.components.Component]:
    """The right column's outputs, keyed as AttackReport's fields (plus the sweep's plot)."""
    out = {"summary": gr.Markdown(READY, label="summary", show_label=False, elem_id="adv-summary")}
    with gr.Row(equal_height=False):
        with gr.Column(min_width=220):
            out["original"] = _picture("original (the model's crop)", "adv-original")
            out["top5_before"] = gr.Label(
                num_top_classes=5, label="top-5 before", elem_id="adv-before"
            )
        with gr.Column(min_width=220):
            out["perturbation"] = _picture("perturbation ×10 (grey = 0)", "adv-perturbation")
            out["metrics"] = gr.Markdown(label="metrics", show_label=False, elem_id="adv-metrics")
        with gr.Column(min_width=220):
            out["adversarial"] = _picture("adversarial", "adv-adversarial")
            out["top5_after"] = gr.Label(
                num_top_classes=5, label="top-5 after", elem_id="adv-after"
            )
            out["download"] = gr.DownloadButton(
                "⬇ adversarial PNG (re-upload it: still fools the model)",
                elem_id="adv-download",
                size="sm",
            )
    with gr.Row(equal_height=False):
        out["history"] = gr.Plot(label="confidence per iteration", elem_id="adv-history")
        out["sweep_plot"] = gr.Plot(label="ε sweep", elem_id="adv-sweep-plot")
    out["checks"] = gr.Markdown(label="robustness checks", show_label=False, elem_id="adv-checks")
    return out


def _inputs(endpoint, components: dict[str, gr.components.Component]) -> list:
    """The components that feed `endpoint`, by its parameter names (store and progress aside),
    so the wiring cannot drift from the API's parameter order."""
    names = inspect.signature(endpoint).parameters
    return [components[n] for n in names if n not in ("store", "progress")]


def build(store: ModelStore) -> None:
    start = by_key(PRESETS, "cat-iguana")
    gr.Markdown(TRY_THIS)
    with gr.Row(elem_id="adv-presets"):
        preset_buttons = {
            p.key: gr.Button(
                p.label,
                variant="primary" if p.key == "cat-iguana" else "secondary",
                elem_id=f"adv-preset-{p.key}",
            )
            for p in PRESETS
        }
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=330):
            c = _controls(start)
            with gr.Row():
                run = gr.Button("Attack", variant="primary", elem_id="adv-run")
                sweep_btn = gr.Button("ε sweep (k = 0…16)", elem_id="adv-sweep")
        with gr.Column(scale=3, elem_id="adv-results"):
            r = _results()
    why_out = why.layout()
    phys = physical_section.layout()
    with gr.Accordion("How it works", open=True):
        ui.explanation(EXPLANATION + why.EXPLANATION)

    # ---- wiring
    preset_controls = ("method", "mode", "target", "eps_k", "step_k", "steps", "lam", "start")
    # The attack's outputs are its report's fields in order; a new photo clears them all (but
    # the top-5 before, which it fills) and the sweep.
    attack_outputs = [r[k] for k in playground.AttackReport.names()]
    cleared = {k: r[k] for k in CLEARED_BY_NEW_PHOTO}
    attack_inputs = _inputs(attack, c)
    photo = ui.SessionLatest()  # a new photo holds back the old one's attack or sweep
    attacking = ui.on_gpu(ui.friendly(ui.bind(attack, store)), ready=ui.bind(attack_known, store))
    run_attack = ui.while_current(attacking, photo)
    gr.on(  # no trigger: when the page loads (the opening photo is set, not changed)
        None,
        ui.friendly(ui.bind(opening_top5, store)),
        None,
        r["top5_before"],
        api_visibility="private",
        show_progress="hidden",
        **ui.LIGHT_LANE,
    )
    # A new photo: its old results are emptied in the page at once (listeners run in order, each
    # to its end); then the server notes it (see `photo`) and classifies it ("top-5 before").
    c["image"].change(
        None, None, list(cleared.values()), js=clear_in_page_js(cleared), **ui.INSTANT
    )
    c["image"].change(photo.remember, c["image"], None, **ui.INSTANT)
    c["image"].change(
        ui.friendly(ui.bind(new_photo_top5, store)),
        [c["image"], c["model_name"]],
        r["top5_before"],
        api_visibility="private",
        show_progress="hidden",
        **ui.LIGHT_LANE,
    )
    c["model_name"].change(
        ui.friendly(ui.bind(classify, store)),
        [c["image"], c["model_name"]],
        r["top5_before"],
        api_name="classify",
        **ui.LIGHT_LANE,
    )
    c["method"].change(
        ui.friendly(method_changed),
        [c["method"], c["mode"]],
        [c["step_k"], c["steps"], c["lam"], c["mode"]],
        api_visibility="private",
        show_progress="hidden",
        queue=False,
    )
    c["mode"].change(
        ui.friendly(mode_changed),
        c["mode"],
        c["target"],
        api_visibility="private",
        show_progress="hidden",
        queue=False,
    )
    # One progress bar, over the picture being made, rather than one on every output.
    attack_progress = {"show_progress_on": [r["adversarial"], r["history"]], **ui.HEAVY_LANE}
    run.click(run_attack, attack_inputs, attack_outputs, api_name="attack", **attack_progress)
    sweep_btn.click(
        ui.while_current(ui.on_gpu(ui.friendly(ui.bind(sweep, store))), photo),
        _inputs(sweep, c),
        r["sweep_plot"],
        api_name="eps_sweep",
        **ui.HEAVY_LANE,
    )
    preset = ui.friendly(apply_preset)
    for key, button in preset_buttons.items():
        button.click(
            lambda k=key: preset(k, preset_controls),
            None,
            [c["image"], *(c[k] for k in preset_controls)],
            api_visibility="private",
            show_progress="hidden",
            queue=False,
        ).then(
            run_attack, attack_inputs, attack_outputs, api_visibility="private", **attack_progress
        )
    why.wire(store, c, why_out)
    physical_section.wire(store, phys, c)
