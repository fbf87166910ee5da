"""The "why" part of the adversarial playground: an iguana from nothing, and the linear view.

Layout and wiring only (built from tabs/adversarial.py's build); the work is
advdemo.adversarial.playground (where an attack starts: the photo, noise or flat grey) and
advdemo.adversarial.linearity (logits along the FGSM direction, ε‖w‖₁ against n). Public API:
"linearity" (image, model, target, ε from, ε to → summary, logit curves, linear view); the
start is the last parameter of "attack" (tabs/adversarial.py).
"""

from __future__ import annotations

import gradio as gr

from advdemo import ui
from advdemo.adversarial import linearity as lin
from advdemo.adversarial import playground
from advdemo.adversarial.classes import class_from_choice
from advdemo.core import cache, images
from advdemo.core.errors import choice
from advdemo.core.presets import Preset
from advdemo.models import registry
from advdemo.models.store import ModelStore

START_CHOICES = [
    ("the photo", "photo"),
    ("noise (nothing)", "noise"),
    ("flat grey (nothing)", "grey"),
]

# The lecture's first experiment: no cat, no closeness term (λ = 0), just "make it an iguana".
# From flat grey, 12 Adam steps of 4 grey levels inside ±32/255 (measured: see the README).
NOTHING = Preset(
    "nothing",
    "iguana from nothing (λ = 0, flat grey)",
    {
        "image": "chelsea.png",
        "method": "lecture",
        "mode": "targeted",
        "target": "common iguana",
        "eps_k": 32,
        "step_k": 4,
        "steps": 12,
        "lam": 0.0,
        "start": "grey",
    },
)

TRY_THIS = (
    "**Try this:** press *Logits along the FGSM direction* and look where the blue curve bends. "
    "Then set the range to −1 … +1: within one grey level both curves are close to straight "
    "lines, and the tangent (dashed, the linear view) predicts them."
)

EXPLANATION = r"""
### An iguana from nothing
The λ method does not need a cat. Start from flat grey or from noise, set $\lambda = 0$ (no
closeness term: anything goes) and minimise only $\tfrac12\|\hat y(x) - y_{\text{iguana}}\|^2$.
From flat grey, a dozen steps later the model is sure it sees an iguana, while you see grey
with a faint texture. Noise is harder to bend: to the model it already looks like something (a
kite), so give it more room: ε = 64, step size 8 and 20 steps reach about 97 %. The space of
pictures is vast ($256^{3 \cdot 224 \cdot 224}$ of them at this size), real photos are a thin
sliver of it, and the network answers for all the rest too.

### Why it works: the linear view
For a linear score $w^\top x$, moving every input by $\eta = \varepsilon\,\operatorname{sign}(w)$
changes it by $w^\top\eta = \varepsilon\|w\|_1 = \varepsilon\, m\, n$, where $m$ is the average
size of a weight and $n$ the number of inputs. No single input moves by more than
$\varepsilon$, but the change grows with $n$: the same $\varepsilon$ buys 2,352 times more on a
224×224 colour photo ($n$ = 150,528) than on an 8×8 grey digit. FGSM takes exactly this step
with $w = \nabla_x J$, the network's local linear model.

The left plot measures it on the real network: the true and the target logit as the cat slides
along $\varepsilon\,\operatorname{sign}(\nabla_x J)$. The dashed lines are the tangents at
$\varepsilon = 0$, the linear view's prediction. They hold over about one grey level; further
out this network bends and flattens (the R² of a straight-line fit says how much). One grey
level is all FGSM needs. The right plot is $\varepsilon\, m\, n$ at $\varepsilon = 1/255$ with
this model's $m$, for images of several sizes; the star is the loss change measured on the model.
"""

READY = "Press *Logits along the FGSM direction* to measure them on the model."


def start_control(value: str = "photo") -> gr.Radio:
    """Where the attack begins (the attack endpoint's last parameter)."""
    return gr.Radio(
        START_CHOICES, value=value, label="start from (λ = 0 from nothing: an iguana)",
        elem_id="adv-start",
    )  # fmt: skip


def linearity(store: ModelStore, image, model_name, target, eps_from_k, eps_to_k):
    """Logits along the FGSM direction and the linear view (api_name "linearity").

    image: a photo; model_name: a classifier ("efficientnet-lite0"); target: an ImageNet class
    name (the second logit shown; the first is the model's top-1); eps_from_k, eps_to_k: the ε
    range in grey levels, −32 ≤ from < to ≤ 32 (the default −32 … 32).
    Returns a Markdown summary (R² of line fits, ε‖w‖₁ against the measured loss change), the
    logit plot and the linear view's plot (ε·m·n against the number of inputs n).
    """
    name = choice("model", model_name, registry.names("classifier"))
    lo, hi = lin.check_range(eps_from_k, eps_to_k)
    photo = images.load_image(image)
    model = store.gradient_classifier(name, progress=True)
    target_class = class_from_choice(model.labels, target)

    def measure():
        begin = playground.start(model, photo, target_class)
        curves = lin.logit_curves(
            model, begin.x, begin.true_class, target_class, lin.range_points(lo, hi)
        )
        return (
            lin.summary_markdown(curves, model.labels),
            lin.curves_figure(curves, model.labels),
            lin.growth_figure(curves),
        )

    key = cache.content_key("linearity", name, photo, target_class, lo, hi)
    return cache.shared(store).get(key, measure)


def layout() -> dict[str, gr.components.Component]:
    """The section's controls and outputs (the photo, model and target are the playground's)."""
    out: dict[str, gr.components.Component] = {}
    gr.Markdown("## Why it works: the linear view", elem_id="adv-why-title")
    ui.explanation(TRY_THIS, fold=False, elem_id="adv-why-try")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            with gr.Row():
                out["eps_from_k"] = gr.Number(
                    -lin.MAX_K, minimum=-lin.MAX_K, maximum=lin.MAX_K, label="ε from (k/255)",
                    min_width=120, elem_id="adv-lin-from",
                )  # fmt: skip
                out["eps_to_k"] = gr.Number(
                    lin.MAX_K, minimum=-lin.MAX_K, maximum=lin.MAX_K, label="ε to (k/255)",
                    min_width=120, elem_id="adv-lin-to",
                )  # fmt: skip
            out["run"] = gr.Button(
                "Logits along the FGSM direction", variant="primary", elem_id="adv-lin-run"
            )
        with gr.Column(scale=3):
            out["summary"] = gr.Markdown(READY, elem_id="adv-lin-summary")
            with gr.Row(equal_height=False):
                out["curves"] = gr.Plot(label="logits along the FGSM direction", elem_id="adv-lin")
                out["growth"] = gr.Plot(label="the linear view: ε‖w‖₁", elem_id="adv-lin-growth")
    return out


def wire(store: ModelStore, c: dict, out: dict) -> None:
    """The section's event: the linearity endpoint on the playground's photo, model, target."""
    out["run"].click(
        ui.on_gpu(ui.friendly(ui.bind(linearity, store))),
        [c["image"], c["model_name"], c["target"], out["eps_from_k"], out["eps_to_k"]],
        [out["summary"], out["curves"], out["growth"]],
        api_name="linearity",
        **ui.HEAVY_LANE,
    )
