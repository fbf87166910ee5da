"""Gradio glue shared by the tabs: turning library errors into messages a user can read.

Only the tabs import this module; library code raises advdemo.errors exceptions and never
imports gradio.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from advdemo.errors import InputError, ModelUnavailable

try:  # Hugging Face Spaces install `spaces`; on a ZeroGPU Space, spaces.GPU lends a GPU per call
    import spaces
except ImportError:
    spaces = None

log = logging.getLogger("advdemo")

UNEXPECTED = (
    "Something went wrong on the server while handling this request ({kind}). "
    "It has been logged; other users are not affected. Try again or change the settings."
)


def _as_gradio_error(exc: BaseException) -> gr.Error:
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, InputError | ModelUnavailable):
        return gr.Error(str(exc), title="Cannot do that")
    log.exception("unexpected error in a callback", exc_info=exc)
    return gr.Error(UNEXPECTED.format(kind=type(exc).__name__), title="Server error")


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a Gradio callback so every failure reaches the user as a clear message.

    InputError / ModelUnavailable messages are shown as they are; anything else is logged
    with its traceback and answered with a generic message (never a stack trace in the UI).
    Works for plain functions and for generators (streaming callbacks).
    """
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                raise _as_gradio_error(exc) from exc

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise _as_gradio_error(exc) from exc

    return wrapper


def on_gpu(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a heavy callback for ZeroGPU: spaces.GPU where the `spaces` package is importable
    (it does nothing off ZeroGPU hardware), the function itself everywhere else."""
    return fn if spaces is None else spaces.GPU(fn)


# Queue lanes. Heavy model work (attacks, CycleGAN, inversion) shares one lane so two such
# jobs never fight over the CPU's two cores; light work (a slider's 64×64 face) has its own
# lane and is never stuck behind a long attack.
HEAVY_LANE = {"concurrency_id": "heavy", "concurrency_limit": 1}
LIGHT_LANE = {"concurrency_id": "light", "concurrency_limit": 2}

LATEX = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "$", "right": "$", "display": False},
]


def explanation(markdown: str, **kwargs: Any) -> gr.Markdown:
    """A Markdown block that renders $inline$ and $$display$$ LaTeX."""
    return gr.Markdown(markdown, latex_delimiters=LATEX, **kwargs)


class ImageUpload(gr.Image):
    """gr.Image for uploads whose preprocessing never rejects a file on its own.

    gr.Image opens every upload with PIL before the callback runs; a corrupt or foreign file
    then fails inside Gradio with a message the user never sees. This passes the file's path
    on instead, so advdemo.images.load_image, the single door for uploads, can say what is
    wrong with it. Make it with `image_upload(...)` (file path in, no mode conversion).
    (No __init__ here: Gradio reads a component's props from its __init__ signature.)
    """

    is_template = True  # rendered by the frontend's Image component

    def preprocess(self, payload: Any) -> Any:
        try:
            return super().preprocess(payload)
        except gr.Error:
            raise
        except (OSError, ValueError, SyntaxError):  # PIL could not open it: let load_image say why
            path = getattr(payload, "path", None)
            if path is None:
                raise
            return str(path)


def image_upload(**kwargs: Any) -> ImageUpload:
    """An upload box whose file reaches the callback as a path, unconverted and unrejected."""
    return ImageUpload(**{"type": "filepath", "image_mode": None, **kwargs})
