"""GAN inversion in the vector-arithmetic tab: find the code of an uploaded face, then add it
to a slot or edit it in the latent explorer.

Layout and wiring only; the search is advdemo.faces.inversion. Public API: "arithmetic_invert"
(yields the comparison picture and a message). The code it finds stays in the session (a
gr.State) for the two buttons; "Edit it in the latent explorer" hands it to that tab, whose
"generate" and "interpolate" take a code as their `code`, so an upload is edited with every
slider.
"""

from __future__ import annotations

import logging

import gradio as gr

from advdemo import ui
from advdemo.core import images
from advdemo.core.errors import ModelUnavailable, whole
from advdemo.faces import inversion as inv
from advdemo.models.store import ModelStore

log = logging.getLogger("advdemo.arithmetic")

INVERSION_STEPS = 150
MAX_INVERSION_STEPS = 500
ASTRONAUT_FACE_BOX = (150, 25, 290, 165)  # the face in assets/astronaut.jpg (NASA, public domain)

INVERSION_EXPLANATION = r"""
Upload a photo of a face and the app searches for a code whose face matches it, by gradient
descent on the pixel error plus a small pull towards typical codes:
$$z^\ast = \arg\min_z \; \lVert G(z) - x\rVert^2 + \lambda\,\lVert z\rVert^2/100 .$$
A few random starts are optimised at once and the best is kept. The photo is cut to its
central square and shrunk to 64×64, so crop it to the face first. The generator can only draw
faces like the gallery's: whatever you upload, you get the nearest face it can make, and the
PSNR says how near that is.
*Try this:* the astronaut example, *find its code*, then *edit it in the latent explorer* and
move the smile or glasses slider: the edits act on the generator's nearest face, not on the
photo, which is why a low PSNR shows up as a different person being edited.
"""


def _not_a_face_hint(store: ModelStore, picture) -> str:
    """A sentence (and a pop-up) when the built-in ImageNet classifier confidently sees
    something else than a face; empty otherwise."""
    try:
        classifier = store.classifier("efficientnet-lite0")
    except ModelUnavailable:
        log.warning("no classifier for the not-a-face hint; inverting without it")
        return ""
    guess = inv.classify_not_a_face(classifier, picture)
    if guess is None:
        return ""
    gr.Warning(inv.not_a_face_warning(*guess))
    return inv.not_a_face_note(*guess)


def example_face():
    """The astronaut photo in assets/, cut to her face."""
    return images.load_image(images.asset("astronaut.jpg")).crop(ASTRONAUT_FACE_BOX)


def invert_upload(store: ModelStore, upload, steps, progress=gr.Progress()):
    """Find the code of an uploaded face by gradient descent (GAN inversion).

    Yields (target | reconstruction picture, a message, the code as a list of 100 numbers);
    the last yield is the best code found.
    """
    steps = whole("Steps", steps, 10, MAX_INVERSION_STEPS)
    picture = images.load_image(upload)
    target = inv.face_crop(picture)
    hint = _not_a_face_hint(store, picture)
    generator = store.face_generator()
    progress((0, steps), desc="starting from the closest of 64 random faces")
    for snap in inv.inversion(generator, target, steps=steps, every=10):
        progress((snap.step, steps), desc=f"step {snap.step}/{steps}, PSNR {snap.psnr:.1f} dB")
        code = [round(v, 5) for v in snap.code.tolist()]
        message = inv.message(snap, hint)
        if snap.done and (snap.psnr < inv.ROUGH_PSNR or snap.detail < inv.FACE_DETAIL):
            detail = f"{max(snap.detail, 0):.0%} of the detail"
            gr.Warning(f"Poor reconstruction (PSNR {snap.psnr:.1f} dB, {detail}): is it a face?")
        yield inv.comparison(target, snap.reconstruction), message, code


def layout() -> dict:
    """The GAN-inversion panel's components by name: upload, example, steps, invert (the
    button), comparison and message (what invert_upload yields first), code (the last code
    found, per session), add (to the active slot) and edit (in the latent explorer)."""
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
                with gr.Row():
                    add_button = gr.Button("Add to active slot", elem_id="arith-add-inverted")
                    edit_button = gr.Button(
                        "Edit it in the latent explorer", elem_id="arith-edit-inverted"
                    )
    return {
        "upload": upload,
        "example": example,
        "steps": steps,
        "invert": invert_button,
        "comparison": comparison,
        "message": inversion_message,
        "code": gr.State(None),
        "add": add_button,
        "edit": edit_button,
    }


def wire(store: ModelStore, parts: dict) -> None:
    """The example button and the search; "add" is wired by the tab (it changes the slots),
    "edit" by the latent explorer's link()."""
    parts["example"].click(
        ui.friendly(example_face),
        None,
        parts["upload"],
        api_name="arithmetic_example_face",
        api_visibility="private",
        **ui.LIGHT_LANE,
    )
    parts["invert"].click(
        ui.on_gpu(ui.friendly(ui.bind(invert_upload, store))),
        [parts["upload"], parts["steps"]],
        [parts["comparison"], parts["message"], parts["code"]],
        api_name="arithmetic_invert",
        **ui.HEAVY_LANE,
    )
