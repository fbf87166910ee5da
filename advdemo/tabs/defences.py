"""The "Defences & black box" tab: adversarial training, a detector, attacks without gradients.

Layout and wiring only: training, robustness, the detector and their pictures are
advdemo.adversarial (defence, safetynet, defence_views, defence_plots); the black-box attacks
are advdemo.adversarial.blackbox and .substitute (see tabs/defences_blackbox.py for their
part). The digits come from the store's checkpoint folder, trained models from a small
per-store cache (store.derived), so a second click with the same settings is instant.

Public API: "defence_train" (one model: summary, loss plot), "robustness_curve" (three models:
table, accuracy against ε, attacked digits, losses), "detector" (SafetyNet and the adaptive
attack: summary, rates, digits), plus "blackbox_attack" and "transfer" (defences_blackbox).
"""

from __future__ import annotations

import threading

import gradio as gr

from advdemo import ui
from advdemo.adversarial import defence_views as views
from advdemo.adversarial import digits, safetynet
from advdemo.adversarial.base import MAX_EPS_K
from advdemo.adversarial.defence import MAX_EPOCHS, MAX_LAMBDA, MAX_PGD_STEPS, METHODS
from advdemo.core.errors import InputError, choice, finite
from advdemo.core.presets import Preset, by_key
from advdemo.models import runtime
from advdemo.models.checkpoints import BUILTIN
from advdemo.models.store import ModelStore
from advdemo.tabs import defences_blackbox as blackbox

TITLE = "Defences & black box"
TAB_ID = "defences"

DATASET_CHOICES = [("8×8 digits (built in)", "digits"), ("MNIST 28×28 (downloads once)", "mnist")]
ARCH_CHOICES = [("MLP (2 hidden layers)", "mlp"), ("small CNN", "cnn")]
METHOD_CHOICES = [
    ("standard", "standard"),
    ("FGSM adversarial: L + λ·L_adv", "fgsm"),
    ("PGD adversarial (Madry)", "pgd"),
]
CONTROLS = ("dataset", "arch", "eps_k", "lam", "epochs", "pgd_steps", "seed")
DEFAULTS = {
    "dataset": "digits",
    "arch": "mlp",
    "method": "pgd",
    "eps_k": 51,
    "lam": 1.0,
    "epochs": 30,
    "pgd_steps": 7,
    "seed": 0,
    "weight": 1.0,
}
PRESETS = (
    Preset("compare", "three defences, ε = 51/255", DEFAULTS),
    Preset("small-eps", "a small budget: ε = 24/255", {**DEFAULTS, "eps_k": 24}),
    Preset("safetynet", "SafetyNet and the attack that fools it", DEFAULTS),
)

TRY_THIS = (
    "**Try this:** press *three defences*, then compare the orange lines: the FGSM-trained "
    "model holds against FGSM (dotted) but PGD (solid) takes it down. Set λ to 0.2 and train "
    "again; press *SafetyNet* and watch the detection rate fall once the attacker aims at both."
)

EXPLANATION = r"""
### Training against the attack
A network trained only on clean digits minimises $L(x, y)$ and has never seen a pixel pushed
the wrong way; a tiny $\varepsilon$ is enough to fool it. **Adversarial training** shows it the
attack during training. The lecture's version adds a second term, made afresh every batch
against the network as it is at that moment:
$$L_{\text{new}} = L(x, y) + \lambda\, L(x_{\text{adv}}, y), \qquad
x_{\text{adv}} = x + \varepsilon\,\operatorname{sign}\big(\nabla_x L(x, y)\big)\ \text{(FGSM)}.$$
$\lambda$ sets how much the adversarial copy counts. **Madry et al.** go further: train only on
the worst case in the ball, approximated by PGD from a random start,
$\min_\theta \mathbb{E}\,\big[\max_{\|\delta\|_\infty \le \varepsilon} L(x + \delta, y)\big]$.
Each batch then costs a PGD run (here 7 steps), so training takes several times longer.

**What to expect.** A defence fitted to one white-box attack tends to overfit to it: the
FGSM-trained network learns to make the *one-step* gradient useless, so FGSM stops working,
while PGD, walking in small steps, still finds a way in. The PGD-trained network holds longest,
and pays with a little clean accuracy. In the grid, read the answers rather than the
perturbations: with only 64 pixels nearly every one of them moves the full ε against every
model. (On larger digits such as MNIST, Madry et al. saw the perturbations against robust
networks follow the strokes, while against standard ones they look like noise.)

### SafetyNet: detect instead of resist
Train a second network to answer "clean or adversarial?" on clean digits and their PGD versions,
and refuse what it flags. It catches the attack it was trained on. But an attacker who knows
about it attacks both networks at once, stepping up the classifier's loss and down the
detector's:
$x' = \operatorname{clip}\big(x' + \alpha\,\operatorname{sign}\nabla_{x'}[L_{\text{cls}}(x', y) -
w\,L_{\text{det}}(x', \text{clean})]\big)$. The detector only made the search harder.
"""

READY = "### Press a preset above, or set the controls and press a button."
TRAIN_BUDGET_S = 240.0  # per model: a training past this ends there (and says so)


# --------------------------------------------------------------------------- endpoints


def data_for(store: ModelStore, dataset: object) -> digits.DigitData:
    """The digits `dataset` ("digits" or "mnist"), loaded once per store."""
    name = choice("dataset", dataset, list(digits.DATASETS))
    if name == "digits":
        path = store.checkpoint_dir / BUILTIN["digits"].filename
        return store.derived(("defences-data", name), lambda: digits.load_uci_digits(path))
    root = store.checkpoint_dir / "online" / "mnist"
    return store.derived(("defences-data", name), lambda: digits.load_mnist(root))


def model_cache(store: ModelStore) -> views.RecentModels:
    return store.derived(("defences-models",), views.RecentModels)


def _train(store, dataset, wanted, progress):
    """A Trainer for `wanted` on `dataset`, reporting to Gradio's progress bar."""
    data = data_for(store, dataset)
    report = lambda f, text: progress(f, desc=text)  # noqa: E731
    return data, views.Trainer(data, wanted, model_cache(store), report, TRAIN_BUDGET_S)


def defence_train(
    store, dataset, arch, method, eps_k, lam, epochs, pgd_steps, seed, progress=gr.Progress()
):
    """Train one digits classifier (api_name "defence_train"); a generator: status lines while
    it trains, then the result.

    dataset: "digits" or "mnist"; arch: "mlp" or "cnn"; method: "standard", "fgsm" or "pgd";
    eps_k: training ε in grey levels (0..64, ε = eps_k/255); lam: λ of the FGSM term (0..10);
    epochs: 1..200; pgd_steps: PGD steps per batch in training (1..40); seed: 0..2³²−1.
    Returns a summary (Markdown) and the training loss per epoch (plot).
    """
    method = choice("method", method, list(METHODS))
    wanted = views.settings_for([method], arch, eps_k, lam, epochs, pgd_steps, seed)
    _, trainer = _train(store, dataset, wanted, progress)
    for status in trainer.run():
        yield f"### {status}", gr.skip()
    (model,) = trainer.models
    yield views.training_report(model), views.defence_plots.loss_figure([(method, model)])


def robustness_curve(
    store, dataset, arch, eps_k, lam, epochs, pgd_steps, seed, progress=gr.Progress()
):
    """Train (or take from the cache) the standard, FGSM- and PGD-trained models and measure
    them (api_name "robustness_curve"); a generator: status lines, then the result.

    Parameters as defence_train's, without method; eps_k is also where the table and the
    grid of attacked digits are measured. Returns the table (Markdown), accuracy against ε
    under FGSM and PGD (plot), the held-out digits attacked by PGD against each model
    (image) and the training losses (plot).
    """
    wanted = views.settings_for(METHODS, arch, eps_k, lam, epochs, pgd_steps, seed)
    data, trainer = _train(store, dataset, wanted, progress)
    for status in trainer.run():
        yield f"### {status}", gr.skip(), gr.skip(), gr.skip()
    progress(0.99, desc="attacking the held-out digits")
    result = views.compare(trainer.models, data, views.eps_from_k(eps_k))
    yield result.summary, result.figure, result.grid, result.losses


def detector(store, dataset, arch, eps_k, epochs, seed, weight, progress=gr.Progress()):
    """SafetyNet on the standard classifier, against plain and adaptive PGD (api_name
    "detector"); a generator: status lines, then the result.

    dataset, arch, epochs, seed: as defence_train's (for the classifier and the detector);
    eps_k: the attacks' ε in grey levels (1..64); weight: how much the adaptive attack cares
    about the detector (0..100; 0 = it ignores it). Returns a summary (Markdown), the rates
    (plot) and held-out digits under both attacks with the detector's flags (image).
    """
    weight = finite("detector weight", weight, 0, safetynet.MAX_DETECTOR_WEIGHT)
    eps = views.eps_from_k(eps_k, "attack ε")
    if eps == 0:
        raise InputError("The detector needs attacks to learn from: set ε to 1/255 or more.")
    wanted = views.settings_for(["standard"], arch, eps_k, 1.0, epochs, 7, seed)
    data, trainer = _train(store, dataset, wanted, progress)
    for status in trainer.run():
        yield f"### {status}", gr.skip(), gr.skip()
    (classifier,) = trainer.models
    settings = safetynet.DetectorSettings(eps, 10, arch, min(int(epochs), 20), seed).check()
    key = ("defences-detector", data.name, classifier.settings, settings)
    found = model_cache(store).get(key)
    if found is None:
        progress(0.5, desc="making PGD examples for the detector to learn from")
        run = safetynet.training(classifier.net, data, settings)
        last = -1.0
        for step in run:
            status = f"training the detector: epoch {step.epoch + 1} of {step.epochs}"
            progress(step.fraction, desc=status)
            if step.seconds - last >= views.STATUS_EVERY_S:
                last = step.seconds
                yield f"### {status}", gr.skip(), gr.skip()
        found = run.result
        model_cache(store).put(key, found)
    progress(0.99, desc="attacking classifier and detector")
    view = views.detector_view(classifier, found, data, settings, weight)
    yield view.summary, view.figure, view.grid


def apply_preset(key: str):
    preset = by_key(PRESETS, key)
    return preset.pick(*CONTROLS, "method", "weight")


def warm_up(store: ModelStore) -> None:
    """Load the digits and train the three preset models (a few seconds, in the background),
    so the lecture's first click on *three defences* only measures them. In the app's warm-up
    thread this runs at background priority (the training must not slow the first users)."""
    if threading.current_thread() is not threading.main_thread():
        runtime.lower_thread_priority(runtime.BACKGROUND_NICENESS)
    wanted = views.settings_for(
        METHODS, *(DEFAULTS[k] for k in ("arch", "eps_k", "lam", "epochs", "pgd_steps", "seed"))
    )
    views.train_now(views.Trainer(data_for(store, "digits"), wanted, model_cache(store)))


# --------------------------------------------------------------------------- layout


def _controls() -> dict[str, gr.components.Component]:
    d = DEFAULTS
    c = {
        "dataset": gr.Radio(
            DATASET_CHOICES, value=d["dataset"], label="data", elem_id="def-dataset"
        ),
        "arch": gr.Radio(ARCH_CHOICES, value=d["arch"], label="network", elem_id="def-arch"),
        "method": gr.Radio(
            METHOD_CHOICES,
            value=d["method"],
            label="training (for *Train one*)",
            elem_id="def-method",
        ),
        "eps_k": gr.Slider(
            0,
            MAX_EPS_K,
            value=d["eps_k"],
            step=1,
            elem_id="def-eps",
            label="ε in grey levels (k/255): training budget and where we measure",
        ),
        "lam": gr.Slider(
            0,
            MAX_LAMBDA,
            value=d["lam"],
            step=0.1,
            elem_id="def-lam",
            label="λ: weight of the FGSM term",
        ),
        "epochs": gr.Slider(
            1, MAX_EPOCHS, value=d["epochs"], step=1, label="epochs", elem_id="def-epochs"
        ),
        "pgd_steps": gr.Slider(
            1,
            MAX_PGD_STEPS,
            value=d["pgd_steps"],
            step=1,
            label="PGD steps per batch (Madry training)",
            elem_id="def-pgd-steps",
        ),
        "seed": ui.seed_box(d["seed"], "seed (weights, batch order)", "def-seed"),
        "weight": gr.Slider(
            0,
            10,
            value=d["weight"],
            step=0.1,
            elem_id="def-weight",
            label="adaptive attack: weight of fooling the detector",
        ),
    }
    return c


def build(store: ModelStore) -> None:
    gr.Markdown(
        "Three ways to train the same small network on handwritten digits, one detector, and "
        "attacks that never see a gradient. " + TRY_THIS,
        elem_id="def-intro",
    )
    with gr.Row(elem_id="def-presets"):
        buttons = {
            p.key: gr.Button(
                p.label, variant="primary" if i == 0 else "secondary", elem_id=f"def-preset-{p.key}"
            )
            for i, p in enumerate(PRESETS)
        }
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            c = _controls()
            with gr.Row():
                compare_btn = gr.Button(
                    "Train three & compare", variant="primary", elem_id="def-compare"
                )
                train_btn = gr.Button("Train one", elem_id="def-train")
            with gr.Row():
                detect_btn = gr.Button("Detector", elem_id="def-detect")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="def-stop")
        with gr.Column(scale=3):
            summary = gr.Markdown(READY, elem_id="def-summary")
            curve = gr.Plot(label="robust accuracy against ε", elem_id="def-curve")
            grid = ui.picture(None, "held-out digits and their PGD versions", "def-grid")
            with gr.Row():
                losses = gr.Plot(label="training loss", elem_id="def-losses")
                rates = gr.Plot(label="detector", elem_id="def-rates")
    bb = blackbox.layout()
    with gr.Accordion("How it works", open=True):
        ui.explanation(EXPLANATION + blackbox.EXPLANATION)

    # ---- wiring
    heavy = {**ui.HEAVY_LANE}
    common = [c[k] for k in CONTROLS]
    run_compare = ui.on_gpu(ui.friendly(ui.bind(robustness_curve, store)))
    run_detector = ui.on_gpu(ui.friendly(ui.bind(detector, store)))
    detector_inputs = [c[k] for k in ("dataset", "arch", "eps_k", "epochs", "seed", "weight")]
    events = [
        compare_btn.click(
            run_compare,
            common,
            [summary, curve, grid, losses],
            api_name="robustness_curve",
            **heavy,
        ),
        train_btn.click(
            ui.on_gpu(ui.friendly(ui.bind(defence_train, store))),
            [c["dataset"], c["arch"], c["method"], *common[2:]],
            [summary, losses],
            api_name="defence_train",
            **heavy,
        ),
        detect_btn.click(
            run_detector, detector_inputs, [summary, rates, grid], api_name="detector", **heavy
        ),
    ]
    preset_outputs = [*common, c["method"], c["weight"]]
    setter = ui.friendly(apply_preset)
    for key, button in buttons.items():
        follow = (
            (run_detector, detector_inputs, [summary, rates, grid])
            if key == "safetynet"
            else (run_compare, common, [summary, curve, grid, losses])
        )
        events.append(
            button.click(lambda k=key: setter(k), None, preset_outputs, **ui.INSTANT).then(
                *follow, api_visibility="private", **heavy
            )
        )
    events += blackbox.wire(store, bb)
    stop_btn.click(None, None, None, cancels=events, queue=False, api_visibility="private")
