"""The CycleGAN tab through its public API (gradio_client) and in headless Chromium.

The official generators cannot be downloaded here: the cycle is exercised with checkpoints
in their layout and random weights (tests/translation/test_cyclegan.py makes them), put where
an `offline_store` expects the first-use download. Those tests run the tab on that store in
an app of its own (`offline_client`), so the session's app and its store stay untouched.
"""

from __future__ import annotations

import re

import gradio as gr
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

from advdemo.core import images
from advdemo.core.errors import ModelUnavailable
from advdemo.tabs import cyclegan as tab
from advdemo.translation import cyclegan as cg
from benchmarks.common import launch_local
from tests.conftest import place_online, wait_for_new_image
from tests.tabs.test_adversarial import FreshCache
from tests.translation.test_cyclegan import junyanz_checkpoint

CAT = str(images.asset("chelsea.png"))  # 451×300


def _image(path: str) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB").copy()


@pytest.fixture
def offline_client(offline_store):
    """The CycleGAN tab alone in an app built on `offline_store`, launched; its API client."""
    with gr.Blocks(analytics_enabled=False) as demo:
        tab.build(offline_store)
    demo.queue(default_concurrency_limit=1)
    url = launch_local(demo)
    yield Client(url, analytics_enabled=False, verbose=False)
    demo.close()


def test_api_translates_with_the_builtin_model_and_says_there_is_no_cycle(client, store):
    before, after, reconstruction, heat, summary = client.predict(
        handle_file(CAT), cg.BUILTIN, 256, api_name="/translate"
    )
    assert _image(before).size == _image(after).size == (256, 172)
    assert reconstruction is None and heat is None
    assert "Ran at **256×172** (scaled from 451×300, aspect ratio kept)" in summary
    assert "Cycle error" not in summary
    # the PNG the API returns is G(x) of the photo at the working size, rounded to 8 bits
    x, _ = cg.prepare(CAT, 256)
    expected = images.to_pil(store.translator(cg.BUILTIN).translate(x))
    diff = torch.tensor(list(_image(after).get_flattened_data()), dtype=torch.float32)
    diff -= torch.tensor(list(expected.get_flattened_data()), dtype=torch.float32)
    assert diff.abs().mean() < 1.0


def test_api_keeps_the_aspect_of_odd_sizes(client, tmp_path):
    path = tmp_path / "odd.png"
    images.load_image(CAT).resize((333, 517)).save(path)
    before, after, *_ = client.predict(
        handle_file(str(path)), cg.BUILTIN, 200, api_name="/translate"
    )
    assert _image(before).size == _image(after).size == (128, 200)


def test_api_runs_a_small_photo_at_its_own_size_unless_asked_to_upscale(client):
    """Issue #20: 'long side 1024' upscaled the 451×300 cat to 1024×680 (a 40 s tiled run)."""
    before, after, _, _, summary = client.predict(
        handle_file(CAT), cg.BUILTIN, 1024, api_name="/translate"
    )
    assert _image(before).size == _image(after).size == (448, 300)
    assert "Ran at **448×300** (the upload's own size, 451×300, " in summary
    assert "upscaled" not in summary
    before, _, _, _, summary = client.predict(
        handle_file(CAT), cg.BUILTIN, 512, True, api_name="/translate"
    )
    assert _image(before).size == (512, 340)
    assert "(upscaled from 451×300, aspect ratio kept)" in summary


def test_changing_the_model_or_photo_runs_by_itself_only_when_quick(store, tmp_path, monkeypatch):
    """Issue #20: with 1024 set, choosing a model started a tiled run of ~40 s by itself."""
    real, ran = cg.translate, []

    def counted(x, *args, **kwargs):
        ran.append(tuple(x.shape[-2:]))
        assert x.shape[-2] * x.shape[-1] <= cg.MAX_UNTILED_PIXELS, "a tiled run started by itself"
        return real(x, *args, **kwargs)

    monkeypatch.setattr(cg, "translate", counted)
    big = tmp_path / "big.png"
    images.load_image(CAT).resize((1200, 800)).save(big)

    def progress(fraction, desc=None):
        pass

    fresh = FreshCache(store)  # nothing computed by other tests is served here
    out = tab.translate_if_ready(fresh, str(big), cg.BUILTIN, 1024, progress=progress)
    assert ran == []
    assert "1024×684" in out[4] and "press **Translate**" in out[4]
    assert re.search(r"about \d+ s", out[4])
    out = tab.translate_if_ready(fresh, CAT, cg.BUILTIN, 1024, progress=progress)  # own size
    assert ran == [(300, 448)] and "Ran at **448×300**" in out[4]


def test_identical_translations_are_computed_once_and_never_served_for_other_inputs(
    store, tmp_path, monkeypatch
):
    real, ran = cg.translate, []

    def counted(x, original_size, *args, **kwargs):
        ran.append((tuple(x.shape[-2:]), original_size))
        return real(x, original_size, *args, **kwargs)

    monkeypatch.setattr(cg, "translate", counted)
    fresh = FreshCache(store)
    nudged = images.load_image(CAT)
    nudged.putpixel((0, 0), tuple(255 - v for v in nudged.getpixel((0, 0))))
    nudged.save(tmp_path / "nudged.png")
    small = tmp_path / "small.png"
    images.load_image(CAT).resize((200, 133)).save(small)
    variants = {  # each differs from the first in one thing
        "cat at 128": (CAT, cg.BUILTIN, 128, False),
        "one pixel": (str(tmp_path / "nudged.png"), cg.BUILTIN, 128, False),
        "resolution": (CAT, cg.BUILTIN, 160, False),
        "small": (str(small), cg.BUILTIN, 256, False),
        "upscaled": (str(small), cg.BUILTIN, 256, True),
    }
    pictures = {}
    for name, args in variants.items():
        pictures[name] = tab.translate(fresh, *args, progress=lambda *a, **k: None)
    assert len(ran) == len(variants)
    for name, args in variants.items():
        again = tab.translate(fresh, *args, progress=lambda *a, **k: None)
        assert again is pictures[name]
    assert len(ran) == len(variants)
    # the one-pixel change reaches G(x): a different picture, not the cat's
    assert pictures["one pixel"][0].getpixel((0, 0)) != pictures["cat at 128"][0].getpixel((0, 0))
    assert pictures["upscaled"][0].size == (256, 172) and pictures["small"][0].size == (200, 132)
    # a kept translation is known, so it skips the heavy lane; another size is not
    assert tab.translate_known(fresh, CAT, cg.BUILTIN, 128)
    assert not tab.translate_known(fresh, CAT, cg.BUILTIN, 96)
    # the same photo through the automatic run shares the button's result
    tab.translate_if_ready(fresh, CAT, cg.BUILTIN, 128, progress=lambda *a, **k: None)
    assert len(ran) == len(variants)


def test_api_returns_the_cycle_where_a_reverse_exists(offline_client, offline_store):
    for name, seed in (("summer2winter_yosemite", 5), ("winter2summer_yosemite", 6)):
        sd = junyanz_checkpoint(seed, running_stats=True, module_prefix=True)
        place_online(offline_store, name, sd)
    before, _, reconstruction, heat, summary = offline_client.predict(
        handle_file(CAT), "summer2winter_yosemite", 128, api_name="/translate"
    )
    assert _image(reconstruction).size == _image(heat).size == _image(before).size == (128, 84)
    assert "`summer2winter_yosemite` eager" in summary
    assert "`winter2summer_yosemite` eager" in summary
    assert "**Cycle error**" in summary
    x, size = cg.prepare(CAT, 128)
    g, f = (
        cg.Generator(name, offline_store.translator(name))
        for name in ("summer2winter_yosemite", "winter2summer_yosemite")
    )
    assert f"**{cg.translate(x, size, g, f).cycle_l1:.4f}**" in summary


@pytest.mark.parametrize(
    ("model", "resolution", "message"),
    [
        (cg.BUILTIN, "nan", "finite"),  # JSON has no NaN: sent as text, as a script might
        (cg.BUILTIN, "-inf", "finite"),
        (cg.BUILTIN, 5000, "maximum value 1024"),  # Gradio's slider checks its range itself
        (cg.BUILTIN, 10, "minimum value 64"),
        ("efficientnet-lite0", 256, "not in the list of choices"),  # Gradio checks it
    ],
)
def test_api_explains_bad_settings(client, model, resolution, message):
    with pytest.raises(Exception, match=message):
        client.predict(handle_file(CAT), model, resolution, api_name="/translate")


def test_api_explains_bad_uploads_and_offline_models(offline_client, offline_store, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    with pytest.raises(Exception, match=r"could not be decoded|not an image"):
        offline_client.predict(handle_file(str(broken)), cg.BUILTIN, 256, api_name="/translate")
    with pytest.raises(Exception, match="seems to be offline"):
        offline_client.predict(handle_file(CAT), "horse2zebra", 256, api_name="/translate")
    assert list((offline_store.checkpoint_dir / "online").iterdir()) == []


def test_a_download_is_announced_before_it_starts_and_a_bad_upload_before_any(offline_store):
    """The endpoint says what it waits for (progress), and refuses a bad upload before it
    downloads anything."""
    seen: list[tuple[float, str]] = []

    def progress(fraction, desc=None):
        seen.append((fraction, desc))

    with pytest.raises(ModelUnavailable, match="offline; the built-in models work"):
        tab.translate(offline_store, CAT, "horse2zebra", 64, progress=progress)
    assert seen == [(0.0, "downloading horse2zebra (official CycleGAN, online) on first use")]
    seen.clear()
    with pytest.raises(Exception, match="No image given"):
        tab.translate(offline_store, None, "horse2zebra", 64, progress=progress)
    assert seen == []


# --------------------------------------------------------------------------- browser


@pytest.mark.browser
def test_upload_a_photo_run_and_see_before_and_after(page, app_url, artifacts):
    page.goto(app_url)
    page.get_by_role("tab", name="CycleGAN").click()
    page.wait_for_selector("#cg-run")
    assert page.locator("#cg-no-reverse").is_visible()  # the built-in model has no reverse
    assert not page.locator("#cg-reconstruction").is_visible()

    page.locator("#cg-input input[type=file]").set_input_files(CAT)  # runs by itself
    first = wait_for_new_image(page, "#cg-after img", "", timeout=120_000)
    page.wait_for_function(
        "document.querySelector('#cg-summary').innerText.includes('Ran at 256×172')"
    )
    before = page.locator("#cg-before img")
    assert before.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [256, 172]

    page.locator("#cg-resolution input[type=range]").fill("320")  # applies on Translate
    page.wait_for_timeout(300)
    assert page.locator("#cg-after img").get_attribute("src") == first
    page.locator("#cg-run").click()
    second = wait_for_new_image(page, "#cg-after img", first, timeout=120_000)
    assert second != first
    page.wait_for_function(
        "document.querySelector('#cg-summary').innerText.includes('Ran at 320×212')"
    )
    assert page.locator("#cg-after img").evaluate("i => i.naturalWidth") == 320
    assert page.locator("#cg-no-reverse").inner_text().startswith("No reconstruction")
    page.screenshot(path=str(artifacts / "cyclegan.png"), full_page=True)
