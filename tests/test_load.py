"""The load test, reduced, against the app launched in this process, and the heavy lane's
mechanics.

Fails on any error or lost request and on a report that judges the wrong figures. Latency
targets are checked by benchmarks/load_test.py, not here; that a slider is answered while a
heavy job runs is checked on events in tests/test_lanes.py, memory by the slope measure in
tests/test_soak.py.
"""

from __future__ import annotations

import contextvars
import os
import random
import sys
import threading
import time
from pathlib import Path

import pytest

from advdemo import ui
from advdemo.core.errors import InputError
from advdemo.models import runtime
from advdemo.ui import lanes
from benchmarks import load_test, server_timing
from benchmarks.load_test import MIX, SLIDER, Settings, api_spec

# Light settings: the point is many users at once, not long jobs.
CI_SETTINGS = Settings(
    attack_steps=3, long_attack_steps=40, toy_gan_steps=100, long_translate_side=384
)


def test_every_endpoint_of_the_mix_exists(client):
    """The load mix covers what a lecture hall does; none of it may be skipped silently."""
    names = api_spec(client)
    wanted = {SLIDER, *(name for name, _ in MIX)}
    assert wanted <= set(names), f"the app lacks {sorted(wanted - set(names))}"


@pytest.mark.slow
def test_concurrent_users_get_every_answer(app_url):
    result = load_test.run_load(
        app_url, users=8, requests_per_user=10, time_limit=150, think=0.05, settings=CI_SETTINGS
    )
    text, _ = load_test.report(result, None)
    print(text)
    assert not result.errors, "\n".join(f"{o.endpoint}: {o.error}" for o in result.errors[:10])
    assert result.lost == 0, f"{result.lost} request(s) lost"
    requests = {name: s for name, s in result.stats.items() if name != load_test.CONNECT}
    assert sum(s.submitted for s in requests.values()) == 8 * 10
    assert result.stats[load_test.CONNECT].answered == 8  # every user connected first
    assert all(s.answered == s.planned for s in result.stats.values())


def test_the_app_times_its_own_requests(client):
    """benchmarks.server_timing: each processed request's queue wait and run, by api_name."""
    server_timing.install()
    server_timing.install()  # idempotent: one wrapper, one record per request
    server_timing.take()
    client.predict(api_name=SLIDER, seed=3)
    events = [e for e in server_timing.take() if e["api"] == SLIDER.lstrip("/")]
    assert len(events) == 1
    event = events[0]
    assert event["wait"] >= 0 and 0 < event["run"] < 60
    assert abs(event["queued"] - time.time()) < 60
    assert not server_timing.take()


def _result(server: list[dict], client_p95: float) -> load_test.LoadResult:
    stats = {SLIDER: load_test.Stats(SLIDER, 10, 10, 10, 0, 0, 0.2, client_p95, 2.0)}
    return load_test.LoadResult(1, 10, 1.0, stats, [], 0, server)


@pytest.mark.parametrize(
    ("server_p95", "client_p95", "passes"),
    [(0.15, 1.5, True), (1.2, 0.5, False), (None, 1.5, False), (None, 0.5, True)],
)
def test_the_slider_target_is_judged_in_the_app_when_its_timing_is_known(
    server_p95, client_p95, passes
):
    """The simulated clients' own overhead is reported beside the app's figure, not judged."""
    server = (
        [{"api": "generate", "queued": float(i), "wait": 0.0, "run": server_p95} for i in range(20)]
        if server_p95 is not None
        else []
    )
    text, passed = load_test.report(_result(server, client_p95), None)
    assert passed is passes, text
    judged = [r for r in load_test.verdict_rows(_result(server, client_p95), None) if r.target]
    assert judged[0].figure.startswith(
        f"slider {SLIDER} p95 in the app" if server else f"slider {SLIDER} p95 at the simulated"
    )


# ------------------------------------------------------------ ui.low_priority, below_sliders
# Heavy callbacks (ui.on_gpu off ZeroGPU) run in one low-priority thread so that a long attack
# or translation leaves the cores to sliders, and the light lane's callbacks in threads niced
# between the two; these check the mechanics, tests/test_lanes.py checks through the app that
# a slider is answered while a heavy job is held in its lane.


def test_low_priority_runs_in_the_niced_heavy_thread():
    def where():
        nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return threading.current_thread().name, nice

    name, nice = ui.low_priority(where)()
    assert name.startswith("advdemo-heavy")
    if sys.platform.startswith("linux"):
        assert nice >= ui.HEAVY_NICENESS
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < ui.HEAVY_NICENESS


def test_light_work_runs_below_the_sliders_and_above_heavy_work():
    """The light lane's callbacks run in threads niced between sliders and heavy work: when a
    strip and a slider's face both wait for a core, the face gets it."""

    def where():
        nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return threading.current_thread().name, nice

    caller = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    name, nice = lanes.below_sliders(where)()
    assert name.startswith("advdemo-light")
    if sys.platform.startswith("linux"):
        assert max(caller, lanes.LIGHT_NICENESS) <= nice < ui.HEAVY_NICENESS
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == caller  # unchanged


def test_light_work_passes_results_errors_streams_and_context_through():
    seen = contextvars.ContextVar("seen", default="unset")

    @lanes.below_sliders
    def job(fail: bool):
        if fail:
            raise InputError("bad")
        return seen.get()

    @lanes.below_sliders
    def frames():
        yield seen.get()
        yield 2

    seen.set("the caller's")
    assert job(False) == "the caller's"
    with pytest.raises(InputError, match="bad"):
        job(True)
    assert list(frames()) == ["the caller's", 2]
    assert lanes.below_sliders(job) is not job and job.below_sliders


def test_heavy_jobs_hand_freed_memory_back(monkeypatch):
    """After each heavy job (function or generator, finished or failed), malloc_trim runs."""
    calls = []
    monkeypatch.setattr(runtime, "release_freed_memory", lambda: calls.append(1))

    @ui.low_priority
    def job(fail: bool):
        if fail:
            raise ValueError("bad")
        return 1

    @ui.low_priority
    def steps():
        yield 1
        yield 2

    assert job(False) == 1
    with pytest.raises(ValueError):
        job(True)
    assert list(steps()) == [1, 2]
    deadline = time.monotonic() + 5  # the generator's clean-up may finish just after its end
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(calls) == 3


def test_low_priority_passes_results_errors_and_nested_calls_through():
    @ui.low_priority
    def inner(x):
        return x + 1

    @ui.low_priority
    def outer(x):  # a heavy callback calling another must not wait for its own thread
        return inner(x) * 10

    @ui.low_priority
    def fails():
        raise ValueError("bad value")

    assert outer(1) == 20
    with pytest.raises(ValueError, match="bad value"):
        fails()


def test_low_priority_generators_stream_and_free_the_thread_when_abandoned():
    closed = threading.Event()

    @ui.low_priority
    def frames(n):
        try:
            yield from range(n)
        finally:
            closed.set()

    @ui.low_priority
    def broken():
        yield 1
        raise RuntimeError("mid-stream")

    assert list(frames(5)) == [0, 1, 2, 3, 4]
    closed.clear()
    stream = frames(10_000)
    assert next(stream) == 0
    stream.close()  # the user went away after the first frame
    assert closed.wait(5), "the abandoned generator kept the heavy thread"
    assert ui.low_priority(lambda: "free")() == "free"
    with pytest.raises(RuntimeError, match="mid-stream"):
        list(broken())


# --------------------------------------------------------------------------- the lecture mix


def test_the_lecture_mix_sends_the_playgrounds_presets_and_the_example_photos(client):
    """In a lecture the heavy requests are the presets: few distinct jobs, asked by all."""
    from advdemo.tabs import adversarial
    from advdemo.translation import cyclegan

    spec = api_spec(client)
    rng = random.Random(0)
    lecture = Settings(mix="lecture")
    presets = {p.key: p for p in adversarial.PRESETS}
    seen = set()
    for _ in range(40):
        kwargs = load_test.make_attack(spec["/attack"], rng, lecture)
        matching = [
            key
            for key, p in presets.items()
            if all(kwargs[k] == v for k, v in p.values.items() if k != "image")
            and kwargs["image"]["path"].endswith(p["image"])
        ]
        assert len(matching) == 1, kwargs
        seen.add(matching[0])
    assert seen == set(load_test.LECTURE_PRESET_WEIGHTS)
    photos = {
        Path(load_test.make_translate(spec["/translate"], rng, lecture)["image"]["path"]).name
        for _ in range(40)
    }
    assert photos == set(cyclegan.EXAMPLES)
    # the long jobs of the lane check stay long, whatever the mix
    long_attack = load_test.make_attack(spec["/attack"], rng, lecture, steps=200)
    assert long_attack["steps"] == 200 and long_attack["method"] == "pgd"


def _heavy_result(mix: str, seconds: float, rss: float | None) -> load_test.LoadResult:
    server = [{"api": "attack", "queued": float(i), "wait": 0.0, "run": seconds} for i in range(20)]
    result = _result(server, 0.5)
    result.mix, result.peak_rss_mb = mix, rss
    return result


@pytest.mark.parametrize(
    ("mix", "seconds", "rss", "passes"),
    [
        ("lecture", 30.0, 2000.0, True),
        ("lecture", 90.0, 2000.0, False),  # the hall waited too long
        ("free", 90.0, 2000.0, True),  # reported, not judged
        ("lecture", 30.0, 3500.0, False),  # too much memory
    ],
)
def test_heavy_waits_are_judged_in_the_lecture_mix_and_memory_always(mix, seconds, rss, passes):
    rows = load_test.verdict_rows(_heavy_result(mix, seconds, rss), None)
    heavy = next(r for r in rows if r.figure.startswith("heavy") and "in the app" in r.figure)
    assert heavy.value == seconds and (heavy.ok is None) is (mix == "free")
    _, passed = load_test.report(_heavy_result(mix, seconds, rss), None)
    assert passed is passes


def test_the_peak_resident_memory_is_read_from_proc():
    if not sys.platform.startswith("linux"):
        pytest.skip("/proc is Linux's")
    assert 10 < load_test.peak_rss_mb(os.getpid()) < 100_000
    assert load_test.peak_rss_mb(2**22 + 12345) is None


@pytest.mark.slow
def test_a_lecture_hall_pressing_the_presets_gets_every_answer(app_url):
    result = load_test.run_load(
        app_url,
        users=8,
        requests_per_user=6,
        time_limit=150,
        think=0.05,
        settings=Settings(attack_steps=3, toy_gan_steps=100, mix="lecture"),
    )
    text, _ = load_test.report(result, None)
    print(text)
    assert not result.errors, "\n".join(f"{o.endpoint}: {o.error}" for o in result.errors[:10])
    assert result.lost == 0
