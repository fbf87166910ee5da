"""Components the tabs share: Markdown with LaTeX, the upload box that opens only uploads, seed
boxes, pictures the app draws, and rows of preset buttons."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_cache_folder, get_upload_folder
from PIL import Image

from advdemo.core import images
from advdemo.core.errors import MAX_SEED, InputError
from advdemo.core.presets import Preset
from advdemo.ui import page
from advdemo.ui.errors import user_error

LATEX = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "$", "right": "$", "display": False},
]


def explanation(markdown: str, *, fold: bool = True, **kwargs: Any) -> gr.Markdown:
    """A Markdown block that renders $inline$ and $$display$$ LaTeX.

    With `fold` (the default) the page folds it in lecture mode and on phones to its headings
    and its paragraph starting "Try this", moved to the top, with a button that opens the rest
    (see advdemo.ui.page); short notes are never folded."""
    if fold:
        classes = kwargs.pop("elem_classes", None) or []
        classes = [classes] if isinstance(classes, str) else list(classes)
        kwargs["elem_classes"] = [*classes, page.EXPLANATION_CLASS]
    return gr.Markdown(markdown, latex_delimiters=LATEX, **kwargs)


def upload_roots() -> tuple[Path, ...]:
    """The folders a client's file may come from: Gradio's upload folder (its cache for this
    app's files too) and its examples cache."""
    return (Path(get_upload_folder()), get_cache_folder())


class ImageUpload(gr.Image):
    """gr.Image for uploads whose preprocessing never rejects a file on its own, and never
    opens a file that was not uploaded.

    gr.Image opens every upload with PIL before the callback runs; a corrupt or foreign file
    then fails inside Gradio with a message the user never sees. This passes the file's path
    on instead, so advdemo.core.images.load_image, the single door for uploads, can say what is
    wrong with it. Make it with `image_upload(...)` (file path in, no mode conversion).

    Gradio 6.31 checks that a file sent by a client lies in its upload folder only when the
    payload carries Gradio's "meta" marker; {"path": "/any/file"} without it reaches this
    preprocess unchecked. So first of all the path must pass images.confined (resolved, inside
    upload_roots()), and every refusal reads the same (images.NOT_AN_UPLOAD).
    (No __init__ here: Gradio reads a component's props from its __init__ signature.)
    """

    is_template = True  # rendered by the frontend's Image component

    def preprocess(self, payload: Any) -> Any:
        if getattr(payload, "path", None) is not None:
            try:
                payload.path = str(images.confined(payload.path, upload_roots()))
            except InputError as exc:
                raise user_error(str(exc)) from None
        try:
            return super().preprocess(payload)
        except gr.Error:
            raise
        # PIL could not open it (or refused a decompression bomb): let load_image say why
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            path = getattr(payload, "path", None)
            if path is None:
                raise
            return str(path)


def image_upload(**kwargs: Any) -> ImageUpload:
    """An upload box whose file reaches the callback as a path, unconverted and unrejected."""
    return ImageUpload(**{"type": "filepath", "image_mode": None, **kwargs})


def seed_box(value: int, label: str, elem_id: str, **options) -> gr.Number:
    """A box for a seed: a whole number from 0 to MAX_SEED."""
    return gr.Number(
        value,
        label=label,
        precision=None,
        step=1,
        minimum=0,
        maximum=MAX_SEED,
        elem_id=elem_id,
        **options,
    )


def picture(value, label: str, elem_id: str, **options) -> gr.Image:
    """A picture the app draws (never an upload): PNG, its label for screen readers only."""
    return gr.Image(
        value,
        label=label,
        show_label=False,
        format="png",
        interactive=False,
        elem_id=elem_id,
        **options,
    )


def preset_row(presets: Sequence[Preset], tab: str) -> list[gr.Button]:
    """One small button per preset, in a row; element ids `<tab>-preset-<i>`."""
    with gr.Row():
        return [
            gr.Button(p.label, size="sm", elem_id=f"{tab}-preset-{i}")
            for i, p in enumerate(presets)
        ]
