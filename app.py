"""advdemo's entry point: composes the tabs into one Gradio app and launches it.

Run `python app.py` (a Hugging Face Space does the same). GRADIO_SERVER_NAME / PORT are
respected; the built-in checkpoints are fetched first if they are missing.
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import gradio as gr

from advdemo import checkpoints, inference
from advdemo.tabs import TABS

MAX_FILE_SIZE = "10mb"

HEADER = """
# advdemo: adversarial examples and GANs, hands on
Every tab runs offline on the CPU (and on a GPU when there is one). Each carries a short
explanation and a *try this* line; every figure of the lecture is one or two clicks away.
"""

BASE_CSS = """
.advdemo-pixelated img { image-rendering: pixelated; }
"""


def models_markdown() -> str:
    rows = [
        f"| `{m['name']}` | {m['title']} | "
        f"{'offline' if m['offline'] else 'downloaded on first use'} | {m['source']} | "
        f"{m['licence']} |"
        for m in inference.catalogue()
    ]
    head = "| name | model | availability | source | licence |\n|---|---|---|---|---|\n"
    return head + "\n".join(rows)


def list_models() -> list[dict]:
    """Every model the app knows: name (to pass to the other endpoints), task, whether it
    works offline, its source and its licence."""
    return inference.catalogue()


def build_demo() -> gr.Blocks:
    """Build the whole app. Tests call this too, then launch it on a free port."""
    with gr.Blocks(title="advdemo: adversarial examples and GANs", analytics_enabled=False) as demo:
        gr.Markdown(HEADER)
        with gr.Tabs():
            for tab in TABS:
                with gr.Tab(tab.TITLE, id=tab.TAB_ID):
                    tab.build()
        with gr.Accordion("Models, their sources and licences", open=False):
            gr.Markdown(models_markdown())
        gr.api(list_models, api_name="models", queue=False)
    demo.queue(default_concurrency_limit=1, max_size=256)
    return demo


def page_css() -> str:
    return BASE_CSS + "".join(getattr(tab, "CSS", "") for tab in TABS)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    checkpoints.ensure_builtin()  # fetches what is missing, or exits saying which command to run
    demo = build_demo()
    inference.warm_up_in_background()
    demo.launch(
        max_file_size=MAX_FILE_SIZE,
        ssr_mode=False,
        css=page_css(),
        theme=gr.themes.Soft(),
    )


if __name__ == "__main__":
    main()
