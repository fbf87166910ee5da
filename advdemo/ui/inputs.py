"""Every input checked on the server before Gradio keeps or decodes it, and a clear message
when Gradio itself cannot convert one (what the browser enforces, an API caller may not)."""

from __future__ import annotations

import functools
import json
import logging
import math
from typing import Any

import gradio as gr
from gradio.exceptions import InvalidPathError

from advdemo.core import images
from advdemo.ui.errors import user_error

log = logging.getLogger("advdemo")

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


def _not_an_upload(value: Any) -> str | None:
    """What kind of address a dict anywhere in `value` gives instead of an uploaded file: "a
    data: URL" (its "url"; Gradio decodes it whole) or "a web address" (its "path"; Gradio
    downloads it, with no size limit), else None. Iterative: a payload may nest as deep as its
    JSON parser allowed. (An http "url" beside a local "path" is how the page refers to a file
    the server already has: fine.)"""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            url, path = item.get("url"), item.get("path")
            if isinstance(url, str) and url.lstrip()[:5].lower() == "data:":
                return "a data: URL"
            if isinstance(path, str) and path.lstrip()[:8].lower().startswith(
                ("http://", "https://", "data:")
            ):
                return "a web address"
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return None


def refusal(block: Any, value: Any) -> str | None:
    """Why `value`, as a client sent it, must not reach `block`'s preprocessing; else None.

    Text: at most the box's max_length characters (else DEFAULT_MAX_TEXT). Numbers: numbers,
    within the component's minimum and maximum (NaN goes on: the callbacks name it).
    Checkboxes: true or false. Radio, dropdown, checkbox group: one (or some) of the choices;
    a dropdown that allows typed values, text of at most DEFAULT_MAX_TEXT characters.
    Anything else: at most MAX_VALUE_CHARS as JSON.

    Files: Gradio decodes an image given as a data: URL whole (an 8,900² PNG of 246 kB took
    6.8 s and ~1 GB) before any check of ours, and downloads one given as a web address with
    no size limit (and from wherever the server can reach), both outside the upload limit;
    images arrive as uploaded files only. (A JSON value is data, never decoded: not a file.)
    """
    if not isinstance(block, gr.JSON) and (kind := _not_an_upload(value)) is not None:
        return (
            f"“{_label(block)}” takes an uploaded file, not {kind}: upload the image "
            "first (with gradio_client: handle_file(path) of a file on your machine)."
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


def with_trailing_defaults(block_fn: Any, inputs: list[Any]) -> list[Any]:
    """`inputs` completed with the defaults (the components' initial values) of the
    parameters a caller left off at the end."""
    expected = list(getattr(block_fn, "inputs", None) or ())
    if not isinstance(inputs, list) or len(inputs) >= len(expected):
        return inputs
    return inputs + [getattr(block, "value", None) for block in expected[len(inputs) :]]


def readable_input_errors(demo: gr.Blocks) -> gr.Blocks:
    """Check every input against what no input may carry (see `refusal`) before Gradio
    touches it, and give a clear message when Gradio itself cannot convert an input (API
    callers sending "abc" to a slider, NaN to an integer box, a non-file to an image) before
    any callback runs.

    Gradio raises those from Blocks.preprocess_data and, without show_error, the caller gets
    an error with no message at all. This wraps that one method of this Blocks instance (not
    the class) and re-raises them as gr.Error naming the input and what it expects. Gradio
    stores each input in the session and may decode it there, so refusals come first.

    An endpoint may gain parameters at the end (README: the API only grows); a caller that
    sends the values it always sent gets the new ones' defaults, as gradio_client does,
    instead of Gradio's refusal of a short list.
    """
    original = demo.preprocess_data

    @functools.wraps(original)
    async def preprocess_data(block_fn, inputs, state=None, *args, **kwargs):
        inputs = with_trailing_defaults(block_fn, inputs)
        try:
            problem = _first_refusal(block_fn, inputs, state)
        except Exception:  # a value this check did not foresee must still get an answer
            log.exception("checking the inputs failed")
            problem = "One of the inputs could not be read; check the values."
        if problem is not None:
            log.info("input refused before Gradio read it: %s", problem)
            raise user_error(problem)
        try:
            return await original(block_fn, inputs, state, *args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:
            log.info("input rejected before the callback: %s: %s", type(exc).__name__, exc)
            raise user_error(_input_error_message(block_fn, inputs, exc)) from exc

    demo.preprocess_data = preprocess_data
    return demo
