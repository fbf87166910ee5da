"""Playing a 2-D GAN frame by frame, alone or as a race of two settings, for one session.

A `Playback` holds run A and, in a race, run B: B shares A's data, networks, batch, z and seed
(so both start from identical weights and see the same first batches) and differs only in the
RACE_KEYS (loss, options, rates, k, optimiser). Each frame plays the same number of steps in
both, so they stay in step. The tab keeps one Playback per browser session. No Gradio here.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field

import torch

from advdemo.core.errors import InputError, whole
from advdemo.gan2d import losses
from advdemo.gan2d.trainer import (
    MAX_RUN_STEPS,
    Gan2dTrainer,
    check_run_length,
    make_config,
    step_work,
)

RACE_KEYS = ("loss", "spectral_norm", "minibatch_std", "optimizer", "lr_d", "lr_g", "k_d")
MAX_STEPS_PER_FRAME = 100
FRAME_WORK = 4e8  # multiply-adds per frame (~40 ms here), so heavy settings stay fluid
RUN_CHUNK = 200  # steps between progress reports of a whole run
READY = "Ready: press ▶ Play"


def configs(settings: Mapping[str, object], race: Mapping[str, object] | None):
    """Run A's config and, if racing, B's (A's settings with B's RACE_KEYS)."""
    a = make_config(**settings)
    if not race:
        return a, None
    unknown = sorted(set(race) - set(RACE_KEYS))
    if unknown:
        raise InputError(f"Run B can only differ in {', '.join(RACE_KEYS)}; not {unknown}.")
    b = make_config(**{**settings, **race})
    return a, b


def check_playback(steps_per_frame: object, budget: object) -> tuple[int, int]:
    return (
        whole("steps per frame", steps_per_frame, lo=1, hi=MAX_STEPS_PER_FRAME),
        whole("step budget", budget, lo=1, hi=MAX_RUN_STEPS),
    )


def _fmt(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3f}"


@dataclass
class Playback:
    a: Gan2dTrainer
    b: Gan2dTrainer | None
    steps_per_frame: int
    budget: int
    notes: list[str] = field(default_factory=list)
    playing: bool = False
    frames: int = 0  # frames played (the tab redraws the curves every few)
    # Held while a frame is played and drawn, and while anything else draws the runs: a
    # picture drawn meanwhile (a Pause) would otherwise mix steps (planes ahead of curves).
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @classmethod
    def start(cls, settings, race, steps_per_frame, budget) -> Playback:
        a, b = configs(settings, race)
        spf, budget = check_playback(steps_per_frame, budget)
        first = Gan2dTrainer(a)
        second = Gan2dTrainer(b, first.data) if b is not None else None
        return cls(first, second, spf, budget)

    @property
    def runs(self) -> list[Gan2dTrainer]:
        return [self.a] if self.b is None else [self.a, self.b]

    @property
    def steps_done(self) -> int:
        return min(t.steps_done for t in self.runs)

    def carry_on(self, settings, race, steps_per_frame, budget) -> None:
        """New settings for the runs in progress (what cannot change now waits for Reset)."""
        a, b = configs(settings, race)
        self.steps_per_frame, self.budget = check_playback(steps_per_frame, budget)
        with self.a.lock:  # a frame may be playing in another thread
            notes = self.a.reconfigure(a)
        if b is not None and self.b is not None:
            with self.b.lock:
                self.b.reconfigure(b)
        elif (b is None) != (self.b is None):
            notes.append("Starting or ending a race takes effect when you press Reset.")
        self.notes = notes

    def steps_this_frame(self) -> int:
        work = sum(step_work(t.config) for t in self.runs)
        return max(1, min(self.steps_per_frame, int(FRAME_WORK // work)))

    def advance(self, steps: int | None = None, pool: Executor | None = None) -> None:
        """Play one frame (or `steps`) in every run, never past the budget. In a race with a
        `pool`, run B plays there while A plays here: they share only the (read-only) data, and
        each has its own generator, so the result is the same as one after the other."""
        n = self.steps_this_frame() if steps is None else steps
        n = min(n, max(0, self.budget - self.steps_done))
        self.frames += steps is None
        if pool is not None and self.b is not None:
            other = pool.submit(_play, self.b, n)
            _play(self.a, n)
            other.result()
            return
        for t in self.runs:
            _play(t, n)

    def finished(self) -> str | None:
        if all(t.diverged for t in self.runs):
            return "Diverged"
        if self.steps_done >= self.budget:
            return "Step budget reached: raise it to play on, or Reset"
        return None

    def idle_headline(self) -> str:
        return self.finished() or (READY if self.steps_done == 0 else "Paused")

    def status(self, headline: str) -> str:
        lines = [f"**{headline}** · step {self.steps_done:,} of {self.budget:,}"]
        for name, t in zip("AB", self.runs, strict=False):
            h = t.history
            d, g = (h[-1, 0], h[-1, 1]) if len(h) else (math.nan, math.nan)
            options = [
                o
                for o, on in (("SN", t.config.spectral_norm), ("mb-std", t.config.minibatch_std))
                if on
            ]
            label = losses.loss_info(t.config.loss).label.split(" (")[0]
            tag = f"{name} · " if self.b is not None else ""
            lines.append(
                f"{tag}{label}{' + ' + ', '.join(options) if options else ''}: "
                f"L_D = {_fmt(d)}, L_G = {_fmt(g)}" + (f" · ⚠️ {t.diverged}" if t.diverged else "")
            )
        capped = self.steps_this_frame()
        if capped < self.steps_per_frame:
            lines.append(
                f"At these sizes playback runs {capped} steps per frame (not "
                f"{self.steps_per_frame}) to keep the picture moving smoothly."
            )
        return "\n\n".join(lines + self.notes)


def _play(t: Gan2dTrainer, n: int) -> None:
    with t.lock:
        t.run(n)


def synced(playback, settings, race, steps_per_frame, budget) -> Playback:
    """The session's playback under the current controls: carried on, or fresh if nothing
    was played yet."""
    if playback is None or (playback.steps_done == 0 and not playback.playing):
        return Playback.start(settings, race, steps_per_frame, budget)
    playback.carry_on(settings, race, steps_per_frame, budget)
    return playback


def play_through(
    settings: Mapping[str, object],
    steps: object,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> tuple[Playback, str]:
    """`steps` steps of a fresh run from `settings` in one go (the API); its headline."""
    config = make_config(**settings)
    steps = check_run_length(config, steps)
    playback = Playback(Gan2dTrainer(config), None, 1, steps)
    t = playback.a
    while t.steps_done < steps and not t.diverged:
        progress(t.steps_done, steps)
        t.run(min(RUN_CHUNK, steps - t.steps_done))
    return playback, "Diverged" if t.diverged else f"Done: played {t.steps_done:,} steps"


def same_start(a: Gan2dTrainer, b: Gan2dTrainer) -> bool:
    """Whether two runs start from identical weights (true for a race before its first step)."""
    return torch.equal(a.G.flat, b.G.flat) and torch.equal(a.D.flat, b.D.flat)
