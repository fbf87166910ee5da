"""The "Truncation" tab: trading diversity for quality by sampling codes nearer the mean.

Layout and wiring only: everything shown is advdemo.faces.truncation (truncation_settings
validates, truncation_view draws in one forward pass per update, with the measured diversity
curve). Dragging psi or tau redraws the grid and its diversity while dragging; letting go
redraws the plot as well.
"""

from __future__ import annotations

import secrets

import gradio as gr

from advdemo import ui
from advdemo.core.presets import Preset, by_key
from advdemo.faces import truncation as ft
from advdemo.models.store import ModelStore
from advdemo.ui.events import redraw_on_commit, redrawing_css

TITLE = "Truncation"
TAB_ID = "truncation"

DEFAULT_SEED, DEFAULT_PSI, DEFAULT_TAU = 0, 0.7, 1.0
DEFAULT_FIRST, DEFAULT_GRID = 1000, 16
# what the page opens with, in truncation()'s order
DEFAULT_SETTINGS = (DEFAULT_SEED, "scale", DEFAULT_PSI, DEFAULT_TAU, DEFAULT_FIRST, DEFAULT_GRID)


VARIANT_CHOICES = [
    ("scale toward the mean: z·ψ", "scale"),
    ("resample every |zᵢ| > τ (BigGAN)", "resample"),
]
PRESETS = (  # element ids and api names number them in this order
    Preset(
        "psi07",
        "ψ = 0.7 (StyleGAN's default)",
        {"variant": "scale", "psi": 0.7, "tau": DEFAULT_TAU},
    ),
    Preset(
        "psi0", "ψ = 0: everything collapses", {"variant": "scale", "psi": 0.0, "tau": DEFAULT_TAU}
    ),
    Preset(
        "psi15", "ψ = 1.5: beyond the prior", {"variant": "scale", "psi": 1.5, "tau": DEFAULT_TAU}
    ),
    Preset("tau1", "τ = 1 (BigGAN-style)", {"variant": "resample", "psi": DEFAULT_PSI, "tau": 1.0}),
)

# A redraw keeps the pictures on screen (show_progress "minimal"); Gradio's corner timer would
# add an estimate averaged over every setting (0.6 s said while a 64-face resample takes 3 s),
# so it says "redrawing…" instead.
REDRAWN = ("truncation-sweep", "truncation-grid", "truncation-summary", "truncation-plot")
CSS = "#truncation-grid img { image-rendering: pixelated; }\n" + redrawing_css(REDRAWN)


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
diversity number falls; then try ψ = 1.5. "Animate the sweep" turns one seed's whole range of
ψ (or τ) into a GIF to download, for slides.
"""


KEEP_PICTURES = {"show_progress": "minimal", "trigger_mode": "always_last"}


def _curves(store: ModelStore) -> ft.DiversityCurves:
    """The measured diversity curves of the store's face generator, kept once per store."""
    return store.derived(("truncation-curves",), lambda: ft.DiversityCurves(store.face_generator()))


def warm_up(store: ModelStore) -> None:
    """The default grid's resample curve (the scale curve is drawn at build time)."""
    _curves(store).curve("resample", DEFAULT_FIRST, DEFAULT_GRID)


def truncation(
    store: ModelStore,
    seed: float,
    variant: str,
    psi: float,
    tau: float,
    first_seed: float,
    grid_size,
):
    """One seed swept over ψ (or τ) as a strip, a grid of `grid_size` seeds from `first_seed`
    at the chosen ψ (variant "scale") or τ (variant "resample"), its measured diversity, and
    the diversity-vs-ψ (or τ) plot."""
    v = _draw(store, ft.truncation_view, seed, variant, psi, tau, first_seed, grid_size)
    return v.sweep, v.grid, v.summary, v.figure


def grid_only(store: ModelStore, *values):
    """While a slider is dragged: only the grid and its diversity (the plot waits for release).
    `values`: truncation()'s, in its order (a private endpoint: no names to publish)."""
    v = _draw(store, ft.truncation_grid, *values)
    return v.grid, v.summary


def _draw(store: ModelStore, view, *values):
    """`view` (ft.truncation_view or ft.truncation_grid) of the settings `values` (checked
    here) on the store's face generator, with its kept diversity curves."""
    settings = ft.truncation_settings(*values)
    return view(store.face_generator(), settings, curves=_curves(store))


def sweep_gif(store: ModelStore, seed: float, variant: str) -> str:
    """One seed swept over ψ from 0 to 2 (variant "scale") or τ from 0.05 to 3.95 ("resample")
    as an animated GIF, there and back, each frame captioned with ψ (τ) and ‖z‖ (api_name
    "truncation_gif"; returns the file)."""
    return str(ft.sweep_gif(store.face_generator(), seed, variant))


def show_active_slider(variant: str):
    variant = ft.check_variant(variant)
    return gr.update(visible=variant == "scale"), gr.update(visible=variant == "resample")


def set_preset(key: str):
    """Variant, ψ and τ as preset `key` sets them."""
    return by_key(PRESETS, key).pick("variant", "psi", "tau")


def new_seeds():
    return secrets.randbelow(100_000), secrets.randbelow(100_000)


def build(store: ModelStore) -> None:
    first = _draw(store, ft.truncation_view, *DEFAULT_SETTINGS)
    ui.explanation(EXPLANATION)
    seed, variant, psi, tau = _settings()
    preset_buttons = ui.preset_row(PRESETS, "truncation")
    gr.Markdown("**One seed across ψ (or τ)**, with ‖z‖ under each face")
    sweep = ui.picture(first.sweep, "sweep strip", "truncation-sweep", type="pil")
    with (
        gr.Accordion("The sweep as an animated GIF, to download", open=False),
        gr.Row(equal_height=False),
    ):
        gif_button = gr.Button(
            "Animate the sweep", elem_id="truncation-gif-button", scale=0, min_width=180
        )
        gif = gr.Image(
            None,
            label="sweep GIF",
            show_label=False,  # its badge would cover the frame's ψ caption
            type="filepath",
            interactive=False,
            buttons=["download"],
            height=260,
            elem_id="truncation-gif",
        )
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            gr.Markdown("**Many seeds at the chosen ψ (or τ)** (shown 2×, nearest-neighbour)")
            grid = ui.picture(first.grid, "grid", "truncation-grid", type="pil")
            with gr.Row():
                first_seed = ui.seed_box(DEFAULT_FIRST, "Grid: first seed", "truncation-first-seed")
                grid_size = gr.Slider(
                    ft.MIN_GRID,
                    ft.MAX_GRID,
                    value=DEFAULT_GRID,
                    step=1,
                    label="Grid: number of faces",
                    elem_id="truncation-grid-size",
                )
                new_button = gr.Button("New seeds", elem_id="truncation-new")
        with gr.Column(scale=1, min_width=300):
            summary = gr.Markdown(first.summary, label="diversity", elem_id="truncation-summary")
            plot = gr.Plot(first.figure, label="Measured diversity", elem_id="truncation-plot")

    truncation_fn = ui.friendly(ui.bind(truncation, store))
    inputs = [seed, variant, psi, tau, first_seed, grid_size]
    everything = [sweep, grid, summary, plot]
    gr.on(
        [
            psi.release,
            tau.release,
            variant.input,
            grid_size.release,
        ],
        truncation_fn,
        inputs,
        everything,
        api_name="truncation",
        **KEEP_PICTURES,
        **ui.LIGHT_LANE,
    )
    gr.on(
        [psi.input, tau.input],
        ui.friendly(ui.bind(grid_only, store)),
        inputs,
        [grid, summary],
        api_name="truncation_grid",
        api_visibility="private",
        show_progress="hidden",
        trigger_mode="always_last",
        **ui.LIGHT_LANE,
    )
    gif_button.click(
        ui.friendly(ui.bind(sweep_gif, store)),
        [seed, variant],
        gif,
        api_name="truncation_gif",
        **ui.LIGHT_LANE,
    )
    variant.change(
        ui.friendly(show_active_slider),
        variant,
        [psi, tau],
        api_name="truncation_variant_sliders",
        **ui.INSTANT,
    )
    # set the controls instantly (no queue), then redraw everything in the light lane
    private = {"api_visibility": "private"}
    redraw = dict(fn=truncation_fn, inputs=inputs, outputs=everything, **private, **ui.LIGHT_LANE)
    redraw |= KEEP_PICTURES
    for box, name in ((seed, "truncation_seed_commit"), (first_seed, "truncation_first_commit")):
        redraw_on_commit(box, name, redraw)  # Enter or leaving the box, once per new value
    ui.set_then_redraw(
        new_button, new_seeds, [seed, first_seed], "truncation_new", "truncation_new_draw", redraw
    )
    for i, (button, preset) in enumerate(zip(preset_buttons, PRESETS, strict=True)):
        setter, name = ui.bind(set_preset, preset.key), f"truncation_preset_{i}"
        ui.set_then_redraw(button, setter, [variant, psi, tau], name, f"{name}_draw", redraw)


def _settings() -> tuple:
    """The sweep's seed, the variant and its two sliders (ψ shown, τ hidden), in one row."""
    with gr.Row(equal_height=True):
        seed = ui.seed_box(DEFAULT_SEED, "Seed for the sweep", "truncation-seed")
        variant = gr.Radio(
            VARIANT_CHOICES, value="scale", label="Variant", elem_id="truncation-variant"
        )
        psi = gr.Slider(
            ft.PSI_MIN,
            ft.PSI_MAX,
            value=DEFAULT_PSI,
            step=0.05,
            label="ψ (1 = no truncation)",
            elem_id="truncation-psi",
        )
        tau = gr.Slider(
            ft.TAU_MIN,
            ft.TAU_MAX,
            value=DEFAULT_TAU,
            step=0.05,
            label="τ (threshold on |zᵢ|)",
            visible=False,
            elem_id="truncation-tau",
        )
    return seed, variant, psi, tau
