"""The adversarial playground through its public API (classify, attack, eps_sweep) and in a
real browser: the cat becomes an iguana, and the PNG you download still is one."""

from __future__ import annotations

import json
import math
import re

import httpx
import pytest
import torch
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from advdemo.core import images
from advdemo.tabs import adversarial

CAT = str(images.asset("chelsea.png"))
COFFEE = str(images.asset("coffee.png"))
CAT_CLASSES = {"tiger cat", "Egyptian cat", "tabby"}
MODEL = "efficientnet-lite0"


def attack_args(**changes: object) -> dict:
    """The 'cat → iguana' preset as API arguments (targeted PGD, ε = 4/255, 20 steps of 1/255)."""
    args = {
        "image": handle_file(CAT),
        "model_name": MODEL,
        "method": "pgd",
        "eps_k": 4,
        "steps": 20,
        "target": "common iguana",
        "mode": "targeted",
        "step_k": 1,
        "lam": 0.001,
    }
    return args | changes


def unpack(out: tuple) -> dict:
    names = (
        "adversarial",
        "perturbation",
        "after",
        "metrics",
        "before",
        "original",
        "summary",
        "plot",
        "checks",
        "download",
    )
    assert len(out) == len(names)
    return dict(zip(names, out, strict=True))


# --------------------------------------------------------------------------- API


def test_presets_set_the_photo_then_the_named_controls():
    names = ("method", "mode", "eps_k")
    image, *values = adversarial.apply_preset("panda", names)
    assert image.endswith("coffee.png") and values == ["fgsm", "untargeted", 2]
    start = adversarial.apply_preset("cat-iguana", ("method", "target", "steps"))
    assert start[1:] == ("pgd", "common iguana", 20)


def test_the_method_shows_its_controls_and_the_lecture_is_always_targeted():
    step, steps, lam, mode = adversarial.method_changed("fgsm", "untargeted")
    assert (step["visible"], steps["visible"], lam["visible"]) == (False, False, False)
    assert mode["value"] == "untargeted" and mode["interactive"]
    step, steps, lam, mode = adversarial.method_changed("lecture", "untargeted")
    assert (step["visible"], steps["visible"], lam["visible"]) == (True, True, True)
    assert mode["value"] == "targeted" and not mode["interactive"]


def test_classify_api(client):
    top5 = client.predict(handle_file(CAT), MODEL, api_name="/classify")
    assert top5["label"] in CAT_CLASSES
    assert len(top5["confidences"]) == 5


def test_attack_api_turns_the_cat_into_an_iguana_and_the_png_comes_back(client, store):
    r = unpack(client.predict(**attack_args(), api_name="/attack"))
    assert r["before"]["label"] in CAT_CLASSES
    assert r["after"]["label"] == "common iguana"
    assert "**L∞** = 4/255" in r["metrics"] and "PSNR" in r["metrics"]
    assert "common iguana" in r["summary"]
    figure = json.loads(r["plot"]["plot"])
    # iterations 0..20, then the star on the step whose image came back (issue #20)
    assert [len(trace["x"]) for trace in figure["data"]] == [21, 21, 1]
    star = figure["data"][2]
    assert star["name"].startswith("returned image: step ")
    assert star["y"][0] == max(figure["data"][1]["y"])
    after = {c["label"]: c["confidence"] for c in r["after"]["confidences"]}
    assert star["y"][0] == pytest.approx(after["common iguana"], abs=1e-4)

    original = images.to_tensor(images.load_image(r["original"]))
    adversarial = images.to_tensor(images.load_image(r["adversarial"]))
    assert original.shape == adversarial.shape == (1, 3, 224, 224)
    assert (adversarial - original).abs().max() <= 4 / 255 + 1e-6
    with Image.open(r["perturbation"]) as shown:
        grey = torch.frombuffer(bytearray(shown.convert("L").tobytes()), dtype=torch.uint8)
    grey = grey.float()
    assert abs(float(grey.mean()) - 128) < 3  # signed and centred on mid-grey

    # The download, uploaded again, gives the model exactly the attacked pixels ...
    model = store.gradient_classifier(MODEL)
    uploaded = model.prepare(images.load_image(r["download"])).cpu()
    assert torch.equal(uploaded, adversarial)
    # ... and the server itself, handed that PNG, still sees an iguana.
    again = client.predict(handle_file(r["download"]), MODEL, api_name="/classify")
    assert again["label"] == "common iguana"
    assert re.search(r"PNG, uploaded again \|.*\| \*\*yes\*\*", r["checks"])
    assert "EfficientNet-Lite2" in r["checks"]


def test_panda_style_fgsm_api(client):
    r = unpack(
        client.predict(
            **attack_args(image=handle_file(COFFEE), method="fgsm", eps_k=2, mode="untargeted"),
            api_name="/attack",
        )
    )
    assert r["before"]["label"] == "espresso"
    espresso = {c["label"]: c["confidence"] for c in r["after"]["confidences"]}.get("espresso", 0)
    assert espresso < 0.5  # from 95 % at two grey levels per pixel
    assert len(json.loads(r["plot"]["plot"])["data"][0]["x"]) == 2  # FGSM: start and result


def test_eps_sweep_api(client):
    plot = client.predict(
        handle_file(CAT), MODEL, "fgsm", "common iguana", "targeted", 4, api_name="/eps_sweep"
    )
    figure = json.loads(plot["plot"])
    assert [trace["x"] for trace in figure["data"]] == [list(range(17))] * 2
    true_prob = figure["data"][0]["y"]
    assert true_prob[0] > 0.3 and min(true_prob[1:]) < true_prob[0]


BAD_CLIENT_CALLS = [
    ({"eps_k": 65}, "greater than maximum value 64"),
    ({"eps_k": -1}, "less than minimum value 0"),
    ({"steps": 501}, "greater than maximum value 500"),
    ({"eps_k": 2.5}, "eps (k/255) must be a whole number"),
    ({"target": "iguanna"}, "Did you mean"),
    ({"target": ""}, "Unknown class"),
    ({"method": "lecture", "mode": "untargeted"}, "always steers toward a target class"),
    ({"target": "tiger cat"}, "already says 'tiger cat'"),
    ({"image": None}, "No image given"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_CLIENT_CALLS)
def test_bad_parameters_get_clear_messages(client, changes, message):
    with pytest.raises(AppError, match=re.escape(message)):
        client.predict(**attack_args(**changes), api_name="/attack")


def test_sweep_refuses_a_target_the_model_already_sees(client):
    with pytest.raises(AppError, match="already says 'tiger cat'"):
        client.predict(
            handle_file(CAT), MODEL, "fgsm", "tiger cat", "targeted", 4, api_name="/eps_sweep"
        )


def test_a_file_that_is_not_an_image_gets_a_clear_message(client, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("definitely not a PNG")
    with pytest.raises(AppError, match="not an image this app can read"):
        client.predict(handle_file(str(fake)), MODEL, api_name="/classify")


def _upload(app_url: str, path: str) -> dict:
    with httpx.Client(base_url=app_url, timeout=60, trust_env=False) as http:
        with open(path, "rb") as f:
            response = http.post("/gradio_api/upload", files={"files": f})
        response.raise_for_status()
    return {"path": response.json()[0], "meta": {"_type": "gradio.FileData"}}


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (3, math.nan, "eps (k/255) must be a finite number"),
        (4, math.nan, "steps must be a finite number"),
        (7, math.inf, "greater than maximum value 16"),
        (8, math.nan, "λ must be a finite number"),
        (8, -1.0, "less than minimum value 0"),
    ],
)
def test_nan_and_inf_through_raw_json_get_clear_messages(app_url, index, value, message):
    """gradio_client cannot send NaN or ±inf; any other HTTP client can."""
    data = [_upload(app_url, CAT), MODEL, "pgd", 4, 20, "common iguana", "targeted", 1, 0.001]
    data[index] = value
    with httpx.Client(base_url=app_url, timeout=120, trust_env=False) as http:
        post = http.post(
            "/gradio_api/call/attack",
            content=json.dumps({"data": data}, allow_nan=True),
            headers={"content-type": "application/json"},
        )
        post.raise_for_status()
        stream = http.get(f"/gradio_api/call/attack/{post.json()['event_id']}").text
    event, payload = re.findall(r"^event: (\w+)\ndata: (.*)$", stream, flags=re.M)[-1]
    assert event == "error", stream
    assert message in (json.loads(payload)["error"] or ""), payload


# --------------------------------------------------------------------------- browser


@pytest.mark.browser
def test_cat_to_iguana_in_a_browser(page, app_url, artifacts):
    page.goto(app_url)
    page.get_by_role("tab", name="Adversarial playground").click()
    page.wait_for_selector("#adv-examples", timeout=60_000)
    page.locator("#adv-examples img").first.click()  # the cat, first of the examples
    page.wait_for_function(
        "() => document.querySelector('#adv-before')?.innerText.match(/cat/)", timeout=120_000
    )
    page.locator("#adv-preset-cat-iguana").click()
    page.wait_for_function(
        """() => {
            const img = document.querySelector('#adv-perturbation img');
            return img && img.complete && img.naturalWidth === 224;
        }""",
        timeout=180_000,
    )
    page.wait_for_function(
        "() => document.querySelector('#adv-after')?.innerText.includes('common iguana')",
        timeout=60_000,
    )
    page.wait_for_selector("#adv-history .js-plotly-plot", timeout=60_000)
    page.wait_for_selector("#adv-checks table", timeout=60_000)
    after = [line.strip() for line in page.locator("#adv-after").inner_text().splitlines()]
    after = [line for line in after if line]
    assert after[:2] == ["top-5 after", "common iguana"]  # block label, then the new top-1
    assert "common iguana" in page.locator("#adv-summary").inner_text()
    # The ×10 view is signed and centred on mid-grey, not a blank or saturated square.
    grey_spread = page.evaluate(
        """() => {
            const img = document.querySelector('#adv-perturbation img');
            const c = document.createElement('canvas');
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            const g = c.getContext('2d'); g.drawImage(img, 0, 0);
            const d = g.getImageData(0, 0, c.width, c.height).data;
            let lo = 255, hi = 0, sum = 0;
            for (let i = 0; i < d.length; i += 4) {
                lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); sum += d[i];
            }
            return [lo, hi, sum / (d.length / 4)];
        }"""
    )
    lo, hi, mean = grey_spread
    assert lo < 110 and hi > 146 and abs(mean - 128) < 4
    # One click for the ε sweep: FGSM and PGD-10 curves for k = 0..16.
    page.locator("#adv-sweep").click()
    page.wait_for_function(
        "() => document.querySelectorAll('#adv-sweep-plot .js-plotly-plot .scatterlayer .trace')"
        ".length === 4",
        timeout=180_000,
    )
    page.screenshot(path=str(artifacts / "adversarial.png"), full_page=True)
