"""The "Vector arithmetic" tab: man with glasses − man + woman = woman with glasses, by clicking.

Layout and wiring only: the arithmetic, presets and inversion are advdemo.arithmetic. Each
slot's picks live in a gr.JSON (a list of seeds and/or 100-number codes): that is exactly what
the public "arithmetic" API takes, so what a student clicks together can be replayed through
gradio_client. The gallery's seeds live in gr.State (per browser session); a click decodes
only the slot's picks and their average, in one batch (about the cost of one face).
"""

from __future__ import annotations

import logging
import re

import gradio as gr
import torch
from PIL import Image

from advdemo import arithmetic as ar
from advdemo import images, inference, ui
from advdemo.errors import InputError, ModelUnavailable, choice, whole

log = logging.getLogger("advdemo.arithmetic")

TITLE = "Vector arithmetic"
TAB_ID = "arithmetic"

GALLERY_SIZE = 32  # 4 rows of 8: enough faces that each concept turns up a few times
GALLERY_COLUMNS = 8
SLOTS = ar.SLOT_NAMES
DEFAULT_NAMES = ("man with glasses", "man without glasses", "woman without glasses")
MAX_NAME = 40
AVERAGE_SCALE = 3  # a slot's average face is sent at 192 px, nearest-neighbour
INVERSION_STEPS = 150
MAX_INVERSION_STEPS = 500
ASTRONAUT_FACE_BOX = (150, 25, 290, 165)  # the face in assets/astronaut.jpg (NASA, public domain)
GOOD_PSNR, ROUGH_PSNR = 22.0, 17.0  # dB; generated faces invert to ≥ 24, real face crops ~18-20

# Gradio's gallery gives every column at least 100 px; ours must fit 8 faces in ~700 px and a
# slot's picks in ~250 px, so columns may shrink. Rows size to their content (no scrolling).
CSS = """
#arith-gallery .grid-container, .arith-slot .grid-container {
  grid-template-columns: repeat(var(--grid-cols), minmax(0, 1fr));
  grid-template-rows: none; grid-auto-rows: auto; gap: 6px; padding-top: 26px;
}
#arith-gallery .grid-wrap, .arith-slot .grid-wrap {
  max-height: none; min-height: 0; height: auto; overflow: visible;
}
#arith-gallery .thumbnail-item { cursor: copy; }
.arith-slot .thumbnail-item { cursor: pointer; }
#arith-result-eq img, #arith-grid img, #arith-singles img { image-rendering: pixelated; }
"""

EXPLANATION = r"""
### Arithmetic on codes
Every face here is the generator's picture of a code $z \in \mathbb{R}^{100}$. If the
generator has arranged its code space so that directions carry meaning, the difference between
the codes of *men with glasses* and *men without glasses* is mostly "glasses", and adding that
difference to a woman's code should put glasses on her:
$$z_{\text{result}} = \bar z_A - \bar z_B + \bar z_C, \qquad
\bar z_S = \frac{1}{k}\sum_{i=1}^{k} z_{S,i}.$$
**Why average?** One face's code also holds everything else about that face: pose, light,
background, identity. With single faces, $a - b + c$ mixes three of those; averaging $k$ codes
keeps what they share and shrinks the rest about $\sqrt{k}$-fold (the DCGAN paper used three
exemplars per concept). There is a second reason, in the norms: a random code has
$\lVert z\rVert \approx \sqrt{100} = 10$, where the generator was trained, but $a - b + c$ of
three independent codes has $\lVert\cdot\rVert \approx \sqrt{3}\cdot 10 \approx 17$. Averages of
three bring it back near 10. The $3\times3$ grid adds small noise $z + \sigma\varepsilon$
around the result (exact result in the centre): if the attribute survives in all nine, the
arithmetic found a region of code space, not one lucky point.

**Try this:** click the glasses preset, then the one with 8 exemplars, and compare
‖mean A − mean B‖ with its chance level under the result. Clear slot A and pick a single face
into it: what happens to the result? Raise the noise to 0.6: where do the glasses go? Tick
*rescale to ‖z‖ = 10* to see how much of the single-pick mess was the norm alone.
"""

HOW_TO = (
    "**Pick:** choose the active slot, then click faces in the gallery (at most "
    f"{ar.MAX_PICKS} per slot). Click a face in a slot to take it out. The result updates as "
    "soon as all three slots hold a face."
)

INVERSION_EXPLANATION = r"""
Upload a photo of a face and the app searches for a code whose face matches it, by gradient
descent on the pixel error plus a small pull towards typical codes:
$$z^\ast = \arg\min_z \; \lVert G(z) - x\rVert^2 + \lambda\,\lVert z\rVert^2/100 .$$
A few random starts are optimised at once and the best is kept. The photo is cut to its
central square and shrunk to 64×64, so crop it to the face first. The generator can only draw
faces like the gallery's: whatever you upload, you get the nearest face it can make, and the
PSNR says how near that is.
"""


# --------------------------------------------------------------------------- helpers


def _generator() -> inference.FaceGenerator:
    return inference.face_generator()


def _gallery_view(first: object) -> tuple[list, dict, int]:
    """Faces for seeds first … first + GALLERY_SIZE − 1, and the state a click reads."""
    first = whole("First seed", first, 0, ar.MAX_SEED - GALLERY_SIZE)
    seeds = list(range(first, first + GALLERY_SIZE))
    with inference.single_thread():  # 32 small faces: see _slot_view
        faces = _generator().generate(torch.stack([ar.seed_code(s) for s in seeds]))
    return [images.to_pil(face) for face in faces], {"first": first, "seeds": seeds}, first


def _slot_view(items: list, slot: str) -> tuple[list, list, Image.Image | None]:
    """A slot's picks -> (its JSON value, its picks as gallery items, its average face)."""
    if not items:
        return [], [], None
    codes = ar.parse_slot(slot, items)
    with inference.single_thread():  # a click's few faces: one thread beats two on busy cores
        faces = _generator().generate(torch.cat([codes, ar.average(codes)[None]]))  # one batch
    picks = [images.to_pil(f) for f in faces[:-1]]
    return list(items), picks, ar.to_image(ar.upscale(faces[-1:], AVERAGE_SCALE)[0])


def _slot_items(value: object, slot: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"Slot {slot} holds something that is not a list of picks; clear it.")
    return value


def _add_to_active(active: str, slots: tuple, item: object) -> list:
    """Outputs for all three slots after adding `item` to the active one (others skipped)."""
    active = choice("Active slot", active, list(SLOTS))
    out: list = []
    for name, value in zip(SLOTS, slots, strict=True):
        if name != active:
            out += [gr.skip()] * 3
            continue
        items = _slot_items(value, name)
        if len(items) >= ar.MAX_PICKS:
            raise InputError(
                f"Slot {name} already holds {ar.MAX_PICKS} faces, the most it takes. Click a "
                "face in the slot to remove it, or clear the slot."
            )
        out += list(_slot_view([*items, item], name))
    return out


def _radio_choices(names: tuple[str, str, str]) -> list[tuple[str, str]]:
    signs = ("+", "−", "+")
    return [
        (f"{slot} ({sign}): {name}", slot)
        for slot, sign, name in zip(SLOTS, signs, names, strict=True)
    ]


def _clean_name(name: object, slot: str) -> str:
    text = str(name or "").strip()[:MAX_NAME]
    return text or f"slot {slot}"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$])")


def _literal(text: str) -> str:
    """User text shown as typed inside Markdown: its markup characters backslash-escaped,
    then HTML's as entities (a name such as <img src=x onerror=...> stays text)."""
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _summary(arith: ar.Arithmetic, names: tuple[str, str, str]) -> str:
    names = tuple(_literal(n) for n in names)  # typed by users: text, never markup
    norms = ar.norms_summary(arith)
    k = [p.shape[0] for p in arith.picks]
    singles = ", ".join(f"{v:.1f}" for v in norms["singles"])
    scaled = " (rescaled to 10)" if arith.normalised else ""
    return (
        f"**{names[0]}** − **{names[1]}** + **{names[2]}**, averaged over {k[0]}, {k[1]} and "
        f"{k[2]} picks.\n\n"
        f"- ‖z‖ of the result: **{norms['averaged']:.1f}**{scaled}; of the single-pick results: "
        f"{singles}{scaled}; a typical code: {norms['typical']:.0f}.\n"
        f"- ‖mean A − mean B‖ = **{norms['offset']:.1f}**; two averages of that many unrelated "
        f"faces differ by about {norms['offset_chance']:.1f}. The closer these two numbers, "
        "the more of A − B is the exemplars' own quirks rather than the attribute: more "
        "exemplars shrink the quirks."
    )


# --------------------------------------------------------------------------- callbacks


@ui.friendly
def show_gallery(first):
    """Faces for seeds first … first + 31."""
    return _gallery_view(first)


@ui.friendly
def next_gallery(first):
    first = whole("First seed", first, 0, ar.MAX_SEED)
    step = first + GALLERY_SIZE
    return _gallery_view(step if step <= ar.MAX_SEED - GALLERY_SIZE else 0)


@ui.friendly
def pick(gallery_state, active, a, b, c, evt: gr.SelectData):
    """A click on gallery face `evt.index` adds its seed to the active slot."""
    if not gallery_state or evt is None or not isinstance(evt.index, int):
        raise InputError("Click a face in the gallery to pick it.")
    seeds = gallery_state["seeds"]
    if not 0 <= evt.index < len(seeds):
        raise InputError("That face is no longer in the gallery; click one that is shown.")
    return _add_to_active(active, (a, b, c), seeds[evt.index])


def remove_pick(slot: str):
    @ui.friendly
    def remove(items, evt: gr.SelectData):
        items = _slot_items(items, slot)
        if evt is None or not isinstance(evt.index, int) or not 0 <= evt.index < len(items):
            raise InputError(f"Click one of slot {slot}'s faces to remove it.")
        return _slot_view(items[: evt.index] + items[evt.index + 1 :], slot)

    return remove


@ui.friendly
def clear_slot():
    return [], [], None


@ui.friendly
def rename(name_a, name_b, name_c, active):
    names = _names(name_a, name_b, name_c)
    return gr.Radio(choices=_radio_choices(names), value=active if active in SLOTS else "A")


def _names(name_a: object, name_b: object, name_c: object) -> tuple[str, str, str]:
    a, b, c = (_clean_name(n, s) for n, s in zip((name_a, name_b, name_c), SLOTS, strict=True))
    return a, b, c


@ui.friendly
def compute(a, b, c, noise_scale, noise_seed, normalise, name_a="A", name_b="B", name_c="C"):
    """A − B + C on the averaged codes of the slots (lists of seeds or 100-number codes).

    Returns the equation of the averages, the 3×3 grid of the result with noise (exact result
    in the centre), the same arithmetic with single picks (one row per pick), and a summary
    with the norms. The names only label the summary.
    """
    arith = ar.vector_arithmetic(
        a, b, c, noise_scale=noise_scale, noise_seed=noise_seed, normalise=bool(normalise)
    )
    with inference.single_thread():  # 25 small faces: see _slot_view
        pics = ar.render(arith, _generator().generate)
    return pics.averaged, pics.grid, pics.singles, _summary(arith, _names(name_a, name_b, name_c))


@ui.friendly
def compute_if_ready(a, b, c, noise_scale, noise_seed, normalise, name_a, name_b, name_c):
    """Live refresh after a click: only once every slot holds a face, silently otherwise."""
    if not (a and b and c):
        return [gr.skip()] * 4
    return compute(a, b, c, noise_scale, noise_seed, normalise, name_a, name_b, name_c)


def apply_preset(key: str):
    @ui.friendly
    def load():
        p = ar.preset(key)
        out: list = [*p.names]
        for slot, seeds in zip(SLOTS, p.seeds, strict=True):
            out += list(_slot_view(list(seeds), slot))
        out += [
            gr.Radio(choices=_radio_choices(p.names), value="A"),
            f"**Preset:** {p.title}. {p.note}",
        ]
        return out

    return load


@ui.friendly
def example_face():
    """The astronaut photo in assets/, cut to her face."""
    return images.load_image(images.asset("astronaut.jpg")).crop(ASTRONAUT_FACE_BOX)


def _comparison(target: torch.Tensor, reconstruction: torch.Tensor) -> Image.Image:
    return ar.to_image(ar.tile(torch.cat([target, reconstruction]), 2, pad=4, factor=4))


def _verdict(psnr: float) -> str:
    if psnr >= GOOD_PSNR:
        return "a close match"
    if psnr >= ROUGH_PSNR:
        return "a rough likeness (typical for real photos: this generator only knows its own faces)"
    return (
        "a poor match: this picture is probably not a face framed like the gallery's, so the "
        "code found is just the nearest face the generator can draw"
    )


def _not_a_face_hint(picture: Image.Image) -> str:
    """A sentence when the built-in ImageNet classifier confidently sees something else."""
    try:
        classifier = inference.classifier("efficientnet-lite0")
    except ModelUnavailable:
        log.warning("no classifier for the not-a-face hint; inverting without it")
        return ""
    guess = ar.not_a_face(
        classifier.probabilities(classifier.prepare(picture))[0], classifier.labels
    )
    if guess is None:
        return ""
    label, p = guess
    gr.Warning(
        f"This looks like a {label} ({p:.0%} by an ImageNet classifier), not a face. The "
        "generator only draws faces: it will find the face closest in colours and layout."
    )
    return (
        f" An ImageNet classifier sees **{label}** here ({p:.0%}), not a person: the face "
        "found shares colours and layout with your picture, not its content."
    )


@ui.on_gpu
@ui.friendly
def invert_upload(upload, steps, progress=gr.Progress()):
    """Find the code of an uploaded face by gradient descent (GAN inversion).

    Yields (target | reconstruction picture, a message, the code as a list of 100 numbers);
    the last yield is the best code found.
    """
    steps = whole("Steps", steps, 10, MAX_INVERSION_STEPS)
    picture = images.load_image(upload)
    target = ar.face_crop(picture)
    hint = _not_a_face_hint(picture)
    G = _generator()
    progress((0, steps), desc="starting from the closest of 64 random faces")
    for snap in ar.inversion(G, target, steps=steps, every=10, device=inference.device()):
        progress((snap.step, steps), desc=f"step {snap.step}/{steps}, PSNR {snap.psnr:.1f} dB")
        code = [round(v, 5) for v in snap.code.tolist()]
        if snap.done:
            message = (
                f"**Found a code** after {steps} steps: PSNR {snap.psnr:.1f} dB, "
                f"{_verdict(snap.psnr)}. ‖z‖ = {float(snap.code.norm()):.1f}.{hint} "
                "Press *add to active slot* to use it."
            )
            if snap.psnr < ROUGH_PSNR:
                gr.Warning(f"Poor reconstruction (PSNR {snap.psnr:.1f} dB): is it a face?")
        else:
            message = f"Searching … step {snap.step} of {steps}, PSNR {snap.psnr:.1f} dB.{hint}"
        yield _comparison(target, snap.reconstruction), message, code


@ui.friendly
def add_inverted(code, active, a, b, c):
    if not code:
        raise InputError("Upload a face and press *find its code* first.")
    ar.parse_item("upload", 0, code)  # validate before it reaches a slot
    return _add_to_active(active, (a, b, c), code)


# --------------------------------------------------------------------------- layout


def build() -> None:
    initial_items, initial_state, _ = _gallery_view(0)
    gallery_state = gr.State(initial_state)
    inverted_code = gr.State(None)

    ui.explanation(EXPLANATION)
    with gr.Row():
        with gr.Column(scale=5):
            gallery = gr.Gallery(
                value=initial_items,
                label="Generated faces: click one to add it to the active slot",
                columns=GALLERY_COLUMNS,
                rows=GALLERY_SIZE // GALLERY_COLUMNS,
                height="auto",
                allow_preview=False,
                object_fit="contain",
                interactive=False,
                format="png",
                buttons=[],
                elem_id="arith-gallery",
                elem_classes=["advdemo-pixelated"],
            )
            with gr.Row():
                first_seed = gr.Number(
                    value=0,
                    label="First seed of the gallery",
                    precision=0,
                    minimum=0,
                    maximum=ar.MAX_SEED - GALLERY_SIZE,
                    elem_id="arith-first-seed",
                    scale=2,
                )
                new_faces = gr.Button("New faces", elem_id="arith-new-faces", scale=1)
        with gr.Column(scale=3):
            gr.Markdown(HOW_TO)
            active = gr.Radio(
                choices=_radio_choices(DEFAULT_NAMES),
                value="A",
                label="Active slot: clicks go here",
                elem_id="arith-active",
            )
            gr.Markdown("**Presets** (hand-picked labelled exemplars, one click each):")
            preset_buttons = [
                gr.Button(p.title, size="sm", elem_id=f"arith-preset-{p.key}") for p in ar.PRESETS
            ]
            preset_note = gr.Markdown(elem_id="arith-preset-note")
            noise_scale = gr.Slider(
                0,
                ar.MAX_NOISE,
                value=0.25,
                step=0.05,
                label="Noise scale σ of the 3×3 grid",
                elem_id="arith-noise",
            )
            with gr.Row():
                noise_seed = gr.Number(
                    value=0,
                    label="Noise seed",
                    precision=0,
                    minimum=0,
                    maximum=ar.MAX_SEED,
                    elem_id="arith-noise-seed",
                )
                normalise = gr.Checkbox(
                    value=False, label="rescale results to ‖z‖ = 10", elem_id="arith-normalise"
                )
            compute_button = gr.Button(
                "Compute A − B + C", variant="primary", elem_id="arith-compute"
            )

    names, slot_json, slot_picks, slot_avg, clear_buttons = [], [], [], [], []
    with gr.Row(equal_height=False):
        for slot, default, sign in zip(SLOTS, DEFAULT_NAMES, ("+", "−", "+"), strict=True):
            key = slot.lower()
            with gr.Column(elem_classes=["arith-slot"], elem_id=f"arith-slot-{key}"):
                names.append(
                    gr.Textbox(
                        value=default,
                        label=f"Slot {slot} ({sign}): name",
                        max_lines=1,
                        max_length=MAX_NAME,
                        elem_id=f"arith-name-{key}",
                    )
                )
                with gr.Row(equal_height=True):
                    slot_picks.append(
                        gr.Gallery(
                            label=f"{slot}: picks",
                            columns=4,
                            fit_columns=False,  # one pick stays a thumbnail, not a poster
                            height="auto",
                            allow_preview=False,
                            object_fit="contain",
                            interactive=False,
                            format="png",
                            buttons=[],
                            scale=3,
                            min_width=120,
                            elem_id=f"arith-picks-{key}",
                            elem_classes=["advdemo-pixelated"],
                        )
                    )
                    slot_avg.append(
                        gr.Image(
                            label=f"{slot}: average",
                            height=160,
                            format="png",
                            interactive=False,
                            buttons=[],
                            scale=2,
                            min_width=120,
                            elem_id=f"arith-avg-{key}",
                            elem_classes=["advdemo-pixelated"],
                        )
                    )
                clear_buttons.append(
                    gr.Button(f"Clear {slot}", size="sm", elem_id=f"arith-clear-{key}")
                )

    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            gr.Markdown("#### With averages: mean A − mean B + mean C = result")
            result_eq = gr.Image(
                label="With averages: mean A − mean B + mean C = result",
                show_label=False,
                format="png",
                interactive=False,
                buttons=["download"],
                elem_id="arith-result-eq",
            )
            gr.Markdown("#### The result with small noise σε added (exact result in the centre)")
            result_grid = gr.Image(
                label="The result with small noise (exact result in the centre)",
                show_label=False,
                format="png",
                interactive=False,
                height=440,
                buttons=["download"],
                elem_id="arith-grid",
            )
        with gr.Column(scale=1):
            gr.Markdown("#### With single picks: pick i of A − pick i of B + pick i of C")
            result_singles = gr.Image(
                label="With single picks: pick i of A − pick i of B + pick i of C",
                show_label=False,
                format="png",
                interactive=False,
                buttons=["download"],
                elem_id="arith-singles",
            )
            summary = gr.Markdown(elem_id="arith-summary")

    with gr.Accordion(
        "Your own face: find its code (GAN inversion)", open=False, elem_id="arith-inversion-panel"
    ):
        ui.explanation(INVERSION_EXPLANATION)
        with gr.Row():
            with gr.Column(scale=2):
                upload = ui.image_upload(
                    label="A photo of a face",
                    sources=["upload", "clipboard"],
                    height=260,
                    elem_id="arith-upload",
                )
                with gr.Row():
                    example = gr.Button(
                        "Example: astronaut photo", size="sm", elem_id="arith-example-face"
                    )
                    steps = gr.Slider(
                        10,
                        MAX_INVERSION_STEPS,
                        value=INVERSION_STEPS,
                        step=10,
                        label="Steps",
                        elem_id="arith-steps",
                    )
                invert_button = gr.Button(
                    "Find its code", variant="primary", elem_id="arith-invert"
                )
            with gr.Column(scale=3):
                comparison = gr.Image(
                    label="Your face, 64×64 | the generator's closest face",
                    format="png",
                    interactive=False,
                    elem_id="arith-inversion",
                )
                inversion_message = gr.Markdown(elem_id="arith-inversion-message")
                add_button = gr.Button("Add to active slot", elem_id="arith-add-inverted")

    with gr.Accordion("Codes of the slots (the arithmetic API takes these lists)", open=False):
        for slot in SLOTS:
            slot_json.append(
                gr.JSON(value=[], label=f"Slot {slot}", elem_id=f"arith-codes-{slot.lower()}")
            )

    # ------------------------------------------------------------------ wiring
    slot_outputs = [x for s in range(3) for x in (slot_json[s], slot_picks[s], slot_avg[s])]
    result_outputs = [result_eq, result_grid, result_singles, summary]
    settings = [noise_scale, noise_seed, normalise]
    refresh = dict(
        fn=compute_if_ready,
        inputs=[*slot_json, *settings, *names],
        outputs=result_outputs,
        api_visibility="private",
        show_progress="hidden",
        # a refresh asked for while one runs is run once more afterwards, with the newest slots
        trigger_mode="always_last",
        **ui.LIGHT_LANE,
    )
    private = {"api_visibility": "private", **ui.LIGHT_LANE}

    new_faces.click(
        next_gallery,
        first_seed,
        [gallery, gallery_state, first_seed],
        api_name="arithmetic_next_faces",
        **private,
    )
    first_seed.submit(
        show_gallery,
        first_seed,
        [gallery, gallery_state, first_seed],
        api_name="arithmetic_faces",
        **private,
    )
    gallery.select(
        pick,
        [gallery_state, active, *slot_json],
        slot_outputs,
        api_name="arithmetic_pick",
        show_progress="hidden",
        # clicks while a pick is pending are dropped, never applied to stale slots: the slot
        # always shows exactly what it holds
        trigger_mode="once",
        **private,
    ).success(api_name="arithmetic_refresh_after_pick", **refresh)
    for s, slot in enumerate(SLOTS):
        outs = [slot_json[s], slot_picks[s], slot_avg[s]]
        slot_picks[s].select(
            remove_pick(slot),
            slot_json[s],
            outs,
            api_name=f"arithmetic_remove_{slot.lower()}",
            show_progress="hidden",
            **private,
        ).success(api_name=f"arithmetic_refresh_after_remove_{slot.lower()}", **refresh)
        clear_buttons[s].click(
            clear_slot, None, outs, api_name=f"arithmetic_clear_{slot.lower()}", **private
        )
    gr.on(
        [n.change for n in names],
        rename,
        [*names, active],
        active,
        api_name="arithmetic_rename",
        show_progress="hidden",
        **private,
    )
    compute_button.click(
        compute,
        [*slot_json, *settings, *names],
        result_outputs,
        api_name="arithmetic",
        **ui.LIGHT_LANE,
    )
    gr.on(
        [noise_scale.release, noise_seed.submit, normalise.input],
        api_name="arithmetic_settings",
        **refresh,
    )
    for p, button in zip(ar.PRESETS, preset_buttons, strict=True):
        button.click(
            apply_preset(p.key),
            None,
            [*names, *slot_outputs, active, preset_note],
            api_name=f"arithmetic_preset_{p.key}",
            **private,
        ).success(api_name=f"arithmetic_preset_{p.key}_result", **refresh)

    example.click(example_face, None, upload, api_name="arithmetic_example_face", **private)
    invert_button.click(
        invert_upload,
        [upload, steps],
        [comparison, inversion_message, inverted_code],
        api_name="arithmetic_invert",
        **ui.HEAVY_LANE,
    )
    add_button.click(
        add_inverted,
        [inverted_code, active, *slot_json],
        slot_outputs,
        api_name="arithmetic_add_inverted",
        **private,
    ).success(api_name="arithmetic_refresh_after_add", **refresh)
