"""The "CycleGAN" tab: translate a photo, then translate it back and see what the cycle lost.

Layout and wiring only: the tab asks the model store for the generators (G, and F where the
model has a reverse) and hands them to advdemo.translation.cyclegan.translate. The public
"translate" API takes (image, model name, long side in pixels, and optionally whether to upscale
past the photo's own size, off by default) and returns the input at the
working size, G(x), F(G(x)) (None without a reverse generator), the |x − F(G(x))| map (None
likewise) and a Markdown summary with the cycle L1.
"""

from __future__ import annotations

import gradio as gr

from advdemo import ui
from advdemo.core import cache, images
from advdemo.core.errors import ModelUnavailable
from advdemo.models import registry
from advdemo.models.store import ModelStore
from advdemo.translation import cyclegan as cg
from advdemo.translation.fastpath import FastPath, canonical_shapes

TITLE = "CycleGAN"
TAB_ID = "cyclegan"

RESOLUTION_STEP = 32
OFFICIAL_MB = 45  # each official generator file: 11.4 M float32 parameters
IMAGE_HEIGHT = 300

# Outputs at 256 px would sit small in their boxes: let them fill the box (aspect kept).
CSS = """
#cg-before img, #cg-after img, #cg-reconstruction img, #cg-heatmap img {
  width: 100%; height: 100%; object-fit: contain;
}
"""

INTRO = r"""
### Unpaired translation: horses to zebras without a single matching pair
CycleGAN learns to turn pictures of one kind ($X$, horses) into another ($Y$, zebras) from two
unrelated piles of photos: nobody has the same horse photographed as a zebra. A generator
$G: X \to Y$ is trained against a discriminator, like any GAN, and a second generator
$F: Y \to X$ must be able to undo it: $F(G(x)) \approx x$. Upload a photo, translate it, and,
where the model's reverse exists, see how well the round trip comes back: the
**cycle-consistency** term $\lVert F(G(x)) - x\rVert_1$ for your own picture.
"""

TRY_THIS = """
**Try this:** click the cat (it runs by itself), then switch to *horse → zebra* (downloaded on
first use): stripes appear where the generator believes a horse's coat is. Is the round trip
perfect? The heat map puts the error on fine texture and edges: $G$ must hide what $F$ needs
inside small, barely visible changes. Then raise the long side and press Translate (a photo is
not enlarged past its own size unless you allow upscaling): the models were trained on
256-pixel crops, so their brush strokes shrink relative to the picture.
"""

LOSSES = r"""
### The four losses and the cycle
Two generators, $G: X \to Y$ and $F: Y \to X$, and two discriminators: $D_Y$ tells real
members of $Y$ from outputs of $G$, $D_X$ real members of $X$ from outputs of $F$ (the
lecture's $G1$, $G2$, $D1$, $D2$). Each generator–discriminator pair plays the ordinary GAN
game, so there is one loss per player, $m$ pictures per batch:
$$J^{(D_Y)} = -\tfrac{1}{m}\textstyle\sum_i \log D_Y(y^{(i)})
- \tfrac{1}{m}\sum_i \log\bigl(1 - D_Y(G(x^{(i)}))\bigr),
\qquad J^{(G)} = -\tfrac{1}{m}\sum_i \log D_Y(G(x^{(i)})),$$
and $J^{(D_X)}$, $J^{(F)}$ the same with $X$ and $Y$ swapped. These four only ask that $G(x)$
*look like* some zebra: $G$ could ignore the horse it was given and still win. The fifth term
ties output to input, in both directions:
$$J^{\text{cycle}} = \tfrac{1}{m}\textstyle\sum_i \lVert F(G(x^{(i)})) - x^{(i)}\rVert_1
+ \tfrac{1}{m}\sum_i \lVert G(F(y^{(i)})) - y^{(i)}\rVert_1,$$
$$J = J^{(D_X)} + J^{(G)} + J^{(D_Y)} + J^{(F)} + \lambda\, J^{\text{cycle}}
\qquad (\lambda = 10 \text{ in the CycleGAN paper}).$$
The cycle error shown above is the first half of $J^{\text{cycle}}$ for one photo, averaged
over pixels and colour channels on the 0-1 scale. A translation that looks perfect but
scores high has thrown content away; a score near 0 with no visible change means $G$ did
hardly anything. In practice the paper swaps the log losses for least-squares ones, which
train more stably; the structure of $J$ stays the same.
"""

NO_REVERSE = (
    "**No reconstruction for this model.** Only its forward generator $G$ was released, so "
    "$F(G(x))$ and the cycle error cannot be computed here. Choose *horse → zebra*, "
    "*summer → winter*, *apple → orange* or *Monet → photo* (official generators, downloaded on "
    "first use) to see the cycle."
)


def _choices() -> list[tuple[str, str]]:
    """(label, registry name) for every translator: the built-in first, then the official
    ones with their reverse right after them."""
    out = []
    for name in registry.names("translator"):
        spec = registry.spec(name)
        if spec.builtin:
            out.insert(0, ("photo → vintage (built-in, offline)", name))
        else:
            what = registry.CYCLEGAN_OFFICIAL[name][1]
            out.append((f"{what} (official, download)", name))
    return out


def _downloaded(store: ModelStore, name: str) -> bool:
    return store.weights_path(registry.spec(name)).is_file()


def _model_info(store: ModelStore, name: str) -> str:
    spec = registry.spec(name)
    lines = [f"**{spec.description}.** Licence: {spec.licence}."]
    if spec.reverse:
        reverse = registry.spec(spec.reverse)
        lines.append(f"Reverse generator F: `{reverse.name}`, so the cycle is shown.")
    else:
        lines.append("No reverse generator: translation only.")
    if spec.url is not None:
        present = _downloaded(store, name) and (
            spec.reverse is None or _downloaded(store, spec.reverse)
        )
        lines.append(
            "Already downloaded."
            if present
            else f"Downloaded on first use, ≈{OFFICIAL_MB} MB per generator (needs internet; "
            "an offline machine says so)."
        )
    return " ".join(lines)


def _how(p: cg.Pass) -> str:
    how = {
        "compiled": "compiled fast path",
        "eager": "eager",
        "tiled": f"{p.tiles} tiles (exact)",
    }[p.path]
    return f"`{p.model}` {how}, {p.seconds:.2f} s"


def _size(result: cg.Translation, asked: int) -> str:
    """How the working size relates to the upload's, and to the long side asked for."""
    w, h = result.size
    ow, oh = result.original_size
    if (w, h) == (ow, oh):
        return "the upload's own size"
    if max(w, h) > max(ow, oh):
        return f"upscaled from {ow}×{oh}, aspect ratio kept"
    if asked > max(w, h):
        return (
            f"the upload's own size, {ow}×{oh}, rounded down to multiples of 4; "
            f"{asked} px asked: tick *Allow upscaling* to enlarge it"
        )
    return f"scaled from {ow}×{oh}, aspect ratio kept"


def _summary(result: cg.Translation, asked: int) -> str:
    w, h = result.size
    how = "; ".join(_how(p) for p in result.passes)
    lines = [f"Ran at **{w}×{h}** ({_size(result, asked)}). {how}."]
    if result.cycle_l1 is not None:
        lines.append(
            f"**Cycle error** $\\lVert F(G(x)) - x\\rVert_1$ per pixel and channel: "
            f"**{result.cycle_l1:.4f}** on the 0-1 scale (≈ {result.cycle_l1 * 255:.1f} of 255 "
            "grey levels). Heat map: black = 0, pale yellow ≥ "
            f"{cg.HEAT_MAX:g} ({cg.HEAT_MAX * 255:.0f} levels)."
        )
    return "\n\n".join(lines)


# --------------------------------------------------------------------------- models


def _fast_path(store: ModelStore, name: str) -> FastPath:
    """The compiled shapes of generator `name`: one FastPath per store and model."""
    return store.derived(
        ("cyclegan-fast-path", name),
        lambda: FastPath(store.translator(name), lambda: store.fast_forward(name), name),
    )


def _generator(store: ModelStore, name: str, progress: cg.Progress) -> cg.Generator:
    """Generator `name` from the store, saying so first when it has to be downloaded."""
    message = cg.load_message(name, store.weights_path(registry.spec(name)))
    if message is not None:
        progress(0.0, message)
    translator = store.translator(name, progress=message is not None)
    return cg.Generator(name, translator, _fast_path(store, name))


def warm_up(store: ModelStore) -> None:
    """Compile the built-in generator for the example photos' shapes, in a low-priority thread
    of its own (minutes): the other tabs' warm-up does not wait for it, and requests run eager
    until a shape is compiled, checked and measured faster."""
    _fast_path(store, cg.BUILTIN).warm_in_background(canonical_shapes())


def _speed(store: ModelStore) -> dict[str, float]:
    """Seconds per megapixel of the last tiled pass here (per store), for the estimates."""
    return store.derived(("cyclegan-speed",), dict)


def _estimate(store: ModelStore, name: str, width: int, height: int) -> float:
    """Rough seconds of a tiled run of model `name` (G, and F where it has one)."""
    generators = 2 if registry.spec(name).reverse is not None else 1
    rate = _speed(store).get("tiled", cg.TILED_SECONDS_PER_MEGAPIXEL)
    return cg.estimated_seconds(width, height, generators, rate)


# --------------------------------------------------------------------------- callbacks


def _run(store: ModelStore, name: str, x, original_size, asked: int, progress) -> tuple:
    """Translate the prepared photo x with model `name` (checked) and draw the results; the
    same pixels, size and model give the same pictures, computed once for everyone."""
    key = cache.content_key("translate", name, x, tuple(original_size), asked)  # as above
    return cache.shared(store).get(
        key, lambda: _translate(store, name, x, original_size, asked, progress)
    )


def translate_known(store: ModelStore, image, model, resolution, upscale=False, progress=None):
    """Whether this translation is kept or being computed (then it skips the heavy lane)."""
    if image is None:
        return False
    name = cg.check_model(model)
    x, original_size = cg.prepare(image, resolution, upscale=upscale)
    key = cache.content_key(
        "translate", name, x, tuple(original_size), cg.check_long_side(resolution)
    )
    return cache.shared(store).known(key)


def _translate(store: ModelStore, name: str, x, original_size, asked: int, progress) -> tuple:
    def report(fraction: float, message: str) -> None:
        progress(fraction, desc=message)

    w, h = x.shape[-1], x.shape[-2]
    if cg.is_tiled(w, h):
        report(0.0, f"{w}×{h} runs in tiles: about {_estimate(store, name, w, h):.0f} s")
    reverse = registry.spec(name).reverse
    generator = _generator(store, name, report)
    back = _generator(store, reverse, report) if reverse is not None else None
    result = cg.translate(x, original_size, generator, back, progress=report)
    for p in result.passes:
        if p.path == "tiled":
            _speed(store)["tiled"] = p.seconds / (w * h / 1e6)
    has_cycle = result.reconstruction is not None
    return (
        images.to_pil(result.source),
        images.to_pil(result.translated),
        images.to_pil(result.reconstruction) if has_cycle else None,
        cg.heat_map(result.cycle_error) if has_cycle else None,
        _summary(result, asked),
    )


def translate(
    store: ModelStore,
    image,
    model,
    resolution,
    upscale=False,
    progress=gr.Progress(track_tqdm=True),
):
    """Translate a photo with CycleGAN generator `model` at `resolution` px on the long side,
    at most the photo's own size unless `upscale`.

    Returns (the photo at the working size, G(x), F(G(x)), the |x − F(G(x))| heat map, a
    Markdown summary with the cycle L1). F(G(x)) and the map are None for models released
    without a reverse generator (the built-in one among them).
    """
    name = cg.check_model(model)
    # a bad upload is refused before a download
    x, original_size = cg.prepare(image, resolution, upscale=upscale)
    return _run(store, name, x, original_size, cg.check_long_side(resolution), progress)


def _not_run(store: ModelStore, name: str, w: int, h: int) -> str:
    seconds = _estimate(store, name, w, h)
    return (
        f"**Not run yet:** at **{w}×{h}** the photo is translated in tiles, about "
        f"{seconds:.0f} s here; press **Translate** to run it (a new photo or model runs by "
        f"itself only up to {cg.MAX_UNTILED_PIXELS:,} pixels). The pictures shown are from the "
        "previous run."
    )


def translate_if_ready(
    store: ModelStore,
    image,
    model,
    resolution,
    upscale=False,
    progress=gr.Progress(track_tqdm=True),
):
    """Re-run after the photo or the model changed, once there is a photo, if the run is
    quick (untiled); a slow size waits for the Translate button, with a note saying so."""
    if image is None:
        return [gr.skip()] * 5
    name = cg.check_model(model)
    x, original_size = cg.prepare(image, resolution, upscale=upscale)
    w, h = x.shape[-1], x.shape[-2]
    if cg.is_tiled(w, h):
        return [gr.skip()] * 4 + [_not_run(store, name, w, h)]
    try:
        return _run(store, name, x, original_size, cg.check_long_side(resolution), progress)
    except ModelUnavailable as exc:
        # A model chosen from the list that cannot be fetched here (offline): say so, but keep
        # the last pictures on screen rather than blanking every panel with an error badge.
        gr.Warning(str(exc), title="Model not available here")
        note = (
            f"**{registry.spec(model).title} is not available on this machine.** {exc}\n\n"
            "The pictures shown are from the previous run."
        )
        return [gr.skip()] * 4 + [note]


def model_info(store: ModelStore, model):
    """The model's description, and the cycle panels shown only where a reverse exists."""
    spec = registry.spec(model)
    has_cycle = spec.reverse is not None
    return (
        _model_info(store, spec.name),
        gr.Image(visible=has_cycle),
        gr.Image(visible=has_cycle),
        gr.Markdown(visible=not has_cycle),
    )


# --------------------------------------------------------------------------- layout


def _picture(label: str, elem_id: str, *, visible: bool = True) -> gr.Image:
    """One of the four result pictures (PNG, fixed height, output only)."""
    return gr.Image(
        label=label,
        height=IMAGE_HEIGHT,
        format="png",
        interactive=False,
        visible=visible,
        elem_id=elem_id,
    )


def build(store: ModelStore) -> None:
    ui.explanation(INTRO + TRY_THIS)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            photo = ui.image_upload(
                label="Your photo (or an example below, or the webcam)",
                sources=["upload", "clipboard", "webcam"],
                height=260,
                elem_id="cg-input",
            )
            gr.Examples(
                examples=[[str(images.asset(name))] for name in cg.EXAMPLES],
                inputs=[photo],
                label="Example photos (CC0 / public domain, see assets/README.md)",
                examples_per_page=len(cg.EXAMPLES),
                api_name="cyclegan_example",
                api_visibility="private",
                elem_id="cg-examples",
            )
            choices = _choices()
            model = gr.Dropdown(
                choices=choices,
                value=cg.BUILTIN,
                label="Model",
                elem_id="cg-model",
            )
            info = gr.Markdown(_model_info(store, cg.BUILTIN), elem_id="cg-model-info")
            resolution = gr.Slider(
                minimum=cg.MIN_LONG_SIDE,
                maximum=cg.MAX_LONG_SIDE,
                step=RESOLUTION_STEP,
                value=cg.DEFAULT_LONG_SIDE,
                label="Long side in pixels (applied by Translate; above 512×512: tiled, slow)",
                elem_id="cg-resolution",
            )
            upscale = gr.Checkbox(
                value=False,
                label="Allow upscaling past the photo's own size",
                elem_id="cg-upscale",
            )
            run = gr.Button("Translate", variant="primary", elem_id="cg-run")
        with gr.Column(scale=5):
            with gr.Row(equal_height=True):
                before = _picture("x: your photo at the working size", "cg-before")
                after = _picture("G(x): translated", "cg-after")
            no_reverse = ui.explanation(NO_REVERSE, visible=True, elem_id="cg-no-reverse")
            with gr.Row(equal_height=True):
                reconstruction = _picture(
                    "F(G(x)): translated back", "cg-reconstruction", visible=False
                )
                heat = _picture(
                    "|x − F(G(x))|: black 0, pale yellow ≥ 0.25", "cg-heatmap", visible=False
                )
            summary = gr.Markdown(
                "Pick an example or upload a photo.",
                label="summary",
                latex_delimiters=ui.LATEX,
                elem_id="cg-summary",
            )
    ui.explanation(LOSSES, elem_id="cg-losses")

    outputs = [before, after, reconstruction, heat, summary]
    known = ui.bind(translate_known, store)
    run.click(
        ui.on_gpu(ui.friendly(ui.bind(translate, store)), ready=known),
        inputs=[photo, model, resolution, upscale],
        outputs=outputs,
        api_name="translate",
        **ui.HEAVY_LANE,
    )
    model.change(
        ui.friendly(ui.bind(model_info, store)),
        inputs=[model],
        outputs=[info, reconstruction, heat, no_reverse],
        api_name="cyclegan_model_info",
        api_visibility="private",
        **ui.LIGHT_LANE,
    )
    gr.on(
        # not on resolution or upscaling changes: the button applies them; and even here a
        # tiled (slow) size waits for the button
        [photo.change, model.change],
        ui.on_gpu(ui.friendly(ui.bind(translate_if_ready, store)), ready=known),
        inputs=[photo, model, resolution, upscale],
        outputs=outputs,
        api_name="cyclegan_auto",
        api_visibility="private",
        trigger_mode="always_last",
        **ui.HEAVY_LANE,
    )
