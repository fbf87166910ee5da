"""The latent explorer tab through its public API and in a real browser (the truncation
tab's own API and browser tests are tests/tabs/test_truncation.py; the raw-JSON bad-value
calls cover both tabs' public endpoints)."""

from __future__ import annotations

import json
import math
import re

import httpx
import pytest
from gradio_client.exceptions import AppError
from PIL import Image

from advdemo.faces import views as fv
from tests.conftest import wait_for_new_image


def probability(readout: str, name: str) -> float:
    match = re.search(rf"P\({name}\).*?advdemo-readout-value\">([0-9.]+)<", readout)
    assert match, readout
    return float(match.group(1))


# --------------------------------------------------------------------------- API


def test_generate_api(client):
    plain_path, plain_readout = client.predict(seed=11, api_name="/generate")
    edited_path, edited_readout = client.predict(seed=11, glasses=4.0, api_name="/generate")
    with Image.open(plain_path) as plain, Image.open(edited_path) as edited:
        assert plain.size == (64 * fv.FACE_SCALE, 64 * fv.FACE_SCALE)
        assert plain.tobytes() != edited.tobytes()
    assert probability(edited_readout, "glasses") > probability(plain_readout, "glasses") + 0.2
    assert "‖z‖" in plain_readout


def test_interpolate_api(client):
    lerp_path, slerp_path, plot, gif_path = client.predict(
        start_seed=3, end_seed=4, frames=6, api_name="/interpolate"
    )
    with Image.open(lerp_path) as lerp, Image.open(slerp_path) as slerp:
        assert lerp.width == slerp.width == 6 * 64 * fv.STRIP_SCALE
    with Image.open(gif_path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 10
    assert plot["type"] == "plotly"


def test_generate_and_interpolate_edit_a_given_code(client, store):
    """#15 "edit your own photo": a code (what inversion finds for an upload) replaces the
    seed; the sliders act on it; a script that never sends a code gets the seed's face."""
    code = [round(v, 5) for v in store.face_generator().sample_z(31, 1)[0].tolist()]
    by_seed, _ = client.predict(seed=31, api_name="/generate")
    by_code, _ = client.predict(seed=0, code=code, api_name="/generate")
    smiling, _ = client.predict(seed=0, smile=4.0, code=code, api_name="/generate")
    with Image.open(by_seed) as a, Image.open(by_code) as b, Image.open(smiling) as c:
        assert max(abs(x - y) for x, y in zip(a.tobytes(), b.tobytes(), strict=True)) <= 1
        assert c.tobytes() != b.tobytes()
    lerp, *_ = client.predict(
        start_seed=0, end_seed=4, frames=4, code=code, api_name="/interpolate"
    )
    reference, *_ = client.predict(start_seed=31, end_seed=4, frames=4, api_name="/interpolate")
    with Image.open(lerp) as a, Image.open(reference) as b:
        assert a.size == b.size
        assert max(abs(x - y) for x, y in zip(a.tobytes(), b.tobytes(), strict=True)) <= 1
    with pytest.raises(AppError, match="a code has exactly 100"):
        client.predict(seed=0, code=[0.1, 0.2], api_name="/generate")


# Parameters of the public endpoints in order, each with a valid value. NaN and ±inf cannot be
# sent by gradio_client (its JSON encoder refuses them), but any other HTTP client can; these
# tests post raw JSON with NaN / Infinity tokens to the same endpoints.
ZERO_OFFSETS = {f"pc{k}": 0.0 for k in range(1, 11)} | dict.fromkeys(
    ("glasses", "smile", "man", "dark_hair"), 0.0
)
PARAMETERS = {
    "generate": {"seed": 7, "disentangle": False, **ZERO_OFFSETS},
    "interpolate": {
        "start_seed": 7,
        "end_seed": 57,
        "frames": 10,
        "disentangle": False,
        **ZERO_OFFSETS,
    },
    "truncation": {
        "seed": 7,
        "variant": "scale",
        "psi": 0.7,
        "tau": 1.0,
        "first_seed": 1000,
        "grid_size": 16,
    },
}


def raw_call(app_url: str, api: str, **changes: object) -> tuple[str, str]:
    """POST to /gradio_api/call/<api> and read its event stream: (last event, its data)."""
    params = PARAMETERS[api] | changes
    assert set(params) == set(PARAMETERS[api]), changes
    body = json.dumps({"data": list(params.values())}, allow_nan=True)
    with httpx.Client(base_url=app_url, timeout=60, trust_env=False) as http:
        post = http.post(
            f"/gradio_api/call/{api}", content=body, headers={"content-type": "application/json"}
        )
        post.raise_for_status()
        event_id = post.json()["event_id"]
        stream = http.get(f"/gradio_api/call/{api}/{event_id}").text
    events = re.findall(r"^event: (\w+)\ndata: (.*)$", stream, flags=re.M)
    assert events, stream
    return events[-1]


BAD_CALLS = [
    ("generate", {"seed": math.nan}, "Seed must be a finite number"),
    ("generate", {"seed": math.inf}, "greater than maximum value 4294967295"),
    ("generate", {"seed": -1}, "less than minimum value 0"),
    ("generate", {"seed": 2.5}, "Seed must be a whole number"),
    ("generate", {"seed": None}, "Seed is empty: type a number"),
    ("interpolate", {"end_seed": None}, "End seed is empty: type a number"),
    ("truncation", {"first_seed": None}, "First seed of the grid is empty: type a number"),
    ("generate", {"glasses": math.nan}, "Offset along glasses must be a finite number"),
    ("generate", {"pc3": math.inf}, "greater than maximum value 5"),
    ("generate", {"smile": -math.inf}, "less than minimum value -5"),
    ("generate", {"man": 1e9}, "greater than maximum value 5"),
    ("interpolate", {"frames": -3}, "less than minimum value 2"),
    ("interpolate", {"frames": 65}, "greater than maximum value 64"),
    ("interpolate", {"frames": math.nan}, "Number of frames must be a finite number"),
    ("interpolate", {"end_seed": math.nan}, "End seed must be a finite number"),
    ("interpolate", {"pc1": math.nan}, "Offset along pc1 must be a finite number"),
    ("truncation", {"psi": math.nan}, "psi (ψ) must be a finite number"),
    ("truncation", {"tau": math.inf}, "greater than maximum value 4"),
    ("truncation", {"grid_size": 65}, "greater than maximum value 64"),
    ("truncation", {"grid_size": -4}, "less than minimum value 4"),
    ("truncation", {"variant": "clip"}, "is not in the list of choices: ['scale', 'resample']"),
]


@pytest.mark.parametrize(("api", "changes", "message"), BAD_CALLS)
def test_bad_api_values_get_clear_messages(app_url, api, changes, message):
    event, data = raw_call(app_url, api, **changes)
    assert event == "error", (event, data)
    assert message in (json.loads(data)["error"] or ""), data


def test_client_sees_the_same_messages(client):
    with pytest.raises(AppError, match="less than minimum value 2"):
        client.predict(frames=-3, api_name="/interpolate")
    with pytest.raises(AppError, match="Seed must be a whole number"):
        client.predict(seed=2.5, api_name="/generate")
    assert raw_call(client.src.rstrip("/"), "generate")[0] == "complete"  # still serving


# --------------------------------------------------------------------------- browser


@pytest.mark.browser
def test_latent_tab_in_a_browser(page, app_url, artifacts):
    page.goto(app_url)
    page.get_by_role("tab", name="Latent explorer").click()
    face = "#latent-face img"
    page.wait_for_selector(face, timeout=60_000)
    before = page.locator(face).get_attribute("src")
    readout_before = page.locator("#latent-readout").inner_text()

    # move a slider: the face and the read-outs change
    page.locator("#latent-glasses input[type=range]").fill("4")
    wait_for_new_image(page, face, before)
    page.wait_for_function(
        "old => document.querySelector('#latent-readout').innerText !== old",
        arg=readout_before,
    )

    # reset returns to the seed's own face (Gradio names cached images by content: same URL)
    page.locator("#latent-reset").click()
    page.wait_for_function(
        "() => document.querySelector('#latent-glasses input[type=range]').value === '0'"
    )
    page.wait_for_function(
        "src => document.querySelector('#latent-face img').src === src", arg=before
    )

    # a preset sets its sliders and redraws; "New face" draws another seed
    page.locator("#latent-preset-0").click()  # glasses +4
    wait_for_new_image(page, face, before)
    assert page.locator("#latent-glasses input[type=range]").input_value() == "4"
    seed_before = page.locator("#latent-seed input").input_value()
    shown = page.locator(face).get_attribute("src")
    page.locator("#latent-new").click()
    wait_for_new_image(page, face, shown)
    assert page.locator("#latent-seed input").input_value() != seed_before
    assert page.locator("#latent-glasses input[type=range]").input_value() == "0"

    # run an interpolation: both strips are redrawn with the new number of frames
    lerp, slerp = "#latent-lerp img", "#latent-slerp img"
    lerp_before = page.locator(lerp).get_attribute("src")
    slerp_before = page.locator(slerp).get_attribute("src")
    page.locator("#latent-frames input[type=number]").fill("6")
    page.locator("#latent-end-seed input").fill("123")
    page.locator("#latent-interpolate").click()
    wait_for_new_image(page, lerp, lerp_before)
    wait_for_new_image(page, slerp, slerp_before)
    width = page.locator(lerp).evaluate("img => img.naturalWidth")
    assert width == 6 * 64 * fv.STRIP_SCALE
    page.wait_for_selector("#latent-norms .js-plotly-plot", timeout=30_000)
    # leave an edit on screen for the screenshot
    before = page.locator(face).get_attribute("src")
    page.locator("#latent-smile input[type=range]").fill("3")
    wait_for_new_image(page, face, before)
    page.screenshot(path=str(artifacts / "latent.png"), full_page=True)


@pytest.mark.browser
def test_typed_seeds_apply_on_blur_once(page, app_url):
    """Issue #20: a typed seed redraws when its box loses focus, as on Enter; Enter followed
    by a click elsewhere redraws once, not twice."""
    joins: list[str] = []
    page.on("request", lambda r: joins.append(r.url) if "/gradio_api/queue/join" in r.url else None)
    page.goto(app_url)
    page.get_by_role("tab", name="Latent explorer").click()
    face, lerp = "#latent-face img", "#latent-lerp img"
    page.wait_for_selector(face, timeout=60_000)
    before = page.locator(face).get_attribute("src")
    page.locator("#latent-seed input").fill("31")
    page.locator("#latent-readout").click()  # focus leaves the box: no Enter
    shown = wait_for_new_image(page, face, before)

    # Enter, then a click elsewhere: one redraw
    page.wait_for_timeout(500)
    joins.clear()
    page.locator("#latent-seed input").fill("32")
    page.locator("#latent-seed input").press("Enter")
    wait_for_new_image(page, face, shown)
    page.locator("#latent-readout").click()
    page.wait_for_timeout(1_000)
    assert len(joins) == 1, joins

    # the end seed: leaving the box redraws the strips
    lerp_before = page.locator(lerp).get_attribute("src")
    page.locator("#latent-end-seed input").fill("99")
    page.locator("#latent-readout").click()
    wait_for_new_image(page, lerp, lerp_before)


@pytest.mark.browser
def test_an_uploaded_face_opens_in_the_explorer_and_the_sliders_edit_it(
    browser, app_url, artifacts
):
    """#15: find the astronaut's code in the arithmetic tab, one click opens it here with the
    photo beside its reconstruction and the PSNR; a slider edits it; "back" leaves it."""
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(app_url)
    page.get_by_role("tab", name="Vector arithmetic").click()
    page.locator("#arith-inversion-panel button").first.click()
    page.locator("#arith-example-face").click()
    page.wait_for_selector("#arith-upload img", timeout=30_000)
    page.locator("#arith-steps input[type=number]").fill("10")
    page.locator("#arith-steps input[type=number]").press("Enter")
    page.locator("#arith-invert").click()
    page.wait_for_function(
        "() => document.querySelector('#arith-inversion-message').innerText.includes('Found')",
        timeout=60_000,
    )
    face = "#latent-face img"
    page.wait_for_selector(face, state="attached")
    seed_face = page.locator(face).get_attribute("src")
    page.locator("#arith-edit-inverted").click()
    page.wait_for_selector("#latent-photo-image img", state="visible", timeout=30_000)
    assert "PSNR" in page.locator("#latent-photo-message").inner_text()
    own_face = wait_for_new_image(page, face, seed_face)
    page.locator("#latent-smile input[type=range]").fill("4")
    wait_for_new_image(page, face, own_face)
    page.screenshot(path=str(artifacts / "latent-own-photo.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("#latent-photo-image").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "latent-own-photo-phone.png"))
    page.set_viewport_size({"width": 1366, "height": 900})
    page.locator("#latent-back").click()
    page.wait_for_selector("#latent-photo-image", state="hidden", timeout=30_000)
    page.wait_for_function(
        "src => document.querySelector('#latent-face img').src !== src", arg=own_face
    )
    page.close()
