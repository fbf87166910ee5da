"""The playground's "why" section (tabs/adversarial_why.py): the attack's start (a parameter
added at the end of /attack, so old callers keep working), the iguana-from-nothing preset, and
/linearity through its API, with bad values, and in a browser at three screen sizes."""

from __future__ import annotations

import json
import math
import re

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from advdemo.adversarial import playground
from advdemo.core.errors import InputError
from advdemo.tabs import adversarial
from advdemo.tabs import adversarial_why as why
from tests.tabs.test_adversarial import CAT, MODEL, PRESET, FreshCache, final, open_tab, unpack

# The panda preset's settings (one FGSM step, untargeted): the cheapest real attack.
OLD_ARGUMENTS = (MODEL, "fgsm", 2, 20, "common iguana", "untargeted", 1, 0.001)


def test_the_start_is_part_of_the_result_key_and_the_old_call_means_the_photo(store, monkeypatch):
    seen: list = []

    def fake_stages(model, photo, settings, *, second, second_name, folder, progress):
        seen.append(settings.start)
        path = folder / f"fake-{settings.start}-{len(seen)}.png"
        photo.save(path)
        yield playground.AttackReport(
            photo, photo, {}, "", {}, photo, settings.start, None, "", str(path)
        )

    monkeypatch.setattr(playground, "attack_stages", fake_stages)
    fresh = FreshCache(store)
    for start in ("photo", "grey", "noise"):
        assert final(adversarial.attack(fresh, CAT, *PRESET, start))[6] == start
    assert seen == ["photo", "grey", "noise"]
    # the old argument list (no start) is the photo's call: served from the cache
    assert final(adversarial.attack(fresh, CAT, *PRESET))[6] == "photo"
    assert adversarial.attack_known(fresh, CAT, *PRESET)
    assert adversarial.attack_known(fresh, CAT, *PRESET, "grey")
    assert seen == ["photo", "grey", "noise"]


def test_the_preset_starts_from_flat_grey_with_lambda_zero():
    _photo, *values = adversarial.apply_preset("nothing", adversarial._PRESET_PARAMETERS)
    settings = dict(zip(adversarial._PRESET_PARAMETERS, values, strict=True))
    assert settings["start"] == "grey" and settings["lam"] == 0 and settings["method"] == "lecture"
    assert all(p["start"] == "photo" for p in adversarial.PRESETS if p.key != "nothing")


@pytest.mark.slow
def test_old_callers_of_attack_with_nine_arguments_still_get_their_answer(client):
    """The start was added at the end: a client that sends the old nine arguments gets the
    photo's attack, the same as one that names start="photo"."""
    old = unpack(client.predict(handle_file(CAT), *OLD_ARGUMENTS, api_name="/attack"))
    new = unpack(client.predict(handle_file(CAT), *OLD_ARGUMENTS, "photo", api_name="/attack"))
    assert old["before"]["label"] in {"tiger cat", "Egyptian cat", "tabby"}
    assert old["summary"] == new["summary"] and "ε = 2/255" in old["summary"]
    with pytest.raises(AppError, match="start"):
        client.predict(handle_file(CAT), *OLD_ARGUMENTS, "cat", api_name="/attack")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"eps_from_k": math.nan}, "ε from (k/255) must be a finite number"),
        ({"eps_from_k": 8, "eps_to_k": -8}, "must increase"),
        ({"eps_to_k": 1000}, "at most 32"),
        ({"target": "iguanna"}, "Did you mean"),
        ({"target": "tiger cat"}, "already says 'tiger cat'"),
        ({"image": None}, "No image given"),
        ({"model_name": "vgg"}, "model must be one of"),
    ],
)
def test_linearity_refuses_bad_values_with_clear_messages(store, changes, message):
    args = {
        "image": CAT,
        "model_name": MODEL,
        "target": "common iguana",
        "eps_from_k": -32,
        "eps_to_k": 32,
    } | changes
    with pytest.raises(InputError, match=re.escape(message)):
        why.linearity(store, **args)


@pytest.mark.slow
def test_linearity_api_measures_both_logits_and_the_linear_view(client):
    summary, curves, growth = client.predict(
        handle_file(CAT), MODEL, "common iguana", -1, 1, api_name="/linearity"
    )
    assert re.search(r"\*\*tiger cat\*\* logit: line fit R² = 0\.9\d", summary)
    assert "n = 150,528 inputs" in summary
    traces = json.loads(curves["plot"])["data"]
    assert [t["name"].split(" ")[0] for t in traces] == ["tiger", "tiger", "common", "common"]
    assert traces[0]["x"][0] == -1 and traces[0]["x"][-1] == 1 and 0 in traces[0]["x"]
    line, star = json.loads(growth["plot"])["data"]
    assert line["x"][-1] == 150_528 and star["x"] == [150_528]
    with pytest.raises(AppError, match="must increase"):
        client.predict(handle_file(CAT), MODEL, "common iguana", 4, -4, api_name="/linearity")


VIEWPORTS = [((1366, 900), "", "laptop"), ((1920, 1080), "?lecture=1", "lecture"),
             ((390, 844), "", "phone")]  # fmt: skip


@pytest.mark.browser
@pytest.mark.slow
def test_iguana_from_nothing_and_the_linear_view_in_a_browser(page, app_url, artifacts):
    """One click makes an iguana from flat grey; one more measures the logits. At three screen
    sizes (the second and third visits are served from the shared result cache)."""
    for (width, height), query, name in VIEWPORTS:
        page.set_viewport_size({"width": width, "height": height})
        page.goto(app_url + query)
        open_tab(page, adversarial.TITLE)
        page.locator("#adv-preset-nothing").click()
        page.wait_for_function(
            "() => document.querySelector('#adv-after')?.innerText.includes('common iguana')",
            timeout=240_000,
        )
        assert page.locator("#adv-start input[value=grey]").is_checked()
        assert "common iguana" in page.locator("#adv-summary").inner_text()
        page.wait_for_selector("#adv-checks table", timeout=120_000)
        page.locator("#adv-results").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / f"adversarial-nothing-{name}.png"))
        page.locator("#adv-lin-run").click()
        page.wait_for_function(
            "() => /R² = /.test(document.querySelector('#adv-lin-summary')?.innerText || '')",
            timeout=240_000,
        )
        page.wait_for_selector("#adv-lin .js-plotly-plot", timeout=60_000)
        page.wait_for_selector("#adv-lin-growth .js-plotly-plot", timeout=60_000)
        assert page.locator("#adv-lin .scatterlayer .trace").count() == 4
        page.locator("#adv-lin-summary").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / f"adversarial-linearity-{name}.png"))
