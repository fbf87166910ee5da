"""How long each request took inside the app: its wait in Gradio's queue and its run.

The load test's simulated users are gradio_client instances sharing this machine's two cores
with the app; under load their own work (parsing each event stream, downloading and decoding
every output) adds hundreds of milliseconds to what they measure, more than the app spends
(measured: slider p50 ~360 ms at the clients against ~40 ms in the app). A student's browser
on their own laptop does not add that, so the load test also reads the app's own timing.

    python -m benchmarks.server_timing     # runs app.py's main() with timing installed

With ADVDEMO_EVENT_LOG=path set, SIGUSR1 writes the events recorded so far to that path as
JSON (and forgets them), so a load test can collect a phase's events from the app's process.
For an app in the load test's own process, install() and take() do the same directly.

A benchmark tool only: it wraps gradio.queueing.Queue.process_events (Gradio 6.31), which the
app itself never does.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

EVENTS_ENV = "ADVDEMO_EVENT_LOG"

_events: list[dict] = []
_lock = threading.Lock()


def install() -> None:
    """Record every processed event: api_name, when it was queued (epoch s), wait and run (s)."""
    from gradio import queueing

    original = queueing.Queue.process_events
    if getattr(original, "timed", False):
        return

    async def process_events(self, events, batch, begin_time, fn):
        started = time.monotonic()
        try:
            await original(self, events, batch, begin_time, fn)
        finally:
            finished = time.monotonic()
            now = time.time()
            with _lock:
                _events.extend(
                    {
                        "api": fn.api_name,
                        "queued": now - (finished - e.enqueue_time),
                        "wait": started - e.enqueue_time,
                        "run": finished - started,
                    }
                    for e in events
                )

    process_events.timed = True  # type: ignore[attr-defined]
    queueing.Queue.process_events = process_events


def take() -> list[dict]:
    """The events recorded since the last take()."""
    with _lock:
        taken = list(_events)
        _events.clear()
    return taken


def collect(pid: int, path: Path, timeout: float = 30.0) -> list[dict]:
    """Ask the app process `pid` (started by main() below) for its events."""
    path.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if path.exists():
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:
                pass  # still being written
        time.sleep(0.1)
    raise TimeoutError(f"the app (pid {pid}) did not write its events to {path}")


def main() -> None:
    install()
    target = os.environ.get(EVENTS_ENV)
    if target:

        def dump(*_args) -> None:
            staging = Path(f"{target}.tmp")
            staging.write_text(json.dumps(take()))
            staging.replace(target)

        signal.signal(signal.SIGUSR1, dump)
    import app

    app.main()


if __name__ == "__main__":
    main()
