"""The "2-D GAN lab" tab: small GANs on 2-D data trained live, every loss of the lecture's
table, mode collapse measured, and two settings racing from the same start.

Layout and wiring only: training is advdemo.gan2d (trainer, playback, presets), the pictures
gan2d.raster. Each browser session owns its playback (one run, or two in a race) through
gr.State. While it plays, a loop in the page (ui.frames) asks for one frame after another
through plane A's server function, `next_frame` here: a few steps in every run, then one
picture per plane drawn on the server into pixels (gan2d.raster), swapped into the <img>s in
place. Neither plotly figures (0.4-1.1 s of Chromium's CPU per frame here, 0.45 frames/s
drawn) nor a Gradio event per frame (~140 ms each) leave room for 10 frames a second on two
cores; see benchmarks/bench_gan2d_browser.py. The curves change slowly and are redrawn every
CURVES_EVERY frames; the status line and numbers, which are Gradio outputs, about once a
second (plane A's `submit` event, fired by the loop) and when the run stops.
Each run plays on one OpenMP thread: these networks are far too small for two threads to
help, and the cores are shared with every other user. In a race, run B is played and drawn on
ui.frames' side pool while the frame's worker does A, so a race's frame uses both cores.
"""

from __future__ import annotations

from concurrent.futures import Executor

import gradio as gr

from advdemo import ui
from advdemo.core.images import confined
from advdemo.gan2d import data, drawing, losses, presets, trainer
from advdemo.gan2d.playback import MAX_STEPS_PER_FRAME, RACE_KEYS, READY, Playback, synced
from advdemo.gan2d.playback import play_through as _play_through
from advdemo.gan2d.raster import frame_html
from advdemo.models.runtime import single_thread
from advdemo.models.store import ModelStore
from advdemo.ui import frames
from advdemo.ui.components import upload_roots

TITLE = "2-D GAN lab"
TAB_ID = "gan-lab"

STATE_TTL_S = 3600
FRAMES_PER_SECOND = round(1 / frames.FRAME_SECONDS)  # at most; a busy machine gets fewer
CURVES_EVERY = 4  # while playing, the curves are redrawn every 4th frame (~3 a second)
SYNC_EVERY = 12  # ... and the status line every 12th (~1 a second)
GAME_LANE = {"concurrency_id": "gan_lab", "concurrency_limit": 2}
INSTANT = {"concurrency_limit": None, "show_progress": "hidden", "api_visibility": "private"}
NO_CHANGE = gr.skip()

LOSS_CHOICES = [(loss.label, loss.key) for loss in losses.LOSSES]
DATA_CHOICES = [(label, key) for key, label in data.DATASET_LABELS.items()]
OPTIMIZER_CHOICES = [("Adam (β₁ = 0.5)", "adam"), ("SGD", "sgd")]

# On a phone the columns stack: the pictures come first, then the controls.
CSS = """
#gan-lab-status p { margin: 0.15em 0; }
.gan-lab-picture { display: block; width: 100%; height: auto; max-width: 720px; margin: 0 auto; }
#gan-lab-pictures { flex-wrap: wrap; }
#gan-lab-pictures > * { flex: 1 1 380px; }
#gan-lab-curves .gan-lab-picture { max-width: 600px; }
/* on a projector: two pictures to a row at most, so their text reads from the back (a rule
   that starts at body needs !important beside Gradio's prefixed copies: see ui.page) */
body.lecture-mode #gan-lab-pictures > * { flex-basis: 560px !important; }
body.lecture-mode #gan-lab-pictures .gan-lab-picture { max-width: 760px !important; }
@media (max-width: 767px) {
  #gan-lab-view { order: -1; }
  /* the pictures use the phone's whole width: their text is drawn in their pixels */
  #gan-lab-pictures .gan-lab-picture {
    width: 100vw; max-width: 100vw; margin-left: calc(50% - 50vw);
  }
}
"""

EXPLANATION = (
    r"""
### What goes wrong when GANs train, in two dimensions
*Try this:* click "mode collapse" and watch the orange samples settle on a few of the eight
modes and stay there; then open "Race", tick it, set run B's loss to WGAN-GP (k = 5, rates
0.002) and press Reset: from the very same weights, B spreads over the whole ring while A
stays stuck (the "WGAN-GP covers the ring" preset does exactly this in one click).

The real data are points in the plane (black): a ring of 8 Gaussians, a 5 × 5 grid, two moons,
a spiral or your own points. The generator is a small network that turns noise
$z \sim \mathcal{N}(0, I)$ into a point $\hat x = G(z)$ (orange); the purple mesh is where a
regular grid of $z$ lands, so you see how G folds and stretches its input. The heat map is the
discriminator's output over the plane, and each blue segment points where G's loss pushes that
sample: G only ever moves its samples uphill on D's map.

**The losses of the lecture's table** ($x$ real, $\hat x$ generated):

| loss | D minimises | G minimises |
|---|---|---|
"""
    + "\n".join(
        f"| {loss.label} | ${loss.d_formula}$ | ${loss.g_formula}$ |" for loss in losses.LOSSES
    )
    + r"""

For MM, NS and DRAGAN, $D(x)$ is a probability; for the others it is an unbounded score. The
slides print LSGAN's losses with minus signs in front; minimising those would push $D(x)$ away
from 1, so the least-squares losses are used here as Mao et al. wrote them.

**BEGAN** gives D another job: it is an autoencoder that squeezes each point through a single
number and rebuilds it, and its "output" is how badly it rebuilds, $L(x) = \|x - AE(x)\|_1$
(the heat map then shows that error: red where D rebuilds well, i.e. takes $x$ for real).
D learns to rebuild the real data and, weighted by $k_t$, to rebuild G's samples badly; G only
wants its samples rebuilt well. $k_t$ starts at 0 and is steered after every step,
$k_{t+1} = k_t + \lambda_k(\gamma L(x) - L(G(z)))$ kept in $[0, 1]$, with the paper's
$\gamma = 0.5$ and $\lambda_k = 0.001$: it grows while G's samples are rebuilt with less
than half the real data's error, $L(G(z)) < \gamma L(x)$. *Try this:* pick BEGAN on the
ring and press Reset (switching to or from BEGAN needs new networks): D's curve of
well-rebuilt points bends through the data, and G's samples usually gather on one stretch of
it, since a mode D rebuilds well costs G nothing; compare with WGAN-GP in a race.

**Mode collapse** is the generator ignoring most of its input: many $z$ land on the same few
points. D then learns to reject those points, G jumps elsewhere, and the game cycles (mode
hopping) instead of covering the data. It is measured here, not guessed: a sample is *of high
quality* when it lies within 3σ of the data (σ = 0.05, the noise around each mode), and a mode
is *covered* when at least a tenth of its fair share of the batch lands on it with high quality.

**Lipschitz constraints.** A discriminator whose output can jump steeply gives G gradients that
are huge at D's border and nil elsewhere. WGAN asks for a 1-Lipschitz critic,
$|D(x) - D(y)| \le \|x - y\|$: first by clipping every weight into $[-c, c]$, then (WGAN-GP) by
penalising $(\|\nabla D\|_2 - 1)^2$ at random points between real and fake samples; DRAGAN
penalises the same around the real data. *Spectral normalisation* divides each layer's weights
by their largest singular value, $\hat W = W / \sigma(W)$, so every layer, and D, stretches
distances by at most 1. The *minibatch standard deviation* feature shows D how spread out each
batch is (averaged over its last hidden layer), so a generator whose samples all look alike is
easy to catch.
"""
)


# --- helpers --------------------------------------------------------------------------------


def _split(controls: tuple) -> tuple[dict, dict | None, object, object]:
    """Controls (presets.CONTROL_KEYS order) → (settings of A, B's differences or None,
    steps per frame, budget)."""
    values = dict(zip(presets.CONTROL_KEYS, controls, strict=True))
    settings = {k: values[k] for k in trainer.SETTING_KEYS}
    race = {k: values[f"{k}_b"] for k in RACE_KEYS} if values["race"] else None
    return settings, race, values["steps_per_frame"], values["budget"]


def _drawn(
    playback: Playback, curves: bool = True, pool: Executor | None = None
) -> tuple[str, str | None, str | None]:
    """(plane A, plane B or None, curves or None) as <img> HTML (see raster.frame_html)."""
    runs = list(zip("AB", playback.runs, strict=False))
    marks = frames.marks(playback, playback.playing)  # for the page's frame loop
    return frame_html(runs, playback.steps_done, marks, curves, pool)


def _pictures(playback: Playback) -> tuple:
    """(plane A, plane B, curves) for the outputs."""
    a, b, curves = _drawn(playback)
    plane_b = gr.HTML(b, visible=True) if b is not None else gr.HTML(visible=False)
    return a, plane_b, curves


def _summary(playback: Playback) -> dict:
    with single_thread():
        out = {"A": playback.a.summary()}
        if playback.b is not None:
            out["B"] = playback.b.summary()
    return out


def _frame(playback: Playback, headline: str, summary: bool = True):
    """(state, plane A, plane B, curves, status, numbers) for the outputs, of one step (a
    frame being played meanwhile finishes first)."""
    with playback.lock:
        numbers = _summary(playback) if summary else NO_CHANGE
        return (playback, *_pictures(playback), playback.status(headline), numbers)


# --- callbacks ------------------------------------------------------------------------------


@ui.friendly
def play(playback, *controls):
    """Play from the current controls (the page's loop starts on the marked pictures), or
    say why there is nothing to play."""
    playback = synced(playback, *_split(controls))
    finished = playback.finished()
    playback.playing = finished is None
    return _frame(playback, finished or "Playing", summary=bool(finished))


def next_frame(playback: Playback) -> dict:
    """One frame while playing, for the page's loop (ui.frames): a few steps in every run,
    then the planes' pictures (the curves every CURVES_EVERY frames); `sync` asks the page to
    refresh the status line (every SYNC_EVERY frames, and when the run stops)."""
    if not playback.playing:  # Pause came while the page was asking
        return {"playing": False, "pictures": {}, "sync": False}
    side = frames.side_pool()  # a race's run B plays and is drawn there meanwhile
    with playback.lock:
        try:
            with single_thread():
                playback.advance(pool=side)
        except Exception:  # no message box in the page: stop, and the refresh says what failed
            playback.playing = False
            raise
        if playback.finished():
            playback.playing = False
        curves = not playback.playing or playback.frames % CURVES_EVERY == 0
        a, b, curves = _drawn(playback, curves, side)
    ids = ("gan-lab-plane-a", "gan-lab-plane-b", "gan-lab-curves")
    pictures = {i: p for i, p in zip(ids, (a, b, curves), strict=True) if p is not None}
    sync = not playback.playing or playback.frames % SYNC_EVERY == 0
    return {"playing": playback.playing, "pictures": pictures, "sync": sync}


@ui.friendly
def refresh(playback):
    """What the frame loop leaves to Gradio: the status line while playing; everything, with
    the numbers, once the run stopped (its budget, a divergence, Pause)."""
    if playback is None:
        return (NO_CHANGE,) * 6
    if playback.playing:
        return (NO_CHANGE,) * 4 + (playback.status("Playing"), NO_CHANGE)
    return _frame(playback, playback.idle_headline())


@ui.friendly
def pause(playback):
    if playback is None:
        return (NO_CHANGE,) * 6
    playback.playing = False
    return _frame(playback, "Paused")


@ui.friendly
def stop(playback):
    if playback is not None:
        playback.playing = False


@ui.friendly
def one_step(playback, *controls):
    playback = synced(playback, *_split(controls))
    playback.playing = False
    with single_thread():
        playback.advance(1)
    k = playback.a.config.k_d
    what = "one D step and one G step" if k == 1 else f"{k} D steps and one G step"
    return _frame(playback, f"Stepped: {what}")


@ui.friendly
def reset(*controls):
    return _frame(Playback.start(*_split(controls)), READY)


@ui.friendly
def apply_settings(playback, *controls):
    """A control changed: carry the runs on under the new settings (redraw if paused)."""
    playback = synced(playback, *_split(controls))
    if playback.playing:
        return (playback, NO_CHANGE, NO_CHANGE, NO_CHANGE, playback.status("Playing"), NO_CHANGE)
    return _frame(playback, playback.idle_headline())


@ui.friendly
def choose_preset(key):
    """One click: the preset's settings fill the controls and a fresh run starts playing."""
    preset = presets.preset(key)
    values = preset.pick(*presets.CONTROL_KEYS)
    playback = Playback.start(*_split(values))
    playback.playing = True
    look_for = f"**What to look for.** {preset.note}"
    frame = _frame(playback, f"Playing preset “{preset.label}”", summary=False)
    return (*values, look_for, *frame)


@ui.friendly
def load_points(path):
    """An uploaded CSV of points → the points box, with the data set switched to them."""
    if path is None:
        return NO_CHANGE, NO_CHANGE
    text = data.read_points_file(str(confined(path, upload_roots())))
    return text, "points"


@ui.friendly
def draw_point(points, last_edit, evt: gr.SelectData):
    """A click on the drawing pad adds the point under it; the data set becomes your points.
    (Every pad edit also returns (what it started from, its result): drawing.catch_up.)"""
    px, py = evt.index if isinstance(evt.index, list | tuple) else (None, None)
    text = drawing.add_point(drawing.catch_up(points, last_edit), px, py)
    return text, "points", (points, text)


@ui.friendly
def undo_point(points, last_edit):
    text = drawing.undo_point(drawing.catch_up(points, last_edit))
    return text, (points, text)


def clear_points(points):
    return "", (points, "")


def show_pad(points):
    """The drawing pad with the points box's points (the empty plane while it is half typed)."""
    return drawing.pad_image(points)


@ui.friendly
def train_points(*controls):
    """ "Train on these": a fresh run on your points from the current settings, playing. The
    preset's note no longer describes the run: it gives way to one for drawn points."""
    values = dict(zip(presets.CONTROL_KEYS, controls, strict=True))
    values["dataset"] = "points"
    playback = Playback.start(*_split(tuple(values[k] for k in presets.CONTROL_KEYS)))
    playback.playing = True
    frame = _frame(playback, "Playing on your points", summary=False)
    return ("points", None, f"**What to look for.** {presets.OWN_POINTS_NOTE}", *frame)


@ui.friendly
def run_steps(
    dataset,
    points,
    loss,
    g_width,
    g_depth,
    d_width,
    d_depth,
    z_dim,
    optimizer,
    lr_d,
    lr_g,
    k_d,
    batch,
    spectral_norm,
    minibatch_std,
    gp_weight,
    clip,
    seed,
    steps,
    progress=gr.Progress(),
):
    """Train a fresh 2-D GAN for `steps` steps; return the plane and the curves (each an HTML
    <img> with an inline JPEG; its alt text says the step, modes covered and quality), a
    status line and the numbers (api_name "gan2d").
    dataset: ring | grid | moons | spiral | points (then `points` holds 'x, y' lines);
    loss: mm | ns | wgan | wgan_gp | lsgan | dragan | hinge | began;
    optimizer: adam | sgd; widths 4-256, depths 1-4, z_dim 2-16, rates in (0, 1], k 1-10,
    batch 8-1024, at most 20,000 steps (fewer for large settings: the message says how many).
    """
    values = (dataset, points, loss, g_width, g_depth, d_width, d_depth, z_dim, optimizer)
    values += (lr_d, lr_g, k_d, batch, spectral_norm, minibatch_std, gp_weight, clip, seed)
    settings = dict(zip(trainer.SETTING_KEYS, values, strict=True))
    report = lambda done, total: progress((done, total), desc="training", unit="steps")  # noqa: E731
    with single_thread():
        playback, headline = _play_through(settings, steps, report)
    frame = _frame(playback, headline)
    return frame[1], frame[3], frame[4], frame[5]


def warm_up(store: ModelStore) -> None:
    """Nothing to warm: the networks are made per session and take milliseconds."""


# --- layout ---------------------------------------------------------------------------------


def _number(value, label, lo, hi, step=None, **kw):
    return gr.Number(value, label=label, minimum=lo, maximum=hi, step=step, **kw)


def _network_controls(s) -> dict:
    c = {}
    with gr.Accordion("Data", open=True):
        c["dataset"] = gr.Radio(DATA_CHOICES, value=s["dataset"], label="data set")
        c["points"] = gr.Textbox(
            s["points"] or data.EXAMPLE_POINTS,
            label="your points ('x, y' per line; used when the data set is 'your points')",
            lines=6,  # a fixed height (it scrolls): a box that grew with every point
            max_lines=6,  # pushed the drawing pad below it down under the student's clicks
            max_length=data.MAX_TEXT,
            elem_id="gan-lab-points",
        )
        c["upload"] = gr.File(
            label="or upload a CSV of 'x, y' lines", file_types=[".csv", ".txt"], type="filepath"
        )
        c |= _drawing_controls(s["points"] or data.EXAMPLE_POINTS)
    with gr.Accordion("Networks", open=False):
        for who in ("g", "d"):
            with gr.Row():
                name = who.upper()
                c[f"{who}_width"] = gr.Slider(
                    trainer.MIN_WIDTH, trainer.MAX_WIDTH, s[f"{who}_width"], step=4,
                    label=f"{name} width",
                )  # fmt: skip
                c[f"{who}_depth"] = gr.Slider(
                    1, trainer.MAX_DEPTH, s[f"{who}_depth"], step=1, label=f"{name} hidden layers"
                )
        c["z_dim"] = gr.Slider(trainer.MIN_Z, trainer.MAX_Z, s["z_dim"], step=1, label="z dim")
        c["seed"] = ui.seed_box(s["seed"], "seed (takes effect at Reset)", "gan-lab-seed")
    return c


def _drawing_controls(points: str) -> dict:
    """The drawing pad (a picture of the plane: each click adds a point) and its buttons."""
    c = {}
    with gr.Accordion("Draw your points", open=False, elem_id="gan-lab-draw"):
        gr.Markdown(
            "Click the plane to add a point: each becomes a small Gaussian blob, and clicks "
            "along a line make a curve. The points fill the box above; training centres "
            "your set and scales it to fit the plane."
        )
        c["pad"] = gr.Image(
            show_pad(points),
            label="drawing pad",
            show_label=False,
            interactive=False,
            buttons=[],
            format="png",
            elem_id="gan-lab-pad",
        )
        with gr.Row():
            c["undo"] = gr.Button("↶ Undo", min_width=60, size="sm", elem_id="gan-lab-undo")
            c["clear"] = gr.Button("Clear", min_width=60, size="sm", elem_id="gan-lab-clear")
            c["train_points"] = gr.Button(
                "Train on these", variant="primary", min_width=90, size="sm",
                elem_id="gan-lab-train-points",
            )  # fmt: skip
    return c


def _training_controls(s, suffix: str = "") -> dict:
    """Loss, options, optimiser, rates and k: run A's, or run B's (suffix '_b')."""
    c = {}
    v = lambda k: s[f"{k}{suffix}"]  # noqa: E731
    c["loss"] = gr.Dropdown(LOSS_CHOICES, value=v("loss"), label="loss")
    with gr.Row():
        c["spectral_norm"] = gr.Checkbox(v("spectral_norm"), label="spectral norm on D")
        c["minibatch_std"] = gr.Checkbox(v("minibatch_std"), label="minibatch std feature")
    c["optimizer"] = gr.Radio(OPTIMIZER_CHOICES, value=v("optimizer"), label="optimiser")
    with gr.Row():
        c["lr_d"] = _number(v("lr_d"), "D learning rate", 0, trainer.MAX_LR, 1e-4)
        c["lr_g"] = _number(v("lr_g"), "G learning rate", 0, trainer.MAX_LR, 1e-4)
    c["k_d"] = gr.Slider(1, trainer.MAX_K, v("k_d"), step=1, label="k: D steps per G step")
    return {f"{k}{suffix}": box for k, box in c.items()}


def build(store: ModelStore) -> None:
    s = presets.preset(presets.DEFAULT_PRESET)
    first = Playback.start(*_split(s.pick(*presets.CONTROL_KEYS)))
    state = gr.State(None, time_to_live=STATE_TTL_S)
    with gr.Row(equal_height=False, elem_id="gan-lab-main"):
        with gr.Column(scale=1, min_width=320):
            preset_box = gr.Radio(
                [(p.label, p.key) for p in presets.PRESETS],
                value=presets.DEFAULT_PRESET,
                label="Preset (one click loads it and plays)",
                elem_id="gan-lab-preset",
            )
            look_for = gr.Markdown(f"**What to look for.** {s.note}")
            with gr.Row():
                play_btn = gr.Button(
                    "▶ Play", variant="primary", min_width=80, elem_id="gan-lab-play"
                )
                pause_btn = gr.Button("❚❚ Pause", min_width=80, elem_id="gan-lab-pause")
            with gr.Row():
                step_btn = gr.Button("Step once", min_width=80, elem_id="gan-lab-step")
                reset_btn = gr.Button("↺ Reset", min_width=80, elem_id="gan-lab-reset")
            c = _network_controls(s)
            with gr.Accordion("Training", open=True):
                c |= _training_controls(s)
                with gr.Row():
                    c["batch"] = gr.Slider(
                        trainer.MIN_BATCH, trainer.MAX_BATCH, s["batch"], step=8, label="batch size"
                    )
                with gr.Row():
                    c["gp_weight"] = _number(
                        s["gp_weight"],
                        "penalty weight λ (WGAN-GP, DRAGAN)",
                        0,
                        trainer.MAX_GP_WEIGHT,
                        0.1,
                    )
                    c["clip"] = _number(
                        s["clip"],
                        "clipping bound c (WGAN)",
                        trainer.MIN_CLIP,
                        trainer.MAX_CLIP,
                        0.01,
                    )
            with gr.Accordion("Race: run B from the same start", open=bool(s["race"])):
                c["race"] = gr.Checkbox(
                    s["race"], label="race a second run (B) beside A", elem_id="gan-lab-race"
                )
                c |= _training_controls(s, "_b")
            with gr.Accordion("Playback", open=False):
                c["steps_per_frame"] = gr.Slider(
                    1,
                    MAX_STEPS_PER_FRAME,
                    s["steps_per_frame"],
                    step=1,
                    label=f"steps per frame (up to {FRAMES_PER_SECOND} frames per second)",
                )
                c["budget"] = _number(
                    s["budget"],
                    "step budget (Play stops here)",
                    1,
                    trainer.MAX_RUN_STEPS,
                    1,
                    precision=0,
                )
                run_btn = gr.Button("Run the whole budget now (run A)", elem_id="gan-lab-run")
        with gr.Column(scale=3, elem_id="gan-lab-view"):
            status = gr.Markdown(first.status(READY), elem_id="gan-lab-status")
            planes = _pictures(first)
            with gr.Row(equal_height=False, elem_id="gan-lab-pictures"):
                picture = {"show_label": False, "js_on_load": None, "min_width": 380}
                loop = frames.picture_kwargs(next_frame)  # plays while marked playing
                plane_a = gr.HTML(
                    planes[0], label="plane", elem_id="gan-lab-plane-a", **(picture | loop)
                )
                plane_b = gr.HTML(
                    "", label="plane_b", elem_id="gan-lab-plane-b", visible=False, **picture
                )
                # beside a single plane on a wide screen; under a race's two planes
                curves = gr.HTML(planes[2], label="curves", elem_id="gan-lab-curves", **picture)
            with gr.Accordion("The numbers (what the gan2d API returns)", open=False):
                summary = gr.JSON(_summary(first), label="summary", show_label=False)
    ui.explanation(EXPLANATION)
    _wire(locals())


def _wire(v: dict) -> None:
    """Events of the tab (split from build to keep each part readable)."""
    c, state = v["c"], v["state"]
    controls = [c[k] for k in presets.CONTROL_KEYS]
    frame = [state, v["plane_a"], v["plane_b"], v["curves"], v["status"], v["summary"]]
    v["play_btn"].click(play, [state, *controls], frame, **INSTANT)
    # fired by the frame loop about once a second and when the run stops
    v["plane_a"].submit(refresh, [state], frame, trigger_mode="always_last", **INSTANT)
    v["pause_btn"].click(pause, [state], frame, **INSTANT)
    v["step_btn"].click(
        one_step,
        [state, *controls],
        frame,
        **GAME_LANE,
        show_progress="hidden",
        api_visibility="private",
    )
    v["reset_btn"].click(reset, controls, frame, **INSTANT)
    v["preset_box"].input(
        choose_preset, [v["preset_box"]], [*controls, v["look_for"], *frame], **INSTANT
    )
    c["upload"].upload(load_points, [c["upload"]], [c["points"], c["dataset"]], **INSTANT)
    _wire_drawing(c, controls, frame, [v["preset_box"], v["look_for"]])
    v["run_btn"].click(stop, [state], None, **INSTANT)
    settings = [c[k] for k in trainer.SETTING_KEYS]
    outputs = [v["plane_a"], v["curves"], v["status"], v["summary"]]
    v["run_btn"].click(
        run_steps,
        [*settings, c["budget"]],
        outputs,
        api_name="gan2d",
        show_progress="full",
        **GAME_LANE,
    )
    _wire_live(c, [state, *controls], frame)


def _wire_drawing(c: dict, controls: list, frame: list, noted: list) -> None:
    """The pad shows the points box whatever changed it (a click, undo, typing, an upload)."""
    c["points"].change(show_pad, [c["points"]], [c["pad"]], trigger_mode="always_last", **INSTANT)
    # Clicks faster than answers: each is sent ("multiple"), one session's edits run in order
    # (one at a time, all µs to ms), and each builds on the last (drawing.catch_up).
    last_edit = gr.State(None)
    pad = {**INSTANT, "concurrency_limit": 1, "concurrency_id": "gan-lab-pad"}
    edited = [c["points"], last_edit]
    c["pad"].select(
        draw_point, edited, [c["points"], c["dataset"], last_edit], trigger_mode="multiple", **pad
    )
    c["undo"].click(undo_point, edited, edited, trigger_mode="multiple", **pad)
    c["clear"].click(clear_points, [c["points"]], edited, trigger_mode="multiple", **pad)
    c["train_points"].click(train_points, controls, [c["dataset"], *noted, *frame], **INSTANT)


SLID = ("k_d", "k_d_b", "batch", "steps_per_frame", "g_width", "d_width", "g_depth", "d_depth")
PICKED = ("loss", "loss_b", "optimizer", "optimizer_b", "spectral_norm", "spectral_norm_b")
TYPED = ("lr_d", "lr_g", "lr_d_b", "lr_g_b", "gp_weight", "clip", "budget", "seed", "points")


def _wire_live(c: dict, inputs: list, frame: list) -> None:
    """Live settings: sliders as they are released, choices as made, typed values on leaving."""
    live = dict(fn=apply_settings, inputs=inputs, outputs=frame, **INSTANT)
    for key in (*SLID, "z_dim"):
        c[key].release(trigger_mode="always_last", **live)
    for key in (*PICKED, "minibatch_std", "minibatch_std_b", "dataset", "race"):
        c[key].input(**live)
    for key in TYPED:
        c[key].submit(**live)
        c[key].blur(**live)
