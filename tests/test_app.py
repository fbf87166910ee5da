"""The app as a whole: it starts, serves every tab, and answers through gradio_client."""

from __future__ import annotations

import urllib.request

import app as app_module
from advdemo import inference
from advdemo.tabs import TABS


def test_page_is_served_with_every_tab(app_url):
    with urllib.request.urlopen(app_url + "/config", timeout=30) as response:
        config = response.read().decode()
    for tab in TABS:
        assert tab.TITLE in config


def test_models_endpoint_lists_the_registry(client):
    models = client.predict(api_name="/models")
    assert [m["name"] for m in models] == list(inference.REGISTRY)
    offline = {m["name"] for m in models if m["offline"]}
    assert offline == set(inference.names(builtin_only=True))


def test_tab_modules_follow_the_contract():
    ids = [tab.TAB_ID for tab in TABS]
    assert len(ids) == len(set(ids))
    for tab in TABS:
        assert isinstance(tab.TITLE, str) and callable(tab.build)
        assert isinstance(getattr(tab, "CSS", ""), str)
    assert "offline" in app_module.models_markdown()


def test_session_memory_is_bounded(demo, app_url):
    """Gradio keeps every session it has seen; the app caps how many, and the 1-D GAN game
    (the largest per-session state) expires when left alone."""
    import gradio as gr

    import app as app_module
    from advdemo.tabs import toy_gan

    assert demo.server_app.state_holder.capacity == app_module.MAX_SESSIONS <= 5000
    states = [b for b in demo.blocks.values() if isinstance(b, gr.State)]
    assert any(s.time_to_live == toy_gan.STATE_TTL_S for s in states)
