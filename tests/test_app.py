"""The app as a whole: it starts, serves every tab, and answers through gradio_client."""

from __future__ import annotations

import urllib.request

import pytest

import app as app_module
from advdemo.models import registry
from advdemo.tabs import TABS


def test_page_is_served_with_every_tab(app_url):
    with urllib.request.urlopen(app_url + "/config", timeout=30) as response:
        config = response.read().decode()
    for tab in TABS:
        assert tab.TITLE in config


def test_models_endpoint_lists_the_registry(client):
    models = client.predict(api_name="/models")
    assert [m["name"] for m in models] == list(registry.registry())
    offline = {m["name"] for m in models if m["offline"]}
    assert offline == set(registry.names(builtin_only=True))
    assert {m["origin"] for m in models if m["offline"]} == {"built-in"}
    timm_entries = [m for m in models if m["origin"] == "timm"]  # issue #15
    assert "inception_v3.tf_adv_in1k" in {m["timm_name"] for m in timm_entries}
    assert all(m["name"] == "timm/" + m["timm_name"] for m in timm_entries)


def test_tab_modules_follow_the_contract():
    ids = [tab.TAB_ID for tab in TABS]
    assert len(ids) == len(set(ids))
    for tab in TABS:
        assert isinstance(tab.TITLE, str) and callable(tab.build) and callable(tab.warm_up)
        assert isinstance(getattr(tab, "CSS", ""), str)
    assert "offline" in app_module.models_markdown()


IMPORT_CHECK = """
import pkgutil, importlib, threading, sys
import PIL.Image
pixels = PIL.Image.MAX_IMAGE_PIXELS
import advdemo, app
names = [m.name for m in pkgutil.walk_packages(advdemo.__path__, "advdemo.")]
for name in names:
    importlib.import_module(name)
import torch._inductor.config as inductor
assert len(names) > 20, names
assert threading.active_count() == 1, [t.name for t in threading.enumerate()]
assert PIL.Image.MAX_IMAGE_PIXELS == pixels, "a PIL limit was set at import"
assert not inductor.freezing, "inductor's process-wide freezing was switched on at import"
print("imported", len(names))
"""


@pytest.mark.slow
def test_importing_every_module_starts_nothing(tmp_path):
    """Nothing happens at import (#12): no thread, no process-wide setting, no model loaded
    (with an empty checkpoint folder, loading anything would fail the import)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ADVDEMO_CHECKPOINTS": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK],
        cwd=app_module.__file__.rsplit("/", 1)[0],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("imported")


def test_session_memory_is_bounded(demo, app_url):
    """Gradio keeps every session it has seen; the app caps how many, and the 1-D GAN game
    (the largest per-session state) expires when left alone."""
    import gradio as gr

    import app as app_module
    from advdemo.tabs import toy_gan

    assert demo.server_app.state_holder.capacity == app_module.MAX_SESSIONS <= 5000
    states = [b for b in demo.blocks.values() if isinstance(b, gr.State)]
    assert any(s.time_to_live == toy_gan.STATE_TTL_S for s in states)
