"""The adversarial playground through its public API (classify, attack, eps_sweep) and in a
real browser: the cat becomes an iguana, and the PNG you download still is one."""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
import torch
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from advdemo.adversarial import playground
from advdemo.core import images
from advdemo.core.cache import ResultCache, content_key, shared
from advdemo.tabs import adversarial
from advdemo.ui import lanes

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


def test_attack_api_streams_the_first_answer_then_the_whole_result(client):
    """Issue #16: pictures and top-5s as soon as the attack ends, checks and plot after; the
    client's result is the complete one."""
    job = client.submit(**attack_args(eps_k=5, steps=6), api_name="/attack")
    whole = unpack(job.result(timeout=300))
    outputs = job.outputs()
    assert len(outputs) == 2
    first = unpack(outputs[0])
    assert first["plot"] is None and first["download"] is None
    assert "Checking" in first["checks"]
    assert first["after"] == whole["after"] and first["summary"] == whole["summary"]
    assert first["adversarial"] and first["perturbation"]
    assert whole["plot"] is not None and whole["download"].endswith(".png")
    assert "EfficientNet-Lite2" in whole["checks"]


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
    ({"transfer": MODEL}, "The transfer check needs a second model"),
    ({"transfer": "lite9"}, "Unknown model 'lite9'"),
    ({"model_name": "timm/resnet5O"}, "Unknown timm model 'resnet5o'. Did you mean"),
    ({"model_name": "timm/vit_base_patch16_224.augreg_in21k"}, "not an ImageNet-1k classifier"),
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


def test_the_opening_photo_has_its_top5_when_the_page_loads(demo):
    """Issue #20: the tab opens with the cat loaded but 'top-5 before' stayed empty (the photo
    is set, not changed, so nothing classified it)."""
    before = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "adv-before")
    on_load = [
        fn
        for fn in demo.fns.values()
        if any(trigger == "load" for _, trigger in fn.targets)
        and before in fn.outputs
        and not fn.inputs
    ]
    assert len(on_load) == 1
    top5 = on_load[0].fn()
    assert max(top5, key=top5.get) in CAT_CLASSES


def by_elem_id(demo, elem_id: str):
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)


def test_a_new_photo_empties_the_old_results_in_the_page_then_the_server_classifies_it(demo):
    """The race CI met: a preset sets the photo, then runs the attack (a cached answer comes at
    once); the new photo's clearing, a server event, was answered after it and wiped the
    results. Now the clearing is a js-only event, and it is the first listener of the photo's
    change (the page runs them in order, each to its end); the server's answers only top-5."""
    image = by_elem_id(demo, "adv-image")
    listeners = [f for f in demo.fns.values() if (image._id, "change") in f.targets]
    assert len(listeners) == 3
    clear, remember, top5 = listeners
    assert not remember.queue and [i.elem_id for i in remember.inputs] == ["adv-image"]
    assert not remember.outputs  # the server notes the session's photo (see the next test)
    cleared = {
        "adversarial": "adv-adversarial",
        "perturbation": "adv-perturbation",
        "top5_after": "adv-after",
        "metrics": "adv-metrics",
        "original": "adv-original",
        "summary": "adv-summary",
        "history": "adv-history",
        "checks": "adv-checks",
        "download": "adv-download",
        "sweep_plot": "adv-sweep-plot",
    }
    assert clear.fn is None and not clear.inputs and not clear.queue
    assert [o.elem_id for o in clear.outputs] == list(cleared.values())
    # the values the page sets, in the outputs' order, as the server sends them empty: no
    # picture, plot or file, empty Markdown, an empty Label ({}: the page fails on null), and
    # the summary says what to do
    values = dict(zip(cleared, json.loads(clear.js.removeprefix("() => ")), strict=True))
    assert values == {
        "adversarial": None,
        "perturbation": None,
        "top5_after": {},
        "metrics": "",
        "original": None,
        "summary": adversarial.READY,
        "history": None,
        "checks": "",
        "download": None,
        "sweep_plot": None,
    }
    assert top5.fn is not None and top5.concurrency_id == lanes.LIGHT_LANE["concurrency_id"]
    assert [o.elem_id for o in top5.outputs] == ["adv-before"]
    assert [i.elem_id for i in top5.inputs] == ["adv-image", "adv-model"]


def test_a_new_photo_gets_its_top5_and_no_photo_none(store):
    top5 = adversarial.new_photo_top5(store, COFFEE, MODEL)
    assert max(top5, key=top5.get) == "espresso" and len(top5) == 5
    assert adversarial.new_photo_top5(store, None, MODEL) is None


def test_the_photo_label_is_short_enough_for_lecture_mode(demo):
    """Issue #20: "photo (upload, paste, or pick an example)" was clipped in lecture mode."""
    image = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "adv-image")
    assert len(image.label) <= 24 and "example" not in image.label


# --------------------------------------------------------------------------- browser


def open_tab(page, title: str) -> None:
    """Click the tab `title`, from the overflow menu where a narrow screen put it."""
    page.wait_for_selector(".tab-container", timeout=60_000)
    page.wait_for_timeout(300)  # Gradio measures the tab row, then moves what overflows
    tab = page.get_by_role("tab", name=title)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
        return
    page.locator(".overflow-menu > button").first.click()
    page.locator(".overflow-dropdown button", has_text=title).first.click()


@pytest.mark.browser
@pytest.mark.parametrize(
    ("viewport", "query"),
    [((1366, 900), ""), ((1920, 1080), "?lecture=1"), ((390, 844), "")],
    ids=["laptop", "lecture", "phone"],
)
def test_the_tab_opens_with_the_cats_top5_and_an_unclipped_photo_label(
    browser, app_url, artifacts, viewport, query
):
    """Issue #20: 'top-5 before' empty on opening; the photo label clipped in lecture mode."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    try:
        page.goto(app_url + query)
        open_tab(page, adversarial.TITLE)
        page.wait_for_function(
            "() => /cat|tabby/.test(document.querySelector('#adv-before')?.innerText || '')",
            timeout=60_000,
        )
        label = page.locator("#adv-image label").first
        assert label.inner_text().strip() == "photo (upload or webcam)"
        clipped = label.evaluate(
            """el => {
                const box = el.getBoundingClientRect();
                const block = el.closest('#adv-image').getBoundingClientRect();
                return el.scrollWidth > el.clientWidth + 1 || box.right > block.right + 1;
            }"""
        )
        assert not clipped
        name = f"adversarial-opening-{viewport[0]}x{viewport[1]}{'-lecture' if query else ''}"
        page.locator("#adv-results").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / f"{name}.png"))
    finally:
        page.close()


LATE_TOP5 = "late top-5 (test)"


def wait_for_top5_before(page, label: str) -> None:
    page.wait_for_function(
        "label => document.querySelector('#adv-before')?.innerText.includes(label)",
        arg=label,
        timeout=120_000,
    )


def open_example(page, name: str) -> None:
    """Click the example photo `name` (one of adversarial.EXAMPLES) under the upload box."""
    page.locator("#adv-examples img").nth(adversarial.EXAMPLES.index(name)).click()


@pytest.mark.browser
def test_cat_to_iguana_in_a_browser(browser, app_url, artifacts, monkeypatch):
    """The preset turns the cat into an iguana, its results stay on screen however late the new
    photo's top-5 is answered, and another photo empties them.

    The race CI met (the perturbation never appeared in 180 s): the preset sets the photo and
    runs the attack; the new photo's event classifies it, and its late answer emptied the
    attack's results. Here that classification is held until the attack's whole result is on
    screen, then answers (LATE_TOP5, so the page shows when its answer arrived)."""
    held, release = threading.Event(), threading.Event()
    real_classify = adversarial.classify

    def late_classify(store, image, model_name):
        """The first classification after the preset's click: held, then a marked answer."""
        if held.is_set():
            return real_classify(store, image, model_name)
        held.set()
        release.wait(120)
        return {LATE_TOP5: 1.0}

    page = browser.new_page(viewport={"width": 1366, "height": 900})
    errors: list = []
    page.on("pageerror", lambda error: errors.append(error))  # a Label emptied with null…
    try:
        page.goto(app_url)
        open_tab(page, adversarial.TITLE)
        page.wait_for_selector("#adv-examples", timeout=60_000)
        open_example(page, "coffee.png")  # a photo other than the preset's
        wait_for_top5_before(page, "espresso")
        monkeypatch.setattr(adversarial, "classify", late_classify)
        page.locator("#adv-preset-cat-iguana").click()
        page.wait_for_function(
            """() => {
                const img = document.querySelector('#adv-perturbation img');
                return img && img.complete && img.naturalWidth === 224;
            }""",
            timeout=180_000,
        )
        page.wait_for_selector("#adv-checks table", timeout=120_000)  # the whole result
        assert held.is_set()  # the new photo's classification was asked for, and is held
        release.set()
        wait_for_top5_before(page, LATE_TOP5)
        # Its late answer came: the attack's results are all still there.
        kept = page.locator("#adv-perturbation img")
        assert kept.count() == 1, "the new photo's late top-5 emptied the attack's results"
        assert kept.evaluate("img => img.naturalWidth") == 224
        assert page.locator("#adv-history .js-plotly-plot").count() == 1
        assert page.locator("#adv-checks table").count() == 1
        after = [line.strip() for line in page.locator("#adv-after").inner_text().splitlines()]
        after = [line for line in after if line]
        assert after[:2] == ["top-5 after", "common iguana"]  # block label, then the top-1
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
            "() => document.querySelectorAll("
            "'#adv-sweep-plot .js-plotly-plot .scatterlayer .trace').length === 4",
            timeout=180_000,
        )
        page.screenshot(path=str(artifacts / "adversarial.png"), full_page=True)
        # Another photo: everything that belonged to the cat goes, the sweep too.
        open_example(page, "coffee.png")
        wait_for_top5_before(page, "espresso")
        assert page.locator("#adv-perturbation img, #adv-adversarial img").count() == 0
        assert page.locator("#adv-history .js-plotly-plot").count() == 0
        assert page.locator("#adv-sweep-plot .js-plotly-plot").count() == 0
        assert page.locator("#adv-checks table").count() == 0
        assert "common iguana" not in page.locator("#adv-after").inner_text()
        assert page.locator("#adv-summary").inner_text().startswith("Press a preset")
        page.locator("#adv-results").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "adversarial-new-photo-cleared-1366x900.png"))
        assert not errors
    finally:
        release.set()
        page.close()


@pytest.mark.browser
def test_a_new_photo_holds_back_the_attack_on_the_old_one(browser, app_url, monkeypatch):
    """Another photo while an attack runs: the page empties the results at once, and the old
    photo's attack, answering later, must not fill them again (under the new photo)."""
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    real_stages = playground.attack_stages

    def held_stages(*args, **kwargs):
        started.set()
        release.wait(120)
        yield from real_stages(*args, **kwargs)
        finished.set()

    fresh = ResultCache()  # no answer known before: the attack runs, and is held
    monkeypatch.setattr(adversarial.cache, "shared", lambda store: fresh)
    monkeypatch.setattr(playground, "attack_stages", held_stages)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:
        page.goto(app_url)
        open_tab(page, adversarial.TITLE)
        page.wait_for_selector("#adv-examples", timeout=60_000)
        open_example(page, "rocket.jpg")
        wait_for_top5_before(page, "missile")
        page.click("#adv-run")
        assert started.wait(120)
        open_example(page, "coffee.png")  # while the rocket's attack runs
        wait_for_top5_before(page, "espresso")
        release.set()
        assert finished.wait(180)
        # The old attack's answers left the server after this point; on this quiet page they
        # would be drawn within milliseconds (the page's events come in one stream).
        page.wait_for_timeout(2000)
        assert page.locator("#adv-perturbation img, #adv-adversarial img").count() == 0
        assert page.locator("#adv-history .js-plotly-plot, #adv-checks table").count() == 0
        assert page.locator("#adv-summary").inner_text().startswith("Press a preset")
    finally:
        release.set()
        page.close()


# --------------------------------------------------------------------------- shared results


class FreshCache:
    """The session's store (its loaded models) with a result cache of its own, empty."""

    def __init__(self, store):
        self._store = store
        self.results = ResultCache()

    def derived(self, key, make):
        return self.results if key == ("result-cache",) else self._store.derived(key, make)

    def __getattr__(self, name):
        return getattr(self._store, name)


def final(stream) -> tuple:
    """The attack endpoint's last answer (what gradio_client returns)."""
    *_, last = stream
    return last


def fake_attack_photo(calls: list):
    """Stands in for playground.attack_stages: records its inputs and yields one report that
    names them, so a test can tell whose result came back (and runs in no time)."""

    def attack_photo(model, photo, settings, *, second, second_name, folder, progress):
        s = settings
        names = (content_key(photo), model.input_size, s.attack.key, s.target_class, s.eps_k)
        names += (s.steps, s.step_k, s.lam, second_name)
        calls.append(names)
        path = folder / f"fake-{len(calls)}-{uuid.uuid4().hex[:6]}.png"
        photo.save(path)
        yield playground.AttackReport(
            photo, photo, {}, "", {}, photo, repr(names), None, "", str(path)
        )

    return attack_photo


PRESET = (MODEL, "pgd", 4, 20, "common iguana", "targeted", 1, 0.001)


def test_identical_attacks_are_computed_once_and_never_served_for_other_inputs(
    store, monkeypatch, tmp_path
):
    calls: list = []
    monkeypatch.setattr(playground, "attack_stages", fake_attack_photo(calls))
    fresh = FreshCache(store)
    nudged = images.load_image(CAT)
    nudged.putpixel((200, 150), tuple(min(255, v + 1) for v in nudged.getpixel((200, 150))))
    nudged_path = tmp_path / "cat-one-pixel-brighter.png"
    nudged.save(nudged_path)
    variants = {  # each differs from the preset in one thing
        "preset": (CAT, *PRESET),
        "one pixel": (str(nudged_path), *PRESET),
        "model": (CAT, "efficientnet-lite2", *PRESET[1:]),
        "method": (CAT, MODEL, "lecture", *PRESET[2:]),
        "eps": (CAT, MODEL, "pgd", 5, *PRESET[3:]),
        "steps": (CAT, MODEL, "pgd", 4, 21, *PRESET[4:]),
        "target": (CAT, MODEL, "pgd", 4, 20, "goldfish", "targeted", 1, 0.001),
        "mode": (CAT, MODEL, "pgd", 4, 20, "common iguana", "untargeted", 1, 0.001),
        "step": (CAT, MODEL, "pgd", 4, 20, "common iguana", "targeted", 2, 0.001),
        "lambda": (CAT, MODEL, "pgd", 4, 20, "common iguana", "targeted", 1, 0.01),
    }
    summaries = {}
    for name, args in variants.items():
        summaries[name] = final(adversarial.attack(fresh, *args))[6]
        assert summaries[name] == repr(calls[-1]), name  # its own inputs' result
    assert len(calls) == len(variants) and len(set(summaries.values())) == len(variants)
    for name, args in variants.items():  # asked again: every answer from the cache
        assert final(adversarial.attack(fresh, *args))[6] == summaries[name]
    assert len(calls) == len(variants)
    # a kept report is known (it skips the heavy lane), one never asked for is not
    assert adversarial.attack_known(fresh, CAT, *PRESET)
    assert not adversarial.attack_known(fresh, CAT, MODEL, "pgd", 6, *PRESET[3:])
    # a kept report whose PNG was deleted (pruned after an hour) is computed again
    Path(final(adversarial.attack(fresh, CAT, *PRESET))[9]).unlink()
    assert final(adversarial.attack(fresh, CAT, *PRESET))[6] == summaries["preset"]
    assert len(calls) == len(variants) + 1


def test_100_users_pressing_the_preset_at_once_cost_one_attack(store, monkeypatch):
    calls: list = []
    fake = fake_attack_photo(calls)
    fresh = FreshCache(store)

    def slow_attack(*args, **kwargs):
        deadline = time.monotonic() + 30  # until the other 99 wait for this very result
        while fresh.results.stats().joined < 99 and time.monotonic() < deadline:
            time.sleep(0.005)
        yield from fake(*args, **kwargs)

    monkeypatch.setattr(playground, "attack_stages", slow_attack)
    answers = [None] * 100
    start = threading.Barrier(100)

    def student(i):
        start.wait()
        answers[i] = final(adversarial.attack(fresh, CAT, *PRESET))

    threads = [threading.Thread(target=student, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(calls) == 1
    assert fresh.results.stats().joined == 99
    assert all(a is not None and a == answers[0] for a in answers)


def test_warm_up_computes_every_preset_so_the_first_press_costs_no_attack(store, monkeypatch):
    calls: list = []
    monkeypatch.setattr(playground, "attack_stages", fake_attack_photo(calls))
    fresh = FreshCache(store)
    adversarial.warm_up(fresh)
    assert len(calls) == len(adversarial.PRESETS)
    for preset in adversarial.PRESETS:
        image, *values = adversarial.apply_preset(preset.key, adversarial._PRESET_PARAMETERS)
        final(adversarial.attack(fresh, image, MODEL, *values))
    assert final(adversarial.attack(fresh, CAT, *PRESET))[6] == repr(calls[0])
    assert len(calls) == len(adversarial.PRESETS)


@pytest.mark.browser
def test_a_waiting_user_sees_their_place_in_the_heavy_lane(page, app_url, artifacts, store):
    """Issue #16: while the heavy lane is busy, the user's progress line says where they are."""
    # The click below is the default cat → iguana attack: an earlier test of the session (or
    # the warm-up) may have kept its answer, which is then served without queueing at all.
    shared(store).clear()
    lane = lanes.heavy_lane()
    release = threading.Event()
    holding = threading.Barrier(lane.workers + 1)

    def hold():
        holding.wait(30)
        release.wait(120)

    try:
        for k in range(lane.workers):  # every worker busy with another user's long job
            lane.submit(f"another user {k}", "hold", hold, "hold")
        holding.wait(30)
        page.goto(app_url)
        open_tab(page, adversarial.TITLE)
        page.wait_for_selector("#adv-run", timeout=60_000)
        page.locator("#adv-run").click()
        page.wait_for_function(
            "() => document.body.innerText.includes('Yours is next in the heavy lane')",
            timeout=60_000,
        )
        page.locator("#adv-results").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "adversarial-waiting-in-line.png"))
    finally:
        release.set()
    page.wait_for_function(
        "() => document.querySelector('#adv-after')?.innerText.includes('common iguana')",
        timeout=180_000,
    )


@pytest.mark.browser
def test_an_adversarially_trained_timm_model_offline_is_said_on_screen(
    browser, app_url, artifacts, monkeypatch
):
    """Issue #15: the transfer check's model can be any timm classifier; offline (here with
    HF_HUB_OFFLINE, so no test reaches the network) the choice is answered at once with a
    message that says why. One page, three screenshots: laptop, phone, lecture mode."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:
        page.goto(app_url)
        open_tab(page, adversarial.TITLE)
        page.wait_for_function(
            "() => /cat|tabby/.test(document.querySelector('#adv-before')?.innerText || '')",
            timeout=60_000,
        )
        page.locator("#adv-transfer input").fill("adversarially")
        page.get_by_role("option", name=re.compile("Inception-v3, adversarially trained")).click()
        page.locator("#adv-run").click()
        toast = page.locator("[data-testid=toast-body]", has_text="downloaded on first use")
        try:
            toast.wait_for(timeout=60_000)
        except Exception:
            page.screenshot(path=str(artifacts / "adversarial-timm-offline-FAILED.png"))
            raise
        text = toast.inner_text()
        assert "downloaded on first use" in text and "HF_HUB_OFFLINE" in text
        assert "inception_v3.tf_adv_in1k" in text
        page.locator("#adv-transfer").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "adversarial-timm-offline-1366x900.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        page.locator("#adv-transfer").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "adversarial-timm-offline-390x844.png"))
        page.locator("[data-testid=toast-close]").click()  # it covers the lecture button
        page.set_viewport_size({"width": 1920, "height": 1080})
        page.locator("#lecture-toggle").click()
        page.locator("#adv-transfer").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "adversarial-timm-offline-1920x1080-lecture.png"))
    finally:
        page.close()
