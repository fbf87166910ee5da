"""Every performance figure in one command: `python -m benchmarks [name ...]`.

Runs each benchmarks/bench_*.py module's measure() (or only the named ones, e.g. `toygan`;
`load` and `soak`, the 30-user load test and the 10,000-request soak, run only when named)
and prints one table: figure, value, the baseline measured in the same run, ratio (baseline /
value: above 1× is faster than the baseline), target. `--markdown` also prints the table as
Markdown with the machine line, as README.md's "Benchmarks" section shows it.
A module that cannot run here (a missing benchmark-only dependency, no chromium) is reported
as such and the others still run; the exit code is 1 if any target was missed or any failed.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import time
import traceback
from pathlib import Path

from benchmarks.common import Row, format_markdown, format_table

HERE = Path(__file__).resolve().parent
# Minutes each, so only when named: `python -m benchmarks load soak`.
ON_REQUEST = {"load": "benchmarks.load_test", "soak": "benchmarks.soak"}


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), load average {load:.1f} at start"
    )


def main(argv: list[str]) -> int:
    markdown = "--markdown" in argv
    argv = [a for a in argv if a != "--markdown"]
    names = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    chosen = argv or names
    unknown = set(chosen) - set(names) - set(ON_REQUEST)
    if unknown:
        print(f"unknown benchmark(s) {sorted(unknown)}; known: {names + list(ON_REQUEST)}")
        return 2
    # the load test lowers this process's priority for its simulated users: run those last
    chosen = [n for n in chosen if n not in ON_REQUEST] + [n for n in ON_REQUEST if n in chosen]
    where = machine()
    print(where, flush=True)
    failed: list[str] = []
    rows: list[Row] = []
    for name in chosen:
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(ON_REQUEST.get(name, f"benchmarks.bench_{name}"))
            got = module.measure()
        except Exception as exc:  # one benchmark's failure must not hide the others' figures
            traceback.print_exc()
            print(f"[{name}] could not run: {type(exc).__name__}: {exc}", flush=True)
            failed.append(name)
            continue
        print(format_table(got, f"\n== {name} ({time.perf_counter() - t0:.0f} s)"), flush=True)
        rows += [
            Row(f"{name}: {r.figure}", r.value, r.unit, r.baseline, r.baseline_name, r.target, r.ok)
            for r in got
        ]
    print(format_table(rows, "\n== all figures"))
    if markdown:
        print(f"\n== Markdown\n\n{where}, {time.strftime('%Y-%m-%d')}:\n\n{format_markdown(rows)}")
    missed = [r.figure for r in rows if r.ok is False]
    if missed:
        print(f"targets missed: {missed}")
    if failed:
        print(f"benchmarks that could not run: {failed}")
    return 1 if missed or failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
