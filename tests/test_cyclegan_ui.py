"""The CycleGAN tab through its public API (gradio_client) and in headless Chromium.

The official generators cannot be downloaded here: the cycle is exercised with checkpoints
in their layout and random weights (tests/test_cyclegan.py makes them), put where the app
expects the first-use download, in a temporary directory.
"""

from __future__ import annotations

import urllib.error

import pytest
import torch
from gradio_client import handle_file
from PIL import Image
from test_cyclegan import junyanz_checkpoint

from advdemo import cyclegan as cg
from advdemo import images, inference

CAT = str(images.asset("chelsea.png"))  # 451×300


def _image(path: str) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB").copy()


@pytest.fixture
def online_dir(tmp_path, monkeypatch):
    """The app's download cache moved to a temporary directory (the server runs in this
    process), an empty model cache, and a network that fails at once."""
    directory = tmp_path / "online"
    directory.mkdir()
    monkeypatch.setattr(inference, "ONLINE_DIR", directory)
    monkeypatch.setattr(inference, "_cache", {})

    def fail(url, dst, *args, **kwargs):
        raise urllib.error.URLError("test: network disabled")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fail)
    return directory


def test_api_translates_with_the_builtin_model_and_says_there_is_no_cycle(client):
    before, after, reconstruction, heat, summary = client.predict(
        handle_file(CAT), cg.BUILTIN, 256, api_name="/translate"
    )
    assert _image(before).size == _image(after).size == (256, 172)
    assert reconstruction is None and heat is None
    assert "Ran at **256×172** (scaled from 451×300, aspect ratio kept)" in summary
    assert "Cycle error" not in summary
    # the PNG the API returns is G(x) of the photo at the working size, rounded to 8 bits
    x, _ = cg.prepare(CAT, 256)
    expected = images.to_pil(inference.translator(cg.BUILTIN).translate(x))
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


def test_api_returns_the_cycle_where_a_reverse_exists(client, online_dir):
    for name, seed in (("summer2winter_yosemite", 5), ("winter2summer_yosemite", 6)):
        sd = junyanz_checkpoint(seed, running_stats=True, module_prefix=True)
        torch.save(sd, online_dir / f"{name}.pth")
    before, _, reconstruction, heat, summary = client.predict(
        handle_file(CAT), "summer2winter_yosemite", 128, api_name="/translate"
    )
    assert _image(reconstruction).size == _image(heat).size == _image(before).size == (128, 84)
    assert "`summer2winter_yosemite` eager" in summary
    assert "`winter2summer_yosemite` eager" in summary
    assert "**Cycle error**" in summary
    result = cg.translate(CAT, "summer2winter_yosemite", 128)
    assert f"**{result.cycle_l1:.4f}**" in summary


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


def test_api_explains_bad_uploads_and_offline_models(client, tmp_path, online_dir):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    with pytest.raises(Exception, match=r"could not be decoded|not an image"):
        client.predict(handle_file(str(broken)), cg.BUILTIN, 256, api_name="/translate")
    with pytest.raises(Exception, match="seems to be offline"):
        client.predict(handle_file(CAT), "horse2zebra", 256, api_name="/translate")
    assert list(online_dir.iterdir()) == []


# --------------------------------------------------------------------------- browser


def _wait_for_new_image(page, elem_id: str, before: str, timeout: int = 120_000) -> str:
    page.wait_for_function(
        "([id, before]) => { const i = document.querySelector(`#${id} img`);"
        " return i && i.src !== before && i.complete && i.naturalWidth > 0; }",
        arg=[elem_id, before],
        timeout=timeout,
    )
    return page.locator(f"#{elem_id} img").get_attribute("src")


@pytest.mark.browser
def test_upload_a_photo_run_and_see_before_and_after(page, app_url, artifacts):
    page.goto(app_url)
    page.get_by_role("tab", name="CycleGAN").click()
    page.wait_for_selector("#cg-run")
    assert page.locator("#cg-no-reverse").is_visible()  # the built-in model has no reverse
    assert not page.locator("#cg-reconstruction").is_visible()

    page.locator("#cg-input input[type=file]").set_input_files(CAT)  # runs by itself
    first = _wait_for_new_image(page, "cg-after", "")
    page.wait_for_function(
        "document.querySelector('#cg-summary').innerText.includes('Ran at 256×172')"
    )
    before = page.locator("#cg-before img")
    assert before.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [256, 172]

    page.locator("#cg-resolution input[type=range]").fill("320")  # applies on Translate
    page.wait_for_timeout(300)
    assert page.locator("#cg-after img").get_attribute("src") == first
    page.locator("#cg-run").click()
    second = _wait_for_new_image(page, "cg-after", first)
    assert second != first
    page.wait_for_function(
        "document.querySelector('#cg-summary').innerText.includes('Ran at 320×212')"
    )
    assert page.locator("#cg-after img").evaluate("i => i.naturalWidth") == 320
    assert page.locator("#cg-no-reverse").inner_text().startswith("No reconstruction")
    page.screenshot(path=str(artifacts / "cyclegan.png"), full_page=True)
