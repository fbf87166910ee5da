"""Soak: many mixed requests against the app alone in its process, and its memory meanwhile.

The app runs as `python app.py` (GRADIO_SERVER_PORT set to a free loopback port), so the RSS
read from /proc/<pid>/status is the server's alone. A few users send requests drawn from every
public endpoint (weights in SOAK_WEIGHTS; an endpoint not listed gets weight 1, so a new one is
soaked too), each user opening a new session every so often as visitors of a Space would.
RSS is sampled every few requests; the first requests are warm-up (models loaded, caches and
allocator pools filled) and growth is measured from the end of warm-up to the end.

PASS needs growth ≤ 50 MB after warm-up, 0 errors and none lost.

    python -m benchmarks.soak                        # 1000 requests, 4 users
    python -m benchmarks.soak --requests 300 --users 2
    python -m benchmarks.soak --url http://127.0.0.1:7860 --pid 12345   # an app already running
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import Row, format_table
from benchmarks.load_test import (
    Outcome,
    Settings,
    Spec,
    api_spec,
    check_loopback,
    make_client,
    percentile,
    request,
    subprocess_app,
    timed_call,
    wait_until_idle,
)

GROWTH_LIMIT_MB = 50.0
# Relative frequency of each endpoint in the soak (slider moves dominate a lecture).
SOAK_WEIGHTS = {
    "/generate": 8,
    "/classify": 3,
    "/interpolate": 2,
    "/truncation": 2,
    "/arithmetic": 2,
    "/toy_gan": 2,
    "/attack": 1,
    "/translate": 1,
    "/arithmetic_invert": 1,
    "/models": 1,
}


def rss_mb(pid: int) -> float:
    """Resident set size of process `pid` in MB, from /proc (psutil is not installed)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def soak_sequence(spec: Spec, total: int, seed: int = 0) -> list[str]:
    """`total` endpoint names in a shuffled order, each in proportion to its weight."""
    weights = {name: SOAK_WEIGHTS.get(name, 1) for name in sorted(spec)}
    cycle = [name for name, w in weights.items() for _ in range(w)]
    rng = random.Random(seed)
    sequence: list[str] = []
    while len(sequence) < total:
        block = list(cycle)
        rng.shuffle(block)
        sequence += block
    return sequence[:total]


@dataclass
class SoakResult:
    total: int
    warmup: int
    seconds: float
    curve: list[tuple[int, float]]  # (requests answered so far, RSS MB)
    outcomes: list[Outcome]
    unsent: int
    baseline_mb: float = 0.0
    final_mb: float = 0.0
    peak_mb: float = 0.0
    errors: list[Outcome] = field(default_factory=list)

    @property
    def growth_mb(self) -> float:
        return self.final_mb - self.baseline_mb

    @property
    def lost(self) -> int:
        return sum(o.lost for o in self.outcomes) + self.unsent


def run_soak(
    url: str,
    pid: int,
    total: int = 1000,
    users: int = 4,
    warmup: int = 100,
    sample_every: int = 25,
    session_requests: int = 50,
    time_limit: float = 1800.0,
    settings: Settings | None = None,
    seed: int = 0,
    only: set[str] | None = None,
    settle: float = 3.0,
    idle_window: float = 2.0,
    before_reading: Callable[[], object] | None = None,
) -> SoakResult:
    """Send `total` mixed requests from `users` concurrent users and sample RSS of `pid`
    (requests to the endpoints in `only`, when given: to find which one grows).

    Baseline and end are read with nothing in flight: after the warm-up requests the users
    pause until every one of them is answered, the server is idle again (`settle` seconds at
    least) and the baseline is read; the end is read the same way after the last request. So
    growth compares like with like, not a moment with a big job in flight with one without.
    `before_reading` runs just before those two readings (the in-process test passes
    glibc's malloc_trim, so that freed heap pages the allocator keeps do not count).
    """
    check_loopback(url)
    settings = settings or Settings()
    spec = api_spec(make_client(url))
    if only:
        missing = only - set(spec)
        if missing:
            raise ValueError(f"the app has no {sorted(missing)}")
        spec = {name: params for name, params in spec.items() if name in only}
    sequence = soak_sequence(spec, total, seed)
    lock = threading.Lock()
    state = {"next": 0, "done": 0}
    outcomes: list[Outcome] = []
    curve: list[tuple[int, float]] = [(0, rss_mb(pid))]
    warmed = threading.Event()
    t0 = time.monotonic()
    deadline = t0 + time_limit

    def settled_rss() -> float:
        time.sleep(settle)
        timeout = min(60.0, max(0.0, deadline - time.monotonic()))
        wait_until_idle(pid, timeout=timeout, window=idle_window)
        if before_reading is not None:
            before_reading()
        return rss_mb(pid)

    if warmup <= 0:
        curve[0] = (0, settled_rss())
        warmed.set()

    def user(u: int) -> None:
        rng = random.Random(seed * 1000 + u)
        client, used = make_client(url), 0
        while time.monotonic() < deadline:
            with lock:
                i = state["next"]
                if i >= total:
                    break
                state["next"] += 1
            if i >= warmup and not warmed.wait(timeout=max(0.0, deadline - time.monotonic())):
                break  # the time limit came during the pause; counted as unsent
            if used >= session_requests:  # a new visitor: a new session
                with contextlib.suppress(Exception):
                    client.close()
                client, used = make_client(url), 0
            endpoint = sequence[i]
            outcome = timed_call(
                client,
                endpoint,
                request(spec, endpoint, rng, settings),
                deadline - time.monotonic(),
            )
            outcome.user, used = u, used + 1
            with lock:
                outcomes.append(outcome)
                state["done"] += 1
                done = state["done"]
                if done % sample_every == 0 and done != warmup:
                    curve.append((done, rss_mb(pid)))
            if done == warmup:  # every warm-up request is answered and no other one is sent
                curve.append((warmup, settled_rss()))
                warmed.set()
            if outcome.lost:
                break
        with contextlib.suppress(Exception):
            client.close()

    threads = [threading.Thread(target=user, args=(u,), daemon=True) for u in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
    answered = len(outcomes)
    final = settled_rss()
    curve = [(n, mb) for n, mb in curve if n != answered] + [(answered, final)]
    result = SoakResult(
        total, warmup, time.monotonic() - t0, sorted(curve), outcomes, unsent=total - answered
    )
    result.baseline_mb = next((mb for n, mb in result.curve if n == warmup), final)
    result.final_mb = final
    after = [mb for n, mb in result.curve if n >= warmup]
    result.peak_mb = max(after) if after else final
    result.errors = [o for o in outcomes if o.error is not None]
    return result


def curve_text(result: SoakResult, width: int = 40) -> str:
    """The curve as a table with a bar per sample (bars span the curve's own range)."""
    values = [mb for _, mb in result.curve]
    lo, hi = min(values), max(values)
    lines = ["requests | RSS MB  | Δ vs warm-up end"]
    for n, mb in result.curve:
        bar = "#" * (1 + round((mb - lo) / (hi - lo) * (width - 1))) if hi > lo else "#"
        mark = " ← end of warm-up (idle)" if n == result.warmup else ""
        if n == result.curve[-1][0] and n != result.warmup:
            mark = " ← end (idle)"
        lines.append(f"{n:8d} | {mb:7.1f} | {mb - result.baseline_mb:+7.1f}  {bar}{mark}")
    return "\n".join(lines)


def verdict_rows(result: SoakResult, limit_mb: float = GROWTH_LIMIT_MB) -> list[Row]:
    return [
        Row(
            f"RSS growth after warm-up ({result.total - result.warmup} requests)",
            result.growth_mb,
            "MB",
            target=f"≤ {limit_mb:.0f} MB",
            ok=result.growth_mb <= limit_mb,
        ),
        Row("RSS at the end of warm-up", result.baseline_mb, "MB"),
        Row("RSS at the end", result.final_mb, "MB"),
        Row("peak RSS after warm-up", result.peak_mb, "MB"),
        Row("errors", len(result.errors), "", target="0", ok=not result.errors),
        Row("lost (unanswered or unsent)", result.lost, "", target="0", ok=result.lost == 0),
    ]


def report(result: SoakResult, limit_mb: float = GROWTH_LIMIT_MB) -> tuple[str, bool]:
    latencies = [o.latency for o in result.outcomes if o.latency is not None and not o.error]
    lines = [
        f"soak: {len(result.outcomes)} of {result.total} requests answered or failed in "
        f"{result.seconds:.0f} s (p50 {percentile(latencies, 50) * 1000:.0f} ms, "
        f"p95 {percentile(latencies, 95) * 1000:.0f} ms; load average {os.getloadavg()[0]:.1f})",
        curve_text(result),
    ]
    if result.errors:
        seen: dict[str, int] = {}
        for o in result.errors:
            key = f"{o.endpoint}: {o.error}"[:300]
            seen[key] = seen.get(key, 0) + 1
        lines += ["errors:"] + [f"  {n}× {key}" for key, n in seen.items()]
    rows = verdict_rows(result, limit_mb)
    lines.append(format_table(rows, "\nverdict"))
    passed = all(r.ok is not False for r in rows)
    lines.append("PASS" if passed else "FAIL")
    return "\n".join(lines), passed


def measure() -> list[Row]:
    """For benchmarks/__main__.py: the default soak against `python app.py`."""
    with subprocess_app() as (url, pid):
        return verdict_rows(run_soak(url, pid))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=100, help="requests before the baseline")
    parser.add_argument("--sample-every", type=int, default=25)
    parser.add_argument("--session-requests", type=int, default=50, help="requests per session")
    parser.add_argument("--time-limit", type=float, default=1800, help="seconds for the run")
    parser.add_argument("--limit-mb", type=float, default=GROWTH_LIMIT_MB)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--url", help="an app already running here (needs --pid)")
    parser.add_argument("--pid", type=int, help="the process id of the app at --url")
    parser.add_argument("--log", type=Path, help="where the launched app's output goes")
    parser.add_argument("--only", help="comma-separated api_names to soak (default: all)")
    parser.add_argument(
        "--env", action="append", default=[], help="KEY=VALUE for the launched app (repeatable)"
    )
    args = parser.parse_args(argv)
    if not (0 < args.requests <= 20_000 and 0 < args.users <= 64 and args.time_limit <= 7200):
        parser.error("bounded runs only: requests ≤ 20000, users ≤ 64, time limit ≤ 7200 s")
    if not 0 <= args.warmup < args.requests:
        parser.error("--warmup must be at least 0 and smaller than --requests")
    if bool(args.url) != bool(args.pid):
        parser.error("--url and --pid go together")
    print(f"load average before: {os.getloadavg()[0]:.1f}", flush=True)
    app = (
        contextlib.nullcontext((args.url.rstrip("/"), args.pid))
        if args.url
        else subprocess_app(args.log, dict(kv.split("=", 1) for kv in args.env))
    )
    with app as (url, pid):
        print(f"app at {url} (pid {pid}), RSS {rss_mb(pid):.0f} MB at start", flush=True)
        result = run_soak(
            url,
            pid,
            args.requests,
            args.users,
            args.warmup,
            args.sample_every,
            args.session_requests,
            args.time_limit,
            seed=args.seed,
            only=set(args.only.split(",")) if args.only else None,
        )
    text, passed = report(result, args.limit_mb)
    print(text)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
