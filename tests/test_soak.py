"""The soak's memory measure (benchmarks/soak.py): the slope of RSS against requests with its
confidence interval, and the peak.

The measure is checked on synthetic series first, where the truth is known: it must flag a
steady leak hidden under large swings and must not flag swings alone (which the old measure,
one idle reading after warm-up against one at the end, passed or failed by luck). Then a
reduced soak runs against the app in this process and is judged the same way.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import soak

ROOT = Path(__file__).resolve().parents[1]

# A swing like the one issue #17 measured: RSS oscillating between +54 and +250 MB with no
# steady climb, period a few hundred requests, plus sampling noise.
SWING_MB, NOISE_MB = 100.0, 15.0


def _series(leak_per_1000: float, requests: int = 10_000, every: int = 10, seed: int = 0):
    rng = random.Random(seed)
    period = rng.uniform(250, 450)
    phase = rng.uniform(0, 2 * math.pi)
    return [
        (
            n,
            1500.0
            + leak_per_1000 * n / 1000
            + SWING_MB * math.sin(2 * math.pi * n / period + phase)
            + rng.gauss(0, NOISE_MB),
        )
        for n in range(every, requests + 1, every)
    ]


@pytest.mark.parametrize("seed", range(5))
def test_a_steady_leak_under_large_swings_is_flagged(seed):
    """5 MB per 1000 requests (50 MB over the soak, half of one swing's height) is shown."""
    slope = soak.fit_slope(_series(5.0, seed=seed), start=200)
    assert slope is not None
    assert slope.low <= 5.0 <= slope.high, slope
    assert slope.verdict(soak.SLOPE_LIMIT_MB_PER_1000) == "leak", slope


@pytest.mark.parametrize("seed", range(5))
def test_swings_alone_are_not_called_a_leak(seed):
    """And 10,000 requests narrow the interval enough to catch a leak of a few MB per 1000
    (swings of ±100 MB cannot be averaged down to ±1 MB in that many: "no leak shown", the
    verdict the benchmark judges, rather than "flat"); 5 MB per 1000 is caught (above)."""
    slope = soak.fit_slope(_series(0.0, seed=seed), start=200)
    assert slope is not None
    assert slope.low <= 0.0 <= slope.high, slope
    assert slope.verdict(soak.SLOPE_LIMIT_MB_PER_1000) != "leak", slope
    assert slope.high - slope.low < 10.0, slope


def test_two_readings_tell_a_swing_from_a_leak_by_luck_only():
    """Why the old measure went: on the same flat series, the difference between the first and
    the last reading after warm-up ranges over tens of MB from one seed to the next."""
    differences = []
    for seed in range(20):
        series = [(n, mb) for n, mb in _series(0.0, seed=seed) if n >= 200]
        differences.append(series[-1][1] - series[0][1])
    assert max(differences) - min(differences) > 100.0, differences
    assert all(
        soak.fit_slope(_series(0.0, seed=s), start=200).verdict(1.0) != "leak" for s in range(20)
    )


def test_a_short_soak_says_it_cannot_tell():
    """300 requests of the same swings cannot resolve 1 MB per 1000: inconclusive, with the
    interval that says how large a leak it could miss, never "flat"."""
    slope = soak.fit_slope(_series(0.0, requests=300, every=5), start=50)
    assert slope is not None
    assert slope.verdict(soak.SLOPE_LIMIT_MB_PER_1000) == "inconclusive", slope
    assert slope.high - slope.low > 10.0


def test_too_few_samples_give_no_slope_and_the_row_fails():
    assert soak.fit_slope([(10, 1.0), (20, 2.0), (30, 3.0)]) is None
    result = soak.SoakResult(100, 50, 1.0, [(10, 1.0)], [], 0, peak_mb=100.0)
    row = soak.slope_row(result, 1.0)
    assert row.ok is False and math.isnan(row.value)
    text, passed = soak.report(result)
    assert not passed and "too few samples" in text


def test_the_warm_up_is_left_out_of_the_fit():
    """Models loading and caches filling in the first requests are not a leak."""
    series = [(n, 500.0 + min(n, 200) * 4.0) for n in range(10, 5001, 10)]  # +800 MB, then flat
    assert soak.fit_slope(series, start=0).per_1000 > 10.0
    assert soak.fit_slope(series, start=200).verdict(1.0) == "flat"


def test_the_peak_is_judged_and_the_t_quantiles_are_right():
    result = soak.SoakResult(100, 10, 1.0, _series(0.0, requests=2000), [], 0, peak_mb=2100.0)
    result.slope = soak.fit_slope(result.curve, start=10)
    rows = {r.figure: r for r in soak.verdict_rows(result)}
    assert rows["peak RSS (VmHWM)"].ok is False
    text, passed = soak.report(result)
    assert not passed and "FAIL" in text
    assert soak.t975(1) == pytest.approx(12.706)
    assert soak.t975(18) == pytest.approx(2.101)
    assert soak.t975(22) == pytest.approx(2.086)  # between table entries: the larger value
    assert soak.t975(10_000) == pytest.approx(1.96)


def test_rss_and_its_high_water_mark_are_read_from_proc():
    pid = os.getpid()
    assert 0 < soak.rss_mb(pid) <= soak.peak_rss_mb(pid)


# A soak that could judge a leak takes thousands of requests (see
# test_a_short_soak_says_it_cannot_tell): that is `python -m benchmarks soak`'s job, not the
# suite's. Here the soak runs briefly against the app only to show that its machinery works end
# to end: the users' requests are answered, RSS is sampled from the app's process, and the
# report is written. Its judgement is tested on the synthetic series above.


@pytest.mark.slow
def test_the_soak_runs_against_the_app(app_url, tmp_path):
    """The app runs in this process; the simulated users run in a process of their own, so
    that their clients' memory is not counted as the app's (in one process it was)."""
    out = tmp_path / "soak.json"
    command = [
        sys.executable,
        "-m",
        "benchmarks.soak",
        *("--url", app_url, "--pid", str(os.getpid()), "--json", str(out), "--light"),
        *("--requests", "16", "--warmup", "4", "--users", "2", "--sample-every", "2"),
        *("--session-requests", "8", "--time-limit", "120"),
    ]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    print(run.stdout[-6000:], run.stderr[-3000:])
    assert out.exists(), run.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert not figures["errors"], figures["errors"][:10]
    assert figures["lost"] == 0, run.stdout[-3000:]
    assert figures["answered"] >= 16, run.stdout[-3000:]
    assert len(figures["curve"]) >= 6, figures["curve"]  # RSS read every 2 requests
    assert all(mb > 0 for _, mb in figures["curve"])
    assert figures["peak_mb"] >= max(mb for _, mb in figures["curve"])
