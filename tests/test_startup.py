"""The app's first seconds: `python app.py` in a process of its own and, from the moment it
serves, every public endpoint called by several clients at once (issue #18).

The app starts its warm-up in the background as it launches: it loads the built-in models,
folds BatchNorm into both classifiers for the attacks, loads the latent tabs' directions and
compiles the CycleGAN fast path (20-70 s at low priority). Requests that arrive meanwhile must
not notice: once, a request failed within seconds of serving because the BatchNorm fold traced
a classifier with torch.fx, which patched torch.nn.Module.__call__ for the whole process.

Here CLIENTS gradio_client users start the moment the page answers 200 and, for LOAD_S
seconds, call every public api_name in turn with a small valid input (SMALL_INPUTS: a new
endpoint fails the coverage check until it gets one). Every request must be answered without
an error, and the app's stderr must hold no traceback. Loopback only; bounded: the app must
serve within START_TIMEOUT_S, requests still open DRAIN_S after the load window count as lost,
and the app's whole process group is stopped at the end whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from benchmarks.common import free_port, run_in_threads
from benchmarks.load_test import Settings, api_spec, check_loopback, make_client, request

ROOT = Path(__file__).resolve().parents[1]

CLIENTS = 4
LOAD_S = 20.0  # seconds of requests, from the moment the app serves
START_TIMEOUT_S = 240.0  # `python app.py` to the first 200 (imports and build: ~15-40 s here)
DRAIN_S = 120.0  # requests still open this long after the load window are lost
POLL_S = 0.1  # how often the page is polled while the app starts

CLASSIFIERS = ("efficientnet-lite0", "efficientnet-lite2")  # both get folded at warm-up
# Every public api_name, with what makes its request small (parameter -> value, or a tuple of
# values taken in turn); the rest comes from benchmarks.load_test's request makers, which give
# every parameter a valid value. A new public endpoint fails the coverage test until it has a
# row here; a renamed parameter fails the check that every override names a real one.
SMALL_INPUTS: dict[str, dict[str, object]] = {
    "/models": {},
    "/classify": {"model_name": CLASSIFIERS},
    "/attack": {"model_name": CLASSIFIERS, "steps": 2},
    "/eps_sweep": {"model_name": CLASSIFIERS},
    "/linearity": {"model_name": CLASSIFIERS, "eps_from_k": -1, "eps_to_k": 1},
    "/physical_world": {"steps": 2, "count": 2},
    "/translate": {"resolution": (128, 256)},
    "/toy_gan": {"steps": 50},
    "/generator_costs": {"steps": 50},
    "/gan2d": {"steps": 20, "loss": ("wgan_gp", "began")},
    "/arithmetic": {},
    "/arithmetic_invert": {"steps": 10},
    "/generate": {},
    "/interpolate": {"frames": 6},
    "/truncation": {"grid_size": 9},
    "/truncation_gif": {},
    "/defence_train": {"epochs": 1, "method": "standard"},
    "/robustness_curve": {"epochs": 1, "pgd_steps": 1},
    "/detector": {"epochs": 1},
    "/blackbox_attack": {"budget": 20, "victim": ("digits", "efficientnet-lite0")},
    "/transfer": {"substitutes": 1, "rounds": 1},
}
SETTINGS = Settings(attack_steps=2, toy_gan_steps=50, inversion_steps=10)
# What the app's stderr must not contain: a traceback (an unexpected exception in a request,
# the warm-up or a thread), or the gradient path falling back to the unfolded model.
FAILURE_MARKERS = ("Traceback", "could not fold", "warm-up failed")


@dataclass
class Calls:
    """What the clients saw, shared between their threads."""

    answered: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    endpoints: set[str] = field(default_factory=set)  # the public ones, as the clients see them
    sent: set[str] = field(default_factory=set)
    first_sent: float | None = None  # time.monotonic() of the first request
    lock: threading.Lock = field(default_factory=threading.Lock)


def small_request(spec, endpoint: str, rng: random.Random, turn: int) -> dict:
    kwargs = request(spec, endpoint, rng, SETTINGS)
    for name, value in SMALL_INPUTS[endpoint].items():
        kwargs[name] = value[turn % len(value)] if isinstance(value, tuple) else value
    return kwargs


def client_loop(
    url: str, user: int, load_end: float, hard_end: float, calls: Calls, downloads: Path
) -> None:
    """One client: connect, then call every public endpoint in turn (each client starting at
    another one) until the load window closes; then any endpoint no client has called yet."""
    rng = random.Random(user)
    try:
        client = make_client(url, str(downloads / f"client-{user}"))
        spec = api_spec(client)
    except Exception as exc:
        with calls.lock:
            calls.errors.append(f"client {user} could not connect: {type(exc).__name__}: {exc}")
        return
    with calls.lock:
        calls.endpoints |= set(spec)
    endpoints = sorted(set(spec) & set(SMALL_INPUTS))
    offset = user * len(endpoints) // CLIENTS  # the clients start on different endpoints
    turn = 0
    while True:
        with calls.lock:
            if time.monotonic() < load_end:
                endpoint = endpoints[(offset + turn) % len(endpoints)]
            else:  # past the window, only what nobody has sent yet (a slow machine)
                unsent = sorted(set(endpoints) - calls.sent)
                if not unsent:
                    break
                endpoint = unsent[0]
            calls.sent.add(endpoint)
            calls.first_sent = calls.first_sent or time.monotonic()
        kwargs = small_request(spec, endpoint, rng, turn // len(endpoints) + user)
        turn += 1
        job = client.submit(api_name=endpoint, **kwargs)
        try:
            job.result(timeout=max(1.0, hard_end - time.monotonic()))
        except TimeoutError:
            with calls.lock:
                calls.lost.append(endpoint)
            job.cancel()
            break
        except Exception as exc:
            with calls.lock:
                calls.errors.append(f"{endpoint}: {type(exc).__name__}: {exc}")
            continue
        with calls.lock:
            calls.answered[endpoint] = calls.answered.get(endpoint, 0) + 1
    with contextlib.suppress(Exception):
        client.close()


def wait_until_serving(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> float:
    """Poll the page every POLL_S until it answers 200; time.monotonic() when it did."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if has_exited(proc):
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the app exited before serving; its stderr ends:\n{tail}")
        try:
            with direct.open(url + "/", timeout=5) as r:
                if r.status == 200:
                    return time.monotonic()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(POLL_S)
    raise TimeoutError(f"the app did not serve within {timeout:.0f} s")


def has_exited(proc: subprocess.Popen) -> bool:
    """Whether the app has exited, without reaping it: until stop() reaps it, its id (and so
    its process group's) cannot be given to another process."""
    return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def stop(proc: subprocess.Popen) -> None:
    """Stop the app and whatever it started (its own process group: compile workers too)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while not has_exited(proc) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):  # the leader is not reaped yet: still ours
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def warm_up_note(log: str, served_at: datetime) -> str:
    """When the warm-up's model loading finished, relative to the moment the app served."""
    match = re.search(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \S+ warm-up: ", log, re.M)
    if match is None:
        return "the warm-up's models were not loaded by the end of the load"
    done = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
    return f"warm-up models loaded {(done - served_at).total_seconds():+.1f} s after serving"


def test_every_small_input_names_real_parameters(client):
    """The overrides above must fit the app's endpoints (checked in-process, cheaply)."""
    spec = api_spec(client)
    for endpoint, overrides in SMALL_INPUTS.items():
        if endpoint in spec:
            names = {p.name for p in spec[endpoint]}
            assert set(overrides) <= names, f"{endpoint} has no {set(overrides) - names}"


def test_small_inputs_cover_every_public_endpoint(client):
    """A new public endpoint must get a row in SMALL_INPUTS, so the start-up test calls it."""
    assert set(api_spec(client)) == set(SMALL_INPUTS)


@pytest.mark.slow
def test_requests_from_the_first_second_after_start_all_succeed(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    check_loopback(url)
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
        # The app is stopped while it compiles the CycleGAN fast path; a kernel cut off then
        # stays in the inductor cache as an empty .so ("file too short" at the next start). Its
        # own cache keeps that from other runs and keeps their files from this one.
        "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor"),
        "NO_PROXY": "localhost,127.0.0.1",
        "no_proxy": "localhost,127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }
    stderr_path, stdout_path = tmp_path / "app.stderr", tmp_path / "app.stdout"
    calls = Calls()
    with open(stderr_path, "w") as err, open(stdout_path, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group, stopped as a whole below
        )
        try:
            served = wait_until_serving(url, proc, START_TIMEOUT_S, stderr_path)
            served_at = datetime.now()
            load_end, hard_end = served + LOAD_S, served + LOAD_S + DRAIN_S
            hung = run_in_threads(
                client_loop,
                [(url, user, load_end, hard_end, calls, tmp_path) for user in range(CLIENTS)],
                "startup-client",
                hard_end,
                grace=10,
            )
            exited = has_exited(proc)
            log = stderr_path.read_text(errors="replace")  # before stopping: no shutdown noise
        finally:
            stop(proc)

    first = calls.first_sent - served if calls.first_sent else float("nan")
    print(
        f"first request {first:.1f} s after serving; {warm_up_note(log, served_at)}; "
        f"answered {sum(calls.answered.values())}: {dict(sorted(calls.answered.items()))}"
    )
    assert not exited, f"the app exited during the load (code {proc.returncode})"
    assert not hung, f"clients still waiting at the hard stop: {hung}"
    assert calls.endpoints == set(SMALL_INPUTS), "SMALL_INPUTS must cover every public endpoint"
    errors, lost = list(calls.errors), list(calls.lost)
    assert not errors, f"{len(errors)} error(s):\n" + "\n".join(errors[:10])
    assert not lost, f"unanswered within {DRAIN_S:.0f} s of the load's end: {lost}"
    assert set(calls.answered) == set(SMALL_INPUTS), (
        f"never answered: {sorted(set(SMALL_INPUTS) - set(calls.answered))}"
    )
    found = [m for m in FAILURE_MARKERS if m in log]
    excerpt = log[max(0, log.find(found[0]) - 200) :][:4000] if found else ""
    assert not found, f"the app's stderr has {found}:\n{excerpt}"
