"""Shared helpers for the benchmark scripts: timing with interleaving, and the results table.

A benchmark module exposes `measure() -> list[Row]` (and a main() printing its own table).
Variants are timed interleaved in one process (A, B, A, B, ...) because eager timings on this
kind of 2-core machine drift by 2× between processes; what we report is the median and the
ratio to a baseline measured in the same run.
"""

from __future__ import annotations

import os
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@dataclass
class Row:
    """One figure: its value, the baseline it is compared with, and the target it must meet."""

    figure: str
    value: float
    unit: str
    baseline: float | None = None  # measured in the same run
    baseline_name: str = ""
    target: str = ""  # e.g. "≤ 100 ms", "≥ 1.25×"
    ok: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.value == 0:
            return None
        return self.baseline / self.value


def free_port() -> int:
    """A TCP port on the loopback interface that nobody is listening on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def interleaved(
    variants: dict[str, Callable[[], object]], repeats: int = 20, warmup: int = 2
) -> dict[str, list[float]]:
    """Seconds per call for each variant, timed round-robin so drift hits all alike."""
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


HEAD = ("figure", "value", "baseline (same run)", "ratio", "target", "met")


def _cells(rows: list[Row]) -> list[tuple[str, ...]]:
    lines = []
    for r in rows:
        base = f"{r.baseline:.1f} {r.unit} ({r.baseline_name})" if r.baseline is not None else ""
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else ""
        met = {True: "yes", False: "NO", None: ""}[r.ok]
        lines.append((r.figure, f"{r.value:.1f} {r.unit}", base, ratio, r.target, met))
    return lines


def format_markdown(rows: list[Row]) -> str:
    """The table as Markdown (for README.md); ratio = baseline / value, so > 1× is faster."""

    def line(cells) -> str:
        return "| " + " | ".join(str(c).strip().replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(HEAD), line(["---"] * len(HEAD)), *map(line, _cells(rows))])


def text_table(head: tuple[str, ...], lines: list[tuple]) -> str:
    """Columns padded to their widest cell, separated by " | ", under a ruled header."""
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines, strict=True)]
    out = [" | ".join(str(h).ljust(w) for h, w in zip(head, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out += [
        " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines
    ]
    return "\n".join(out)


def format_table(rows: list[Row], title: str = "") -> str:
    table = text_table(HEAD, _cells(rows))
    return f"{title}\n{table}" if title else table
