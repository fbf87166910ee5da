"""Where the app runs its work: light requests never wait for one user's long heavy job.

Checked on state and events, not on timings: the heavy job is held inside the heavy lane (its
library call blocks until the test lets it go) while a slider move is sent; the move must be
answered while the job is provably still running, and each ran where it should (the lane it
was queued in, the thread it ran on). On a loaded machine this takes longer; it cannot pass or
fail by how fast the machine is.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from advdemo import ui
from advdemo.adversarial import playground
from advdemo.core.cache import shared
from advdemo.core.errors import InputError
from advdemo.translation import cyclegan
from advdemo.ui import lanes

ASSETS = Path(__file__).resolve().parents[1] / "assets"
WAIT_S = 120  # only a bound for a broken app: the events below decide


def _lane(demo, api_name: str) -> str | None:
    (fn,) = [f for f in demo.fns.values() if f.api_name == api_name]
    return fn.concurrency_id


def test_every_heavy_endpoint_queues_in_the_heavy_lane_and_sliders_in_their_own(demo):
    heavy = {"attack", "translate", "arithmetic_invert", "eps_sweep"}
    present = {f.api_name for f in demo.fns.values()}
    assert {"attack", "translate", "generate"} <= present
    for name in heavy & present:
        assert _lane(demo, name) == ui.HEAVY_LANE["concurrency_id"], name
    assert _lane(demo, "generate") == ui.SLIDER_LANE["concurrency_id"]
    # Gradio's own limit is lifted off ZeroGPU: the fair lane (ui.lanes.FairLane) decides
    # what runs, one job per session, sessions in turn (tests/ui/test_lanes.py)
    assert ui.HEAVY_LANE["concurrency_limit"] == (None if lanes.spaces is None else 1)


def test_the_light_lanes_events_run_below_the_sliders_and_no_other(demo):
    """app.build_demo sent every light-lane event to the light threads, and only those."""
    light = [f for f in demo.fns.values() if f.concurrency_id == ui.LIGHT_LANE["concurrency_id"]]
    assert {"classify", "arithmetic", "interpolate", "truncation"} <= {f.api_name for f in light}
    assert all(getattr(f.fn, "below_sliders", False) for f in light)
    others = [f for f in demo.fns.values() if f not in light and f.fn is not None]
    assert not any(getattr(f.fn, "below_sliders", False) for f in others)
    assert ui.light_work_below_sliders(demo) == len(light)  # idempotent: wrapped once
    assert not getattr(light[0].fn.__wrapped__, "below_sliders", False)


def _held(monkeypatch, module, name: str):
    """Replace module.name by a call that records its thread, then blocks until released."""
    started, release, threads = threading.Event(), threading.Event(), []

    def held(*args, **kwargs):
        threads.append(threading.current_thread().name)
        started.set()
        if not release.wait(WAIT_S):
            raise RuntimeError("never released")
        raise InputError("released by the test")

    monkeypatch.setattr(module, name, held)
    return started, release, threads


@pytest.mark.slow
@pytest.mark.parametrize(
    ("api_name", "module", "held_call", "photo"),
    [
        ("/attack", playground, "attack_stages", "chelsea.png"),
        ("/translate", cyclegan, "translate", "rocket.jpg"),
    ],
)
def test_a_slider_move_is_answered_while_a_heavy_job_holds_its_lane(
    client, store, monkeypatch, api_name, module, held_call, photo
):
    from gradio_client import handle_file

    # an earlier test may have left this request's answer in the shared result cache, which
    # would then be served without entering the lane at all
    shared(store).clear()
    started, release, threads = _held(monkeypatch, module, held_call)
    job = client.submit(image=handle_file(str(ASSETS / photo)), api_name=api_name)
    try:
        assert started.wait(WAIT_S), f"{api_name} never started"
        # The heavy job is now inside its lane and cannot finish until released below.
        move = client.submit(seed=5, api_name="/generate")
        face, readouts = move.result(timeout=WAIT_S)  # a move stuck behind the job fails here
        assert Path(face).is_file() and readouts
        assert not job.done(), f"{api_name} finished before it was released"
    finally:
        release.set()
    with pytest.raises(Exception, match="released by the test"):
        job.result(timeout=WAIT_S)
    assert threads and all(t.startswith("advdemo-heavy") for t in threads), threads
