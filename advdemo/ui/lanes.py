"""Where work runs: queue lanes (heavy, light, slider), the fair heavy lane and its
low-priority worker(s), and `low_priority` (one niced thread for work outside the lane).

Heavy callbacks are wired as `on_gpu(...)`: the fair heavy lane (`heavy`, `FairLane`) here; on
a ZeroGPU Space, spaces.GPU instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import os
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from advdemo.models import runtime
from advdemo.ui.sessions import session_hash

try:  # Hugging Face Spaces install `spaces`; on a ZeroGPU Space, spaces.GPU lends a GPU per call
    import spaces
except ImportError:
    spaces = None


def on_gpu(fn: Callable[..., Any], *, ready: Callable[..., bool] | None = None):
    """Mark a heavy callback: spaces.GPU where the `spaces` package is importable (ZeroGPU lends
    a GPU per call), elsewhere the fair heavy lane (`heavy` below: one job per session at a
    time, sessions in turn, low CPU priority, the queue position shown while waiting).
    A callback that ui.bind sends to a remote backend (Ray Serve replicas, `runs_remotely`)
    skips the local workers: the replicas queue and run it, so waiting here in turn would only
    let one heavy job at a time reach however many replicas there are."""
    if getattr(fn, "runs_remotely", False):
        return heavy(fn, ready=_always)
    return heavy(fn, ready=ready) if spaces is None else spaces.GPU(fn)


def _always(*args: Any, **kwargs: Any) -> bool:
    return True


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
                yield from _iterate_in(_heavy_pool(), fn, args, kwargs)

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


def _iterate_in(
    pool: ThreadPoolExecutor, fn: Callable[..., Any], args: tuple, kwargs: dict, release=True
):
    """Yield what generator `fn` yields, running it in `pool` (the heavy thread, or the light
    threads without `release`). If the consumer stops early (the user left), the generator is
    closed there within half a second."""
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
            if release:
                runtime.release_freed_memory()

    pool.submit(contextvars.copy_context().run, produce)
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


# Queue lanes. Heavy model work (attacks, CycleGAN, inversion) goes to Gradio's "heavy" lane
# without a limit: Gradio hands every such event on at once, to `heavy` below, which waits
# without a thread and runs the jobs in its own heavy worker(s), one per session at a time and
# sessions in turn (Gradio's own queue is first come, first served: one student's ten clicks
# would hold the other 99 up). Light work (a slider's 64×64 face) has its own lane and is
# never stuck behind a long attack.
# On ZeroGPU, spaces.GPU runs the callbacks (in Gradio's threads): one at a time, as before.
HEAVY_LANE = {"concurrency_id": "heavy", "concurrency_limit": None if spaces is None else 1}
LIGHT_LANE = {"concurrency_id": "light", "concurrency_limit": 2}
# A face under a moving slider (~5 ms idle) has a lane of its own, so it never waits behind
# strips, grids and galleries (150-450 ms each in the app under the 30-user load test).
SLIDER_LANE = {"concurrency_id": "slider", "concurrency_limit": 2}
# Not batch=True: Gradio raises one error for a whole batch, so one user's bad value (a NaN
# through the API) would fail every slider batched with it; and with this lane the 30-user
# load test measured slider p95 150 ms inside the app, so batching has little left to win.


# ---------------------------------------------------------------- light work below sliders
# The light lane's strips, grids, classifications and interpolations (100-800 ms each under
# load) ran at the sliders' priority, in Gradio's threads: with 100 users of the free mix the
# two shared the cores and a slider's 5 ms face took 314 ms (p50) to 1.8 s (p95) to run in the
# app. Light work now runs in LIGHT_WORKERS threads of its own at LIGHT_NICENESS, between the
# sliders (0) and heavy work (HEAVY_NICENESS): when both wait for a core, the slider gets it.
LIGHT_NICENESS = 5
LIGHT_WORKERS = LIGHT_LANE["concurrency_limit"]  # as many as the lane lets in at once
_light_pools: list[ThreadPoolExecutor] = []


def _light_pool() -> ThreadPoolExecutor:
    with _pool_lock:
        if not _light_pools:
            _light_pools.append(
                ThreadPoolExecutor(
                    LIGHT_WORKERS,
                    thread_name_prefix="advdemo-light",
                    initializer=runtime.lower_thread_priority,
                    initargs=(LIGHT_NICENESS,),
                )
            )
        return _light_pools[0]


def below_sliders(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run `fn` (a function or a generator) in a light thread, with the caller's context
    (Gradio's progress and warnings follow). Coroutines are left as they are."""
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        return fn
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            yield from _iterate_in(_light_pool(), fn, args, kwargs, release=False)

        gen_wrapper.below_sliders = True  # type: ignore[attr-defined]
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return _light_pool().submit(contextvars.copy_context().run, fn, *args, **kwargs).result()

    wrapper.below_sliders = True  # type: ignore[attr-defined]
    return wrapper


def light_work_below_sliders(blocks: gr.Blocks) -> int:
    """Send every event of the light lane in `blocks` to the light threads (idempotent);
    returns how many events that is. Called once the tabs are built (app.build_demo)."""
    moved = 0
    for block_fn in blocks.fns.values():
        if block_fn.concurrency_id != LIGHT_LANE["concurrency_id"] or block_fn.fn is None:
            continue
        if not getattr(block_fn.fn, "below_sliders", False):
            block_fn.fn = below_sliders(block_fn.fn)
        moved += 1
    return moved


# ---------------------------------------------------------------- the fair heavy lane
# Gradio's queue serves a lane first come, first served: in a lecture one student pressing
# Attack ten times put ten jobs ahead of everyone after them, and a hundred attacks ran one by
# one (the 100-user load test waited p95 229 s). Here every session has at most one job
# running, a session's new job replaces its own queued one of the same kind (the click the
# user no longer wants), and sessions take turns; a waiting user sees their place and an
# estimate. Waiting costs no thread: the endpoint is async until its job runs in a worker.

REPLACED = object()  # what a job that a newer one of its session took the place of returns
HEAVY_WORKERS_ENV = "ADVDEMO_HEAVY_WORKERS"
# One worker at two threads, or two at one thread each? Measured on this 2-core Intel Xeon
# while other jobs shared it (load average 30): 8 PGD-10 attacks on the cat took 486 s with
# one two-thread worker and 44 s with two one-thread workers (11× the throughput). Two OpenMP
# threads wait for each other at every barrier; when either is descheduled (by the sliders, by
# the other user's job, by anything else on the machine) both stall. One thread per job never
# waits for a partner, and two jobs use both cores. Each job runs at one thread (its own
# OpenMP setting, runtime.single_thread), at low priority, so sliders still come first.
DEFAULT_HEAVY_WORKERS = 2
FIRST_GUESS_S = 2.0  # a kind of job's duration before one has been measured
POLL_S = 0.5  # how often a waiting user's place in line is refreshed
LOG_LENGTH = 2000


@dataclass(eq=False)
class Job:
    """One heavy call: whose it is, what kind (which endpoint), and how it ends."""

    session: str
    kind: str
    call: Callable[[], Any]
    label: str
    future: Future = field(default_factory=Future)
    state: str = "queued"  # queued, running, done, replaced, cancelled
    started: float = 0.0


class FairLane:
    """Heavy jobs of many sessions on `workers` threads at low priority: one job per session at
    a time, sessions in turn (round robin), a session's new job of a kind replacing its queued
    one of that kind in its place in line. `log` keeps (event, session, label) in order."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, int(workers))
        self._cond = threading.Condition()
        self._queues: dict[str, list[Job]] = {}  # session -> its queued jobs, oldest first
        self._turns: deque[str] = deque()  # sessions with queued jobs, next turn first
        self._busy: set[str] = set()  # sessions whose job is running
        self._running: list[Job] = []
        self._seconds: dict[str, float] = {}  # kind -> smoothed run time
        self._threads: list[threading.Thread] = []
        self.log: deque[tuple[str, str, str]] = deque(maxlen=LOG_LENGTH)

    # ------------------------------------------------------------ submitting
    def submit(self, session: str, kind: str, call: Callable[[], Any], label: str = "") -> Job:
        job = Job(session, kind, call, label or kind)
        with self._cond:
            line = self._queues.setdefault(session, [])
            old = next((j for j in line if j.kind == kind), None)
            if old is None:
                line.append(job)
            else:
                line[line.index(old)] = job  # the newer click keeps the older one's place
                old.state = "replaced"
                self.log.append(("replaced", old.session, old.label))
            if session not in self._turns:
                self._turns.append(session)
            self.log.append(("queued", session, job.label))
            while len(self._threads) < self.workers:
                thread = threading.Thread(
                    target=self._work, name=f"advdemo-heavy-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._cond.notify()
        if old is not None:
            old.future.set_result(REPLACED)
        return job

    def cancel(self, job: Job) -> bool:
        """Take a queued job out of line (its user left); False once it runs or ran."""
        with self._cond:
            if job.state != "queued":
                return False
            self._drop(job)
            job.state = "cancelled"
            self.log.append(("cancelled", job.session, job.label))
        job.future.cancel()
        return True

    # ------------------------------------------------------------ where a job stands
    def order(self) -> list[Job]:
        """The queued jobs in the order they will start: one per session per turn."""
        with self._cond:
            return self._order()

    def position(self, job: Job) -> tuple[int, float] | None:
        """(jobs that start before `job`, estimated seconds until it starts), or None once it
        is no longer waiting. The estimate: the running jobs' expected remainder plus the
        expected run times of the jobs ahead (per kind, as measured here), over the workers."""
        with self._cond:
            if job.state != "queued":
                return None
            order = self._order()
            ahead = order[: order.index(job)]
            now = time.monotonic()
            left = sum(max(0.0, self._expected(j.kind) - (now - j.started)) for j in self._running)
            work = left + sum(self._expected(j.kind) for j in ahead)
            return len(ahead), work / self.workers

    def _order(self) -> list[Job]:
        queues = [list(self._queues[s]) for s in self._turns]
        order: list[Job] = []
        while any(queues):
            for line in queues:
                if line:
                    order.append(line.pop(0))
        return order

    def _expected(self, kind: str) -> float:
        return self._seconds.get(kind, FIRST_GUESS_S)

    # ------------------------------------------------------------ running
    def _next(self) -> Job | None:
        for session in self._turns:
            if session not in self._busy:
                job = self._queues[session][0]
                self._drop(job)
                return job
        return None

    def _drop(self, job: Job) -> None:
        line = self._queues[job.session]
        line.remove(job)
        self._turns.remove(job.session)
        if line:
            self._turns.append(job.session)  # its next job waits for the others' turns
        else:
            del self._queues[job.session]

    def _work(self) -> None:
        _enter_heavy_thread()
        threads = runtime.single_thread if self.workers > 1 else contextlib.nullcontext
        while True:
            with self._cond:
                job = self._next()
                while job is None:
                    self._cond.wait()
                    job = self._next()
                job.state, job.started = "running", time.monotonic()
                self._busy.add(job.session)
                self._running.append(job)
                self.log.append(("started", job.session, job.label))
            job.future.set_running_or_notify_cancel()
            try:
                with threads():
                    result, error = job.call(), None
            except BaseException as exc:
                result, error = None, exc
            finally:
                runtime.release_freed_memory()
            with self._cond:
                took = time.monotonic() - job.started
                before = self._seconds.get(job.kind)
                self._seconds[job.kind] = took if before is None else 0.7 * before + 0.3 * took
                self._busy.discard(job.session)
                self._running.remove(job)
                job.state = "done"
                self.log.append(("finished", job.session, job.label))
                self._cond.notify_all()
            if error is None:
                job.future.set_result(result)
            else:
                job.future.set_exception(error)


_lanes: dict[str, FairLane] = {}


def heavy_lane() -> FairLane:
    """The app's one fair heavy lane (made on first use): $ADVDEMO_HEAVY_WORKERS workers, else
    DEFAULT_HEAVY_WORKERS."""
    with _pool_lock:
        if "heavy" not in _lanes:
            raw = os.environ.get(HEAVY_WORKERS_ENV, "").strip()
            workers = int(raw) if raw.isdigit() and 1 <= int(raw) <= 8 else DEFAULT_HEAVY_WORKERS
            _lanes["heavy"] = FairLane(workers)
        return _lanes["heavy"]


def _session() -> str:
    """The Gradio session of the event being handled (each browser tab, each gradio_client
    Client has its own); a call outside any session is a session of its own."""
    session = session_hash()
    return str(session) if session else f"anonymous-{uuid.uuid4().hex}"


def waiting_text(ahead: int, seconds: float) -> str:
    when = f"about {seconds:.0f} s" if seconds >= 1 else "in a moment"
    if ahead == 0:
        return f"Yours is next in the heavy lane: {when}"
    jobs = "job" if ahead == 1 else "jobs"
    return f"Waiting in the heavy lane: {ahead} {jobs} before yours (users take turns), {when}"


def heavy(
    fn: Callable[..., Any],
    lane: FairLane | None = None,
    *,
    ready: Callable[..., bool] | None = None,
) -> Callable[..., Any]:
    """`fn` (a function or a generator) as an async Gradio callback whose work runs in the fair
    heavy lane (`lane`, else the app's). While it waits, the user's progress line shows their
    place and an estimate; a job replaced by the same session's newer one leaves the outputs as
    they are (gr.skip()). `ready(*args, **kwargs)`, if given, says whether the answer is
    already known (kept, or being computed for someone else): then `fn` runs at once in a
    thread of its own, and a hundred presses of one preset do not queue for the workers."""
    kind = f"{getattr(fn, '__qualname__', 'job')}#{uuid.uuid4().hex[:8]}"
    label = getattr(fn, "__name__", "job")

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        async def stream(*args, **kwargs):
            if await _known(ready, args, kwargs):
                for item in await _in_bypass_thread(lambda: list(fn(*args, **kwargs))):
                    yield item
                return
            async for item in _stream(lane or heavy_lane(), kind, label, fn, args, kwargs):
                yield item

        return stream

    @functools.wraps(fn)
    async def call(*args, **kwargs):
        if await _known(ready, args, kwargs):
            return await _in_bypass_thread(functools.partial(fn, *args, **kwargs))
        the_lane = lane or heavy_lane()
        run = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        job = the_lane.submit(_session(), kind, run, label)
        done = asyncio.wrap_future(job.future)
        try:
            while not done.done():
                _show_place(the_lane, job)
                await asyncio.wait({done}, timeout=POLL_S)
        except asyncio.CancelledError:
            the_lane.cancel(job)
            raise
        result = done.result()
        return gr.skip() if result is REPLACED else result

    return call


_bypass: list[ThreadPoolExecutor] = []


async def _in_bypass_thread(fn: Callable[[], Any]) -> Any:
    """Run `fn` in the pool of known answers (made on first use): many threads, since most
    of them only wait for a computation another request started (asyncio's default pool has
    six here, and requests waiting there held up the cache hits behind them)."""
    with _pool_lock:
        if not _bypass:
            _bypass.append(ThreadPoolExecutor(64, thread_name_prefix="advdemo-known"))
    return await asyncio.get_running_loop().run_in_executor(_bypass[0], _context_call(fn))


async def _known(ready, args, kwargs) -> bool:
    if ready is None:
        return False
    try:
        return bool(await _in_bypass_thread(functools.partial(ready, *args, **kwargs)))
    except Exception:  # a bad input: the lane's run reports it as the endpoint does
        return False


def _context_call(fn: Callable[[], Any]) -> Callable[[], Any]:
    return functools.partial(contextvars.copy_context().run, fn)


def _show_place(lane: FairLane, job: Job) -> None:
    place = lane.position(job)
    if place is not None:
        gr.Progress()(0.0, desc=waiting_text(*place))  # a level: without one, no text is shown


async def _stream(lane: FairLane, kind: str, label: str, fn, args, kwargs):
    """Run generator `fn` as one job of `lane`, yielding its items as they come."""
    loop = asyncio.get_running_loop()
    items: asyncio.Queue = asyncio.Queue()
    abandoned = threading.Event()

    def produce() -> None:
        generator = fn(*args, **kwargs)
        try:
            for item in generator:
                loop.call_soon_threadsafe(items.put_nowait, item)
                if abandoned.is_set():
                    return
        finally:
            generator.close()

    run = functools.partial(contextvars.copy_context().run, produce)
    job = lane.submit(_session(), kind, run, label)
    done = asyncio.wrap_future(job.future)
    try:
        while True:
            _show_place(lane, job)
            getter = asyncio.ensure_future(items.get())
            await asyncio.wait({getter, done}, timeout=POLL_S, return_when="FIRST_COMPLETED")
            if not getter.done():
                getter.cancel()
            elif not getter.cancelled():
                yield getter.result()
                continue
            if done.done():
                while not items.empty():  # what it yielded before it ended
                    yield items.get_nowait()
                if done.result() is REPLACED:  # raises the job's error, if it failed
                    yield gr.skip()
                return
    finally:
        if not done.done():  # the user left, or Gradio cancelled the event
            abandoned.set()
            lane.cancel(job)
