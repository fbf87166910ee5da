"""The 2-D GAN lab tab: its callbacks in-process, its API through gradio_client, and a real
browser playing a preset."""

from __future__ import annotations

import re

import gradio as gr
import numpy as np
import pytest

from advdemo.gan2d import data, drawing, presets, raster
from advdemo.gan2d.plots import snapshot
from advdemo.gan2d.trainer import SETTING_KEYS
from advdemo.tabs import TABS, gan_lab, toy_gan

N = len(presets.CONTROL_KEYS)
SMALL = {"g_width": 16, "d_width": 16, "batch": 64, "k_d": 1}


def controls(preset: str = "collapse", **changes) -> tuple:
    values = {**presets.preset(preset).values, **SMALL, **changes}
    return tuple(values[k] for k in presets.CONTROL_KEYS)


def marked_playing(picture: str) -> bool:
    """Whether a plane picture tells the page's frame loop to run."""
    return 'data-playing="1"' in picture


def steps_in_title(picture: str) -> int:
    """The step a plane picture (an <img> in HTML) shows, read from its alt text."""
    alt = re.search(r'alt="([^"]*)"', picture)[1]
    step = int(re.search(r"step ([\d,]+)", alt)[1].replace(",", ""))
    assert f'data-step="{step}"' in picture and "data:image/jpeg;base64," in picture
    return step


# --- callbacks, in-process ---------------------------------------------------------------------


def test_tab_follows_the_1d_gan_with_a_stable_id():
    assert TABS[TABS.index(toy_gan) + 1] is gan_lab
    assert (gan_lab.TITLE, gan_lab.TAB_ID) == ("2-D GAN lab", "gan-lab")


def test_play_plays_frames_until_the_budget_then_stops():
    playback, plane, *_ = gan_lab.play(None, *controls(budget=7, steps_per_frame=3))
    assert marked_playing(plane) and playback.playing  # the page's loop starts on this mark
    seen = []
    for _ in range(5):
        frame = gan_lab.next_frame(playback)
        seen.append(playback.steps_done)
        if not frame["playing"]:
            break
    assert seen == [3, 6, 7] and not playback.playing
    last = frame["pictures"]
    assert steps_in_title(last["gan-lab-plane-a"]) == 7 and frame["sync"]
    assert not marked_playing(last["gan-lab-plane-a"])  # the loop stops on the last frame
    assert 'data-kind="curves"' in last["gan-lab-curves"]  # the last frame brings the curves
    out = gan_lab.refresh(playback)  # what the page asks for then: status and numbers
    assert "budget reached" in out[4] and out[5]["A"]["step"] == 7
    assert steps_in_title(out[1]) == 7 and not marked_playing(out[1])


def test_while_playing_the_curves_and_the_status_follow_every_few_frames():
    playback, *_ = gan_lab.play(None, *controls(steps_per_frame=1))
    curves, syncs = [], []
    for _ in range(gan_lab.SYNC_EVERY):
        frame = gan_lab.next_frame(playback)
        plane = frame["pictures"]["gan-lab-plane-a"]
        assert steps_in_title(plane) == playback.steps_done and marked_playing(plane)
        assert "gan-lab-plane-b" not in frame["pictures"]  # no race, no plane B
        curves.append("gan-lab-curves" in frame["pictures"])
        syncs.append(frame["sync"])
    assert curves.count(True) == gan_lab.SYNC_EVERY // gan_lab.CURVES_EVERY
    assert syncs == [False] * (gan_lab.SYNC_EVERY - 1) + [True]
    out = gan_lab.refresh(playback)  # while playing: the status line only
    assert out[4].startswith("**Playing**") and all(v == gr.skip() for v in out[:4])
    assert 'data-kind="curves"' in gan_lab.pause(playback)[3]


def test_pause_wins_over_a_frame_asked_for_meanwhile():
    playback, *_ = gan_lab.play(None, *controls(steps_per_frame=2))
    gan_lab.next_frame(playback)
    paused = gan_lab.pause(playback)
    assert "Paused" in paused[4] and not marked_playing(paused[1])
    late = gan_lab.next_frame(playback)
    assert playback.steps_done == 2 and late == {"playing": False, "pictures": {}, "sync": False}


def test_a_race_plays_both_runs_in_step_side_by_side():
    values = controls("saturating", steps_per_frame=2)
    playback, _, plane_b, *_ = gan_lab.play(None, *values)
    assert playback.b is not None and plane_b.visible is True
    pictures = gan_lab.next_frame(playback)["pictures"]
    a, b = pictures["gan-lab-plane-a"], pictures["gan-lab-plane-b"]
    assert playback.a.steps_done == playback.b.steps_done == 2
    assert steps_in_title(a) == steps_in_title(b) == 2
    assert "A: step" in a and "B: step" in b
    assert (playback.a.config.loss, playback.b.config.loss) == ("mm", "ns")
    single = gan_lab.reset(*controls("collapse"))
    assert single[0].b is None and single[2].visible is False


def test_every_preset_fills_every_control_and_plays():
    for preset in presets.PRESETS:
        out = gan_lab.choose_preset(preset.key)
        assert out[:N] == preset.pick(*presets.CONTROL_KEYS)
        assert preset.note in out[N]
        playback = out[N + 1]
        assert playback.playing and playback.steps_done == 0
        assert (playback.b is not None) == bool(preset["race"])
        assert marked_playing(out[N + 2])


def test_settings_apply_live_but_networks_wait_for_reset():
    playback, *_ = gan_lab.play(None, *controls(steps_per_frame=1))
    gan_lab.next_frame(playback)
    gan_lab.pause(playback)
    out = gan_lab.apply_settings(playback, *controls(loss="hinge", g_width=32))
    assert playback.a.config.loss == "hinge" and playback.a.config.g_width == 16
    assert "take effect when you press Reset" in out[4]


def test_began_plays_draws_its_reconstruction_error_and_races_from_the_same_g():
    playback, *_ = gan_lab.play(None, *controls(loss="began", steps_per_frame=3))
    frame = gan_lab.next_frame(playback)
    assert "data:image/jpeg;base64," in frame["pictures"]["gan-lab-plane-a"]
    assert playback.steps_done == 3 and playback.a.began_k >= 0.0
    assert raster.heat_kind(snapshot(playback.a)) == "error"  # its map and key say "error"
    heat = snapshot(playback.a).heat  # reconstruction errors: finite, never negative
    assert np.isfinite(heat).all() and heat.min() >= 0.0
    assert gan_lab._summary(playback)["A"]["began_k"] == playback.a.began_k
    # switching a running game to a D of another shape waits for Reset, and says why
    note = gan_lab.apply_settings(playback, *controls(loss="ns"))[4]
    assert playback.a.config.loss == "began" and "autoencoder" in note
    race = gan_lab.reset(*controls("saturating", loss="began"))[0]
    assert race.a.config.loss == "began" and race.b.config.loss == "ns"
    assert np.array_equal(race.a.G.flat.numpy(), race.b.G.flat.numpy())


def test_user_points_train_and_bad_ones_get_a_message(tmp_path):
    values = controls(dataset="points", points="0,0\n1,1\n2,0", budget=3, steps_per_frame=3)
    playback, *_ = gan_lab.play(None, *values)
    gan_lab.next_frame(playback)
    assert playback.a.data.modes == 3 and playback.steps_done == 3
    with pytest.raises(gr.Error, match="empty"):
        gan_lab.reset(*controls(dataset="points", points=""))
    with pytest.raises(gr.Error, match="not two numbers"):
        gan_lab.reset(*controls(dataset="points", points="1,2\na,b"))


def test_clicks_on_the_pad_draw_a_set_that_trains_and_an_empty_one_is_refused():
    def click(text, x, y, last=None):
        return gan_lab.draw_point(text, last, gr.SelectData(None, {"index": [x, y], "value": None}))

    text, dataset, last = click("", 120, 120)
    for x, y in ((360, 120), (240, 380)):
        text, dataset, last = click(text, x, y, last)
    assert dataset == "points" and len(text.splitlines()) == 4  # header and three points
    assert gan_lab.show_pad(text).shape[:2] == (drawing.PAD_PIXELS,) * 2
    out = gan_lab.train_points(*controls(dataset="ring", points=text, steps_per_frame=2))
    assert out[0] == "points" and marked_playing(out[4])
    assert out[1] is None and "Your points" in out[2]  # no preset's note describes this run
    playback = out[3]
    assert playback.playing and playback.a.data.modes == 3
    gan_lab.next_frame(playback)
    assert playback.steps_done == 2
    assert len(gan_lab.undo_point(text, last)[0].splitlines()) == 3
    with pytest.raises(gr.Error, match="empty"):
        gan_lab.train_points(*controls(points=gan_lab.clear_points(text)[0]))
    with pytest.raises(gr.Error, match="pixel coordinates"):
        gan_lab.draw_point(text, last, gr.SelectData(None, {"index": 3, "value": None}))


def test_every_pad_click_is_sent_and_one_session_edits_at_a_time(demo):
    """Gradio's default for a select drops a click while the last one is pending."""
    pad_edits = [fn for fn in demo.fns.values() if fn.concurrency_id == "gan-lab-pad"]
    assert len(pad_edits) == 3  # a click, undo and clear
    assert all(fn.trigger_mode == "multiple" for fn in pad_edits)
    assert {fn.concurrency_limit for fn in pad_edits} == {1}


def test_pad_clicks_faster_than_answers_are_all_kept():
    """The browser sends the text it shows: clicks before the last answer arrived all carry
    the same stale text, and each must still build on the one before (none is lost)."""
    shown, last = "", None
    for x in (100, 200, 300):  # three clicks, no answer has arrived: the browser shows ""
        _, _, last = gan_lab.draw_point(
            shown, last, gr.SelectData(None, {"index": [x, 240], "value": None})
        )
    assert len(data.parse_points(last[1])) == 3
    text, last = gan_lab.undo_point(shown, last)  # an undo sent before those answers too
    assert len(data.parse_points(text)) == 2
    text, last = gan_lab.clear_points(shown)  # a clear needs no catching up
    _, _, last = gan_lab.draw_point(
        shown, last, gr.SelectData(None, {"index": [240, 240], "value": None})
    )
    assert last[1].count("\n") == 1  # a header and one point: on the emptied set
    typed = "x, y\n0, 0\n1, 1"  # the user typed: the text shown is theirs, not a stale one
    _, _, last = gan_lab.draw_point(
        typed, last, gr.SelectData(None, {"index": [240, 240], "value": None})
    )
    assert len(data.parse_points(last[1])) == 3


def test_an_upload_outside_gradios_folders_is_refused(tmp_path):
    outside = tmp_path / "points.csv"
    outside.write_text("0,0\n1,1\n")
    with pytest.raises(gr.Error):
        gan_lab.load_points(str(outside))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lr_g": 0}, "must be positive"),
        ({"lr_d": 5.0}, "far too large"),
        ({"batch": 4}, "at least 8"),
        ({"steps_per_frame": 0}, "steps per frame"),
        ({"race": True, "lr_d_b": float("nan")}, "finite"),
    ],
)
def test_bad_values_reach_the_user_as_a_message(changes, message):
    with pytest.raises(gr.Error, match=message):
        gan_lab.reset(*controls(**changes))


def test_a_diverging_run_says_so():
    values = controls(loss="lsgan", optimizer="sgd", lr_d=1.0, lr_g=1.0, steps_per_frame=50)
    playback = gan_lab.reset(*values)[0]
    with playback.a.lock:
        playback.a.D.flat.mul_(1e3)
        playback.a.D.refresh()
    playback.playing = True
    assert gan_lab.next_frame(playback)["playing"] is False
    out = gan_lab.refresh(playback)
    assert out[4].startswith("**Diverged**") and "diverged at step" in out[4]


# --- the API -------------------------------------------------------------------------------------


def api_args(steps=40, **changes):
    values = {**presets.settings(presets.preset("collapse")), **SMALL, **changes}
    return [values[k] for k in SETTING_KEYS] + [steps]


def test_api_trains_and_returns_pictures_and_metrics(client):
    plane, curves, status, numbers = client.predict(*api_args(), api_name="/gan2d")
    assert steps_in_title(plane) == 40 and "of 8 modes" in plane
    assert 'data-kind="curves"' in curves and "data:image/jpeg;base64," in curves
    assert status.startswith("**Done: played 40 steps**")
    a = numbers["A"]
    assert a["step"] == 40 and a["diverged"] is None and a["eval_modes"] == 8
    assert 0 <= a["eval_modes_covered"] <= 8 and 0 <= a["eval_quality"] <= 1
    assert a["began_k"] is None
    plane, _, _, numbers = client.predict(*api_args(10, loss="began"), api_name="/gan2d")
    assert steps_in_title(plane) == 10 and "data:image/jpeg;base64," in plane
    assert numbers["A"]["step"] == 10 and 0.0 <= numbers["A"]["began_k"] <= 1.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lr_d": 0}, "must be positive"),
        ({"g_width": 100_000}, "at most 256|maximum"),
        ({"loss": "ebgan"}, "loss|choices"),
        ({"dataset": "points", "points": "1, 2\nthree, 4"}, "not two numbers"),
    ],
)
def test_api_refuses_bad_settings_with_a_clear_message(client, changes, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client.predict(*api_args(**changes), api_name="/gan2d")


# --- the browser ---------------------------------------------------------------------------------

# A frame counts when its picture is decoded (on screen from the next paint): data-step says
# which step a plane picture shows.
SHOWN_STEP = """which => {
    const img = document.querySelector(`#gan-lab-plane-${which} img.gan-lab-picture`);
    return img && img.complete && img.naturalWidth > 0 ? parseInt(img.dataset.step) : -1;
}"""
WAIT_STEPS = "([which, n]) => (" + SHOWN_STEP + ")(which) >= n"
PAUSED = "document.querySelector('#gan-lab-status').innerText.includes('Paused')"


def _title_step(page, which: str = "a") -> int:
    return page.evaluate(SHOWN_STEP, which)


def _open_tab(page, url):
    page.goto(url)
    page.get_by_role("tab", name=gan_lab.TITLE).click()
    page.wait_for_function(WAIT_STEPS, arg=["a", 0], timeout=60_000)


@pytest.mark.browser
def test_a_race_plays_frames_pause_stops_them_and_every_screen_reads(page, app_url, artifacts):
    """One page: a race preset plays (frames arrive in both planes, in step), Pause stops it;
    then screenshots at 1366×900, 1920×1080 in lecture mode and 390×844."""
    page.set_viewport_size({"width": 1366, "height": 900})
    _open_tab(page, app_url + "/")
    assert _title_step(page) == 0
    label = presets.preset("wgan_gp").label
    page.locator("#gan-lab-preset").get_by_text(label, exact=True).click()
    # Frames arrive without pressing Play: each picture says the step it shows.
    page.wait_for_function(WAIT_STEPS, arg=["a", 6], timeout=120_000)
    page.wait_for_function(WAIT_STEPS, arg=["b", 6], timeout=60_000)
    first = _title_step(page)
    page.wait_for_function(WAIT_STEPS, arg=["a", first + 30], timeout=120_000)  # more frames
    page.click("#gan-lab-pause")
    page.wait_for_function(PAUSED, timeout=30_000)
    page.wait_for_function(  # the paused frame's pictures are the ones on screen
        "() => { const s = document.querySelector('#gan-lab-status').innerText;"
        " const m = s.match(/step ([\\d,]+) of/); return m && parseInt(m[1].replace(/,/g, ''))"
        f" === ({SHOWN_STEP})('a'); }}",
        timeout=30_000,
    )
    step = _title_step(page)
    assert step >= first + 30 and _title_step(page, "b") == step  # the race stays in step
    curves = page.locator("#gan-lab-curves img.gan-lab-picture")
    assert int(curves.get_attribute("data-step")) == step
    page.screenshot(path=str(artifacts / "gan_lab_1366.png"), full_page=False)
    page.wait_for_timeout(500)
    assert _title_step(page) == step  # paused means paused
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.click("#lecture-toggle")  # the address says ?lecture=1 from here
    page.wait_for_function("() => document.body.classList.contains('lecture-mode')")
    page.locator("#gan-lab-view").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "gan_lab_lecture_1920.png"), full_page=False)
    page.click("#lecture-toggle")
    page.set_viewport_size({"width": 390, "height": 844})
    page.evaluate("() => window.scrollTo(0, 0)")
    page.wait_for_function(  # stacked: each plane as wide as the phone, nothing wider
        "() => Math.abs(document.querySelector('#gan-lab-plane-a img')"
        ".getBoundingClientRect().width - 390) < 2"
        " && document.documentElement.scrollWidth <= 390"
    )
    page.screenshot(path=str(artifacts / "gan_lab_phone_390.png"), full_page=False)
    page.screenshot(path=str(artifacts / "gan_lab_phone_390_full.png"), full_page=True)


PAD_DRAWN = """() => { const img = document.querySelector('#gan-lab-pad img');
    return img && img.complete && img.naturalWidth > 0; }"""
NEW_PAD = """src => { const img = document.querySelector('#gan-lab-pad img');
    return img.src !== src && img.complete && img.naturalWidth > 0; }"""
POINT_LINES = """() => document.querySelector('#gan-lab-points textarea').value
    .split('\\n').filter(line => line.trim()).length"""


@pytest.mark.browser
@pytest.mark.slow
def test_points_drawn_by_clicking_the_pad_train(page, app_url, artifacts):
    _open_tab(page, app_url)
    page.get_by_text("Draw your points", exact=True).click()
    pad = page.locator("#gan-lab-pad img")
    pad.scroll_into_view_if_needed()
    page.wait_for_function(PAD_DRAWN, timeout=30_000)
    example = pad.get_attribute("src")  # the example points
    page.click("#gan-lab-clear")
    page.wait_for_function(POINT_LINES + " === 0", timeout=30_000)
    page.wait_for_function(NEW_PAD, arg=example, timeout=30_000)  # the empty plane is shown
    blank = pad.get_attribute("src")
    box = pad.bounding_box()
    clicked = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.8), (0.5, 0.5)]
    for n, (fx, fy) in enumerate(clicked, 1):
        before = pad.get_attribute("src")
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        page.wait_for_function(POINT_LINES + f" === {n + 1}", timeout=30_000)  # header + n
        # A click on a picture being swapped (~70 ms) is lost: a person sees the point first.
        # (Clicks faster than answers are test_pad_clicks_faster_than_answers_are_all_kept's.)
        page.wait_for_function(NEW_PAD, arg=before, timeout=30_000)
        assert pad.bounding_box() == box  # the points box above scrolls instead of growing
    five = data.parse_points(page.input_value("#gan-lab-points textarea"))
    expected = [(-1.49, 1.49), (1.51, 1.49), (-1.49, -1.51), (1.51, -1.81), (0.01, -0.01)]
    np.testing.assert_allclose(five, expected, atol=0.05)  # where clicked, y growing upwards
    page.click("#gan-lab-undo")  # the middle point goes again
    page.wait_for_function(POINT_LINES + " === 5", timeout=30_000)
    page.wait_for_function(
        "src => document.querySelector('#gan-lab-pad img').src !== src", arg=blank, timeout=30_000
    )
    drawn = data.parse_points(page.input_value("#gan-lab-points textarea"))
    np.testing.assert_array_equal(drawn, five[:4])  # the four quarter points
    page.click("#gan-lab-train-points")
    page.wait_for_function(WAIT_STEPS, arg=["a", 1], timeout=120_000)  # a trained frame
    title = page.get_attribute("#gan-lab-plane-a img.gan-lab-picture", "alt")
    assert "of 4 modes" in title  # trained on the four drawn points
    page.click("#gan-lab-pause")
    pad.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "gan_lab_drawn_points.png"), full_page=True)
