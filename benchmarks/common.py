"""Shared helpers for the benchmark scripts: timing with interleaving, and the results table.

A benchmark module exposes `measure() -> list[Row]` (and a main() printing its own table).
Variants are timed interleaved in one process (A, B, A, B, ...) because eager timings on this
kind of 2-core machine drift by 2× between processes; what we report is the median and the
ratio to a baseline measured in the same run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
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


def run_in_threads(
    target: Callable[..., object], arguments: list[tuple], name: str, deadline: float, grace: float
) -> list[str]:
    """Call `target(*args)` for each tuple of `arguments`, each in a daemon thread named
    `name`-i, all at once; wait for them until `deadline` (time.monotonic) plus `grace`
    seconds. Returns the names of the threads still running then (hung users)."""
    threads = [
        threading.Thread(target=target, args=args, name=f"{name}-{i}", daemon=True)
        for i, args in enumerate(arguments)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()) + grace)
    return [t.name for t in threads if t.is_alive()]


def free_port() -> int:
    """A TCP port on the loopback interface that nobody is listening on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def tab_in_chromium(tab, store, css: str = "", ready: str = "body") -> Iterator:
    """One tab module built on `store` (a ModelStore) on a page of its own, beside a
    do-nothing baseline (#bench-echo: a Gradio round trip on the same page and queue that
    writes into #bench-echo-out), launched on loopback and opened in Debian's headless
    Chromium. Yields the Playwright page once `ready` (a CSS selector) is on it; closes
    browser and app afterwards."""
    os.environ.setdefault("NO_PROXY", "localhost,127.0.0.1")
    import gradio as gr
    from playwright.sync_api import sync_playwright

    with gr.Blocks(analytics_enabled=False) as demo:
        with gr.Tab(tab.TITLE, id=tab.TAB_ID):
            tab.build(store)
        echo_button = gr.Button("echo", elem_id="bench-echo")
        echo_out = gr.Textbox(elem_id="bench-echo-out")
        echo_button.click(lambda: f"{time.perf_counter():.6f}", None, echo_out, api_name="echo")
    demo.queue(default_concurrency_limit=1, max_size=256)
    url = launch_local(demo, css=css)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=os.environ.get("ADVDEMO_CHROMIUM", "/usr/bin/chromium"),
                args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector(ready, timeout=60_000)
            yield page
            browser.close()
    finally:
        demo.close()


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


def interleaved_wall_cpu(
    variants: dict[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU seconds of each call, variants round-robin (A, B, C, A, B, C, ...).

    On a machine shared with other jobs, wall time mostly measures the queue for the cores;
    this process's CPU time measures the work, so both are reported."""
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - w0)
    return wall, cpu


SERVE_TIMEOUT_S = 120.0  # a launched app's first page, on a busy machine


def launch_local(demo, **options) -> str:
    """Launch `demo` on a free loopback port without blocking; its URL (no trailing slash),
    once its page answers. Gradio's own check gives the page one try of 3 s and then refuses
    to start ("localhost is not accessible"); on a busy machine (two test workers, a load
    test beside) the first page of this app can take longer, so we wait for it ourselves."""
    _, url, _ = demo.launch(
        server_name="127.0.0.1",
        server_port=free_port(),
        prevent_thread_lock=True,
        quiet=True,
        **{"ssr_mode": False, "_frontend": False, **options},
    )
    url = url.rstrip("/")
    wait_for_page(url, SERVE_TIMEOUT_S)
    return url


def wait_for_page(url: str, timeout: float) -> None:
    """Until GET `url`/ answers 200 (RuntimeError after `timeout` seconds)."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/", timeout=30, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not serve its page within {timeout:.0f} s")
        time.sleep(0.2)


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


# Milliseconds from a click on the echo button (#bench-echo, added by tab_in_chromium) to its
# answer in #bench-echo-out: a do-nothing Gradio round trip, the baseline of browser timings.
ECHO_JS = """
async () => {
  const out = () => document.querySelector('#bench-echo-out textarea').value;
  const old = out();
  const t0 = performance.now();
  document.querySelector('#bench-echo').click();
  await new Promise(resolve => {
    const check = () => (out() !== old ? resolve() : requestAnimationFrame(check));
    check();
  });
  return performance.now() - t0;
}
"""
