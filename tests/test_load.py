"""The load test and the soak, reduced, against the app launched in this process.

Fails on any error or lost request, on a slider move that waits for one user's long attack or
translation (an ordering check: the move must be answered while the long job still runs), and
on gross memory growth. Latency targets are checked by benchmarks/load_test.py, not here.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading

import pytest

from advdemo import ui
from benchmarks import load_test, soak
from benchmarks.load_test import MIX, SLIDER, Settings, api_spec

# Light settings: the point is many users at once, not long jobs.
CI_SETTINGS = Settings(
    attack_steps=3, long_attack_steps=40, toy_gan_steps=100, long_translate_side=384
)
# The pytest process also holds the clients; freed heap pages are handed back before each
# reading (malloc_trim), so what remains is memory still referenced.
CI_GROWTH_LIMIT_MB = 100.0


def _trim_heap() -> None:
    """glibc keeps freed pages; return them so RSS counts what is still in use."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: read RSS as it is
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def test_every_endpoint_of_the_mix_exists(client):
    """The load mix covers what a lecture hall does; none of it may be skipped silently."""
    names = api_spec(client)
    wanted = {SLIDER, *(name for name, _ in MIX)}
    assert wanted <= set(names), f"the app lacks {sorted(wanted - set(names))}"


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


def test_long_heavy_jobs_do_not_hold_up_sliders(app_url):
    """While one user's long attack (and largest translation) runs, another user's slider
    moves are answered before it ends: light work never queues behind the heavy lane."""
    freeze = load_test.freeze_check(app_url, moves=3, settings=CI_SETTINGS)
    assert freeze is not None, f"the app has no {SLIDER}"
    assert set(freeze.during) == {"/attack", "/translate"}
    assert not freeze.long_job_errors, freeze.long_job_errors
    for name, during in freeze.during.items():
        assert during, f"no slider move was answered while {name} ran: sliders wait for it"


def test_short_soak_keeps_memory_flat(app_url):
    result = soak.run_soak(
        app_url,
        os.getpid(),
        total=120,
        users=3,
        warmup=40,
        sample_every=20,
        time_limit=150,
        settings=CI_SETTINGS,
        settle=0.5,
        idle_window=1.0,
        before_reading=_trim_heap,
    )
    text, _ = soak.report(result, CI_GROWTH_LIMIT_MB)
    print(text)
    assert not result.errors, "\n".join(f"{o.endpoint}: {o.error}" for o in result.errors[:10])
    assert result.lost == 0
    assert result.growth_mb <= CI_GROWTH_LIMIT_MB, text


# --------------------------------------------------------------------------- ui.low_priority
# Heavy callbacks (ui.on_gpu off ZeroGPU) run in one low-priority thread so that a long attack
# or translation leaves the cores to sliders; these check the mechanics, the load test above
# checks the ordering through the app.


def test_low_priority_runs_in_the_niced_heavy_thread():
    def where():
        nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return threading.current_thread().name, nice

    name, nice = ui.low_priority(where)()
    assert name.startswith("advdemo-heavy")
    if sys.platform.startswith("linux"):
        assert nice >= ui.HEAVY_NICENESS
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < ui.HEAVY_NICENESS


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
