"""Gradio glue shared by the tabs (only tabs and app.py import it; library code never does).

- errors: `friendly` turns library errors into messages a user can read; `bind` fixes a
  tab's model store as an endpoint's first parameter.
- lanes: queue lanes, the low-priority heavy thread (`on_gpu`, `low_priority`) and the
  light lane's threads below the sliders (`light_work_below_sliders`).
- components: `explanation` (Markdown with LaTeX), `image_upload` (opens only uploads),
  `seed_box`, `picture`, `preset_row`.
- events: `INSTANT` settings and `set_then_redraw` for buttons that set controls, then draw.
- inputs: `readable_input_errors`, every input checked on the server before Gradio keeps it.
- serving: serving a room at once (page replay, atomic image files, request body limit).
- sessions: a new session without the whole page's config; `SessionLatest` and
  `while_current`, which hold back answers for a value the session has moved on from.
"""

from advdemo.ui.components import (
    LATEX,
    explanation,
    image_upload,
    picture,
    preset_row,
    seed_box,
)
from advdemo.ui.errors import UNEXPECTED, bind, friendly
from advdemo.ui.events import INSTANT, set_then_redraw
from advdemo.ui.inputs import DEFAULT_MAX_TEXT, MAX_VALUE_CHARS, readable_input_errors, refusal
from advdemo.ui.lanes import (
    HEAVY_LANE,
    HEAVY_NICENESS,
    LIGHT_LANE,
    SLIDER_LANE,
    light_work_below_sliders,
    low_priority,
    on_gpu,
)
from advdemo.ui.sessions import SessionLatest, while_current

__all__ = [
    "DEFAULT_MAX_TEXT",
    "HEAVY_LANE",
    "HEAVY_NICENESS",
    "INSTANT",
    "LATEX",
    "LIGHT_LANE",
    "MAX_VALUE_CHARS",
    "SLIDER_LANE",
    "UNEXPECTED",
    "SessionLatest",
    "bind",
    "explanation",
    "friendly",
    "image_upload",
    "light_work_below_sliders",
    "low_priority",
    "on_gpu",
    "picture",
    "preset_row",
    "readable_input_errors",
    "refusal",
    "seed_box",
    "set_then_redraw",
    "while_current",
]
