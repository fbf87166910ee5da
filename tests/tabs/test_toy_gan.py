"""The 1-D GAN tab: its callbacks in-process, its API through gradio_client, and a real browser."""

from __future__ import annotations

import json
import re

import gradio as gr
import pytest

from advdemo.tabs import TABS, gan_lab, toy_gan
from advdemo.toygan import presets
from advdemo.toygan.game import SETTING_KEYS

SETTINGS = presets.settings(presets.preset("converges"))
# The toy_gan API's order: the settings, steps, then d_optimal (added later, so it comes last).
API_KEYS = tuple(k for k in SETTING_KEYS if k != "d_optimal")
CONVERGES = tuple(SETTINGS[k] for k in API_KEYS)


def controls(budget=2000, steps_per_frame=10, **changes):
    values = {**SETTINGS, **changes}
    return (*(values[k] for k in SETTING_KEYS), steps_per_frame, budget)


def timer_active(update) -> bool | None:
    return update.active if isinstance(update, gr.Timer) else None


# --- callbacks, in-process ---------------------------------------------------------------------


def test_tab_is_registered_after_the_lectures_image_tabs_with_a_stable_id():
    assert TABS.index(toy_gan) == TABS.index(gan_lab) - 1  # the 2-D GAN lab follows it
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
    args = [values[k] for k in API_KEYS] + [values["steps"]]
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/toy_gan")


def test_api_plays_a_game_with_d_optimal_given_last(client):
    *_, final = client.predict(*CONVERGES, 300, True, api_name="/toy_gan")
    assert final["config"]["d_optimal"] is True
    assert final["js_quality"] + final["js_coverage"] == pytest.approx(final["js_divergence"])
    # σ = 1: the best logistic D is D*, so w = μ − θ at every step (θ before G's move)
    assert abs(final["theta"] - SETTINGS["mu"]) < 0.2


def test_generator_costs_answers_its_defaults(client):
    """The lecture's saturation, from the API with no argument: the "saturating loss stalls"
    start after 200 steps, where D rejects the batch and log(1 − D) gives θ almost nothing."""
    import plotly.io

    figure_json, numbers = client.predict(api_name="/generator_costs")
    figure = plotly.io.from_json(figure_json)
    names = [trace.name for trace in figure.data]
    assert "log(1 − D(G(z))) (G uses this)" in names and "−log D(G(z))" in names
    assert numbers["step"] == 200 and numbers["batch"] == 256
    assert numbers["mean_d_of_g_z"] < 0.1
    assert abs(numbers["saturating_grad_theta"]) * 10 < abs(numbers["non_saturating_grad_theta"])


def test_generator_costs_with_zero_steps_and_d_optimal(client):
    _, numbers = client.predict(steps=0, api_name="/generator_costs")
    assert numbers["step"] == 0 and numbers["mean_d_of_g_z"] == pytest.approx(0.5)  # w = b = 0
    _, numbers = client.predict(steps=5, d_optimal=True, api_name="/generator_costs")
    assert numbers["step"] == 5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mu": "two"}, "number"),
        ({"mu": 1e9}, "mu"),
        ({"steps": -1}, "number of steps"),
        ({"steps": 10**9}, "number of steps"),
        ({"g_loss": "wasserstein"}, "generator loss"),
        ({"d_optimal": "maybe"}, "true or false"),
        ({"batch": 0}, "batch"),
    ],
)
def test_generator_costs_refuses_bad_values_with_a_clear_message(client, changes, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client.predict(**changes, api_name="/generator_costs")


def test_every_frame_carries_the_costs_plot_and_the_switch_applies_live():
    session, *rest, _ = toy_gan.play(None, *controls())
    costs = rest[-1]
    assert {t.name for t in costs.data} >= {"current batch", "−log D(G(z)) (G uses this)"}
    toy_gan.tick(session)
    toy_gan.pause(session)
    out = toy_gan.apply_settings(session, *controls(d_optimal=True))
    assert session.trainer.config.d_optimal and len(out) == toy_gan.FRAME_SIZE
    toy_gan.one_step(session, *controls(d_optimal=True))
    c = session.trainer.config
    assert session.trainer.w == pytest.approx(c.mu - session.trainer.history.column("theta")[-2])


# --- the browser ---------------------------------------------------------------------------------


def _status_numbers(page) -> tuple[int, float]:
    text = page.inner_text("#toy-gan-status")
    step = int(re.search(r"step ([\d,]+) of", text).group(1).replace(",", ""))
    theta = float(re.search(r"θ = (-?[\d.]+)", text).group(1))
    return step, theta


def _frame_number(page) -> int:
    return int(re.search(r"frame ([\d,]+)", page.inner_text("#toy-gan-status")).group(1))


def _tick_index(demo) -> int:
    """The event index (fn_index) of the 1-D GAN's timer ticks in this app."""
    (index,) = [
        i for i, f in demo.fns.items() if f.name == "tick" and f.fn.__module__ == toy_gan.__name__
    ]
    return index


def _count_ticks(page, demo) -> list:
    """A list that grows by one for every tick the browser sends (POST .../queue/join)."""
    index, ticks = _tick_index(demo), []

    def seen(request):
        join = "/gradio_api/queue/join" in request.url and request.method == "POST"
        if join and json.loads(request.post_data or "{}").get("fn_index") == index:
            ticks.append(request.url)

    page.on("request", seen)
    return ticks


def _beats(page) -> int:
    return page.evaluate("window.__beats")


def _wait_for(page, condition, what: str, limit_beats: int = 3000) -> None:
    """Wait (on the page's own 50 ms beats, at most `limit_beats`) until condition()."""
    start = _beats(page)
    while not condition():
        assert _beats(page) - start < limit_beats, f"never happened: {what}"
        page.wait_for_timeout(25)


@pytest.mark.browser
def test_play_animates_the_game_and_pause_stops_it(page, app_url, demo, artifacts):
    ticks = _count_ticks(page, demo)
    page.goto(app_url)
    page.evaluate("window.__beats = 0; setInterval(() => window.__beats++, 50)")
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
    # While playing, the page's clock beats B times while 3 more ticks go out: the window
    # that proves the pause below is twice that, whatever pace this machine has right now.
    sent, start = len(ticks), _beats(page)
    _wait_for(page, lambda: len(ticks) >= sent + 3, "3 ticks while playing")
    window = max(10, 2 * (_beats(page) - start))
    assert "frames/s measured" in page.inner_text("#toy-gan-status")

    page.click("#toy-gan-pause")
    page.wait_for_function(
        "document.querySelector('#toy-gan-status').innerText.includes('Paused')", timeout=30_000
    )
    step, theta = _status_numbers(page)
    frame = _frame_number(page)
    assert step >= 40 and theta > theta0 + 0.5  # G has walked towards the data at mu = 2
    page.screenshot(path=str(artifacts / "toy_gan_paused.png"), full_page=True)

    # Paused means paused: over a window in which playing sent 6 ticks, none is sent and the
    # frame counter, the step and the figure stay where Pause left them.
    sent, start = len(ticks), _beats(page)
    _wait_for(page, lambda: _beats(page) - start >= window, "the window")
    assert len(ticks) == sent, f"{len(ticks) - sent} tick(s) sent after Pause"
    assert (_frame_number(page), _status_numbers(page)[0]) == (frame, step)
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
