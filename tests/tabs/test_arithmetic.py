"""The vector-arithmetic tab through its API (gradio_client) and in headless Chromium."""

from __future__ import annotations

import json

import pytest
import torch
from gradio_client import handle_file
from PIL import Image

from advdemo.core import pictures
from advdemo.core.images import to_pil
from advdemo.faces import arithmetic as ar
from tests.conftest import wait_for_new_image

GLASSES = ar.preset("glasses")["seeds"]


def _image(path: str) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB").copy()


def test_api_arithmetic_returns_the_pictures_and_norms(client, store):
    averaged, grid, singles, summary = client.predict(
        list(GLASSES[0]),
        list(GLASSES[1]),
        list(GLASSES[2]),
        0.25,
        0,
        False,
        "man with glasses",
        "man",
        "woman",
        api_name="/arithmetic",
    )
    assert _image(grid).size == (3 * 192 + 2 * 4,) * 2
    assert _image(averaged).height == 192
    assert _image(singles).height > 3 * 128  # three single-pick equations
    assert "averaged over 3, 3 and 3 picks" in summary
    assert "**man with glasses** − **man** + **woman**" in summary
    # #20: the attribute itself, against chance, and its read-out agree with the pictures
    assert "labelled **glasses** direction" in summary and "carries glasses" in summary
    assert "‖mean A − mean B‖" not in summary
    # the centre of the grid is exactly G(mean A − mean B + mean C)
    G = store.face_generator()
    arith = ar.vector_arithmetic(G, *(list(s) for s in GLASSES))
    expected = pictures.upscale(G.generate(arith.result[None])[0], 3)
    centre = _image(grid).crop((196, 196, 388, 388))
    diff = torch.tensor(list(centre.get_flattened_data())) - torch.tensor(
        list(expected.get_flattened_data())
    )
    assert diff.abs().float().mean() < 2.0  # PNG round trip is lossless; kernels may differ by 1


def test_api_arithmetic_takes_explicit_codes_and_is_deterministic(client, store):
    code = store.face_generator().sample_z(5, 1)[0].tolist()
    first = client.predict([code], [6], [7, 8], 0.5, 3, True, api_name="/arithmetic")
    again = client.predict([5], [6], [7, 8], 0.5, 3, True, api_name="/arithmetic")
    assert "**10.0**, rescaled from" in first[3]
    a, b = _image(first[1]), _image(again[1])
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    ("slots", "message"),
    [
        (([], [1], [2]), "Slot A is empty"),
        (([1], [2], list(range(ar.MAX_PICKS + 1))), f"at most {ar.MAX_PICKS}"),
        ((["x"], [1], [2]), "must be a number"),
        (([1], [[0.5] * 7], [2]), "exactly 100"),
        (([1], [2], {"seeds": [3]}), "Slot C must be a list"),
    ],
)
def test_api_arithmetic_explains_bad_slots(client, slots, message):
    with pytest.raises(Exception, match=message):
        client.predict(*slots, 0.25, 0, False, api_name="/arithmetic")


def test_api_inversion_finds_a_code_for_a_generated_face(client, store, tmp_path):
    G = store.face_generator()
    path = tmp_path / "face.png"
    to_pil(G.generate(G.sample_z(777, 1))).resize((192, 192), Image.Resampling.NEAREST).save(path)
    comparison, message = client.predict(handle_file(str(path)), 30, api_name="/arithmetic_invert")
    assert "Found a code" in message and "PSNR" in message
    assert _image(comparison).size == (2 * 256 + 4, 256)


def test_api_inversion_says_when_the_upload_is_not_a_face(client):
    from advdemo.core import images

    _, message = client.predict(
        handle_file(str(images.asset("chelsea.png"))), 10, api_name="/arithmetic_invert"
    )
    assert "Found a code" in message
    assert "cat" in message and "not a person" in message


def test_api_inversion_refuses_what_is_not_a_photo(client, tmp_path):
    flat = tmp_path / "flat.png"
    Image.new("RGB", (100, 100), (90, 90, 90)).save(flat)
    with pytest.raises(Exception, match="flat colour"):
        client.predict(handle_file(str(flat)), 30, api_name="/arithmetic_invert")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(Exception, match=r"could not be decoded|not an image"):
        client.predict(handle_file(str(broken)), 30, api_name="/arithmetic_invert")


# --------------------------------------------------------------------------- browser


def _slot_codes(page, slot: str) -> list:
    text = page.locator(f"#arith-codes-{slot}").inner_text()
    start = text.index("[")
    return json.loads(text[start : text.rindex("]") + 1])


def _src(page, elem_id: str) -> str:
    img = page.locator(f"#{elem_id} img")
    return img.get_attribute("src") if img.count() else ""


@pytest.mark.browser
def test_pick_faces_compute_and_run_a_preset(page, app_url, artifacts):
    page.goto(app_url)
    page.get_by_role("tab", name="Vector arithmetic").click()
    page.wait_for_selector("#arith-gallery .thumbnail-item")
    thumbs = page.locator("#arith-gallery .thumbnail-item")
    assert thumbs.count() == 32

    picked = {"a": [0, 1, 2], "b": [8, 9, 10], "c": [16, 17, 18]}
    for slot, indices in picked.items():
        page.locator("#arith-active label").filter(has_text=f"{slot.upper()} (").click()
        for n, index in enumerate(indices, start=1):
            thumbs.nth(index).click()
            page.wait_for_function(
                f"document.querySelectorAll('#arith-picks-{slot} .thumbnail-item').length == {n}"
            )
        page.wait_for_selector(f"#arith-avg-{slot} img")
    # all three slots hold faces: the result appears without pressing anything
    grid_src = wait_for_new_image(page, "#arith-grid img", "")
    page.wait_for_function(
        "document.querySelector('#arith-summary').innerText.includes('averaged over 3, 3 and 3')"
    )
    page.get_by_text("Codes of the slots").click()
    assert _slot_codes(page, "a") == [0, 1, 2]  # gallery face i is seed first + i
    assert _slot_codes(page, "c") == [16, 17, 18]

    # more noise typed into the slider's box, then Enter: the grid redraws by itself (#20)
    singles_src = _src(page, "arith-singles")
    page.locator("#arith-noise input[type=number]").fill("0.6")
    page.locator("#arith-noise input[type=number]").press("Enter")
    grid_src = wait_for_new_image(page, "#arith-grid img", grid_src)
    assert _src(page, "arith-singles") != ""

    # take a pick out of slot B by clicking it
    page.locator("#arith-picks-b .thumbnail-item").nth(1).click()
    page.wait_for_function(
        "document.querySelectorAll('#arith-picks-b .thumbnail-item').length == 2"
    )
    assert _slot_codes(page, "b") == [8, 10]
    page.wait_for_function(  # the result follows the slots by itself
        "document.querySelector('#arith-summary').innerText.includes('averaged over 3, 2 and 3')"
    )
    grid_src = _src(page, "arith-grid")

    # rename a slot: the active-slot selector follows
    name_c = page.locator("#arith-name-c textarea, #arith-name-c input").first
    name_c.fill("the women I picked")
    page.wait_for_function(
        "document.querySelector('#arith-active').innerText.includes('C (+): the women I picked')"
    )

    # the classic preset in one click: names, exemplars and result
    page.locator("#arith-preset-glasses").click()
    page.wait_for_function(
        "document.querySelector('#arith-active').innerText.includes('C (+): woman without glasses')"
    )
    page.wait_for_function(
        "([sel, want]) => document.querySelector(sel).innerText.replace(/\\s/g, '').includes(want)",
        arg=["#arith-codes-a", json.dumps(list(GLASSES[0])).replace(" ", "")],
    )
    page.wait_for_function(
        "document.querySelector('#arith-summary').innerText.includes('averaged over 3, 3 and 3')"
    )
    wait_for_new_image(page, "#arith-grid img", grid_src)
    assert _slot_codes(page, "a") == list(GLASSES[0])
    assert _slot_codes(page, "c") == list(GLASSES[2])
    assert page.locator("#arith-picks-b .thumbnail-item").count() == 3
    assert singles_src and _src(page, "arith-singles") != singles_src
    page.wait_for_function(  # the attribute itself, not a norm at chance level (#20)
        "document.querySelector('#arith-summary').innerText.includes('carries glasses')"
    )
    page.locator("#arith-slot-a").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "arithmetic.png"), full_page=True)

    # rescaling changes the ‖z‖ read-out too, not only the faces (#20)
    page.locator("#arith-normalise input").check()
    page.wait_for_function(
        "document.querySelector('#arith-summary').innerText.includes('rescaled from')"
    )
    # a cleared slot takes the old result and its "averaged over" line away (#20)
    page.locator("#arith-clear-a").click()
    page.wait_for_function(
        "t => document.querySelector('#arith-summary').innerText.includes(t)",
        arg=ar.EMPTY_SLOTS,
    )
    assert page.locator("#arith-grid img").count() == 0
    assert page.locator("#arith-result-eq img").count() == 0


def test_a_full_slot_or_an_unknown_slot_is_refused_with_a_message(store):
    from advdemo.core.errors import InputError
    from advdemo.tabs import arithmetic as tab

    G = store.face_generator()
    full = list(range(ar.MAX_PICKS))
    with pytest.raises(InputError, match=f"already holds {ar.MAX_PICKS} faces"):
        tab._add_to_active(G, "A", (full, [], []), 99)
    with pytest.raises(InputError, match="Active slot"):
        tab._add_to_active(G, "D", ([], [], []), 99)
    out = tab._add_to_active(G, "B", (full, [3], []), 4)  # only the active slot changes
    assert out[3] == [3, 4] and len(out[4]) == 2
    import gradio as gr

    assert out[:3] == [gr.skip()] * 3 and out[6:] == [gr.skip()] * 3  # A and C untouched
