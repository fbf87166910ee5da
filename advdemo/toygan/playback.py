"""Playing the 1-D GAN frame by frame: what one browser session keeps while a game plays.

A `PlaybackSession` holds a trainer, the settings it started with (the initial θ and the seed
only take effect in a new trainer), the playback speed and step budget, notes about adjusted
settings, and whether it is playing. The 1-D GAN tab keeps one per browser session and asks it
for a frame's worth of steps and the status line; the figures come from toygan.plots.
No Gradio here.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from advdemo.core.errors import whole
from advdemo.toygan.game import (
    MAX_RUN_STEPS,
    SETTING_KEYS,
    ToyGanConfig,
    ToyGanTrainer,
    check_run_length,
    make_config,
    run_work,
)

MAX_STEPS_PER_FRAME = 500
FRAME_WORK = 3_000_000  # most sample evaluations per frame, so heavy settings stay fluid
RUN_CHUNK_WORK = 2_000_000  # sample evaluations between progress reports of a whole run

READY = "Ready: press ▶ Play"
FRAMES_PER_SECOND = 10  # what the tab's timer asks for; a busy browser or server gets fewer
RATE_WINDOW = 10  # frames the measured rate is averaged over
SLOW_RATE = 0.7 * FRAMES_PER_SECOND  # below this the status says the page cannot keep up


def _config(values: Sequence[object]) -> tuple[ToyGanConfig, list[str]]:
    """The settings controls' values (in SETTING_KEYS order) as a validated config + notes."""
    return make_config(**dict(zip(SETTING_KEYS, values, strict=True)))


def check_playback(steps_per_frame: object, budget: object) -> tuple[int, int]:
    return (
        whole("steps per frame", steps_per_frame, lo=1, hi=MAX_STEPS_PER_FRAME),
        whole("step budget", budget, lo=1, hi=MAX_RUN_STEPS),
    )


def _fmt(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.3f}"


@dataclass
class PlaybackSession:
    """One browser session's game: the trainer and how to play it."""

    trainer: ToyGanTrainer
    started_with: ToyGanConfig  # theta0 and seed take effect only in a new trainer
    steps_per_frame: int
    budget: int
    notes: list[str] = field(default_factory=list)
    playing: bool = False
    frames: int = 0  # frames played (ticks that ran steps), shown in the status line
    frame_times: deque = field(default_factory=lambda: deque(maxlen=RATE_WINDOW + 1))

    @classmethod
    def start(
        cls, values: Sequence[object], steps_per_frame: object, budget: object
    ) -> PlaybackSession:
        """A fresh game from the settings controls' values (SETTING_KEYS order)."""
        config, notes = _config(values)
        spf, budget = check_playback(steps_per_frame, budget)
        return cls(ToyGanTrainer(config), config, spf, budget, notes)

    def steps_this_frame(self) -> int:
        """The requested steps per frame, capped so that one frame stays about 0.1 s of work."""
        per_step = run_work(self.trainer.config, 1)
        return max(1, min(self.steps_per_frame, FRAME_WORK // per_step))

    def advance(self, now: float | None = None) -> None:
        """Play one frame: a few training steps, never past the budget. `now`
        (time.monotonic() by default) is when the frame was asked for: the browser asks for
        the next one once this one is drawn, so these times give the real frame rate."""
        t = self.trainer
        with t.lock:
            t.run(min(self.steps_this_frame(), max(0, self.budget - t.steps_done)))
        self.frames += 1
        self.frame_times.append(time.monotonic() if now is None else now)

    def resume(self) -> None:
        """Play (again): the rate is measured afresh, a pause is not a slow frame."""
        self.frame_times.clear()
        self.playing = True

    def frames_per_second(self) -> float | None:
        """Frames per second over the last RATE_WINDOW frames (None before three)."""
        if len(self.frame_times) < 3:
            return None
        span = self.frame_times[-1] - self.frame_times[0]
        return (len(self.frame_times) - 1) / span if span > 0 else None

    def step_once(self) -> str:
        """Play exactly one round (k D steps and one G step); returns the headline."""
        self.playing = False
        with self.trainer.lock:
            self.trainer.step()
        k = self.trainer.config.k_d
        what = "one D step and one G step" if k == 1 else f"{k} D steps and one G step"
        return "Diverged" if self.trainer.diverged else f"Stepped: {what}"

    def finished(self) -> str | None:
        """Why there is nothing more to play (a headline), or None."""
        t = self.trainer
        if t.diverged:
            return "Diverged"
        if t.steps_done >= self.budget:
            return "Step budget reached: raise it to play on, or Reset"
        return None

    def idle_headline(self) -> str:
        """The headline of a session that is not playing."""
        return self.finished() or (READY if self.trainer.steps_done == 0 else "Paused")

    def status(self, headline: str) -> str:
        """The status line under the headline: step, parameters, losses, JS, and notes."""
        t = self.trainer
        c = t.config
        summary = t.summary()
        lines = [
            f"**{headline}** · step {t.steps_done:,} of {self.budget:,} · "
            f"θ = {t.theta:.3f} (target μ = {c.mu:g}) · D: w = {t.w:.3f}, b = {t.b:.3f} · "
            f"J(D) = {_fmt(t.d_loss)}, J(G) = {_fmt(t.g_loss)} · "
            f"JS = {summary['js_divergence']:.4f} nats"
        ]
        rate = self.frames_per_second() if self.playing else None
        frames = f"frame {self.frames:,}"
        if rate is not None:
            frames += f" · {rate:.1f} frames/s measured (asked: {FRAMES_PER_SECOND})"
        lines[0] += f" · {frames}"
        if rate is not None and rate < SLOW_RATE:
            lines.append(
                f"This page gets {rate:.1f} frames a second, not {FRAMES_PER_SECOND}: the server "
                "or the browser is busy. Raise “steps per frame” to train faster per frame."
            )
        capped = self.steps_this_frame()
        if capped < self.steps_per_frame:
            lines.append(
                f"At batch {c.batch} and k = {c.k_d}, playback runs {capped} steps per frame "
                f"(not {self.steps_per_frame}) to keep the picture moving smoothly."
            )
        lines += self.notes
        if t.diverged:
            lines.append(f"⚠️ {t.diverged}")
        return "\n\n".join(lines)


def synced(
    session: PlaybackSession | None,
    values: Sequence[object],
    steps_per_frame: object,
    budget: object,
) -> PlaybackSession:
    """The session under the current controls: carried on, or fresh if nothing was played yet."""
    if session is None or (session.trainer.steps_done == 0 and not session.playing):
        return PlaybackSession.start(values, steps_per_frame, budget)
    config, notes = _config(values)
    spf, budget = check_playback(steps_per_frame, budget)
    start = session.started_with
    if (config.theta0, config.seed) != (start.theta0, start.seed):
        notes.append("The new initial θ and seed take effect when you press Reset.")
    with session.trainer.lock:
        session.trainer.reconfigure(config)
    session.steps_per_frame, session.budget, session.notes = spf, budget, notes
    return session


def play_through(
    values: Sequence[object],
    steps: object,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> tuple[PlaybackSession, str]:
    """Play `steps` rounds of a fresh game from the settings `values` in one go, reporting
    (steps done, steps) between chunks; returns the session and its headline."""
    config, notes = _config(values)
    steps = check_run_length(config, steps)
    session = PlaybackSession(ToyGanTrainer(config), config, 1, steps, notes)
    chunk = max(1, min(steps, RUN_CHUNK_WORK // run_work(config, 1)))
    t = session.trainer
    while t.steps_done < steps and not t.diverged:
        progress(t.steps_done, steps)
        t.run(min(chunk, steps - t.steps_done))
    return session, "Diverged" if t.diverged else f"Done: played {t.steps_done:,} steps"
