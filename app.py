"""advdemo's entry point: composes the tabs into one Gradio app and launches it.

Run `python app.py` (a Hugging Face Space does the same). GRADIO_SERVER_NAME / PORT are
respected; the built-in checkpoints are fetched first if they are missing.
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

import gradio as gr
from starlette.middleware import Middleware

from advdemo import ui
from advdemo.core import images
from advdemo.models import checkpoints, registry
from advdemo.models.store import ModelStore
from advdemo.tabs import TABS
from advdemo.ui import page, serving, sessions

MAX_UPLOAD_MB = 10
MAX_FILE_SIZE = f"{MAX_UPLOAD_MB}mb"  # per uploaded file; other request bodies: see below
# Gradio keeps every session it has seen (about 0.5 MB of its own per session, measured here,
# plus the tabs' state, e.g. a 1-D GAN game ~0.1 MB) until this many newer ones push it out;
# its default of 10,000 could grow past a Space's memory. 2,000 covers a lecture hall
# reloading many times over, and bounds that memory at roughly 1.3 GB.
MAX_SESSIONS = 2000
# What Gradio stores in its temp folder (uploads, output images) is deleted once it is an hour
# old, checked every ten minutes; the rest when the server stops. (Examples and the initial
# pictures of the page are Gradio's keep_in_cache and stay.)
DELETE_CACHE = (600, 3600)  # (frequency, age) in seconds
# Gradio serves every user's request counts and timings at /monitoring/summary to anyone,
# unless told not to: off unless the operator sets ADVDEMO_MONITORING=1.
MONITORING_ENV = "ADVDEMO_MONITORING"

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
        for m in registry.catalogue()
    ]
    head = "| name | model | availability | source | licence |\n|---|---|---|---|---|\n"
    timm_note = (
        "\n\nAny other ImageNet classifier of timm works too, downloaded on first use: type "
        "`timm/<name>` (e.g. `timm/resnet18.a1_in1k`) in the playground's classifier box."
    )
    return head + "\n".join(rows) + timm_note


def list_models() -> list[dict]:
    """Every model the app knows: name (to pass to the other endpoints), task, whether it
    works offline, its origin ("built-in", "timm" with its timm_name, "torchvision",
    "cyclegan"), its source and its licence. Besides these, any ImageNet classifier of timm
    is accepted as "timm/<name>" wherever a classifier is asked for."""
    return registry.catalogue()


def build_demo(store: ModelStore) -> gr.Blocks:
    """Build the whole app on `store`. Tests call this too, then launch it on a free port."""
    images.limit_decoding()  # Gradio decodes some images before our checks: see core.images
    serving.atomic_cache_writes()  # identical outputs for many users: see advdemo.ui.serving
    sessions.lazy_session_configs()  # a new session's first click is cheap: see ui.sessions
    with gr.Blocks(
        title="advdemo: adversarial examples and GANs",
        analytics_enabled=False,
        delete_cache=DELETE_CACHE,
    ) as demo:
        with gr.Row(elem_id="advdemo-header"):
            gr.Markdown(HEADER, elem_classes="lecture-hide")
            page.lecture_toggle()
        # tabs wrap onto more rows on a narrow screen instead of hiding behind a "…" menu
        exports: dict[str, dict] = {}
        with gr.Tabs(overflow_behavior="wrap") as tabs:
            for tab in TABS:
                with gr.Tab(tab.TITLE, id=tab.TAB_ID):
                    exports[tab.TAB_ID] = tab.build(store) or {}
        for tab in TABS:  # events from one tab into another, once every tab exists
            if hasattr(tab, "link"):
                tab.link(store, tabs, exports)
        with gr.Accordion(
            "Models, their sources and licences", open=False, elem_classes="lecture-hide"
        ):
            gr.Markdown(models_markdown())
        gr.api(list_models, api_name="models", queue=False)
    demo.queue(default_concurrency_limit=1, max_size=256)
    ui.light_work_below_sliders(demo)  # strips and grids yield the cores to slider faces
    return ui.readable_input_errors(demo)


def page_css() -> str:
    return BASE_CSS + page.CSS + "".join(getattr(tab, "CSS", "") for tab in TABS)


def launch_options() -> dict:
    """What launch() needs besides host and port; the tests launch with the same."""
    return {
        "enable_monitoring": os.environ.get(MONITORING_ENV, "") == "1",
        "max_file_size": MAX_FILE_SIZE,
        "state_session_capacity": MAX_SESSIONS,
        # Gradio processes at most max_threads events at once (default 40), async ones too:
        # heavy events wait in the fair heavy lane without a thread, and 100 of them held all
        # 40 slots, so sliders queued for seconds (load test, lecture mix, 100 users). The
        # queue holds 256 events; the lanes' own limits bound the threads actually used.
        "max_threads": 320,
        "ssr_mode": False,
        # Gradio asks for its own page once, with a 3 s timeout, and refuses to start when
        # that fails ("localhost is not accessible"): on a busy 2-core machine, with the
        # warm-up already running, the first page can take longer. Nothing here needs the
        # share link that check is for.
        "_frontend": False,
        "css": page_css(),
        "js": page.JS,
        "theme": gr.themes.Soft(),
        "app_kwargs": {
            "middleware": [
                # any request body over serving.MAX_BODY_BYTES (an upload: over one file of
                # MAX_FILE_SIZE) refused with HTTP 413 before it is read whole
                Middleware(
                    serving.BodyLimit,
                    max_upload_bytes=MAX_UPLOAD_MB * 2**20 + serving.MULTIPART_SLACK,
                ),
                # "/" and "/config" replayed instead of rebuilt per visitor: see advdemo.ui.serving
                Middleware(serving.CachedPages),
            ]
        },
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    checkpoints.ensure_builtin()  # fetches what is missing, or exits saying which command to run
    store = ModelStore()  # the one owner of device, weights and caches
    # With $ADVDEMO_RAY_ADDRESS the heavy endpoints run on Ray Serve (advdemo.serve); the
    # replicas warm their own models, so the front end warms nothing it would not run.
    store.remote = remote_backend()
    demo = build_demo(store)
    if store.remote is None:
        store.warm_up_in_background(tab.warm_up for tab in TABS)
    demo.launch(**launch_options())


def remote_backend():
    """The Ray Serve backend when $ADVDEMO_RAY_ADDRESS is set (Ray then must be installed:
    requirements-ray.txt), else None. Imported only then: Ray is optional."""
    if not os.environ.get("ADVDEMO_RAY_ADDRESS", "").strip():
        return None
    from advdemo.serve import remote

    return remote.from_environment()


if __name__ == "__main__":
    main()
