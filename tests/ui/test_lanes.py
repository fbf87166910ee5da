"""The fair heavy lane (advdemo.ui.lanes.FairLane and `heavy`): one job per session at a time,
sessions in turn, a new click replacing the same session's queued one, the place in line and
an estimate while waiting. Asserted on the order jobs ran and on their states, never on time."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio.context import LocalContext

from advdemo.ui import lanes
from advdemo.ui.lanes import REPLACED, FairLane

WAIT = 10  # seconds an event may take before the test fails instead of hanging


def blocker(lane: FairLane, session: str = "blocker"):
    """A running job that holds the (single) worker until released."""
    started, release = threading.Event(), threading.Event()

    def hold():
        started.set()
        release.wait(WAIT)
        return "held"

    job = lane.submit(session, "hold", hold, "hold")
    assert started.wait(WAIT)
    return job, release


def job(lane: FairLane, session: str, kind: str, label: str):
    return lane.submit(session, kind, lambda: label, label)


def started(lane: FairLane) -> list[str]:
    return [label for event, _, label in lane.log if event == "started"]


def test_sessions_take_turns_and_a_new_click_replaces_the_queued_one():
    lane = FairLane(workers=1)
    running, release = blocker(lane, "A")
    a2 = job(lane, "A", "attack", "A attack 1")
    b1 = job(lane, "B", "attack", "B attack")
    b2 = job(lane, "B", "sweep", "B sweep")
    c1 = job(lane, "C", "translate", "C translate")
    a3 = job(lane, "A", "attack", "A attack 2")  # A clicked again: replaces A attack 1
    assert a2.state == "replaced" and a2.future.result(WAIT) is REPLACED
    assert [j.label for j in lane.order()] == ["A attack 2", "B attack", "C translate", "B sweep"]
    release.set()
    assert [j.future.result(WAIT) for j in (a3, b1, c1, b2)] == [
        "A attack 2",
        "B attack",
        "C translate",
        "B sweep",
    ]
    assert running.future.result(WAIT) == "held"
    assert started(lane) == ["hold", "A attack 2", "B attack", "C translate", "B sweep"]
    assert ("replaced", "A", "A attack 1") in lane.log


def test_a_session_with_many_jobs_cannot_starve_the_others():
    lane = FairLane(workers=1)
    _, release = blocker(lane, "greedy")
    mine = [job(lane, "greedy", f"kind {k}", f"greedy {k}") for k in range(10)]
    others = [job(lane, f"student {k}", "attack", f"student {k}") for k in range(3)]
    release.set()
    for j in mine + others:
        j.future.result(WAIT)
    order = started(lane)[1:]
    # the greedy session gets one turn, then every student who was waiting gets one
    assert order[:4] == ["greedy 0", "student 0", "student 1", "student 2"]
    assert order[4:] == [f"greedy {k}" for k in range(1, 10)]


def test_one_job_per_session_at_a_time_even_with_two_workers():
    lane = FairLane(workers=2)
    running, release = blocker(lane, "A")
    second = job(lane, "A", "other", "A other")
    other = job(lane, "B", "attack", "B attack")
    assert other.future.result(WAIT) == "B attack"  # the free worker serves B ...
    assert second.state == "queued"  # ... and not A's second job while A's first runs
    release.set()
    assert second.future.result(WAIT) == "A other"
    assert running.future.result(WAIT) == "held"


def test_the_place_in_line_and_the_estimate_grow_along_the_line():
    lane = FairLane(workers=1)
    _, release = blocker(lane, "A")
    waiting = [job(lane, f"S{k}", "attack", f"S{k}") for k in range(4)]
    places = [lane.position(j) for j in waiting]
    assert [p[0] for p in places] == [0, 1, 2, 3]
    estimates = [p[1] for p in places]
    assert estimates == sorted(estimates) and estimates[1] > estimates[0]
    assert lanes.waiting_text(*places[2]).startswith("Waiting in the heavy lane: 2 jobs before")
    assert lanes.waiting_text(0, 3.2) == "Yours is next in the heavy lane: about 3 s"
    assert lane.cancel(waiting[1]) and waiting[1].future.cancelled()
    assert lane.position(waiting[2])[0] == 1  # the one who left no longer counts
    release.set()
    waiting[3].future.result(WAIT)
    assert lane.position(waiting[3]) is None and not lane.cancel(waiting[3])
    assert "S1" not in started(lane)


def test_errors_reach_their_caller_and_the_worker_goes_on():
    lane = FairLane(workers=1)

    def fail():
        raise ValueError("bad photo")

    with pytest.raises(ValueError, match="bad photo"):
        lane.submit("A", "attack", fail).future.result(WAIT)
    assert job(lane, "A", "attack", "next").future.result(WAIT) == "next"


def in_session(session: str, coroutine_fn, *args):
    """Run an async callback as Gradio would for a user of `session`."""

    async def main():
        LocalContext.request.set(SimpleNamespace(session_hash=session))
        return await coroutine_fn(*args)

    # in a thread of its own: after a browser test, playwright's sync API leaves an event loop
    # running in the main thread, where asyncio.run refuses to start another
    result: dict = {}

    def run():
        try:
            result["value"] = contextvars.copy_context().run(asyncio.run, main())
        except BaseException as exc:  # handed to the caller below
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def test_heavy_callbacks_run_in_the_lane_and_a_replaced_one_leaves_its_outputs():
    lane = FairLane(workers=1)
    _, release = blocker(lane, "other user")
    where = []

    def attack(x):
        where.append(threading.current_thread().name)
        return x * 2

    callback = lanes.heavy(attack, lane)
    assert asyncio.iscoroutinefunction(callback) and callback.__wrapped__ is attack
    results = {}

    def click(name, x):
        results[name] = in_session("student", callback, x)

    first = threading.Thread(target=click, args=("first", 1))
    first.start()
    while not lane.order():
        threading.Event().wait(0.01)
    second = threading.Thread(target=click, args=("second", 2))
    second.start()
    while len([e for e in lane.log if e[0] == "replaced"]) < 1:
        threading.Event().wait(0.01)
    release.set()
    first.join(WAIT)
    second.join(WAIT)
    assert results == {"first": gr.skip(), "second": 4}
    assert where == ["advdemo-heavy-0"]


def test_heavy_generators_stream_every_item_in_order():
    lane = FairLane(workers=1)

    def frames(n):
        yield from range(n)

    stream = lanes.heavy(frames, lane)

    async def collect():
        return [item async for item in stream(5)]

    assert in_session("s", collect) == [0, 1, 2, 3, 4]

    def broken():
        yield "first"
        raise RuntimeError("mid-stream")

    got = []

    async def collect_broken():
        async for item in lanes.heavy(broken, lane)():
            got.append(item)

    with pytest.raises(RuntimeError, match="mid-stream"):
        in_session("s", collect_broken)
    assert got == ["first"]


def test_an_answer_already_known_skips_the_queue():
    """A kept (or in-flight) result costs no worker: it is served while the lane is busy."""
    lane = FairLane(workers=1)
    _, release = blocker(lane, "lecturer")
    callback = lanes.heavy(lambda x: x + 1, lane, ready=lambda x: x == 1)
    try:
        assert in_session("student", callback, 1) == 2  # answered though the worker is busy
        assert [label for event, _, label in lane.log if event == "queued"] == ["hold"]
    finally:
        release.set()
    assert in_session("student", callback, 5) == 6  # unknown: through the lane
    assert len([e for e in lane.log if e[0] == "queued"]) == 2


def test_a_callback_served_by_remote_replicas_does_not_wait_for_the_local_workers(monkeypatch):
    """With the Ray backend, ui.bind marks what the replicas run (`runs_remotely`): those calls
    go straight on (the replicas queue them), so a busy local worker cannot hold them up, while
    a callback run here still goes through the lane."""
    lane = FairLane(workers=1)
    monkeypatch.setattr(lanes, "heavy_lane", lambda: lane)
    monkeypatch.setattr(lanes, "spaces", None)
    _, release = blocker(lane, "lecturer")

    def remote(x):
        return x * 3

    remote.runs_remotely = True
    try:
        assert in_session("student", lanes.on_gpu(remote), 2) == 6  # while the worker is busy
        assert [label for event, _, label in lane.log if event == "queued"] == ["hold"]
    finally:
        release.set()
    assert in_session("student", lanes.on_gpu(lambda x: x + 1), 1) == 2
    assert len([e for e in lane.log if e[0] == "queued"]) == 2
