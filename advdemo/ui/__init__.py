"""Gradio glue shared by the tabs: turning library errors into messages a user can read.

Only the tabs import this module; library code raises advdemo.errors exceptions and never
imports gradio.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import logging
import math
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.exceptions import InvalidPathError
from gradio.utils import get_cache_folder, get_upload_folder
from PIL import Image

from advdemo.core import images
from advdemo.core.errors import InputError, ModelUnavailable
from advdemo.models import runtime

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


def bind(fn: Callable[..., Any], *leading: Any) -> Callable[..., Any]:
    """`fn` with its first parameters fixed to `leading` (a tab binds its model store), as a
    real function: its name, docstring and the signature Gradio documents for the API are
    `fn`'s without the bound parameters. Works for generators too."""
    signature = inspect.signature(fn)
    rest = list(signature.parameters.values())[len(leading) :]
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def bound_gen(*args, **kwargs):
            yield from fn(*leading, *args, **kwargs)

        bound: Callable[..., Any] = bound_gen
    else:

        @functools.wraps(fn)
        def bound(*args, **kwargs):
            return fn(*leading, *args, **kwargs)

    bound.__signature__ = signature.replace(parameters=rest)  # type: ignore[attr-defined]
    return bound


def on_gpu(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a heavy callback: spaces.GPU where the `spaces` package is importable (ZeroGPU lends
    a GPU per call), elsewhere run in the low-priority heavy thread (low_priority below)."""
    return low_priority(fn) if spaces is None else spaces.GPU(fn)


# ---------------------------------------------------------------- heavy work at low CPU priority
# The heavy lane runs one job at a time, but that job's torch threads still took both cores
# from the light lane. Measured with benchmarks/load_test.py on this 2-core machine: while one
# user's 200-step attack or 1024² translation ran, another user's slider p95 went from 0.2-0.3 s
# (idle) to 1.0-1.8 s; with heavy jobs in one thread at nice 15 (its OpenMP workers inherit
# it), it stayed at the idle figure (0.20 s during the attack, 0.22 s during the translation).
# With 30 users the light endpoints' p50 fell 4-5× (slider 2.2 s → 0.4 s) while attacks and
# translations, which show progress, took ~1.6× longer. Linux only (per-thread niceness).
HEAVY_NICENESS = runtime.BACKGROUND_NICENESS
_heavy_local = threading.local()


def _enter_heavy_thread() -> None:
    _heavy_local.inside = True
    runtime.lower_thread_priority(HEAVY_NICENESS)


_heavy_pool = ThreadPoolExecutor(
    1, thread_name_prefix="advdemo-heavy", initializer=_enter_heavy_thread
)
_FINISHED = object()


def low_priority(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run `fn` (a function or a generator) in the one low-priority heavy thread, with the
    caller's context (Gradio's progress and warnings follow). Calls made from inside that thread
    run directly, so a heavy callback may call another."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            if getattr(_heavy_local, "inside", False):
                yield from fn(*args, **kwargs)
            else:
                yield from _iterate_in_heavy_thread(fn, args, kwargs)

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if getattr(_heavy_local, "inside", False):
            return fn(*args, **kwargs)
        call = contextvars.copy_context().run
        return _heavy_pool.submit(call, _then_release, fn, *args, **kwargs).result()

    return wrapper


def _then_release(fn: Callable[..., Any], *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    finally:
        runtime.release_freed_memory()  # a heavy job's freed pages go back to the system


def _iterate_in_heavy_thread(fn: Callable[..., Any], args: tuple, kwargs: dict):
    """Yield what generator `fn` yields, running it in the heavy thread. If the consumer stops
    early (the user left), the generator is closed there within half a second."""
    items: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                items.put(entry, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        generator = fn(*args, **kwargs)
        try:
            for item in generator:
                if not hand_over((True, item)):
                    return
        except BaseException as exc:
            hand_over((False, exc))
        else:
            hand_over((False, _FINISHED))
        finally:
            generator.close()
            runtime.release_freed_memory()

    _heavy_pool.submit(contextvars.copy_context().run, produce)
    try:
        while True:
            ok, value = items.get()
            if ok:
                yield value
            elif value is _FINISHED:
                return
            else:
                raise value
    finally:
        stop.set()


# Queue lanes. Heavy model work (attacks, CycleGAN, inversion) shares one lane so two such
# jobs never fight over the CPU's two cores; light work (a slider's 64×64 face) has its own
# lane and is never stuck behind a long attack.
HEAVY_LANE = {"concurrency_id": "heavy", "concurrency_limit": 1}
LIGHT_LANE = {"concurrency_id": "light", "concurrency_limit": 2}
# A face under a moving slider (~5 ms idle) has a lane of its own, so it never waits behind
# strips, grids and galleries (150-450 ms each in the app under the 30-user load test).
SLIDER_LANE = {"concurrency_id": "slider", "concurrency_limit": 2}
# Not batch=True: Gradio raises one error for a whole batch, so one user's bad value (a NaN
# through the API) would fail every slider batched with it; and with this lane the 30-user
# load test measured slider p95 150 ms inside the app, so batching has little left to win.

LATEX = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "$", "right": "$", "display": False},
]


def explanation(markdown: str, **kwargs: Any) -> gr.Markdown:
    """A Markdown block that renders $inline$ and $$display$$ LaTeX."""
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
    on instead, so advdemo.images.load_image, the single door for uploads, can say what is
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
                raise gr.Error(str(exc), title="Cannot do that") from None
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


# ---------------------------------------------------------------- inputs Gradio cannot convert

_NUMERIC = (gr.Slider, gr.Number)
_FILES = (gr.Image, gr.File, gr.Gallery)


def _expects(block: Any) -> str:
    if isinstance(block, _NUMERIC):
        return "a finite number"
    if isinstance(block, _FILES):
        return "an uploaded image file"
    if isinstance(block, gr.Checkbox):
        return "true or false"
    if isinstance(block, gr.Radio | gr.Dropdown):
        return "one of its choices"
    return "a value of another kind"


def _plainly_wrong(block: Any, value: Any) -> bool:
    if isinstance(block, _NUMERIC):
        return (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        )
    if isinstance(block, _FILES):
        return value is not None and not isinstance(value, dict | list)
    return False


def _input_error_message(block_fn: Any, inputs: list[Any], exc: BaseException) -> str:
    if any(isinstance(e, InvalidPathError) for e in (exc, exc.__cause__)):
        return images.NOT_AN_UPLOAD  # Gradio's own refusal names the path: say what we say
    pairs = list(zip(block_fn.inputs, inputs, strict=False))
    culprit = next(((b, v) for b, v in pairs if _plainly_wrong(b, v)), None)
    if culprit is None:  # the value had the right shape; an upload Gradio could not open
        culprit = next(((b, v) for b, v in pairs if isinstance(b, _FILES) and v), None)
    if culprit is None:
        return f"One of the inputs could not be read ({type(exc).__name__}); check the values."
    block, value = culprit
    label = _label(block)
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    if any("DecompressionBomb" in type(e).__name__ for e in (exc, exc.__cause__)):
        return f"“{label}”: the image has too many pixels to open; upload a smaller one."
    return f"“{label}” expects {_expects(block)}; got {shown}."


# ---------------------------------------------------------------- what no input may carry
# A component's max_length, minimum / maximum and choices are hints to the browser; Gradio 6.31
# checks some of them only after it has stored the value in the session (a 20 MB name was kept,
# ~20 MB per new session). Each input is checked here first, against its component's own
# declared limits; what declares none gets these.
DEFAULT_MAX_TEXT = 200  # characters: a text box without max_length, a dropdown's typed value
MAX_VALUE_CHARS = 32_000  # any other value as JSON (a slot's 8 codes of 100 numbers: ~21,000)


def _label(block: Any) -> str:
    return getattr(block, "label", None) or type(block).__name__


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number_shown(x: float) -> str:
    """4294967295 rather than 4.29497e+09; 0.05 as 0.05; 1e+308 and 10**400 shortened."""
    if isinstance(x, int):  # JSON integers can be too large for a float
        digits = str(abs(x))
        short = digits if len(digits) <= 20 else f"{digits[0]}.{digits[1:6]}e+{len(digits) - 1}"
        return ("-" if x < 0 else "") + short
    return str(int(x)) if abs(x) < 1e16 and x.is_integer() else f"{x:g}"


def _choices_shown(options: list) -> str:
    if len(options) <= 12:
        return repr(options)
    return "[" + ", ".join(repr(o) for o in options[:12]) + f", … ({len(options) - 12} more)]"


def _text_refusal(block: Any, value: Any, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return f"“{_label(block)}” expects text; got {_shown(value)}."
    if len(text := str(value)) > limit:
        return f"“{_label(block)}” takes at most {limit} characters; got {len(text):,}."
    return None


def _number_refusal(block: Any, value: Any) -> str | None:
    if value is None:
        return None  # Gradio and the callback say what a missing number means
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"“{_label(block)}” expects a finite number; got {_shown(value)}."
    # in Gradio's words; NaN compares false and goes on to the callback, which names it
    lo, hi = getattr(block, "minimum", None), getattr(block, "maximum", None)
    if lo is not None and value < lo:
        shown, limit = _number_shown(value), _number_shown(lo)
        return f"“{_label(block)}”: {shown} is less than minimum value {limit}."
    if hi is not None and value > hi:
        shown, limit = _number_shown(value), _number_shown(hi)
        return f"“{_label(block)}”: {shown} is greater than maximum value {limit}."
    return None


def _choice_refusal(block: Any, value: Any) -> str | None:
    options = [v for _, v in getattr(block, "choices", None) or []]
    many = getattr(block, "multiselect", False) or isinstance(block, gr.CheckboxGroup)
    picks = value if many and isinstance(value, list) else [value]
    if value is None:
        return None
    most = getattr(block, "max_choices", None) or len(options)
    if many and len(picks) > most:
        return f"“{_label(block)}” takes at most {most} choices; got {len(picks):,}."
    if getattr(block, "allow_custom_value", False):
        return next((r for p in picks if (r := _text_refusal(block, p, DEFAULT_MAX_TEXT))), None)
    if any(isinstance(p, list | dict) or p not in options for p in picks):
        shown = _shown(value)
        return (
            f"“{_label(block)}”: {shown} is not in the list of choices: {_choices_shown(options)}."
        )
    return None


def _size_refusal(block: Any, value: Any) -> str | None:
    try:
        size = len(json.dumps(value))
    except (RecursionError, TypeError, ValueError):
        return f"“{_label(block)}” could not be read; check the value."
    if size > MAX_VALUE_CHARS:
        return (
            f"“{_label(block)}” takes at most {MAX_VALUE_CHARS:,} characters (as JSON); "
            f"got {size:,}."
        )
    return None


def _has_data_url(value: Any) -> bool:
    """Whether a dict anywhere in `value` has a "url" that is a data: URL (iteratively: a
    payload may nest as deep as its JSON parser allowed)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            url = item.get("url")
            if isinstance(url, str) and url.lstrip()[:5].lower() == "data:":
                return True
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def refusal(block: Any, value: Any) -> str | None:
    """Why `value`, as a client sent it, must not reach `block`'s preprocessing; else None.

    Text: at most the box's max_length characters (else DEFAULT_MAX_TEXT). Numbers: numbers,
    within the component's minimum and maximum (NaN goes on: the callbacks name it).
    Checkboxes: true or false. Radio, dropdown, checkbox group: one (or some) of the choices;
    a dropdown that allows typed values, text of at most DEFAULT_MAX_TEXT characters.
    Anything else: at most MAX_VALUE_CHARS as JSON.

    Files: Gradio decodes an image given as a data: URL whole (an 8,900² PNG of 246 kB took
    6.8 s and ~1 GB) before any check of ours, and outside the upload size limit; images
    arrive as uploaded files only. (A JSON value is data, never decoded: not a file.)
    """
    if not isinstance(block, gr.JSON) and _has_data_url(value):
        return (
            f"“{_label(block)}” takes an uploaded file, not a data: URL: upload the image "
            "first (with gradio_client: handle_file(path))."
        )
    if isinstance(block, gr.Textbox):
        return _text_refusal(block, value, getattr(block, "max_length", None) or DEFAULT_MAX_TEXT)
    if isinstance(block, _NUMERIC):
        return _number_refusal(block, value)
    if isinstance(block, gr.Checkbox):
        ok = value is None or isinstance(value, bool)
        return None if ok else f"“{_label(block)}” expects true or false; got {_shown(value)}."
    if isinstance(block, gr.Radio | gr.Dropdown | gr.CheckboxGroup):
        return _choice_refusal(block, value)
    return _size_refusal(block, value)  # JSON, files, examples and whatever comes later


def _first_refusal(block_fn: Any, inputs: list[Any], state: Any) -> str | None:
    props = getattr(block_fn, "component_prop_inputs", None) or ()
    for i, (block, value) in enumerate(zip(block_fn.inputs, inputs, strict=False)):
        if getattr(block, "stateful", False):
            continue  # gr.State: the server's own value, not the client's
        if state is not None and block._id in state:
            block = state[block._id]  # as this session's updates left it (e.g. new choices)
        if i in props and isinstance(value, dict):
            value = value.get("value")
        if (problem := refusal(block, value)) is not None:
            return problem
    return None


def readable_input_errors(demo: gr.Blocks) -> gr.Blocks:
    """Check every input against what no input may carry (see `refusal`) before Gradio
    touches it, and give a clear message when Gradio itself cannot convert an input (API
    callers sending "abc" to a slider, NaN to an integer box, a non-file to an image) before
    any callback runs.

    Gradio raises those from Blocks.preprocess_data and, without show_error, the caller gets
    an error with no message at all. This wraps that one method of this Blocks instance (not
    the class) and re-raises them as gr.Error naming the input and what it expects. Gradio
    stores each input in the session and may decode it there, so refusals come first.
    """
    original = demo.preprocess_data

    @functools.wraps(original)
    async def preprocess_data(block_fn, inputs, state=None, *args, **kwargs):
        try:
            problem = _first_refusal(block_fn, inputs, state)
        except Exception:  # a value this check did not foresee must still get an answer
            log.exception("checking the inputs failed")
            problem = "One of the inputs could not be read; check the values."
        if problem is not None:
            log.info("input refused before Gradio read it: %s", problem)
            raise gr.Error(problem, title="Cannot do that")
        try:
            return await original(block_fn, inputs, state, *args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:
            log.info("input rejected before the callback: %s: %s", type(exc).__name__, exc)
            raise gr.Error(
                _input_error_message(block_fn, inputs, exc), title="Cannot do that"
            ) from exc

    demo.preprocess_data = preprocess_data
    return demo
