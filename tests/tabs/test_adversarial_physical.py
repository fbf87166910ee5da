"""The physical-world part of the adversarial playground: the webcam source on the photo boxes,
the "physical_world" API (bad values, camera frames), and one browser test that prints and
photographs the attack and captures a frame from a fake camera."""

from __future__ import annotations

import re

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from advdemo.core import images
from advdemo.tabs import adversarial_physical as section
from tests.tabs.test_adversarial import attack_args, open_tab

CAT = str(images.asset("chelsea.png"))


def _block(demo, elem_id: str):
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)


def test_the_photo_boxes_offer_the_webcam(demo):
    adversarial_photo = _block(demo, "adv-image")
    assert "webcam" in adversarial_photo.sources
    # a print held up to the camera reaches the model as printed, not mirrored
    assert adversarial_photo.webcam_options.mirror is False
    assert "webcam" in _block(demo, "cg-input").sources


def physical_args(**changes: object) -> dict:
    """A quick version of the section's defaults: a 2-step attack, 2 prints per strength."""
    return attack_args(steps=2) | {"count": 2, "strength": 1.0, "seed_value": 0} | changes


def test_physical_world_api_prints_the_attack_and_reports_survival(client):
    summary, plot, gallery = client.predict(**physical_args(), api_name="/physical_world")
    assert summary.startswith("### Printed and photographed 2 times (strength 1)")
    assert "tiger cat" in summary  # what counts as the clean photo's classes
    figure = plot["plot"]
    assert "share of prints" in figure and "still common iguana" in figure
    assert len(gallery) == 4  # two prints, each clean then adversarial
    assert gallery[0]["caption"].startswith("clean: ")
    assert gallery[1]["caption"].startswith("attacked: ")
    assert "tilt" in gallery[1]["caption"] and "JPEG" in gallery[1]["caption"]
    shown = gallery[1]["image"]  # a path (or a file's description, by client version)
    with Image.open(shown if isinstance(shown, str) else shown["path"]) as print_of_attack:
        assert print_of_attack.size == (224, 224)  # the model's crop of the photograph
    # the attack's own checks carry a row of 8 prints (the attack is kept: no second run)
    checks = client.predict(**attack_args(steps=2), api_name="/attack")[8]
    row = re.search(r"\| printed and photographed \| 8 simulated prints .*: (\d) still", checks)
    assert row, checks
    assert checks.index("printed and photographed") < checks.index("transfer to a second")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"count": 0}, "less than minimum value 1"),
        ({"count": 65}, "greater than maximum value 64"),
        ({"count": 2.5}, "prints per strength must be a whole number"),
        ({"strength": 3}, "greater than maximum value 2"),
        ({"seed_value": -1}, "less than minimum value 0"),
        ({"eps_k": 99}, "greater than maximum value 64"),
    ],
)
def test_bad_values_get_clear_messages(client, changes, message):
    with pytest.raises(AppError, match=re.escape(message)):
        client.predict(**physical_args(**changes), api_name="/physical_world")


def test_nan_strength_gets_a_clear_message(store):
    from advdemo.core.errors import InputError

    args = list(physical_args().values())
    args[0] = CAT
    args[-2] = float("nan")
    with pytest.raises(InputError, match="strength"):
        section.physical_world(store, *args)


@pytest.mark.parametrize(
    ("size", "colour", "message"),
    [
        ((640, 480), (0, 0, 0), "black everywhere"),  # a covered camera
        ((20, 400), (120, 90, 60), "centred square of 20 pixels"),
        ((10, 10), (120, 90, 60), "at least 16 pixels"),
    ],
)
def test_camera_frames_showing_nothing_get_clear_messages(client, tmp_path, size, colour, message):
    frame = tmp_path / "webcam.png"
    Image.new("RGB", size, colour).save(frame)
    with pytest.raises(AppError, match=re.escape(message)):
        client.predict(handle_file(str(frame)), "efficientnet-lite0", api_name="/classify")


@pytest.mark.parametrize(
    ("mode", "size", "message"),
    [
        ("RGBA", (320, 180), None),  # alpha composited on white
        ("L", (180, 320), None),  # one channel, portrait
        ("RGB", (20, 400), "the generator needs at least 8"),  # 1:20 at a 64-pixel long side
        ("RGB", (12, 12), "at least 16 pixels"),
    ],
)
def test_cyclegan_translates_camera_frames_of_every_kind(client, tmp_path, mode, size, message):
    from advdemo.translation import cyclegan as cg

    frame = tmp_path / "webcam.png"
    Image.new(mode, size, 90).save(frame)
    call = (handle_file(str(frame)), cg.BUILTIN, 64)
    if message is None:
        _, after, *_ = client.predict(*call, api_name="/translate")
        with Image.open(after["path"] if isinstance(after, dict) else after) as translated:
            assert translated.mode == "RGB" and translated.size[0] != translated.size[1]
    else:
        with pytest.raises(AppError, match=re.escape(message)):
            client.predict(*call, api_name="/translate")


# --------------------------------------------------------------------------- browser

FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def test_a_preset_sets_the_playground_and_the_section_controls():
    names = (*section.ATTACK_CONTROLS, *section.OWN_CONTROLS)
    values = dict(zip(names, section.preset_values("print-16", names), strict=True))
    assert values["image"] == CAT and values["eps_k"] == 16 and values["mode"] == "targeted"
    assert values["count"] == section.DEFAULTS["count"] and values["seed"] == 0
    assert section.preset_values("print-4", ("eps_k",)) == (4,)


def _print_small_attack(page) -> None:
    """Open the tab, make the attack 3 steps and the prints 3 per strength, press the button,
    and wait for the summary, the plot and the gallery (kept on the server after the first
    time, so later viewports get the same answer at once)."""
    open_tab(page, "Adversarial playground")
    page.wait_for_function(
        "() => /cat|tabby/.test(document.querySelector('#adv-before')?.innerText || '')",
        timeout=60_000,
    )
    for slider in ("#adv-steps", "#adv-phys-count"):
        page.locator(f"{slider} input[type=number]").fill("3")
        page.locator(f"{slider} input[type=number]").press("Enter")
    page.locator("#adv-phys-run").click()
    page.wait_for_function(
        "() => /Printed and photographed 3 times/"
        ".test(document.querySelector('#adv-phys-summary')?.innerText || '')",
        timeout=240_000,
    )
    page.wait_for_selector("#adv-phys-plot .js-plotly-plot", timeout=60_000)
    page.wait_for_function(
        "() => document.querySelectorAll('#adv-phys-gallery img').length >= 6", timeout=60_000
    )
    page.locator("#adv-phys-title").scroll_into_view_if_needed()


@pytest.mark.browser
@pytest.mark.slow
def test_print_and_photograph_and_a_fake_camera_in_a_browser(
    browser_type, browser_type_launch_args, app_url, artifacts
):
    """Prints the playground's attack (a 3-step one, to be quick), then captures a frame from
    Chromium's fake camera and has it classified; screenshots at the three viewports."""
    args = browser_type_launch_args["args"] + FAKE_CAMERA
    browser = browser_type.launch(**{**browser_type_launch_args, "args": args})
    try:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(app_url)
        _print_small_attack(page)
        page.screenshot(path=str(artifacts / "adversarial-physical-1366x900.png"))

        # The webcam: choose it under the photo box, capture, and the top-5 follows.
        page.locator("#adv-image").scroll_into_view_if_needed()
        page.locator("#adv-image button[aria-label='Capture from camera']").first.click()
        page.locator("#adv-image button", has_text="Click to Access Webcam").click()
        capture = page.locator("#adv-image button[aria-label='capture photo']")
        capture.wait_for(timeout=30_000)
        page.wait_for_function(
            "() => { const v = document.querySelector('#adv-image video');"
            " return v && v.videoWidth > 0; }",
            timeout=30_000,
        )
        before = page.locator("#adv-before").inner_text()
        capture.click()
        page.wait_for_function(
            "before => { const t = document.querySelector('#adv-before')?.innerText || '';"
            " return t && t !== before; }",
            arg=before,
            timeout=60_000,
        )
        page.screenshot(path=str(artifacts / "adversarial-webcam-1366x900.png"))

        for (width, height), query in (((1920, 1080), "?lecture=1"), ((390, 844), "")):
            page.set_viewport_size({"width": width, "height": height})
            page.goto(app_url + query)
            _print_small_attack(page)
            name = f"adversarial-physical-{width}x{height}{'-lecture' if query else ''}"
            page.screenshot(path=str(artifacts / f"{name}.png"))
    finally:
        browser.close()
