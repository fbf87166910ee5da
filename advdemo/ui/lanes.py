"""Where work runs: queue lanes (heavy, light, slider) and the one low-priority heavy thread.

On a ZeroGPU Space, `on_gpu` hands heavy callbacks to spaces.GPU instead.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from advdemo.models import runtime

try:  # Hugging Face Spaces install `spaces`; on a ZeroGPU Space, spaces.GPU lends a GPU per call
    import spaces
except ImportError:
    spaces = None


def on_gpu(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a heavy callback: spaces.GPU where the `spaces` package is importable (ZeroGPU lends
    a GPU per call), elsewhere run in the low-priority heavy thread (low_priority below)."""
    return low_priority(fn) if spaces is None else spaces.GPU(fn)


# ---------------------------------------------------------------- heavy work at low CPU priority
# The heavy lane runs one job at a time, but that job's torch threads still took both cores
# from the light lane. Measured with benchmarks/load_test.py on this 2-core machine: while one
# user's 200-step attack or 1024² translation ran, another user's slider p95 went from 0.2-0.3 s
# (idle) to 1.0-1.8 s; with heavy jobs in one thread at nice 15 (its OpenMP workers inherit
# it), it stayed at the idle figure (0.20 s during the attack, 0.22 s during the translation).
# With 30 users the light endpoints' p50 fell 4-5× (slider 2.2 s → 0.4 s) while attacks and
# translations, which show progress, took ~1.6× longer. Linux only (per-thread niceness).
HEAVY_NICENESS = runtime.BACKGROUND_NICENESS
_heavy_local = threading.local()


def _enter_heavy_thread() -> None:
    _heavy_local.inside = True
    runtime.lower_thread_priority(HEAVY_NICENESS)


_FINISHED = object()
_pool_lock = threading.Lock()
_pools: list[ThreadPoolExecutor] = []  # the one heavy thread's pool, made on first use


def _heavy_pool() -> ThreadPoolExecutor:
    """The pool of the one heavy thread, created by the first heavy job rather than at import
    (importing a module starts nothing)."""
    with _pool_lock:
        if not _pools:
            _pools.append(
                ThreadPoolExecutor(
                    1, thread_name_prefix="advdemo-heavy", initializer=_enter_heavy_thread
                )
            )
        return _pools[0]


def low_priority(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run `fn` (a function or a generator) in the one low-priority heavy thread, with the
    caller's context (Gradio's progress and warnings follow). Calls made from inside that thread
    run directly, so a heavy callback may call another."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            if getattr(_heavy_local, "inside", False):
                yield from fn(*args, **kwargs)
            else:
                yield from _iterate_in_heavy_thread(fn, args, kwargs)

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if getattr(_heavy_local, "inside", False):
            return fn(*args, **kwargs)
        call = contextvars.copy_context().run
        return _heavy_pool().submit(call, _then_release, fn, *args, **kwargs).result()

    return wrapper


def _then_release(fn: Callable[..., Any], *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    finally:
        runtime.release_freed_memory()  # a heavy job's freed pages go back to the system


def _iterate_in_heavy_thread(fn: Callable[..., Any], args: tuple, kwargs: dict):
    """Yield what generator `fn` yields, running it in the heavy thread. If the consumer stops
    early (the user left), the generator is closed there within half a second."""
    items: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                items.put(entry, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        generator = fn(*args, **kwargs)
        try:
            for item in generator:
                if not hand_over((True, item)):
                    return
        except BaseException as exc:
            hand_over((False, exc))
        else:
            hand_over((False, _FINISHED))
        finally:
            generator.close()
            runtime.release_freed_memory()

    _heavy_pool().submit(contextvars.copy_context().run, produce)
    try:
        while True:
            ok, value = items.get()
            if ok:
                yield value
            elif value is _FINISHED:
                return
            else:
                raise value
    finally:
        stop.set()


# Queue lanes. Heavy model work (attacks, CycleGAN, inversion) shares one lane so two such
# jobs never fight over the CPU's two cores; light work (a slider's 64×64 face) has its own
# lane and is never stuck behind a long attack.
HEAVY_LANE = {"concurrency_id": "heavy", "concurrency_limit": 1}
LIGHT_LANE = {"concurrency_id": "light", "concurrency_limit": 2}
# A face under a moving slider (~5 ms idle) has a lane of its own, so it never waits behind
# strips, grids and galleries (150-450 ms each in the app under the 30-user load test).
SLIDER_LANE = {"concurrency_id": "slider", "concurrency_limit": 2}
# Not batch=True: Gradio raises one error for a whole batch, so one user's bad value (a NaN
# through the API) would fail every slider batched with it; and with this lane the 30-user
# load test measured slider p95 150 ms inside the app, so batching has little left to win.
