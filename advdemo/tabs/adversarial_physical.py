"""The physical-world part of the adversarial playground: does the attack survive a printer and
a camera?

Layout and wiring only; the simulation is advdemo.adversarial.physical. The attack it prints is
the playground's own, with the playground's controls, taken from the shared result cache (the
attack runs first when nobody has run it yet). Public API: "physical_world" (the attack's
parameters, then prints per strength, strength and seed → summary, survival plot, gallery).
The webcam source of the photo box itself is in tabs/adversarial.py.
"""

from __future__ import annotations

import gradio as gr

from advdemo import ui
from advdemo.adversarial import physical, playground
from advdemo.adversarial.robustness import download_image
from advdemo.core import cache, images
from advdemo.core.errors import seed
from advdemo.core.presets import Preset, by_key
from advdemo.models.store import ModelStore
from advdemo.tabs import adversarial_request as request

DEFAULTS = {"count": 8, "strength": 0.4, "seed": 0}
# The attack's controls (the playground's) and this section's, in the endpoint's order.
ATTACK_CONTROLS = ("image", "model_name", "method", "eps_k", "steps", "target", "mode")
ATTACK_CONTROLS += ("step_k", "lam")
OWN_CONTROLS = ("count", "strength", "seed")

_CAT_IGUANA = {"image": "chelsea.png", "method": "pgd", "mode": "targeted"}
_CAT_IGUANA |= {"target": "common iguana", "steps": 20, "lam": 1e-3, **DEFAULTS}
PRESETS = (
    Preset("print-4", "print the ε = 4/255 iguana", {**_CAT_IGUANA, "eps_k": 4, "step_k": 1}),
    Preset("print-16", "print the ε = 16/255 iguana", {**_CAT_IGUANA, "eps_k": 16, "step_k": 2}),
)

EXPLANATION = r"""
### Printed and photographed: the physical world
Kurakin, Goodfellow and Bengio printed adversarial images on paper, photographed them with a
phone and classified the photos: many still fooled the network (those made in one FGSM step
more often than iterative ones), so attacks are not only a matter of files. Between the file
and the photo the picture is tilted and rescaled a little, blurred by focus, lit differently
and saved as JPEG by the camera; each of these moves pixels by more than the attack's ε.

**The simulation.** *Print & photograph* draws random prints of the attack's PNG and of the
clean photo, with the very same transforms: a tilt of up to 6°, a zoom and shift of a few per
cent, a blur of up to 1.5 pixels, brightness ±0.1 and contrast ±20 %, then JPEG at a quality
between 95 and 35, all of it times the *strength* (1 is a sheet held to a laptop camera). Each
print reaches the model through the upload path (centre crop, resize). The plot repeats this
at strength/8, /4, /2 and the full strength, the same random draws made stronger, so the
curves show where the attack breaks. Survival is the share of attacked prints still read as
the target (untargeted: as none of the clean photo's classes); the blue line checks that the
prints themselves are still readable. The attack's table of checks carries one such row too.

**With a real printer.** Download the PNG, print it (or show it on a phone), pick the camera
under the photo box, hold the print up and press the shutter button: the top-5 shows what the
model reads. The frame reaches the model unmirrored, as the camera sees it.

**Try this:** press *print the ε = 4/255 iguana*, then *print the ε = 16/255 iguana*, and
compare the red curves. Measured here, 8 prints per strength: at 4/255 no print keeps the
iguana, not even the gentlest (strength 0.05, about a pixel of shift); at 16/255 five of those
eight still do, and none from strength 0.1 on (a tilt under a degree). Plain attacks are tuned
to exact pixels;
surviving a camera takes an attack made for it, one that averages its gradient over such
transforms (Athalye et al.'s expectation over transformation).
"""


def physical_world(
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
    count,
    strength,
    seed_value,
    progress=gr.Progress(),
):
    """Print and photograph the attack's PNG, simulated (api_name "physical_world").

    image .. lam: the attack, as for "attack" (its result is taken from the shared cache, or
    computed first); count: prints per strength (1..64); strength: 0..2 (1: a sheet held to a
    laptop camera); seed_value: 0..2³²−1. Returns a summary (Markdown), survival against
    strength (plot) and a gallery of a few clean and adversarial prints with their top-1.
    """
    from advdemo.tabs import adversarial  # the playground's attack (which imports this module)

    attack = (image, model_name, method, eps_k, steps, target, mode, step_k, lam)
    asked = request.read(store, *attack)
    count = physical.check_count(count)
    strength = physical.check_strength(strength)
    seed_value = seed("seed", seed_value)
    key = asked.key("physical_world", count, strength, seed_value)

    def compute():
        *_, report = adversarial.attack(store, *attack, progress=progress)
        download = report[playground.AttackReport.names().index("download")]
        return _prints(
            asked.model,
            asked.photo,
            images.load_image(download),
            asked.settings,
            count,
            strength,
            seed_value,
            progress,
        )

    return cache.shared(store).get(key, compute)


def _prints(model, photo, adversarial_png, settings, count, strength, seed_value, progress):
    """The simulation on the photo and the PNG the playground offers; what the section shows."""
    x = model.prepare(photo)
    truth = physical.clean_classes(model.probabilities(x)[0])
    progress((0, physical.LEVELS), desc="printing and photographing")
    result = physical.physical_world(
        model,
        download_image(x, model, photo),
        adversarial_png,
        truth,
        settings.target_class,
        count=count,
        strength=strength,
        seed_value=seed_value,
        progress=lambda done, total: progress((done, total), desc="photographing prints"),
    )
    return (
        physical.summary_markdown(result, model.labels),
        physical.survival_figure(result, model.labels),
        physical.gallery(result, model.labels),
    )


def layout() -> dict[str, gr.components.Component]:
    """The section's controls and outputs."""
    c: dict[str, gr.components.Component] = {}
    gr.Markdown("## Physical world: print it, photograph it", elem_id="adv-phys-title")
    with gr.Row(elem_id="adv-phys-presets"):
        for p in PRESETS:
            c[f"preset-{p.key}"] = gr.Button(p.label, size="sm", elem_id=f"adv-phys-preset-{p.key}")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            c["count"] = gr.Slider(
                1,
                physical.MAX_COUNT,
                value=DEFAULTS["count"],
                step=1,
                label="prints per strength",
                elem_id="adv-phys-count",
            )
            c["strength"] = gr.Slider(
                0,
                physical.MAX_STRENGTH,
                value=DEFAULTS["strength"],
                step=0.05,
                label="strength (1: a sheet held to a laptop camera)",
                elem_id="adv-phys-strength",
            )
            c["seed"] = ui.seed_box(DEFAULTS["seed"], "seed", "adv-phys-seed")
            c["run"] = gr.Button(
                "Print & photograph (simulated)", variant="primary", elem_id="adv-phys-run"
            )
        with gr.Column(scale=3):
            c["summary"] = gr.Markdown("", elem_id="adv-phys-summary")
            with gr.Row(equal_height=False):
                c["plot"] = gr.Plot(label="survival", elem_id="adv-phys-plot")
                c["gallery"] = gr.Gallery(
                    label="prints at the chosen strength: clean, then attacked",
                    columns=2,
                    height="auto",
                    object_fit="contain",
                    elem_id="adv-phys-gallery",
                )
    ui.explanation(EXPLANATION)
    return c


def preset_values(key: str, names: tuple[str, ...]) -> tuple:
    """The preset's values of `names`; its photo as the example's path."""
    preset = by_key(PRESETS, key)
    values = {**preset.values, "image": str(images.asset(preset["image"]))}
    return tuple(values.get(n, gr.skip()) for n in names)


def wire(store: ModelStore, c: dict, playground_controls: dict) -> None:
    """The section's events; `playground_controls`: the playground's inputs, by parameter."""
    controls = {**playground_controls, **c}
    run = (
        ui.on_gpu(ui.friendly(ui.bind(physical_world, store))),
        [controls[k] for k in ATTACK_CONTROLS + OWN_CONTROLS],
        [c["summary"], c["plot"], c["gallery"]],
    )
    c["run"].click(*run, api_name="physical_world", **ui.HEAVY_LANE)
    names = tuple(n for n in ATTACK_CONTROLS + OWN_CONTROLS if n != "model_name")
    setter = ui.friendly(preset_values)
    for p in PRESETS:
        c[f"preset-{p.key}"].click(
            lambda k=p.key: setter(k, names), None, [controls[n] for n in names], **ui.INSTANT
        ).then(*run, api_visibility="private", **ui.HEAVY_LANE)
