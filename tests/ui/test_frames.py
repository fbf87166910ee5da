"""advdemo.ui.frames: the page's frame loop reaches only the run its token names."""

from __future__ import annotations

import asyncio
import gc
import threading
from concurrent.futures import ThreadPoolExecutor

from advdemo.ui import frames


class Run:
    def __init__(self) -> None:
        self.frames = 0


def call(coroutine):
    """Run a coroutine to its end off this thread (playwright's tests leave an event loop
    running in it)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def frame(run: Run) -> dict:
    run.frames += 1
    return {"playing": True, "pictures": {"x": f"<img data-step='{run.frames}'>"}, "sync": False}


def test_a_token_names_one_run_and_nothing_else_plays():
    run, other = Run(), Run()
    token = frames.register(run)
    assert frames.register(run) == token != frames.register(other)  # stable, and per run
    assert frames.marks(run, True) == {"token": token, "playing": "1"}
    assert frames.marks(run, False) == {"token": token}
    next_frame = frames.server_function(frame)
    assert call(next_frame(token))["pictures"] == {"x": "<img data-step='1'>"}
    assert run.frames == 1 and other.frames == 0
    idle = {"playing": False, "pictures": {}, "sync": False}
    for bad in (None, 3, "", "x" * 32, token[:-1], [token], {"token": token}):
        assert call(next_frame(bad)) == idle  # unknown or malformed: nothing runs
    assert run.frames == 1


def test_a_run_nobody_holds_any_more_is_forgotten():
    token = frames.register(Run())
    gc.collect()
    assert frames.lookup(token) is None


def test_one_frame_at_a_time_per_run_however_many_requests_come():
    run, started, release = Run(), threading.Event(), threading.Event()

    def slow(run: Run) -> dict:
        started.set()
        release.wait(10)
        return frame(run)

    token = frames.register(run)
    next_frame = frames.server_function(slow)

    async def two_at_once():
        first = asyncio.ensure_future(next_frame(token))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        second = await next_frame(token)  # while the first is being made
        release.set()
        return await first, second

    first, second = call(two_at_once())
    assert first["pictures"] and second == {"playing": True, "pictures": {}, "sync": False}
    assert run.frames == 1
