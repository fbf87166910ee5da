"""The "Vector arithmetic" tab: man with glasses − man + woman = woman with glasses, by clicking.

Layout and wiring only: the arithmetic and presets are advdemo.faces.arithmetic; the upload's
inversion is a section of its own (tabs/arithmetic_inversion.py). Each slot's picks live in a
gr.JSON (a list of seeds and/or 100-number codes): that is exactly what the public "arithmetic"
API takes, so what a student clicks together can be replayed through gradio_client. The
gallery's seeds live in gr.State (per browser session); a click decodes only the slot's picks
and their average, in one batch (about the cost of one face).
"""

from __future__ import annotations

import gradio as gr

from advdemo import ui
from advdemo.core.errors import MAX_SEED, InputError, choice
from advdemo.faces import arithmetic as ar
from advdemo.faces import attributes as fa
from advdemo.models.runtime import single_thread
from advdemo.models.store import ModelStore
from advdemo.models.wrappers import FaceGenerator
from advdemo.tabs import arithmetic_inversion

TITLE = "Vector arithmetic"
TAB_ID = "arithmetic"

GALLERY_SIZE = 32  # 4 rows of 8: enough faces that each concept turns up a few times
GALLERY_COLUMNS = 8
SLOTS = ar.SLOT_NAMES
DEFAULT_NAMES = ("man with glasses", "man without glasses", "woman without glasses")
MAX_NAME = 40
AVERAGE_SCALE = 3  # a slot's average face is sent at 192 px, nearest-neighbour
DIRECTIONS = ("arithmetic-directions",)  # store.derived key: the labelled directions (K, nz)
ASTRONAUT_FACE_BOX = (150, 25, 290, 165)  # the face in assets/astronaut.jpg (NASA, public domain)

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

**Try this:** click the glasses preset, then the one with 8 exemplars, and compare how far
A − B goes along the labelled glasses direction with its chance spread under the result.
Clear slot A and pick a single face into it: what happens to the result? Raise the noise to
0.6: where do the glasses go? Tick *rescale to ‖z‖ = 10* to see how much of the single-pick
mess was the norm alone.
"""

HOW_TO = (
    "**Pick:** choose the active slot, then click faces in the gallery (at most "
    f"{ar.MAX_PICKS} per slot). Click a face in a slot to take it out. The result updates as "
    "soon as all three slots hold a face."
)


def warm_up(store: ModelStore) -> None:
    """Nothing to prepare: the face generator is warmed with every model, and a click decodes
    only its own few faces; the gallery is drawn at build time."""


def _gallery_view(generator: FaceGenerator, first: object) -> tuple[list, dict, int]:
    """Faces for seeds first … first + GALLERY_SIZE − 1, and the state a click reads."""
    with single_thread():  # 32 small faces: see _slot_view
        seeds, faces = ar.gallery(generator, first, GALLERY_SIZE)
    return faces, {"first": seeds[0], "seeds": seeds}, seeds[0]


def _slot_view(generator: FaceGenerator, items: list, slot: str) -> tuple[list, list, object]:
    """A slot's picks -> (its JSON value, its picks as gallery items, its average face)."""
    if not items:
        return [], [], None
    with single_thread():  # a click's few faces: one thread beats two on busy cores
        picks, average = ar.slot_pictures(generator, slot, items, AVERAGE_SCALE)
    return list(items), picks, average


def _add_to_active(generator: FaceGenerator, active: str, slots: tuple, item: object) -> list:
    """Outputs for all three slots after adding `item` to the active one (others skipped)."""
    active = choice("Active slot", active, list(SLOTS))
    out: list = []
    for name, value in zip(SLOTS, slots, strict=True):
        if name != active:
            out += [gr.skip()] * 3
            continue
        out += list(_slot_view(generator, ar.with_pick(name, value, item), name))
    return out


# --------------------------------------------------------------------------- endpoints


def show_gallery(store: ModelStore, first):
    """Faces for seeds first … first + 31."""
    return _gallery_view(store.face_generator(), first)


def next_gallery(store: ModelStore, first):
    return _gallery_view(store.face_generator(), ar.next_gallery_first(first, GALLERY_SIZE))


def pick(store: ModelStore, gallery_state, active, a, b, c, evt: gr.SelectData):
    """A click on gallery face `evt.index` adds its seed to the active slot."""
    if not gallery_state or evt is None or not isinstance(evt.index, int):
        raise InputError("Click a face in the gallery to pick it.")
    seeds = gallery_state["seeds"]
    if not 0 <= evt.index < len(seeds):
        raise InputError("That face is no longer in the gallery; click one that is shown.")
    return _add_to_active(store.face_generator(), active, (a, b, c), seeds[evt.index])


def remove_pick(store: ModelStore, slot: str, items, evt: gr.SelectData):
    """A click on one of slot `slot`'s faces takes it out."""
    index = evt.index if evt is not None else None
    return _slot_view(store.face_generator(), ar.without_pick(slot, items, index), slot)


def clear_slot():
    return [], [], None


def rename(name_a, name_b, name_c, active):
    names = ar.slot_names(name_a, name_b, name_c, MAX_NAME)
    return gr.Radio(choices=ar.slot_choices(names), value=active if active in SLOTS else "A")


def compute(
    store: ModelStore,
    a,
    b,
    c,
    noise_scale,
    noise_seed,
    normalise,
    name_a="A",
    name_b="B",
    name_c="C",
):
    """A − B + C on the averaged codes of the slots (lists of seeds or 100-number codes).

    Returns the equation of the averages, the 3×3 grid of the result with noise (exact result
    in the centre), the same arithmetic with single picks (one row per pick), and a summary
    with the norms. The names only label the summary.
    """
    generator = store.face_generator()
    arith = ar.vector_arithmetic(
        generator,
        a,
        b,
        c,
        noise_scale=noise_scale,
        noise_seed=noise_seed,
        normalise=bool(normalise),
    )
    with single_thread():  # 25 small faces: see _slot_view
        pics = ar.render(arith, generator.generate)
        directions = store.derived(DIRECTIONS, lambda: fa.attribute_directions(generator))
        shift = ar.attribute_shift(generator, arith, directions)
    names = ar.slot_names(name_a, name_b, name_c, MAX_NAME)
    return pics.averaged, pics.grid, pics.singles, ar.summary_markdown(arith, names, shift)


def compute_if_ready(
    store: ModelStore, a, b, c, noise_scale, noise_seed, normalise, name_a, name_b, name_c
):
    """Live refresh after a click or a cleared slot: the result once every slot holds a face;
    otherwise no result at all (never the one of slots that have changed since)."""
    if not (a and b and c):
        return None, None, None, ar.EMPTY_SLOTS
    return compute(store, a, b, c, noise_scale, noise_seed, normalise, name_a, name_b, name_c)


def load_preset(store: ModelStore, key: str):
    """Preset `key`'s slot names, exemplars (with their faces), active slot and note."""
    p = ar.preset(key)
    names = p["names"]
    out: list = [*names]
    for slot, seeds in zip(SLOTS, p["seeds"], strict=True):
        out += list(_slot_view(store.face_generator(), list(seeds), slot))
    out += [
        gr.Radio(choices=ar.slot_choices(names), value="A"),
        f"**Preset:** {p.label}. {p.note}",
    ]
    return out


def add_inverted(store: ModelStore, code, active, a, b, c):
    if not code:
        raise InputError("Upload a face and press *find its code* first.")
    generator = store.face_generator()
    ar.parse_item(generator, "upload", 0, code)  # validate before it reaches a slot
    return _add_to_active(generator, active, (a, b, c), code)


# --------------------------------------------------------------------------- layout


def build(store: ModelStore) -> dict:
    initial_items, initial_state, _ = _gallery_view(store.face_generator(), 0)
    gallery_state = gr.State(initial_state)

    ui.explanation(EXPLANATION)
    with gr.Row():
        with gr.Column(scale=5):
            gallery, first_seed, new_faces = _gallery(initial_items)
        with gr.Column(scale=3):
            active, preset_buttons, preset_note, settings, compute_button = _controls()
    names, slot_picks, slot_avg, clear_buttons = _slots()
    result_outputs = _results()
    inversion = arithmetic_inversion.layout()
    with gr.Accordion("Codes of the slots (the arithmetic API takes these lists)", open=False):
        slot_json = [
            gr.JSON(value=[], label=f"Slot {slot}", elem_id=f"arith-codes-{slot.lower()}")
            for slot in SLOTS
        ]

    # ------------------------------------------------------------------ events
    def endpoint(fn, *leading):
        return ui.friendly(ui.bind(fn, store, *leading))

    slot_outputs = [x for s in range(3) for x in (slot_json[s], slot_picks[s], slot_avg[s])]
    private = {"api_visibility": "private", **ui.LIGHT_LANE}
    refresh = dict(
        fn=endpoint(compute_if_ready),
        inputs=[*slot_json, *settings, *names],
        outputs=result_outputs,
        show_progress="hidden",
        # a refresh asked for while one runs is run once more afterwards, with the newest slots
        trigger_mode="always_last",
        **private,
    )
    gallery_outputs = [gallery, gallery_state, first_seed]
    new_faces.click(
        endpoint(next_gallery),
        first_seed,
        gallery_outputs,
        api_name="arithmetic_next_faces",
        **private,
    )
    first_seed.submit(
        endpoint(show_gallery), first_seed, gallery_outputs, api_name="arithmetic_faces", **private
    )
    gallery.select(
        endpoint(pick),
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
            endpoint(remove_pick, slot),
            slot_json[s],
            outs,
            api_name=f"arithmetic_remove_{slot.lower()}",
            show_progress="hidden",
            **private,
        ).success(api_name=f"arithmetic_refresh_after_remove_{slot.lower()}", **refresh)
        clear_buttons[s].click(
            ui.friendly(clear_slot),
            None,
            outs,
            api_name=f"arithmetic_clear_{slot.lower()}",
            **private,
        ).success(api_name=f"arithmetic_refresh_after_clear_{slot.lower()}", **refresh)
    gr.on(
        [n.change for n in names],
        ui.friendly(rename),
        [*names, active],
        active,
        api_name="arithmetic_rename",
        show_progress="hidden",
        **private,
    )
    compute_button.click(
        endpoint(compute),
        [*slot_json, *settings, *names],
        result_outputs,
        api_name="arithmetic",
        **ui.LIGHT_LANE,
    )
    noise_scale, noise_seed, normalise = settings
    gr.on(
        # .change, not .release: a value typed into the slider's box (then Enter) fires only it
        [noise_scale.change, noise_seed.submit, normalise.input],
        api_name="arithmetic_settings",
        **refresh,
    )
    for p, button in zip(ar.PRESETS, preset_buttons, strict=True):
        button.click(
            endpoint(load_preset, p.key),
            None,
            [*names, *slot_outputs, active, preset_note],
            api_name=f"arithmetic_preset_{p.key}",
            **private,
        ).success(api_name=f"arithmetic_preset_{p.key}_result", **refresh)

    arithmetic_inversion.wire(store, inversion)
    inversion["add"].click(
        endpoint(add_inverted),
        [inversion["code"], active, *slot_json],
        slot_outputs,
        api_name="arithmetic_add_inverted",
        **private,
    ).success(api_name="arithmetic_refresh_after_add", **refresh)
    return {"inversion": inversion}  # its "edit" button is wired by the latent explorer


def _gallery(initial_items: list) -> tuple:
    """The gallery of generated faces, its first-seed box and its "new faces" button."""
    gallery = _faces(
        "Generated faces: click one to add it to the active slot",
        "arith-gallery",
        value=initial_items,
        columns=GALLERY_COLUMNS,
        rows=GALLERY_SIZE // GALLERY_COLUMNS,
    )
    with gr.Row():
        first_seed = gr.Number(
            value=0,
            label="First seed of the gallery",
            precision=0,
            minimum=0,
            maximum=MAX_SEED - GALLERY_SIZE,
            elem_id="arith-first-seed",
            scale=2,
        )
        new_faces = gr.Button("New faces", elem_id="arith-new-faces", scale=1)
    return gallery, first_seed, new_faces


def _controls() -> tuple:
    """The active slot, the presets, the noise settings (compute's 4th-6th inputs) and the
    compute button."""
    gr.Markdown(HOW_TO)
    active = gr.Radio(
        choices=ar.slot_choices(DEFAULT_NAMES),
        value="A",
        label="Active slot: clicks go here",
        elem_id="arith-active",
    )
    gr.Markdown("**Presets** (hand-picked labelled exemplars, one click each):")
    preset_buttons = [
        gr.Button(p.label, size="sm", elem_id=f"arith-preset-{p.key}") for p in ar.PRESETS
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
            maximum=MAX_SEED,
            elem_id="arith-noise-seed",
        )
        normalise = gr.Checkbox(
            value=False, label="rescale results to ‖z‖ = 10", elem_id="arith-normalise"
        )
    compute_button = gr.Button("Compute A − B + C", variant="primary", elem_id="arith-compute")
    return active, preset_buttons, preset_note, [noise_scale, noise_seed, normalise], compute_button


def _slots() -> tuple[list, list, list, list]:
    """The three slots side by side: name box, picks, average face, clear button each."""
    names, slot_picks, slot_avg, clear_buttons = [], [], [], []
    with gr.Row(equal_height=False):
        for slot, default, sign in zip(SLOTS, DEFAULT_NAMES, ar.SLOT_SIGNS, strict=True):
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
                        _faces(
                            f"{slot}: picks",
                            f"arith-picks-{key}",
                            columns=4,
                            fit_columns=False,  # one pick stays a thumbnail, not a poster
                            scale=3,
                            min_width=120,
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
    return names, slot_picks, slot_avg, clear_buttons


def _faces(label: str, elem_id: str, **options) -> gr.Gallery:
    """Generated faces side by side, sharp pixels, output only: a click picks or removes one
    (no preview, no buttons)."""
    return gr.Gallery(
        label=label,
        height="auto",
        allow_preview=False,
        object_fit="contain",
        interactive=False,
        format="png",
        buttons=[],
        elem_id=elem_id,
        elem_classes=["advdemo-pixelated"],
        **options,
    )


def _results() -> list:
    """The result pictures and the summary: what compute() returns, in its order."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            result_eq = _result(
                "With averages: mean A − mean B + mean C = result", "arith-result-eq"
            )
            result_grid = _result(
                "The result with small noise σε added (exact result in the centre)",
                "arith-grid",
                label="The result with small noise (exact result in the centre)",
                height=440,
            )
        with gr.Column(scale=1):
            result_singles = _result(
                "With single picks: pick i of A − pick i of B + pick i of C", "arith-singles"
            )
            summary = gr.Markdown(elem_id="arith-summary")
    return [result_eq, result_grid, result_singles, summary]


def _result(title: str, elem_id: str, label: str | None = None, **options) -> gr.Image:
    """A result picture under its heading (its hidden label is the heading unless given)."""
    gr.Markdown(f"#### {title}")
    return ui.picture(None, label or title, elem_id, buttons=["download"], **options)
