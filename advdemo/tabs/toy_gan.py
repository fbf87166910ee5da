"""The "1-D GAN" tab: the G/D game on Gaussian data, trained live in the browser.

Layout and wiring only: the game is advdemo.toygan.game, its presets toygan.presets, the
figures toygan.plots. Each browser session owns its game (a toygan.playback.PlaybackSession)
through gr.State. Play switches on a gr.Timer; each tick plays a few training steps and
redraws. A tick is not sent while the previous one is still pending, and the browser's timer
waits while it is busy drawing, so frames never pile up on a slow machine: the animation
slows down instead of falling behind (a generator that pushes frames at a fixed rate was
measured to fall minutes behind on a busy 2-core machine).
Settings changed while it plays take effect at the next frame; the initial theta and the seed
wait for Reset, unless nothing has been played yet.
"""

from __future__ import annotations

import gradio as gr

from advdemo import ui
from advdemo.core.errors import MAX_SEED, whole
from advdemo.models.store import ModelStore
from advdemo.toygan import presets
from advdemo.toygan.costs import batch_costs, costs_figure
from advdemo.toygan.game import MAX_BATCH, MAX_K, MAX_LR, MAX_RUN_STEPS, SETTING_KEYS
from advdemo.toygan.playback import (
    FRAMES_PER_SECOND,
    MAX_STEPS_PER_FRAME,
    READY,
    PlaybackSession,
    play_through,
    synced,
)
from advdemo.toygan.plots import game_figure, phase_figure, timeline_figure

TITLE = "1-D GAN"
TAB_ID = "toy-gan"

STATE_TTL_S = 3600
FRAME_SECONDS = 1 / FRAMES_PER_SECOND  # at most; a busy browser gets fewer, the status says so
# Ticks, "Step once" and the API share one lane; a tick is ~30 ms of work, so a handful of
# lanes serves a room full of students.
GAME_LANE = {"concurrency_id": "toy_gan", "concurrency_limit": 4}
# Play, pause and settings changes must get through at once, even while ticks queue.
INSTANT = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}

OPTIMIZER_CHOICES = [("SGD", "sgd"), ("Adam (β₁ = 0.5)", "adam")]
G_LOSS_CHOICES = [
    ("non-saturating: −log D(G(z))", "non_saturating"),
    ("saturating: log(1 − D(G(z)))", "saturating"),
]
UPDATE_CHOICES = [
    ("alternating (k D steps, then G)", "alternating"),
    ("simultaneous (both from the same point)", "simultaneous"),
]

EXPLANATION = r"""
### The game in one dimension
*Try this:* pick "saturating loss stalls" (a preset starts playing by itself), and while θ
creeps switch the generator loss to non-saturating: the same G, against the same D, starts
moving at once.

Real data are single numbers drawn from $\mathcal{N}(\mu, \sigma^2)$. The generator owns one
parameter: it draws $z \sim \mathcal{N}(0, 1)$ and outputs $G(z) = z + \theta$, so its samples
follow $\mathcal{N}(\theta, 1)$. The discriminator is a logistic regression with two parameters,
$D(x) = \mathrm{sigmoid}(w x + b)$, read as "the probability that $x$ is real".

**D's cost**, minimised over $w, b$: cross-entropy with label 1 for the $m$ real samples and 0
for the $m$ generated ones,
$$J^{(D)} = -\frac{1}{m}\sum_{i=1}^{m} \log D\big(x^{(i)}\big)
  - \frac{1}{m}\sum_{i=1}^{m} \log\Big(1 - D\big(G(z^{(i)})\big)\Big).$$

**G's cost**, minimised over $\theta$, comes in two versions:
* *saturating* (the original minimax game, G just flips the sign of the term it can change):
  $J^{(G)} = \frac{1}{m}\sum_i \log\big(1 - D(G(z^{(i)}))\big)$. Its gradient is
  $-w \cdot \overline{D(G(z))}$ (a bar is the mean over the batch): when D confidently calls
  every fake a fake, $D(G(z)) \approx 0$ and G gets almost no signal, exactly when it needs
  one most.
* *non-saturating*: $J^{(G)} = -\frac{1}{m}\sum_i \log D\big(G(z^{(i)})\big)$. Same goal, but
  its gradient $-w \cdot \overline{1 - D(G(z))}$ is largest while G is losing.

**The costs plot** (below the training curves) draws both costs as functions of
$D(G(z))$, the verdict D gives a generated sample, and puts every sample of the current batch
on both curves. Early on D spots the fakes, so the batch sits at the left end: there
$\log(1 - D)$ is almost level while $-\log D$ shoots up. The title gives the gradient each cost
would hand θ for this very batch; with the "saturating loss stalls" preset the saturating one
is a hundred times smaller. The curve G actually uses is drawn solid.

**The best D for the current G** is $D^*(x) = \dfrac{p_{data}(x)}{p_{data}(x) + p_g(x)}$ (red
dash-dot curve). Once $p_g = p_{data}$ it equals $\tfrac12$ everywhere: the best any
discriminator can do is toss a coin. That is the equilibrium, where $J^{(D)} = 2\ln 2$.
Against $D^*$ the game's value is $-\ln 4 + 2\,\mathrm{JS}(p_{data} \,\|\, p_g)$, which is why
the Jensen–Shannon divergence is plotted: it measures how far G still is from the data.

**JS in two parts.** With $m = \tfrac12(p_{data} + p_g)$,
$\mathrm{JS} = \tfrac12\,\mathrm{KL}(p_g \,\|\, m) + \tfrac12\,\mathrm{KL}(p_{data} \,\|\, m)$.
The first part averages over G's samples and grows when G puts them where real data are
rare (*quality*); the second averages over the real data and grows when G seldom produces
what the data contain (*coverage*). The right panel of the training curves draws both: with
σ = 1 the two curves coincide, with σ ≠ 1 they separate and the narrower distribution's part
stays larger (presets σ = 2 and σ = 0.5).

**D trained to optimality.** The convergence argument behind GANs assumes that D reaches its
best response before every move of G. Tick "D trained to optimality each step" and D's SGD
steps are replaced by the best logistic D for the current θ (found by Newton's method on the
expected cost; with σ = 1 it is $D^*$ itself). With the saturating cost G then descends
$2\,\mathrm{JS}$ directly: the path is smooth, with none of the swings of two players
learning at once. From far away JS is flat at ln 2, and G stalls even against the perfect D.

**Can this little D reach $D^*$?** The log-odds of $D^*$ are
$$\log\frac{p_{data}(x)}{p_g(x)} = -\frac{(x-\mu)^2}{2\sigma^2} - \log\sigma
  + \frac{(x-\theta)^2}{2}.$$
With $\sigma = 1$ the $x^2$ terms cancel and what is left is a straight line,
$(\mu - \theta)\,x + \frac{\theta^2 - \mu^2}{2}$, so the logistic D matches $D^*$ exactly with
$w = \mu - \theta$ and $b = \frac{\theta^2 - \mu^2}{2}$. With $\sigma \ne 1$ an $x^2$ term remains
and no $w x + b$ can follow it: D would need a quadratic feature. It then settles at $\tfrac12$
with $\theta = \mu$ even though the two spreads differ (try the σ = 2 preset).

**One training step** is k gradient steps on $J^{(D)}$ followed by one on $J^{(G)}$, each on a
fresh mini-batch (*alternating*), or one of each computed at the same point (*simultaneous*).
The phase portrait shows the plane of $\theta$ and $w$; each arrow is where the expected
(whole-distribution) gradients of both players would push from that point, with $b$ at its
current value, and the purple path is where the run actually went.
"""


def _frame(session: PlaybackSession, headline: str, costs: bool = True) -> tuple:
    """(state, game, phase portrait, training curves, status, numbers[, generator costs])
    for the outputs (the toy_gan API's outputs end before the costs)."""
    t = session.trainer
    with t.lock:
        frame = (
            session,
            game_figure(t),
            phase_figure(t),
            timeline_figure(t),
            session.status(headline),
            t.summary(),
        )
        return (*frame, costs_figure(t)) if costs else frame


FRAME_SIZE = 7  # values _frame returns for the page


def _sync(session, controls: tuple) -> PlaybackSession:
    """The session under the controls (settings..., steps per frame, budget)."""
    return synced(session, controls[:-2], *controls[-2:])


NO_CHANGE = gr.skip()


# --- callbacks ------------------------------------------------------------------------------


@ui.friendly
def play(session, *controls):
    """Start the timer from the current controls (or say why there is nothing to play)."""
    session = _sync(session, controls)
    finished = session.finished()
    if finished:
        session.playing = False
        return (*_frame(session, finished), gr.Timer(active=False))
    session.resume()
    return (*_frame(session, "Playing"), gr.Timer(active=True))


@ui.friendly
def tick(session):
    """One frame while playing: a few training steps, then the figures."""
    if session is None or not session.playing:  # a tick that was in flight when Pause came
        return (NO_CHANGE,) * FRAME_SIZE + (gr.Timer(active=False),)
    session.advance()
    finished = session.finished()
    if finished:
        session.playing = False
        return (*_frame(session, finished), gr.Timer(active=False))
    return (*_frame(session, "Playing"), NO_CHANGE)


@ui.friendly
def pause(session):
    if session is None:
        return (NO_CHANGE,) * FRAME_SIZE + (gr.Timer(active=False),)
    session.playing = False
    return (*_frame(session, "Paused"), gr.Timer(active=False))


@ui.friendly
def stop(session):
    """Stop the animation (before a run that replaces it)."""
    if session is not None:
        session.playing = False
    return gr.Timer(active=False)


@ui.friendly
def one_step(session, *controls):
    session = _sync(session, controls)
    headline = session.step_once()
    return (*_frame(session, headline), gr.Timer(active=False))


@ui.friendly
def reset(*controls):
    session = PlaybackSession.start(controls[:-2], *controls[-2:])
    return (*_frame(session, READY), gr.Timer(active=False))


@ui.friendly
def apply_settings(session, *controls):
    """A control changed: carry the run on under the new settings and redraw (if paused)."""
    session = _sync(session, controls)
    if session.playing:  # the next tick draws the new state anyway
        with session.trainer.lock:
            status = session.status("Playing")
        return (session, NO_CHANGE, NO_CHANGE, NO_CHANGE, status, NO_CHANGE, NO_CHANGE)
    return _frame(session, session.idle_headline())


@ui.friendly
def choose_preset(key):
    """One click on a preset: its settings fill the controls and a fresh game starts playing
    (on a projector the lecturer should not need a second click to see it move)."""
    preset = presets.preset(key)
    values = preset.pick(*presets.CONTROL_KEYS)
    session = PlaybackSession.start(values[:-2], *values[-2:])
    session.resume()
    look_for = f"**What to look for.** {preset.note}"
    return (
        *values,
        look_for,
        *_frame(session, f"Playing preset “{preset.label}”"),
        gr.Timer(active=True),
    )


@ui.friendly
def run_steps(
    mu,
    sigma,
    theta0,
    lr_d,
    lr_g,
    optimizer,
    batch,
    k_d,
    g_loss,
    update,
    seed,
    steps,
    d_optimal=False,
    progress=gr.Progress(),
):
    """Play `steps` rounds of a fresh game from these settings; return figures and final state.

    The API behind "Run the whole budget now" (api_name "toy_gan"): settings as in the
    controls (optimizer 'sgd' | 'adam', g_loss 'non_saturating' | 'saturating', update
    'alternating' | 'simultaneous'), at most 100,000 steps; d_optimal: D set to the best
    logistic D for the current θ before every G step. Returns the game figure, the phase
    portrait, the training curves (JS with its quality and coverage parts), a status line and
    the final numbers as a dict.
    """
    values = (mu, sigma, theta0, lr_d, lr_g, optimizer, batch, k_d, g_loss, update, seed)
    session, headline = play_through(
        (*values, d_optimal),
        steps,
        lambda done, total: progress((done, total), desc="training", unit="steps"),
    )
    return _frame(session, headline, costs=False)


def costs_of(session):
    """The generator costs plot of the session's game (after a whole run)."""
    if session is None:
        return NO_CHANGE
    with session.trainer.lock:
        return costs_figure(session.trainer)


def generator_costs(
    mu: float = 2.0,
    sigma: float = 1.0,
    theta0: float = -4.0,
    lr_d: float = 0.05,
    lr_g: float = 0.05,
    optimizer: str = "sgd",
    batch: int = 256,
    k_d: int = 1,
    g_loss: str = "saturating",
    update: str = "alternating",
    seed: int = 0,
    steps: int = 200,
    d_optimal: bool = False,
) -> tuple[str, dict]:
    """The two generator costs against D(G(z)) with the current batch on both (CS230 II.C).

    Plays `steps` rounds (0 allowed) of a fresh game from these settings (as in "toy_gan";
    the defaults are the "saturating loss stalls" preset after 200 steps, where D rejects
    every fake) and returns the figure as plotly JSON (plotly.io.from_json reads it) and the
    batch's numbers: its mean D(G(z)), both costs and the gradient each gives θ.
    """
    values = (mu, sigma, theta0, lr_d, lr_g, optimizer, batch, k_d, g_loss, update, seed)
    if whole("number of steps", steps, lo=0, hi=MAX_RUN_STEPS) == 0:
        session = PlaybackSession.start((*values, d_optimal), 1, 1)
    else:
        session, _ = play_through((*values, d_optimal), steps)
    t = session.trainer
    return costs_figure(t).to_json(), {"step": t.steps_done, **batch_costs(t)}


def warm_up(store: ModelStore) -> None:
    """Nothing to warm: the game is numpy, a few microseconds per step, and uses no model."""


# --- layout ---------------------------------------------------------------------------------


def build(store: ModelStore) -> None:
    s = presets.preset(presets.DEFAULT_PRESET)  # the controls start at its values
    first = PlaybackSession.start(s.pick(*SETTING_KEYS), s["steps_per_frame"], s["budget"])
    # A game untouched for an hour is dropped (Play or Reset then starts afresh): sessions of
    # API users never close, and each game holds its history and noise (~0.1 MB at first).
    state = gr.State(None, time_to_live=STATE_TTL_S)
    timer = gr.Timer(FRAME_SECONDS, active=False)

    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            preset_box = gr.Radio(
                choices=[(p.label, p.key) for p in presets.PRESETS],
                value=presets.DEFAULT_PRESET,
                label="Preset (one click loads it and plays)",
                elem_id="toy-gan-preset",
            )
            look_for = gr.Markdown(f"**What to look for.** {s.note}")
            with gr.Row():
                play_btn = gr.Button(
                    "▶ Play", variant="primary", min_width=80, elem_id="toy-gan-play"
                )
                pause_btn = gr.Button("❚❚ Pause", min_width=80, elem_id="toy-gan-pause")
            with gr.Row():
                step_btn = gr.Button("Step once", min_width=80, elem_id="toy-gan-step")
                reset_btn = gr.Button("↺ Reset", min_width=80, elem_id="toy-gan-reset")
            with gr.Accordion("Data and generator", open=True):
                mu = gr.Slider(-10, 10, s["mu"], step=0.1, label="μ: mean of the real data")
                sigma = gr.Slider(0.1, 5, s["sigma"], step=0.1, label="σ: spread of the real data")
                theta0 = gr.Slider(
                    -10, 10, s["theta0"], step=0.1, label="initial θ (takes effect at Reset)"
                )
                seed = gr.Number(
                    s["seed"],
                    label="seed (takes effect at Reset)",
                    precision=0,
                    minimum=0,
                    maximum=MAX_SEED,
                )
            with gr.Accordion("Training", open=True):
                with gr.Row():
                    lr_d = gr.Number(
                        s["lr_d"], label="D learning rate", minimum=0, maximum=MAX_LR, step=0.01
                    )
                    lr_g = gr.Number(
                        s["lr_g"], label="G learning rate", minimum=0, maximum=MAX_LR, step=0.01
                    )
                g_loss = gr.Radio(G_LOSS_CHOICES, value=s["g_loss"], label="generator loss")
                update = gr.Radio(UPDATE_CHOICES, value=s["update"], label="updates")
                optimizer = gr.Radio(OPTIMIZER_CHOICES, value=s["optimizer"], label="optimiser")
                k_d = gr.Slider(1, MAX_K, s["k_d"], step=1, label="k: D steps per G step")
                batch = gr.Slider(1, MAX_BATCH, s["batch"], step=1, label="batch size")
                d_optimal = gr.Checkbox(
                    s["d_optimal"],
                    label="D trained to optimality each step (replaces D's SGD steps)",
                    elem_id="toy-gan-d-optimal",
                )
            with gr.Accordion("Playback", open=False):
                steps_per_frame = gr.Slider(
                    1,
                    MAX_STEPS_PER_FRAME,
                    s["steps_per_frame"],
                    step=1,
                    label=f"steps per frame (up to {FRAMES_PER_SECOND} frames/s: the status line "
                    "shows how many arrive)",
                )
                budget = gr.Number(
                    s["budget"],
                    label="step budget (Play stops here)",
                    precision=0,
                    minimum=1,
                    maximum=MAX_RUN_STEPS,
                )
                run_btn = gr.Button("Run the whole budget now", elem_id="toy-gan-run")

        with gr.Column(scale=3):
            status = gr.Markdown(first.status(READY), label="status", elem_id="toy-gan-status")
            with gr.Row(equal_height=False):
                game_plot = gr.Plot(
                    game_figure(first.trainer),
                    label="game",
                    show_label=False,
                    scale=3,
                    elem_id="toy-gan-game",
                )
                phase_plot = gr.Plot(
                    phase_figure(first.trainer),
                    label="phase_portrait",
                    show_label=False,
                    scale=2,
                    elem_id="toy-gan-phase",
                )
            timeline_plot = gr.Plot(
                timeline_figure(first.trainer),
                label="training_curves",
                show_label=False,
                elem_id="toy-gan-timeline",
            )
            costs_plot = gr.Plot(
                costs_figure(first.trainer),
                label="generator_costs",
                show_label=False,
                elem_id="toy-gan-costs",
            )
            with gr.Accordion("The numbers (what the toy_gan API returns)", open=False):
                summary = gr.JSON(first.trainer.summary(), label="final_state", show_label=False)
            ui.explanation(EXPLANATION)

    settings = [mu, sigma, theta0, lr_d, lr_g, optimizer, batch, k_d, g_loss, update, seed]
    settings.append(d_optimal)  # SETTING_KEYS order
    controls = [*settings, steps_per_frame, budget]
    api_frame = [state, game_plot, phase_plot, timeline_plot, status, summary]
    frame = [*api_frame, costs_plot]

    play_btn.click(play, [state, *controls], [*frame, timer], **INSTANT)
    timer.tick(
        tick,
        [state],
        [*frame, timer],
        show_progress="hidden",
        api_visibility="private",
        **GAME_LANE,
    )
    pause_btn.click(pause, [state], [*frame, timer], **INSTANT)
    step_btn.click(one_step, [state, *controls], [*frame, timer], **INSTANT)
    reset_btn.click(reset, controls, [*frame, timer], **INSTANT)
    preset_box.input(choose_preset, [preset_box], [*controls, look_for, *frame, timer], **INSTANT)
    run_btn.click(stop, [state], [timer], **INSTANT)
    run_btn.click(  # the API keeps its order: d_optimal, added later, comes after steps
        run_steps,
        [*settings[:-1], budget, d_optimal],
        api_frame,
        api_name="toy_gan",
        show_progress="full",
        **GAME_LANE,
    ).then(costs_of, [state], [costs_plot], show_progress="hidden", api_visibility="private")
    gr.api(ui.friendly(generator_costs), api_name="generator_costs", **GAME_LANE)
    # Live settings: sliders and radios as they move, typed numbers when the field is left.
    live = dict(fn=apply_settings, inputs=[state, *controls], outputs=frame, **INSTANT)
    for control in (mu, sigma, theta0, k_d, batch, steps_per_frame):
        control.release(trigger_mode="always_last", **live)
    for control in (optimizer, g_loss, update, d_optimal):
        control.input(**live)
    for control in (lr_d, lr_g, seed, budget):
        control.submit(**live)
        control.blur(**live)
