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
