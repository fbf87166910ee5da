"""The 1-D GAN tab: its callbacks in-process, its API through gradio_client, and a real browser."""

from __future__ import annotations

import json
import re
import time

import gradio as gr
import pytest

from advdemo.tabs import TABS, toy_gan
from advdemo.toygan import presets
from advdemo.toygan.game import SETTING_KEYS

SETTINGS = presets.settings(presets.preset("converges"))
CONVERGES = tuple(SETTINGS[k] for k in SETTING_KEYS)


def controls(budget=2000, steps_per_frame=10, **changes):
    values = {**SETTINGS, **changes}
    return (*(values[k] for k in SETTING_KEYS), steps_per_frame, budget)


def timer_active(update) -> bool | None:
    return update.active if isinstance(update, gr.Timer) else None


# --- callbacks, in-process ---------------------------------------------------------------------


def test_tab_is_registered_after_the_lectures_image_tabs_with_a_stable_id():
    assert TABS.index(toy_gan) == 5  # the 2-D GAN lab follows it
    assert (toy_gan.TITLE, toy_gan.TAB_ID) == ("1-D GAN", "toy-gan")


def test_play_ticks_until_the_budget_then_stops_the_timer():
    session, *_, timer = toy_gan.play(None, *controls(budget=25, steps_per_frame=10))
    assert timer_active(timer) is True and session.playing
    steps_after_each_tick = []
    for _ in range(5):
        out = toy_gan.tick(session)
        steps_after_each_tick.append(session.trainer.steps_done)
        if timer_active(out[-1]) is False:
            break
    assert steps_after_each_tick == [10, 20, 25]
    assert "budget reached" in out[4] and not session.playing
    again = toy_gan.play(session, *controls(budget=25))  # nothing left to play: say so
    assert timer_active(again[-1]) is False and "budget reached" in again[4]


def test_pause_wins_over_a_tick_still_in_flight():
    session, *_ = toy_gan.play(None, *controls())
    toy_gan.tick(session)
    paused = toy_gan.pause(session)
    assert "Paused" in paused[4] and timer_active(paused[-1]) is False
    late_tick = toy_gan.tick(session)
    assert session.trainer.steps_done == 10
    assert all(v == gr.skip() for v in late_tick[:6])  # changes nothing on the page


def test_settings_apply_live_but_theta0_and_seed_wait_for_reset():
    session, *_ = toy_gan.play(None, *controls())
    toy_gan.tick(session)
    toy_gan.pause(session)
    theta = session.trainer.theta
    out = toy_gan.apply_settings(session, *controls(g_loss="saturating", theta0=5.0))
    assert out[0] is session and session.trainer.config.g_loss == "saturating"
    assert session.trainer.theta == theta
    assert "take effect when you press Reset" in out[4]
    fresh = toy_gan.reset(*controls(theta0=5.0))
    assert fresh[0].trainer.theta == 5.0 and fresh[0].trainer.steps_done == 0


def test_before_the_first_step_every_setting_applies_at_once():
    session = toy_gan.reset(*controls())[0]
    out = toy_gan.apply_settings(session, *controls(theta0=1.5, seed=7))
    assert out[0].trainer.theta == 1.5 and out[0].trainer.config.seed == 7


def test_presets_fill_every_control():
    for preset in presets.PRESETS:
        out = toy_gan.choose_preset(preset.key)
        n = len(SETTING_KEYS)
        assert out[:n] == tuple(preset[k] for k in SETTING_KEYS)
        assert out[n : n + 2] == (preset["steps_per_frame"], preset["budget"])
        assert preset.note in out[n + 2]
        session = out[n + 3]
        assert session.playing and session.trainer.steps_done == 0
        assert timer_active(out[-1]) is True  # one click loads the preset and plays it


def test_heavy_settings_slow_playback_instead_of_the_page():
    session = toy_gan.reset(*controls(batch=4096, k_d=20, steps_per_frame=500))[0]
    assert session.steps_this_frame() < 500
    assert "steps per frame" in session.status("Ready")


def test_bad_input_reaches_the_user_as_a_message():
    with pytest.raises(gr.Error, match="must be positive"):
        toy_gan.reset(*controls(lr_g=0))
    with pytest.raises(gr.Error, match="steps per frame"):
        toy_gan.play(None, *controls(steps_per_frame=0))
    with pytest.raises(gr.Error, match="preset must be one of"):
        toy_gan.choose_preset("explodes")


def test_a_diverging_run_says_so():
    too_fast = controls(lr_d=3.0, lr_g=3.0, mu=10.0, theta0=-10.0, batch=16)
    session = toy_gan.play(None, *too_fast)[0]
    for _ in range(10):
        out = toy_gan.tick(session)
        if timer_active(out[-1]) is False:
            break
    assert out[4].startswith("**Diverged**") and "diverged at step" in out[4]


# --- the API -------------------------------------------------------------------------------------


def test_api_runs_a_game_and_returns_figures_and_final_state(client):
    game, phase, curves, status, final = client.predict(*CONVERGES, 2000, api_name="/toy_gan")
    for plot in (game, phase, curves):
        assert plot["type"] == "plotly"
        assert json.loads(plot["plot"])["data"]
    names = [trace["name"] for trace in json.loads(game["plot"])["data"]]
    assert "D(x)" in names and "optimal D*(x)" in names
    assert status.startswith("**Done: played 2,000 steps**")
    assert final["step"] == 2000 and final["diverged"] is None
    assert abs(final["theta"] - SETTINGS["mu"]) < 0.05
    assert final["js_divergence"] < 1e-3
    assert final["config"]["g_loss"] == "non_saturating"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"k_d": 2.5}, "whole number"),
        ({"sigma": 0.0}, "sigma|minimum|0.1"),
        ({"k_d": 20, "batch": 4096, "steps": 100_000}, "too much work"),
    ],
)
def test_api_refuses_bad_settings_with_a_clear_message(client, changes, message):
    from gradio_client.exceptions import AppError

    values = {**SETTINGS, "steps": 100, **changes}
    args = [values[k] for k in SETTING_KEYS] + [values["steps"]]
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/toy_gan")


# --- the browser ---------------------------------------------------------------------------------


def _status_numbers(page) -> tuple[int, float]:
    text = page.inner_text("#toy-gan-status")
    step = int(re.search(r"step ([\d,]+) of", text).group(1).replace(",", ""))
    theta = float(re.search(r"θ = (-?[\d.]+)", text).group(1))
    return step, theta


@pytest.mark.browser
def test_play_animates_the_game_and_pause_stops_it(page, app_url, artifacts):
    page.goto(app_url)
    page.get_by_role("tab", name=toy_gan.TITLE).click()
    page.wait_for_selector("#toy-gan-game .js-plotly-plot .gtitle", timeout=60_000)
    assert page.text_content("#toy-gan-game .gtitle").startswith("step 0:")
    step0, theta0 = _status_numbers(page)
    assert step0 == 0

    page.click("#toy-gan-play")
    # Several frames must arrive: the plot title counts the steps the figure shows.
    page.wait_for_function(
        """() => {
            const title = document.querySelector('#toy-gan-game .gtitle');
            const m = title && title.textContent.match(/^step ([\\d,]+)/);
            return m && parseInt(m[1].replace(/,/g, '')) >= 40;
        }""",
        timeout=90_000,
    )
    page.click("#toy-gan-pause")
    page.wait_for_function(
        "document.querySelector('#toy-gan-status').innerText.includes('Paused')", timeout=30_000
    )
    step, theta = _status_numbers(page)
    assert step >= 40 and theta > theta0 + 0.5  # G has walked towards the data at mu = 2
    page.screenshot(path=str(artifacts / "toy_gan_paused.png"), full_page=True)

    time.sleep(1.5)  # paused means paused: no more frames
    assert _status_numbers(page)[0] == step
    title = page.text_content("#toy-gan-game .gtitle")
    assert title.startswith(f"step {step:,}:")

    # A preset is one click: it loads its settings and a fresh game plays at once.
    label = presets.preset("oscillates").label
    page.locator("#toy-gan-preset").get_by_text(label, exact=True).click()
    look_for = presets.preset("oscillates").note[:40]
    page.wait_for_function(
        f"document.body.innerText.includes({look_for!r})"
        " && document.querySelector('#toy-gan-status').innerText.includes('Playing')",
        timeout=30_000,
    )
    page.wait_for_function(  # frames of the new game arrive without pressing Play
        """() => {
            const s = document.querySelector('#toy-gan-status').innerText;
            const m = s.match(/step ([\\d,]+) of/);
            return s.includes('Playing') && m && parseInt(m[1].replace(/,/g, '')) >= 20;
        }""",
        timeout=90_000,
    )
    page.click("#toy-gan-pause")
