"""Soak: many mixed requests against the app alone in its process, and its memory meanwhile.

The app runs as `python app.py` (GRADIO_SERVER_PORT set to a free loopback port), so the RSS
read from /proc/<pid>/status is the server's alone. A few users send requests drawn from every
public endpoint (weights in SOAK_WEIGHTS; an endpoint not listed gets weight 1, so a new one is
soaked too), each user opening a new session every so often as visitors of a Space would.

Memory is judged by two figures, never by two single readings (RSS swings by a hundred MB and
more as the allocator takes and returns pools, so a difference of two readings passes or fails
by luck):
- the slope of RSS against requests answered, after warm-up, in MB per 1000 requests, with its
  95 % confidence interval. RSS is sampled every few requests; the samples are averaged in
  contiguous blocks (so that one swing of the allocator is one noisy point, not fifty
  correlated ones) and a straight line is fitted to the block means, its interval from
  Student's t. A leak is shown when the whole interval lies above the target; a soak too short
  or too noisy to tell says so ("inconclusive") and reports how large a leak it could miss;
- the peak: the kernel's high-water mark of RSS (VmHWM), so no spike between samples is missed.

PASS needs no leak shown (slope target ≤ 1 MB per 1000 requests), peak ≤ 2 GB, 0 errors and
none lost. The run is bounded in time: when the limit comes first, the requests not yet sent
are reported and the slope is fitted on those answered.

    python -m benchmarks.soak                        # 10,000 requests, 4 users, ≤ 1 hour
    python -m benchmarks.soak --requests 2000 --users 2 --time-limit 900
    python -m benchmarks.soak --url http://127.0.0.1:7860 --pid 12345   # an app already running
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Sequence
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

SLOPE_LIMIT_MB_PER_1000 = 1.0  # MB of RSS per 1000 requests after warm-up
PEAK_LIMIT_MB = 2048.0
DEFAULT_REQUESTS = 10_000
DEFAULT_TIME_LIMIT_S = 3600.0
# For short soaks (the test's): small attacks, toy GANs and translations.
LIGHT_SETTINGS = Settings(
    attack_steps=3, long_attack_steps=40, toy_gan_steps=100, long_translate_side=384
)
# A request in flight when the time limit comes gets this long to be answered before it
# counts as lost (the limit stops new requests; it does not abandon the ones sent).
DRAIN_S = 120.0
MAX_BLOCKS = 20  # block means the slope is fitted to
MIN_BLOCKS = 4  # fewer: no slope (a line through 3 points has 1 degree of freedom)
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
# Student's t, two-sided 95 % (the 97.5 % quantile), by degrees of freedom.
_T975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
    9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
    17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000,
    120: 1.980,
}  # fmt: skip


def t975(df: int) -> float:
    """The 97.5 % quantile of Student's t with `df` degrees of freedom (conservative between
    tabulated values: the next smaller df's, which is larger)."""
    if df < 1:
        raise ValueError("t needs at least one degree of freedom")
    return _T975[max(k for k in _T975 if k <= df)] if df <= 120 else 1.960


def _status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} for process {pid}")


def rss_mb(pid: int) -> float:
    """Resident set size of process `pid` in MB, from /proc (psutil is not installed)."""
    return _status_mb(pid, "VmRSS")


def peak_rss_mb(pid: int) -> float:
    """The kernel's high-water mark of the process's RSS in MB (VmHWM): every spike counts,
    also one between two samples."""
    return _status_mb(pid, "VmHWM")


# --------------------------------------------------------------------------- the measure


@dataclass(frozen=True)
class Slope:
    """RSS against requests: a straight line fitted to block means, in MB per 1000 requests."""

    per_1000: float
    low: float  # 95 % confidence interval
    high: float
    blocks: int
    samples: int
    requests: int  # span of requests the samples cover

    def verdict(self, limit: float) -> str:
        """ "leak" when the whole interval lies above `limit`, "flat" when it lies at or below,
        "inconclusive" when it straddles it (too short or too noisy a soak to tell)."""
        if self.low > limit:
            return "leak"
        return "flat" if self.high <= limit else "inconclusive"


def fit_slope(
    curve: Sequence[tuple[float, float]], start: float = 0, max_blocks: int = MAX_BLOCKS
) -> Slope | None:
    """The slope of RSS (MB) against requests over the samples `curve` = [(requests, MB)]
    taken from `start` on, with its 95 % confidence interval; None with fewer than
    MIN_BLOCKS × 2 samples.

    Neighbouring samples are not independent (one allocator swing spans many of them), so an
    ordinary least-squares interval over the raw samples would be far too narrow and would
    call a swing a leak. The samples are cut into up to `max_blocks` contiguous blocks of
    (nearly) equal size; a line is fitted to the blocks' mean (requests, MB) and its interval
    taken from Student's t with blocks − 2 degrees of freedom, widened when neighbouring
    blocks are still correlated."""
    points = sorted((float(n), float(mb)) for n, mb in curve if n >= start)
    k = min(max_blocks, len(points) // 2)
    if k < MIN_BLOCKS:
        return None
    edges = [round(i * len(points) / k) for i in range(k + 1)]
    xs, ys = [], []
    for a, b in itertools.pairwise(edges):
        block = points[a:b]
        xs.append(sum(x for x, _ in block) / len(block))
        ys.append(sum(y for _, y in block) / len(block))
    mx, my = sum(xs) / k, sum(ys) / k
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    residuals = [y - my - slope * (x - mx) for x, y in zip(xs, ys, strict=True)]
    ssr = sum(e * e for e in residuals)
    # Blocks shorter than one swing are still correlated (a soak that sees half a swing sees
    # a line): the residuals' lag-1 correlation ρ widens the interval by sqrt((1+ρ)/(1−ρ))
    # and leaves k(1−ρ)/(1+ρ) effective blocks for the degrees of freedom.
    rho = sum(a * b for a, b in itertools.pairwise(residuals)) / ssr if ssr > 0 else 0.0
    rho = min(max(rho, 0.0), 0.95)
    inflation = (1 + rho) / (1 - rho)
    df = max(1, math.floor(k / inflation) - 2)
    half = t975(df) * math.sqrt(ssr / (k - 2) / sxx * inflation)
    per = 1000.0
    return Slope(
        slope * per,
        (slope - half) * per,
        (slope + half) * per,
        k,
        len(points),
        int(points[-1][0] - points[0][0]),
    )


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
    curve: list[tuple[int, float]]  # (requests answered so far, RSS MB), sampled under load
    outcomes: list[Outcome]
    unsent: int  # not sent when the time limit came
    baseline_mb: float = 0.0  # idle, at the end of warm-up
    final_mb: float = 0.0  # idle, at the end
    peak_mb: float = 0.0  # VmHWM at the end: the process's peak RSS
    slope: Slope | None = None
    sessions: int = 0  # new sessions opened after warm-up (Gradio keeps each one's state)
    errors: list[Outcome] = field(default_factory=list)

    @property
    def growth_mb(self) -> float:
        """Idle RSS at the end minus at the end of warm-up: shown, not judged (two readings
        cannot tell a leak from an allocator swing)."""
        return self.final_mb - self.baseline_mb

    @property
    def answered(self) -> int:
        return len(self.outcomes)

    @property
    def lost(self) -> int:
        """Requests sent and never answered (requests the time limit left unsent are not)."""
        return sum(o.lost for o in self.outcomes)


def run_soak(
    url: str,
    pid: int,
    total: int = DEFAULT_REQUESTS,
    users: int = 4,
    warmup: int = 200,
    sample_every: int = 10,
    session_requests: int = 50,
    time_limit: float = DEFAULT_TIME_LIMIT_S,
    settings: Settings | None = None,
    seed: int = 0,
    only: set[str] | None = None,
    settle: float = 3.0,
    idle_window: float = 2.0,
    before_reading: Callable[[], object] | None = None,
) -> SoakResult:
    """Send `total` mixed requests from `users` concurrent users and sample RSS of `pid`
    every `sample_every` answers (requests to the endpoints in `only`, when given: to find
    which one grows). Stops sending at `time_limit` seconds.

    The samples after `warmup` requests give the slope; they are taken under load, as the
    app runs. Two idle readings are also taken, shown but not judged: after the warm-up
    requests the users pause until every one is answered and the server is idle again
    (`settle` seconds at least), and the same after the last request. `before_reading` runs
    before every reading (the in-process test passes glibc's malloc_trim, so that freed heap
    pages the allocator keeps do not count).
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
    state = {"next": 0, "done": 0, "sessions_after_warmup": 0}
    outcomes: list[Outcome] = []

    def reading() -> float:
        if before_reading is not None:
            before_reading()
        return rss_mb(pid)

    curve: list[tuple[int, float]] = [(0, reading())]
    idle: dict[str, float] = {}
    warmed = threading.Event()
    t0 = time.monotonic()
    deadline = t0 + time_limit

    def settled_rss() -> float:
        time.sleep(settle)
        timeout = 60.0 if time.monotonic() >= deadline else min(60.0, deadline - time.monotonic())
        wait_until_idle(pid, timeout=timeout, window=idle_window)
        return reading()

    if warmup <= 0:
        idle["start"] = settled_rss()
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
                with lock:
                    state["next"] -= 1  # not sent: the time limit came during the pause
                break
            if used >= session_requests:  # a new visitor: a new session
                with contextlib.suppress(Exception):
                    client.close()
                client, used = make_client(url), 0
                if i >= warmup:
                    with lock:
                        state["sessions_after_warmup"] += 1
            endpoint = sequence[i]
            outcome = timed_call(
                client,
                endpoint,
                request(spec, endpoint, rng, settings),
                deadline - time.monotonic() + DRAIN_S,
            )
            outcome.user, used = u, used + 1
            with lock:
                outcomes.append(outcome)
                state["done"] += 1
                done = state["done"]
                if done % sample_every == 0 and done != warmup:
                    curve.append((done, reading()))
            if done == warmup:  # every warm-up request is answered and no other one is sent
                idle["start"] = settled_rss()
                warmed.set()
            if outcome.lost:
                break
        with contextlib.suppress(Exception):
            client.close()

    threads = [threading.Thread(target=user, args=(u,), daemon=True) for u in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()) + DRAIN_S + 5)
    with lock:
        done_outcomes = list(outcomes)
        sent = state["next"]
    final = settled_rss()
    result = SoakResult(
        total,
        warmup,
        time.monotonic() - t0,
        sorted(curve),
        done_outcomes,
        unsent=total - sent,
        baseline_mb=idle.get("start", final),
        final_mb=final,
        peak_mb=peak_rss_mb(pid),
    )
    result.slope = fit_slope(result.curve, start=warmup)
    result.sessions = state["sessions_after_warmup"]
    result.errors = [o for o in done_outcomes if o.error is not None]
    return result


# --------------------------------------------------------------------------- the verdict


def curve_text(result: SoakResult, width: int = 40, lines: int = 40) -> str:
    """The curve as a table with a bar per sample (bars span the curve's own range), thinned
    to about `lines` rows (the largest sample of each stretch, so spikes stay visible)."""
    curve = result.curve
    if not curve:
        return "(no samples)"
    values = [mb for _, mb in curve]
    lo, hi = min(values), max(values)
    step = max(1, math.ceil(len(curve) / lines))
    rows = [max(curve[i : i + step], key=lambda s: s[1]) for i in range(0, len(curve), step)]
    out = ["requests | RSS MB  | Δ vs the first sample after warm-up"]
    first = next((mb for n, mb in curve if n >= result.warmup), curve[0][1])
    for n, mb in rows:
        bar = "#" * (1 + round((mb - lo) / (hi - lo) * (width - 1))) if hi > lo else "#"
        mark = "  (warm-up)" if n < result.warmup else ""
        out.append(f"{n:8d} | {mb:7.1f} | {mb - first:+7.1f}  {bar}{mark}")
    if step > 1:
        out.append(f"(each row: the largest of {step} samples)")
    return "\n".join(out)


def slope_text(slope: Slope | None) -> str:
    if slope is None:
        return "too few samples after warm-up for a slope"
    return (
        f"{slope.per_1000:+.2f} MB per 1000 requests, 95 % CI {slope.low:+.2f} … "
        f"{slope.high:+.2f} ({slope.samples} samples over {slope.requests} requests, "
        f"{slope.blocks} block means)"
    )


def slope_row(result: SoakResult, limit: float) -> Row:
    """The judged figure: no leak shown. The interval's ends are in the row's text."""
    s = result.slope
    if s is None:
        return Row(
            "RSS slope after warm-up: too few samples", math.nan, "", target="a slope", ok=False
        )
    verdict = s.verdict(limit)
    note = {"leak": "a leak", "flat": "flat", "inconclusive": "inconclusive: run longer"}[verdict]
    return Row(
        f"RSS slope after warm-up, 95 % CI {s.low:+.2f} … {s.high:+.2f} ({note})",
        s.per_1000,
        "MB/1000 req",
        target=f"≤ {limit:g} (no leak shown)",
        ok=verdict != "leak",
    )


def verdict_rows(
    result: SoakResult,
    slope_limit: float = SLOPE_LIMIT_MB_PER_1000,
    peak_limit: float = PEAK_LIMIT_MB,
) -> list[Row]:
    return [
        slope_row(result, slope_limit),
        Row(
            "peak RSS (VmHWM)",
            result.peak_mb,
            "MB",
            target=f"≤ {peak_limit:.0f} MB",
            ok=result.peak_mb <= peak_limit,
        ),
        Row("RSS idle at the end of warm-up (shown, not judged)", result.baseline_mb, "MB"),
        Row("RSS idle at the end (shown, not judged)", result.final_mb, "MB"),
        Row("requests answered after warm-up", result.answered - result.warmup, ""),
        Row(
            "new sessions after warm-up (each kept by Gradio, up to MAX_SESSIONS)",
            result.sessions,
            "",
        ),
        Row("not sent: the time limit came first", result.unsent, ""),
        Row("errors", len(result.errors), "", target="0", ok=not result.errors),
        Row("lost (sent, never answered)", result.lost, "", target="0", ok=result.lost == 0),
    ]


def report(
    result: SoakResult,
    slope_limit: float = SLOPE_LIMIT_MB_PER_1000,
    peak_limit: float = PEAK_LIMIT_MB,
) -> tuple[str, bool]:
    latencies = [o.latency for o in result.outcomes if o.latency is not None and not o.error]
    lines = [
        f"soak: {result.answered} of {result.total} requests answered or failed in "
        f"{result.seconds:.0f} s (p50 {percentile(latencies, 50) * 1000:.0f} ms, "
        f"p95 {percentile(latencies, 95) * 1000:.0f} ms; load average {os.getloadavg()[0]:.1f})",
        curve_text(result),
        f"slope: {slope_text(result.slope)}",
    ]
    if result.errors:
        seen: dict[str, int] = {}
        for o in result.errors:
            key = f"{o.endpoint}: {o.error}"[:300]
            seen[key] = seen.get(key, 0) + 1
        lines += ["errors:"] + [f"  {n}× {key}" for key, n in seen.items()]
    rows = verdict_rows(result, slope_limit, peak_limit)
    lines.append(format_table(rows, "\nverdict"))
    passed = all(r.ok is not False for r in rows)
    lines.append("PASS" if passed else "FAIL")
    return "\n".join(lines), passed


def result_figures(result: SoakResult, passed: bool) -> dict:
    """The run's figures as plain numbers (for a test that runs the soak in a process of
    its own, so that the clients' memory is not counted as the app's)."""
    s = result.slope
    return {
        "passed": passed,
        "answered": result.answered,
        "warmup": result.warmup,
        "unsent": result.unsent,
        "lost": result.lost,
        "errors": [f"{o.endpoint}: {o.error}"[:300] for o in result.errors],
        "peak_mb": result.peak_mb,
        "curve": [[n, mb] for n, mb in result.curve],  # (requests answered, RSS MB)
        "slope": None if s is None else {"per_1000": s.per_1000, "low": s.low, "high": s.high},
    }


def measure() -> list[Row]:
    """For benchmarks/__main__.py: the default soak against `python app.py`."""
    with subprocess_app() as (url, pid):
        return verdict_rows(run_soak(url, pid))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=200, help="requests before the fit")
    parser.add_argument("--sample-every", type=int, default=10)
    parser.add_argument("--session-requests", type=int, default=50, help="requests per session")
    parser.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT_S, help="seconds")
    parser.add_argument(
        "--slope-limit", type=float, default=SLOPE_LIMIT_MB_PER_1000, help="MB/1000 requests"
    )
    parser.add_argument("--peak-limit", type=float, default=PEAK_LIMIT_MB, help="MB")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--light", action="store_true", help="short attacks, toy GANs and translations"
    )
    parser.add_argument("--json", type=Path, help="also write the verdict's figures here")
    parser.add_argument("--url", help="an app already running here (needs --pid)")
    parser.add_argument("--pid", type=int, help="the process id of the app at --url")
    parser.add_argument("--log", type=Path, help="where the launched app's output goes")
    parser.add_argument("--only", help="comma-separated api_names to soak (default: all)")
    parser.add_argument(
        "--env", action="append", default=[], help="KEY=VALUE for the launched app (repeatable)"
    )
    args = parser.parse_args(argv)
    if not (0 < args.requests <= 50_000 and 0 < args.users <= 64 and args.time_limit <= 14400):
        parser.error("bounded runs only: requests ≤ 50000, users ≤ 64, time limit ≤ 14400 s")
    if not 0 <= args.warmup < args.requests:
        parser.error("--warmup must be at least 0 and smaller than --requests")
    if args.sample_every < 1:
        parser.error("--sample-every must be at least 1")
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
            settings=LIGHT_SETTINGS if args.light else None,
            seed=args.seed,
            only=set(args.only.split(",")) if args.only else None,
        )
    text, passed = report(result, args.slope_limit, args.peak_limit)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(result_figures(result, passed)))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
