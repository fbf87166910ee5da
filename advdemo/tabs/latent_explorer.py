"""The "Latent explorer" tab: a seed, sliders along meaningful directions, and interpolation.

Layout and wiring only: pictures, read-outs and validation are advdemo.faces.views, the
directions and probes advdemo.faces.attributes. The face is a pure function of the seed box,
the sliders and the disentangle box, so there is no server-side state to keep per user:
sliders fire on every `input` while dragging (trigger_mode "always_last" drops stale moves),
and the public "generate" API takes exactly those values.
"""

from __future__ import annotations

import secrets

import gradio as gr

from advdemo import ui
from advdemo.core.errors import InputError
from advdemo.core.presets import Preset, by_key
from advdemo.faces import architecture
from advdemo.faces import attributes as fa
from advdemo.faces import inversion as inv
from advdemo.faces import views as fv
from advdemo.models.runtime import single_thread
from advdemo.models.store import ModelStore
from advdemo.ui.events import INSTANT, redraw_on_commit, redrawing_css

TITLE = "Latent explorer"
TAB_ID = "latent"

NEW_SEED_BELOW = 100_000  # "new face" draws short seeds, easy to read out in a lecture
DEFAULT_SEED, DEFAULT_END_SEED, DEFAULT_FRAMES = 0, 57, 10

CSS = """
.advdemo-readout { font-size: 15px; line-height: 1.6; }
.advdemo-readout-row { display: flex; align-items: center; gap: 8px; }
.advdemo-readout-name { width: 8.5em; font-variant-numeric: tabular-nums; }
.advdemo-readout-bar { flex: 1; height: 12px; background: #e5e7eb; border-radius: 6px;
  overflow: hidden; }
.advdemo-readout-bar > span { display: block; height: 100%; background: #2563eb; }
.advdemo-readout-value { width: 3em; text-align: right; font-variant-numeric: tabular-nums; }
.advdemo-readout-norm { margin-top: 6px; color: #4b5563; }
#latent-face img { image-rendering: pixelated; }
.advdemo-caption { font-size: 13px; color: #4b5563; }
body.lecture-mode .advdemo-readout { font-size: 22px !important; }
body.lecture-mode .advdemo-caption { font-size: 19px !important; }
""" + redrawing_css(("latent-lerp", "latent-slerp", "latent-norms", "latent-gif"))


ARCHITECTURE_MD = """
The DCGAN recipe (Radford et al.): no pooling and no fully connected layer. The code is read as
a 100-channel image of 1×1 pixel; each block is a *transposed* convolution (a learned
upsampling) with a 4×4 kernel, followed by batch norm and ReLU. The first block grows 1×1 to
4×4; each later one uses stride 2, so height and width double while the channels halve, until
the last gives 3 colour channels and tanh squeezes them into [−1, 1] (shown as [0, 1]). Shapes
and parameter counts below are read from the loaded network by running one code through it.

"""


def explanation_md() -> str:
    acc = {name: p.heldout_accuracy for name, p in fa.probes().items()}
    accuracies = ", ".join(f"{fa.READOUT[n]} {100 * acc[n]:.0f} %" for n in fa.ATTRIBUTES)
    return rf"""
### From a code to a face
The generator $G$ turns a code $z \in \mathbb{{R}}^{{100}}$, drawn from $\mathcal{{N}}(0, I)$, into
a $64 \times 64 \times 3$ picture. In training it only ever saw such random codes, so every seed
below is a face it invented. Nearby codes give nearby faces, and some *directions* in $z$ change
one thing at a time: a slider at value $s$ moves the code to $z + s\,u$ for a unit vector $u$, so
one step is one standard deviation of the prior along $u$.

- **Principal directions** (GANSpace): run 2,048 random codes through $G$'s first layer, find
  the axes along which that layer varies most (PCA), and carry each back to $z$ by regressing
  $z$ on the axis coordinate. Nobody labelled these; the notes say what we saw along them.
- **Named directions**: $u = (\bar z_{{+}} - \bar z_{{-}}) / \lVert \bar z_{{+}} - \bar z_{{-}}
  \rVert$, the difference between the mean codes of faces we labelled by hand (e.g. with and
  without glasses). *Disentangle* removes from each named direction its overlap with the
  other named ones (a linear fix, as InterFaceGAN's conditional edits).
- **Read-outs**: $P(\text{{attribute}})$ from a logistic regression on $G$'s own 8×8 feature
  maps, trained on the labelled faces and checked on faces it never saw (held-out accuracy:
  {accuracies}).

*Try this:* on seed 0 press **glasses +4**: glasses appear, and so does a shadow of a moustache,
and $P(\text{{man}})$ jumps from about 0.4 to 0.9 (on our held-out women it doubles on average).
Then **glasses +4, disentangled**: almost nothing changes, because the named directions are
already nearly orthogonal ($|\cos| \le 0.16$). The coupling is not a shared straight line in
$z$; in this generator, glasses come with heavier features that read as male. Finally drag
**PC1** and watch the head turn.
"""


INTERPOLATION_MD = r"""
### Walking from one face to another
Both rows go from the face above (start) to the end seed's face. **lerp** takes the straight
line $z_t = (1 - t)\,z_0 + t\,z_1$. **slerp** turns along the sphere instead:
$$z_t = \big((1-t)\lVert z_0\rVert + t\lVert z_1\rVert\big)
\left(\cos(t\Omega)\,\hat z_0 + \sin(t\Omega)\,\hat w\right),\quad
\cos\Omega = \hat z_0 \cdot \hat z_1,$$
where $\hat w$ is the unit vector in the plane of $z_0, z_1$ orthogonal to $\hat z_0$.
Why it matters: in 100 dimensions almost all of $\mathcal{N}(0, I)$ lies near the shell
$\lVert z\rVert \approx \sqrt{100} = 10$, and two random codes are nearly orthogonal, so the
straight line's midpoint has $\lVert z\rVert \approx 10/\sqrt 2 \approx 7$ — a code the generator
rarely met in training. The plot shows the dip; the faces in the middle of the lerp row are
flatter and duller.
*Try this:* 16 frames, then compare the middle faces of the two rows and the dip in the plot.
"""


def _zeros() -> list[float]:
    return [0.0] * len(fv.SLIDER_KEYS)


def _directions(store: ModelStore) -> fv.Directions:
    """The sliders' directions for the store's face generator, computed once per store."""
    return store.derived(("latent-directions",), lambda: fv.directions(store.face_generator()))


def warm_up(store: ModelStore) -> None:
    """Labels, directions and probes: instant, but off the first click."""
    _directions(store)
    fa.probes()


# The public API functions spell out every slider, so gradio_client users can pass any subset
# by name (the rest default to 0): client.predict(seed=7, glasses=3, api_name="/generate").
def generate(
    store: ModelStore,
    seed: float,
    disentangle: bool,
    pc1: float,
    pc2: float,
    pc3: float,
    pc4: float,
    pc5: float,
    pc6: float,
    pc7: float,
    pc8: float,
    pc9: float,
    pc10: float,
    glasses: float,
    smile: float,
    man: float,
    dark_hair: float,
    code: list | None = None,
):
    """The face of `seed` moved along each direction by its offset (in prior std units,
    |x| ≤ 5 as the sliders allow), and its attribute read-outs (HTML). A `code` (100 numbers,
    e.g. what "arithmetic_invert" found for an uploaded face) replaces the seed's code."""
    offsets = [pc1, pc2, pc3, pc4, pc5, pc6, pc7, pc8, pc9, pc10, glasses, smile, man, dark_hair]
    generator, dirs = store.face_generator(), _directions(store)
    with single_thread():  # one small face: two threads only wait on busy cores
        view = fv.face_view(generator, dirs, seed, offsets, bool(disentangle), code)
    return view.image, view.readout


def interpolate(
    store: ModelStore,
    start_seed: float,
    end_seed: float,
    frames: float,
    disentangle: bool,
    pc1: float,
    pc2: float,
    pc3: float,
    pc4: float,
    pc5: float,
    pc6: float,
    pc7: float,
    pc8: float,
    pc9: float,
    pc10: float,
    glasses: float,
    smile: float,
    man: float,
    dark_hair: float,
    code: list | None = None,
):
    """lerp and slerp strips (2–64 frames) from the edited start face (the seed's, or `code`'s
    as in generate) to the end seed's face, the plot of ‖z‖ along both paths, and a GIF."""
    offsets = [pc1, pc2, pc3, pc4, pc5, pc6, pc7, pc8, pc9, pc10, glasses, smile, man, dark_hair]
    generator = store.face_generator()
    z0, z1 = fv.interpolation_codes(
        generator, _directions(store), start_seed, end_seed, offsets, bool(disentangle), code
    )
    it = fv.interpolation(generator, z0, z1, frames)
    return it.lerp_strip, it.slerp_strip, it.norm_figure, str(it.gif_path)


# One button each; values are generate()'s parameters (sliders not named stay at 0).
PRESETS = (
    Preset("glasses", "glasses +4", {"glasses": 4.0, "disentangle": False}),
    Preset(
        "glasses-disentangled", "glasses +4, disentangled", {"glasses": 4.0, "disentangle": True}
    ),
    Preset("smile", "smile +4", {"smile": 4.0, "disentangle": False}),
    Preset("head-turn", "head turn: PC1 +3", {"pc1": 3.0, "disentangle": False}),
)


def set_preset(key: str):
    """The disentangle box and every slider as preset `key` sets them."""
    values = by_key(PRESETS, key).values
    return (values["disentangle"], *[values.get(k, 0.0) for k in fv.SLIDER_KEYS])


def new_face():
    """A new seed, the sliders at 0 and no uploaded code."""
    return (secrets.randbelow(NEW_SEED_BELOW), *_zeros(), None, gr.Group(visible=False))


def back_to_seeds():
    """Leave the uploaded face: its code is dropped and the seed's face returns."""
    return None, gr.Group(visible=False)


def open_code(code, comparison, message):
    """The arithmetic tab's inverted code opened here: the code, the photo panel shown with
    the upload beside its reconstruction, the sliders at 0, and this tab selected."""
    if not code:
        raise InputError("Upload a face and press *find its code* first.")
    return (
        code,
        gr.Group(visible=True),
        comparison,
        PHOTO_NOTE + (message or "").replace(inv.USE_IT, ""),
        *_zeros(),
        gr.Tabs(selected=TAB_ID),
    )


def reset_sliders():
    return tuple(_zeros())


def random_end():
    return secrets.randbelow(NEW_SEED_BELOW)


PHOTO_NOTE = (
    "**Your photo's code is loaded:** the sliders, presets and interpolation start from it, "
    "not from a seed; they edit G(z*), the right-hand face. "
)


def build(store: ModelStore) -> dict:
    generator, dirs = store.face_generator(), _directions(store)
    assert tuple(d.key for d in dirs) == fv.SLIDER_KEYS, (
        "the generate() signature lists the sliders by name; keep them in step"
    )
    # The page opens showing the default face and its interpolation (computed once here, in
    # well under a second; Gradio copies the files into its cache).
    first = fv.face_view(generator, dirs, DEFAULT_SEED, _zeros())
    first_codes = fv.interpolation_codes(generator, dirs, DEFAULT_SEED, DEFAULT_END_SEED, _zeros())
    first_path = fv.interpolation(generator, *first_codes, DEFAULT_FRAMES)
    ui.explanation(explanation_md())
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=320):
            photo = _photo_panel()
            with gr.Row():
                seed = ui.seed_box(DEFAULT_SEED, "Seed", "latent-seed", scale=2)
                new_button = gr.Button("New face", elem_id="latent-new", scale=1)
                reset_button = gr.Button("Reset sliders", elem_id="latent-reset", scale=1)
            face = ui.picture(
                first.image,
                "face",
                "latent-face",
                type="pil",
                buttons=["download", "fullscreen"],
                elem_classes=["advdemo-pixelated"],
            )
            gr.Markdown(
                f"G(z): the generator's 64×64 pixels shown {fv.FACE_SCALE}× larger with "
                "nearest-neighbour scaling, so each pixel is a sharp block and nothing is "
                "smoothed or invented.",
                elem_classes=["advdemo-caption"],
            )
            readout = gr.HTML(first.readout, label="read-outs", elem_id="latent-readout")
            preset_buttons = ui.preset_row(PRESETS, "latent")
            disentangle = gr.Checkbox(
                False,
                label="Disentangle (linear): remove the other named directions from each named one",
                elem_id="latent-disentangle",
            )
        with gr.Column(scale=5, min_width=320):
            sliders = _sliders(dirs)

    ui.explanation(INTERPOLATION_MD)
    with gr.Row(equal_height=True):
        end_seed = ui.seed_box(DEFAULT_END_SEED, "End seed", "latent-end-seed")
        end_random = gr.Button("Random end seed", elem_id="latent-end-random")
        frames = gr.Slider(
            fv.MIN_FRAMES,
            fv.MAX_FRAMES,
            value=DEFAULT_FRAMES,
            step=1,
            label="Frames",
            elem_id="latent-frames",
        )
        run = gr.Button("Interpolate", variant="primary", elem_id="latent-interpolate")
    path_outputs = _interpolation_outputs(first_path)
    with gr.Accordion(
        "The architecture: how G turns 100 numbers into 64×64×3 pixels",
        open=False,
        elem_id="latent-architecture",
    ):
        ui.explanation(ARCHITECTURE_MD + architecture.architecture_markdown(generator))

    # ------------------------------------------------------------------ events
    generate_fn = ui.friendly(ui.bind(generate, store))
    interpolate_fn = ui.friendly(ui.bind(interpolate, store))
    code = photo["code"]
    face_inputs = [seed, disentangle, *sliders, code]
    face_outputs = [face, readout]
    path_inputs = [seed, end_seed, frames, disentangle, *sliders, code]
    live = {"show_progress": "hidden", "trigger_mode": "always_last", **ui.SLIDER_LANE}
    gr.on(
        [s.input for s in sliders] + [disentangle.input],
        generate_fn,
        face_inputs,
        face_outputs,
        api_name="generate",
        **live,
    )
    # UI plumbing: set the controls instantly (no queue), then redraw like a slider move.
    private = {"api_visibility": "private"}
    redraw = dict(fn=generate_fn, inputs=face_inputs, outputs=face_outputs, **live, **private)
    redraw_on_commit(seed, "latent_seed_commit", redraw)  # Enter or leaving the box
    leave = [code, photo["panel"]]
    ui.set_then_redraw(
        new_button, new_face, [seed, *sliders, *leave], "latent_new_seed", "latent_new_face", redraw
    )
    ui.set_then_redraw(
        photo["back"], back_to_seeds, leave, "latent_back_to_seeds", "latent_seed_face", redraw
    )
    # typing a seed means "a seed's face": the uploaded code steps aside at the first key
    seed.input(back_to_seeds, None, leave, api_name="latent_seed_typed", **INSTANT)
    ui.set_then_redraw(
        reset_button, reset_sliders, sliders, "latent_reset_sliders", "latent_reset_face", redraw
    )
    for i, (button, preset) in enumerate(zip(preset_buttons, PRESETS, strict=True)):
        setter, name = ui.bind(set_preset, preset.key), f"latent_preset_{i}"
        ui.set_then_redraw(button, setter, [disentangle, *sliders], name, f"{name}_face", redraw)
    # the strips stay on screen while they are redrawn (a small "redrawing…" in the corner)
    keep = {"show_progress": "minimal", "trigger_mode": "always_last", **ui.LIGHT_LANE}
    path = dict(fn=interpolate_fn, inputs=path_inputs, outputs=path_outputs, **private, **keep)
    redraw_on_commit(end_seed, "latent_end_seed_commit", path)
    ui.set_then_redraw(
        end_random,
        random_end,
        end_seed,
        "latent_random_end",
        "latent_random_end_interpolate",
        path,
    )
    gr.on(
        [run.click, frames.release],
        interpolate_fn,
        path_inputs,
        path_outputs,
        api_name="interpolate",
        **keep,
    )
    return {"photo": photo, "sliders": sliders, "redraw": redraw}


def link(store: ModelStore, tabs: gr.Tabs, exports: dict) -> None:
    """ "Edit it in the latent explorer" in the arithmetic tab's inversion: its code, photo
    and message come here, the sliders reset, this tab opens and the face is redrawn."""
    mine, found = exports[TAB_ID], exports["arithmetic"]["inversion"]
    photo = mine["photo"]
    found["edit"].click(
        ui.friendly(open_code),
        [found["code"], found["comparison"], found["message"]],
        [photo["code"], photo["panel"], photo["image"], photo["message"], *mine["sliders"], tabs],
        api_name="latent_open_code",
        **INSTANT,
    ).success(api_name="latent_open_code_face", **mine["redraw"]).then(
        None, js="() => document.querySelector('#latent-photo-image')?.scrollIntoView()"
    )


def _photo_panel() -> dict:
    """Shown while an uploaded face's code is edited: the upload beside its reconstruction
    with the PSNR, the code itself, and the way back to seeds."""
    with gr.Group(visible=False, elem_id="latent-photo") as panel:
        image = gr.Image(
            label="Your photo, 64×64 | G(z*), the generator's closest face",
            format="png",
            interactive=False,
            height=170,
            elem_id="latent-photo-image",
        )
        message = gr.Markdown(elem_id="latent-photo-message")
        with gr.Accordion("Its code z* (100 numbers; generate's `code`)", open=False):
            code = gr.JSON(None, label="code", elem_id="latent-code")
        back = gr.Button("Back to the seed's faces", size="sm", elem_id="latent-back")
    return {"panel": panel, "image": image, "message": message, "code": code, "back": back}


def _sliders(dirs: fv.Directions) -> list[gr.Slider]:
    """The named directions' sliders, then the principal ones in two columns; returned in
    the directions' (and generate()'s) order."""
    items = list(dirs)
    n_named = len(fa.ATTRIBUTES)
    gr.Markdown("**Named directions** (from hand-labelled faces; + = more of it)")
    named = [_slider(d) for d in items[len(items) - n_named :]]
    with gr.Accordion(
        "Principal directions (GANSpace, unsupervised; % = share of the first "
        "layer's variance along it)",
        open=True,
    ):
        pcs = items[: len(items) - n_named]
        half = (len(pcs) + 1) // 2
        with gr.Row():
            with gr.Column(min_width=200):
                principal = [_slider(d) for d in pcs[:half]]
            with gr.Column(min_width=200):
                principal += [_slider(d) for d in pcs[half:]]
    return principal + named


def _interpolation_outputs(first_path: fv.Interpolation) -> list:
    """Both strips, the ‖z‖ plot and the GIF, showing `first_path`."""
    gr.Markdown("**lerp**: the straight line, start → end (t and ‖z‖ under each frame)")
    lerp_strip = ui.picture(first_path.lerp_strip, "lerp strip", "latent-lerp", type="pil")
    gr.Markdown("**slerp**: along the sphere, start → end")
    slerp_strip = ui.picture(first_path.slerp_strip, "slerp strip", "latent-slerp", type="pil")
    with gr.Row(equal_height=False):
        norm_plot = gr.Plot(
            first_path.norm_figure, label="‖z‖ along both paths", elem_id="latent-norms"
        )
        with gr.Column():
            gr.Markdown(
                "**Animated GIF** (lerp left, slerp right), there and back; "
                "the button in its corner downloads it."
            )
            gif = gr.Image(
                str(first_path.gif_path),
                label="gif",
                show_label=False,
                type="filepath",
                interactive=False,
                buttons=["download"],
                elem_id="latent-gif",
            )
    return [lerp_strip, slerp_strip, norm_plot, gif]


def _slider(d: fv.Direction) -> gr.Slider:
    return gr.Slider(
        -fv.SLIDER_RANGE,
        fv.SLIDER_RANGE,
        value=0.0,
        step=0.1,
        label=d.label,
        elem_id=f"latent-{d.key.replace('_', '-')}",
    )
