"""Event wiring the tabs share: controls set at once outside the queue, then a redraw."""

from __future__ import annotations

import gradio as gr

from advdemo.ui.errors import friendly

# Events that only set controls: at once, outside the queue, not in the API.
INSTANT = {"api_visibility": "private", "show_progress": "hidden", "queue": False}


def set_then_redraw(
    button: gr.Button, setter, controls, api_name: str, redraw_name: str, redraw: dict
) -> None:
    """A click sets `controls` at once (`setter`'s values), then redraws: `redraw` holds the
    follow-up's fn, inputs, outputs and options; the two steps are named api_name, redraw_name."""
    button.click(friendly(setter), None, controls, api_name=api_name, **INSTANT).then(
        api_name=redraw_name, **redraw
    )


def _changed(value, last):
    """The box's value if it differs from the one last committed; else stop the chain quietly
    (a hidden error: .success does not run, and nothing is shown)."""
    if value == last:
        raise gr.Error("unchanged", visible=False, print_exception=False)
    return value


def redraw_on_commit(box: gr.Number, api_name: str, redraw: dict) -> None:
    """Enter in `box`, or leaving it, redraws (`redraw`: the follow-up's fn, inputs, outputs and
    options) once per new value: Enter then a click elsewhere sends the same value twice, and
    the second is dropped at once, outside the queue. Steps named `api_name`, `<api_name>_draw`."""
    last = gr.State(box.value)
    gr.on(
        [box.submit, box.blur], _changed, [box, last], last, api_name=api_name, **INSTANT
    ).success(api_name=f"{api_name}_draw", **redraw)


def redrawing_css(elem_ids) -> str:
    """CSS for outputs redrawn with show_progress="minimal": Gradio's corner timer ("3.3/0.6s",
    the estimate a running mean over all settings) reads "redrawing…" instead."""
    minimal = ", ".join(f"#{e} .minimal .progress-text" for e in elem_ids)
    return (
        f"{minimal} {{ font-size: 0; }}\n"
        + ", ".join(f"#{e} .minimal .progress-text::after" for e in elem_ids)
        + ' { content: "redrawing…"; font-size: var(--text-sm); }\n'
    )
