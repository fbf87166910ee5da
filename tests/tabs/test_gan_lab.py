"""The 2-D GAN lab tab: its callbacks in-process, its API through gradio_client, and a real
browser playing a preset."""

from __future__ import annotations

import json
import re

import gradio as gr
import numpy as np
import pytest

from advdemo.gan2d import data, drawing, presets
from advdemo.gan2d.plots import snapshot
from advdemo.gan2d.trainer import SETTING_KEYS
from advdemo.tabs import TABS, gan_lab, toy_gan
from tests.conftest import wait_for_new_image

N = len(presets.CONTROL_KEYS)
SMALL = {"g_width": 16, "d_width": 16, "batch": 64, "k_d": 1}


def controls(preset: str = "collapse", **changes) -> tuple:
    values = {**presets.preset(preset).values, **SMALL, **changes}
    return tuple(values[k] for k in presets.CONTROL_KEYS)


def timer_active(update) -> bool | None:
    return update.active if isinstance(update, gr.Timer) else None


def steps_in_title(plot) -> int:
    figure = plot if isinstance(plot, dict) else plot.to_dict()
    return int(re.search(r"step ([\d,]+)", figure["layout"]["title"]["text"])[1].replace(",", ""))


# --- callbacks, in-process ---------------------------------------------------------------------


def test_tab_follows_the_1d_gan_with_a_stable_id():
    assert TABS[TABS.index(toy_gan) + 1] is gan_lab
    assert (gan_lab.TITLE, gan_lab.TAB_ID) == ("2-D GAN lab", "gan-lab")


def test_play_ticks_until_the_budget_then_stops():
    playback, *_, timer = gan_lab.play(None, *controls(budget=7, steps_per_frame=3))
    assert timer_active(timer) is True and playback.playing
    seen = []
    for _ in range(5):
        out = gan_lab.tick(playback)
        seen.append(playback.steps_done)
        if timer_active(out[-1]) is False:
            break
    assert seen == [3, 6, 7]
    assert "budget reached" in out[4] and not playback.playing
    assert steps_in_title(out[1]) == 7 and out[5]["A"]["step"] == 7


def test_pause_wins_over_a_tick_in_flight():
    playback, *_ = gan_lab.play(None, *controls(steps_per_frame=2))
    gan_lab.tick(playback)
    paused = gan_lab.pause(playback)
    assert "Paused" in paused[4] and timer_active(paused[-1]) is False
    late = gan_lab.tick(playback)
    assert playback.steps_done == 2 and all(v == gr.skip() for v in late[:6])


def test_a_race_plays_both_runs_in_step_side_by_side():
    values = controls("saturating", steps_per_frame=2)
    playback, _, plane_b, *_ = gan_lab.play(None, *values)
    assert playback.b is not None and plane_b.visible is True
    gan_lab.tick(playback)
    assert playback.a.steps_done == playback.b.steps_done == 2
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
        assert timer_active(out[-1]) is True


def test_settings_apply_live_but_networks_wait_for_reset():
    playback, *_ = gan_lab.play(None, *controls(steps_per_frame=1))
    gan_lab.tick(playback)
    gan_lab.pause(playback)
    out = gan_lab.apply_settings(playback, *controls(loss="hinge", g_width=32))
    assert playback.a.config.loss == "hinge" and playback.a.config.g_width == 16
    assert "take effect when you press Reset" in out[4]


def test_began_plays_draws_its_reconstruction_error_and_races_from_the_same_g():
    playback, *_ = gan_lab.play(None, *controls(loss="began", steps_per_frame=3))
    out = gan_lab.tick(playback)
    figure = out[1] if isinstance(out[1], dict) else out[1].to_dict()
    assert playback.steps_done == 3 and playback.a.began_k >= 0.0
    assert "‖x − AE(x)‖₁" in figure["layout"]["title"]["text"]
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
    gan_lab.tick(playback)
    assert playback.a.data.modes == 3 and playback.steps_done == 3
    with pytest.raises(gr.Error, match="empty"):
        gan_lab.reset(*controls(dataset="points", points=""))
    with pytest.raises(gr.Error, match="not two numbers"):
        gan_lab.reset(*controls(dataset="points", points="1,2\na,b"))


def test_clicks_on_the_pad_draw_a_set_that_trains_and_an_empty_one_is_refused():
    def click(text, x, y):
        return gan_lab.draw_point(text, gr.SelectData(None, {"index": [x, y], "value": None}))

    text, dataset = click("", 120, 120)
    for x, y in ((360, 120), (240, 380)):
        text, dataset = click(text, x, y)
    assert dataset == "points" and len(text.splitlines()) == 4  # header and three points
    assert gan_lab.show_pad(text).shape[:2] == (drawing.PAD_PIXELS,) * 2
    out = gan_lab.train_points(*controls(dataset="ring", points=text, steps_per_frame=2))
    assert out[0] == "points" and timer_active(out[-1]) is True
    playback = out[1]
    assert playback.playing and playback.a.data.modes == 3
    gan_lab.tick(playback)
    assert playback.steps_done == 2
    assert len(gan_lab.undo_point(text).splitlines()) == 3
    with pytest.raises(gr.Error, match="empty"):
        gan_lab.train_points(*controls(points=gan_lab.clear_points()))
    with pytest.raises(gr.Error, match="pixel coordinates"):
        gan_lab.draw_point(text, gr.SelectData(None, {"index": 3, "value": None}))


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
    out = gan_lab.tick(playback)
    assert timer_active(out[-1]) is False
    assert out[4].startswith("**Diverged**") and "diverged at step" in out[4]


# --- the API -------------------------------------------------------------------------------------


def api_args(steps=40, **changes):
    values = {**presets.settings(presets.preset("collapse")), **SMALL, **changes}
    return [values[k] for k in SETTING_KEYS] + [steps]


def test_api_trains_and_returns_figures_and_metrics(client):
    plane, curves, status, numbers = client.predict(*api_args(), api_name="/gan2d")
    for plot in (plane, curves):
        assert plot["type"] == "plotly" and json.loads(plot["plot"])["data"]
    names = [t.get("name") for t in json.loads(plane["plot"])["data"]]
    assert "real data" in names and "generated G(z)" in names
    assert status.startswith("**Done: played 40 steps**")
    a = numbers["A"]
    assert a["step"] == 40 and a["diverged"] is None and a["eval_modes"] == 8
    assert 0 <= a["eval_modes_covered"] <= 8 and 0 <= a["eval_quality"] <= 1
    assert a["began_k"] is None
    plane, _, _, numbers = client.predict(*api_args(10, loss="began"), api_name="/gan2d")
    assert "AE(x)" in json.loads(plane["plot"])["layout"]["title"]["text"]
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


def _title_step(page, which: str = "a") -> int:
    text = page.text_content(f"#gan-lab-plane-{which} .gtitle") or ""
    m = re.search(r"step ([\d,]+)", text)
    return int(m[1].replace(",", "")) if m else -1


WAIT_STEPS = """([which, n]) => {
    const t = document.querySelector(`#gan-lab-plane-${which} .gtitle`);
    const m = t && t.textContent.match(/step ([\\d,]+)/);
    return m && parseInt(m[1].replace(/,/g, '')) >= n;
}"""


def _open_tab(page, url):
    page.goto(url)
    page.get_by_role("tab", name=gan_lab.TITLE).click()
    page.wait_for_selector("#gan-lab-plane-a .js-plotly-plot .gtitle", timeout=60_000)


@pytest.mark.browser
def test_a_preset_plays_frames_in_a_race_and_pause_stops_them(page, app_url, artifacts):
    _open_tab(page, app_url)
    assert _title_step(page) == 0
    label = presets.preset("wgan_gp").label
    page.locator("#gan-lab-preset").get_by_text(label, exact=True).click()
    # Frames arrive without pressing Play: the plot titles count the steps they show.
    page.wait_for_function(WAIT_STEPS, arg=["a", 6], timeout=120_000)
    page.wait_for_function(WAIT_STEPS, arg=["b", 6], timeout=60_000)
    first = _title_step(page)
    page.wait_for_function(WAIT_STEPS, arg=["a", first + 6], timeout=120_000)  # more frames
    page.click("#gan-lab-pause")
    page.wait_for_function(
        "document.querySelector('#gan-lab-status').innerText.includes('Paused')", timeout=30_000
    )
    step = _title_step(page)
    assert step >= first + 6 and _title_step(page, "b") == step  # the race stays in step
    page.screenshot(path=str(artifacts / "gan_lab_race_1400.png"), full_page=True)
    page.wait_for_timeout(1000)
    assert _title_step(page) == step  # paused means paused


PAD_DRAWN = """() => { const img = document.querySelector('#gan-lab-pad img');
    return img && img.complete && img.naturalWidth > 0; }"""
POINT_LINES = """() => document.querySelector('#gan-lab-points textarea').value
    .split('\\n').filter(line => line.trim()).length"""


@pytest.mark.browser
@pytest.mark.slow
def test_points_drawn_by_clicking_the_pad_train(page, app_url, artifacts):
    _open_tab(page, app_url)
    page.get_by_text("Draw your points", exact=True).click()
    page.click("#gan-lab-clear")
    page.wait_for_function(POINT_LINES + " === 0", timeout=30_000)
    pad = page.locator("#gan-lab-pad img")
    blank = pad.get_attribute("src")
    corners = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.8), (0.5, 0.5)]
    for n, (fx, fy) in enumerate(corners, 1):
        pad.scroll_into_view_if_needed()  # and measured again: the accordion may still move
        box = pad.bounding_box()
        page.wait_for_function(PAD_DRAWN, timeout=30_000)
        before = pad.get_attribute("src")
        pad.click(position={"x": fx * box["width"], "y": fy * box["height"]})
        page.wait_for_function(POINT_LINES + f" === {n + 1}", timeout=30_000)  # header + n
        # the pad is redrawn with the new point: a click while its picture is swapped lands
        # on no picture (a person sees the point appear first)
        wait_for_new_image(page, "#gan-lab-pad img", before)
    page.click("#gan-lab-undo")  # the middle point goes again
    page.wait_for_function(POINT_LINES + " === 5", timeout=30_000)
    page.wait_for_function(
        "src => document.querySelector('#gan-lab-pad img').src !== src", arg=blank, timeout=30_000
    )
    text = page.input_value("#gan-lab-points textarea")
    drawn = data.parse_points(text)
    assert len(drawn) == 4 and np.all(np.abs(drawn) > 0.9)  # the four quarter points
    assert drawn[0, 0] < 0 < drawn[0, 1] and drawn[3, 0] > 0 > drawn[3, 1]  # y grows upwards
    page.click("#gan-lab-train-points")
    page.wait_for_function(WAIT_STEPS, arg=["a", 1], timeout=120_000)  # a trained frame
    title = page.text_content("#gan-lab-plane-a .gtitle")
    assert "of 4 modes" in title  # trained on the four drawn points
    traces = page.evaluate(
        "() => document.querySelector('#gan-lab-plane-a .js-plotly-plot')._fullData"
        ".map(t => [t.name, t._length])"
    )
    shown = dict(traces)
    assert shown["real data"] > 0 and shown["generated G(z)"] > 0
    page.click("#gan-lab-pause")
    pad.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "gan_lab_drawn_points.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.parametrize(
    ("width", "height", "query", "name"),
    [
        (1366, 900, "", "gan_lab_1366"),
        (1920, 1080, "?lecture=1", "gan_lab_lecture_1920"),
        (390, 844, "", "gan_lab_phone_390"),
    ],
)
def test_screenshots(page, app_url, artifacts, width, height, query, name):
    _open_tab(page, app_url + "/" + query)  # at 1400 px wide, where every tab shows
    page.set_viewport_size({"width": width, "height": height})
    page.locator("#gan-lab-preset").get_by_text(presets.preset("hopping").label, exact=True).click()
    page.wait_for_function(WAIT_STEPS, arg=["a", 30], timeout=240_000)
    page.click("#gan-lab-pause")
    page.wait_for_function(
        "document.querySelector('#gan-lab-status').innerText.includes('Paused')", timeout=30_000
    )
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=False)
    page.screenshot(path=str(artifacts / f"{name}_full.png"), full_page=True)
