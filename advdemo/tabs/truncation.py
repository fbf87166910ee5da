"""The "Truncation" tab: trading diversity for quality by sampling codes nearer the mean.

Layout and wiring only: everything shown is advdemo.face_views.truncation_view (validation,
one forward pass per update, the measured diversity curve). Dragging psi or tau redraws the
grid and its diversity while dragging; letting go redraws the plot as well.
"""

from __future__ import annotations

import secrets

import gradio as gr

from advdemo import face_views as fv
from advdemo import inference, ui

TITLE = "Truncation"
TAB_ID = "truncation"

DEFAULT_SEED, DEFAULT_PSI, DEFAULT_TAU = 0, 0.7, 1.0
DEFAULT_FIRST, DEFAULT_GRID = 1000, 16
VARIANT_CHOICES = [
    ("scale toward the mean: z·ψ", "scale"),
    ("resample every |zᵢ| > τ (BigGAN)", "resample"),
]
PRESETS = {
    # label: (variant, psi, tau)
    "ψ = 0.7 (StyleGAN's default)": ("scale", 0.7, DEFAULT_TAU),
    "ψ = 0: everything collapses": ("scale", 0.0, DEFAULT_TAU),
    "ψ = 1.5: beyond the prior": ("scale", 1.5, DEFAULT_TAU),
    "τ = 1 (BigGAN-style)": ("resample", DEFAULT_PSI, 1.0),
}

# The default grid's resample curve (the scale curve is drawn at build time).
inference.on_warm_up(lambda: fv.diversity_curve("resample", DEFAULT_FIRST, DEFAULT_GRID))

CSS = """
#truncation-grid img { image-rendering: pixelated; }
"""

EXPLANATION = r"""
### Truncation: fewer surprises, fewer differences
The lecture's *trick 3*: draw codes closer to the mean of the prior, and the generator makes
fewer odd faces, at the price of making them more alike. Two ways to do it:

- **Scale toward the mean**: $z' = \bar z + \psi\,(z - \bar z) = \psi\,z$ here, since the prior
  $\mathcal{N}(0, I)$ has mean $\bar z = 0$. $\psi = 1$ changes nothing, $\psi = 0$ sends every
  seed to the same code and so to the same picture, $G(\bar z)$.
- **Resample beyond a threshold** (BigGAN): every component with $|z_i| > \tau$ is drawn again
  from $\mathcal{N}(0, 1)$ restricted to $[-\tau, \tau]$; the others stay. Only the unusual parts
  of a code change, and a smaller $\tau$ leaves fewer of them.

The **diversity** figure is measured, not guessed: the mean RMS pixel difference between every
pair of faces in the grid (0 = all identical), plotted against $\psi$ (or $\tau$) for the same
seeds. Note what $\psi \to 0$ gives for this small DCGAN: not a clean "average face" but a brown
blur. Its training codes all had $\lVert z\rVert \approx \sqrt{100} = 10$; a code of length 1
is far outside anything it saw. Big models trained longer (BigGAN, StyleGAN) cope better.

*Try this:* drag ψ from 1 down to 0.5 and watch the grid's odd faces calm down while the
diversity number falls; then try ψ = 1.5.
"""


def truncation(seed: float, variant: str, psi: float, tau: float, first_seed: float, grid_size):
    """One seed swept over ψ (or τ) as a strip, a grid of `grid_size` seeds from `first_seed`
    at the chosen ψ (variant "scale") or τ (variant "resample"), its measured diversity, and
    the diversity-vs-ψ (or τ) plot."""
    v = fv.truncation_view(seed, variant, psi, tau, first_seed, grid_size)
    return v.sweep, v.grid, v.summary, v.figure


def grid_only(seed: float, variant: str, psi: float, tau: float, first_seed: float, grid_size):
    """While a slider is dragged: only the grid and its diversity (the plot waits for release)."""
    v = fv.truncation_grid(seed, variant, psi, tau, first_seed, grid_size)
    return v.grid, v.summary


def show_active_slider(variant: str):
    variant = fv.check_variant(variant)
    return gr.update(visible=variant == "scale"), gr.update(visible=variant == "resample")


def _preset(variant: str, psi: float, tau: float):
    def set_preset():
        return variant, psi, tau

    return set_preset


def new_seeds():
    return secrets.randbelow(100_000), secrets.randbelow(100_000)


def build() -> None:
    first = fv.truncation_view(
        DEFAULT_SEED, "scale", DEFAULT_PSI, DEFAULT_TAU, DEFAULT_FIRST, DEFAULT_GRID
    )
    ui.explanation(EXPLANATION)
    with gr.Row(equal_height=True):
        seed = gr.Number(
            DEFAULT_SEED,
            label="Seed for the sweep",
            precision=None,
            step=1,
            minimum=0,
            maximum=fv.MAX_SEED,
            elem_id="truncation-seed",
        )
        variant = gr.Radio(
            VARIANT_CHOICES, value="scale", label="Variant", elem_id="truncation-variant"
        )
        psi = gr.Slider(
            fv.PSI_MIN,
            fv.PSI_MAX,
            value=DEFAULT_PSI,
            step=0.05,
            label="ψ (1 = no truncation)",
            elem_id="truncation-psi",
        )
        tau = gr.Slider(
            fv.TAU_MIN,
            fv.TAU_MAX,
            value=DEFAULT_TAU,
            step=0.05,
            label="τ (threshold on |zᵢ|)",
            visible=False,
            elem_id="truncation-tau",
        )
    with gr.Row():
        preset_buttons = [
            gr.Button(label, size="sm", elem_id=f"truncation-preset-{i}")
            for i, label in enumerate(PRESETS)
        ]
    gr.Markdown("**One seed across ψ (or τ)**, with ‖z‖ under each face")
    sweep = gr.Image(
        first.sweep,
        label="sweep strip",
        show_label=False,
        type="pil",
        format="png",
        interactive=False,
        elem_id="truncation-sweep",
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            gr.Markdown("**Many seeds at the chosen ψ (or τ)** (shown 2×, nearest-neighbour)")
            grid = gr.Image(
                first.grid,
                label="grid",
                show_label=False,
                type="pil",
                format="png",
                interactive=False,
                elem_id="truncation-grid",
            )
            with gr.Row():
                first_seed = gr.Number(
                    DEFAULT_FIRST,
                    label="Grid: first seed",
                    precision=None,
                    step=1,
                    minimum=0,
                    maximum=fv.MAX_SEED,
                    elem_id="truncation-first-seed",
                )
                grid_size = gr.Slider(
                    fv.MIN_GRID,
                    fv.MAX_GRID,
                    value=DEFAULT_GRID,
                    step=1,
                    label="Grid: number of faces",
                    elem_id="truncation-grid-size",
                )
                new_button = gr.Button("New seeds", elem_id="truncation-new")
        with gr.Column(scale=1, min_width=300):
            summary = gr.Markdown(first.summary, label="diversity", elem_id="truncation-summary")
            plot = gr.Plot(first.figure, label="Measured diversity", elem_id="truncation-plot")

    inputs = [seed, variant, psi, tau, first_seed, grid_size]
    everything = [sweep, grid, summary, plot]
    gr.on(
        [
            psi.release,
            tau.release,
            variant.input,
            seed.submit,
            first_seed.submit,
            grid_size.release,
        ],
        ui.friendly(truncation),
        inputs,
        everything,
        api_name="truncation",
        trigger_mode="always_last",
        **ui.LIGHT_LANE,
    )
    gr.on(
        [psi.input, tau.input],
        ui.friendly(grid_only),
        inputs,
        [grid, summary],
        api_name="truncation_grid",
        api_visibility="private",
        show_progress="hidden",
        trigger_mode="always_last",
        **ui.LIGHT_LANE,
    )
    instant = {"api_visibility": "private", "show_progress": "hidden", "queue": False}
    variant.change(
        ui.friendly(show_active_slider),
        variant,
        [psi, tau],
        api_name="truncation_variant_sliders",
        **instant,
    )
    new_button.click(
        ui.friendly(new_seeds), None, [seed, first_seed], api_name="truncation_new", **instant
    ).then(
        ui.friendly(truncation),
        inputs,
        everything,
        api_name="truncation_new_draw",
        api_visibility="private",
        **ui.LIGHT_LANE,
    )
    for button, (p_variant, p_psi, p_tau) in zip(preset_buttons, PRESETS.values(), strict=True):
        button.click(
            ui.friendly(_preset(p_variant, p_psi, p_tau)),
            None,
            [variant, psi, tau],
            api_name=f"truncation_preset_{button.elem_id.rsplit('-', 1)[-1]}",
            **instant,
        ).then(
            ui.friendly(truncation),
            inputs,
            everything,
            api_name=f"truncation_preset_{button.elem_id.rsplit('-', 1)[-1]}_draw",
            api_visibility="private",
            **ui.LIGHT_LANE,
        )
