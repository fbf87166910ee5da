"""2-D GAN lab frames per second as headless Chromium draws them, while a preset plays.

The tab alone (benchmarks.common.tab_in_chromium) is opened in Debian's Chromium. Each frame
is a picture per plane (an <img> whose data-step says the step it shows); a MutationObserver
on plane A sees every new step, waits until that picture is decoded and then for the next
animation frame (the paint that puts its pixels on screen), and notes the time; a picture
replaced before it was decoded never reached the screen and is not counted. After a
warm-up, frames are counted for WINDOW_S seconds for one run (the default "mode collapse"
preset, started with Play) and for a race (the "WGAN-GP covers the ring" preset, two planes
per frame and the curves every few). Beside each, measured
in the same run: a do-nothing Gradio round trip on the same page and queue (#bench-echo),
and the frame's server work in-process (gan_lab.next_frame: its steps, then the pictures),
so a low figure says whether the queue, the server work or the browser is slow; and the CPU
time per frame drawn of the server (this process) and of Chromium (its process tree), which
a machine shared with other jobs changes far less than it changes wall time.
Target: ≥ 10 frames/s (issue #14). Run: python -m benchmarks gan2d_browser
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass

from benchmarks.common import ECHO_JS, Row, format_table, tab_in_chromium

TARGET_FPS = 10.0
WINDOW_S = 8.0
WARM_S = 2.0

HOOK_JS = """
() => {
  window.__ganFrames = [];
  const plane = document.querySelector('#gan-lab-plane-a');
  let seen = null;
  const note = () => {
    const img = plane.querySelector('img.gan-lab-picture');
    const step = img && img.dataset.step;
    if (!step || step === seen) return;
    seen = step;
    img.decode().then(() => requestAnimationFrame(() => {
      const frames = window.__ganFrames;
      const last = frames.length ? frames[frames.length - 1][1] : null;
      if (img.isConnected && img.dataset.step === step && last !== step) {
        frames.push([performance.now(), step]);
      }
    })).catch(() => {});  // replaced before it was decoded: never on screen
  };
  new MutationObserver(note).observe(
    plane, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-step']});
}
"""


def _process_tree_cpu() -> tuple[float, float]:
    """CPU seconds (user + system) so far of this process (the app's server, in-process) and of
    all its descendants (Playwright's driver and Chromium's processes), read from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    me, below = os.getpid(), 0.0
    for pid in cpu:
        p = parents.get(pid)
        while p and p != me:
            p = parents.get(p)
        if p == me and pid != me:
            below += cpu[pid]
    own = os.times()
    return own.user + own.system, below


@dataclass
class Window:
    fps: float
    frames: int
    server_cpu_s: float  # this process's CPU seconds during the window
    browser_cpu_s: float  # Chromium's (and Playwright's driver's) CPU seconds


def _play_window(page, start) -> Window:
    """Frames drawn per second over WINDOW_S while playing (after WARM_S), and the CPU time
    the server and the browser spent meanwhile; then Pause."""
    start()
    page.wait_for_timeout(WARM_S * 1000)
    page.evaluate("() => { window.__ganFrames = []; }")
    before = _process_tree_cpu()
    page.wait_for_timeout(WINDOW_S * 1000)
    frames = page.evaluate("() => window.__ganFrames")
    after = _process_tree_cpu()
    page.click("#gan-lab-pause")
    page.wait_for_function(
        "document.querySelector('#gan-lab-status').innerText.includes('Paused')", timeout=60_000
    )
    if len(frames) < 2:
        fps = len(frames) / WINDOW_S
    else:
        fps = (len(frames) - 1) / ((frames[-1][0] - frames[0][0]) / 1000)
    return Window(fps, len(frames), after[0] - before[0], after[1] - before[1])


def _server_frame_ms(key: str, frames: int = 8) -> float:
    """The median time of the frame's callback in-process, playing preset `key`."""
    from advdemo.gan2d import presets
    from advdemo.gan2d.playback import Playback
    from advdemo.tabs import gan_lab

    playback = Playback.start(*gan_lab._split(presets.preset(key).pick(*presets.CONTROL_KEYS)))
    playback.playing = True
    gan_lab.next_frame(playback)  # warm
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        gan_lab.next_frame(playback)
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def measure() -> list[Row]:
    from advdemo.gan2d import presets
    from advdemo.models.store import ModelStore
    from advdemo.tabs import gan_lab

    windows: dict[str, Window] = {}
    ready = "#gan-lab-plane-a img.gan-lab-picture"
    with tab_in_chromium(gan_lab, ModelStore(), gan_lab.CSS, ready) as page:
        page.evaluate(HOOK_JS)
        echo_ms = [page.evaluate(ECHO_JS) for _ in range(7)][2:]  # two to warm up
        windows["collapse"] = _play_window(page, lambda: page.click("#gan-lab-play"))
        race = presets.preset("wgan_gp").label
        windows["wgan_gp"] = _play_window(
            page, lambda: page.locator("#gan-lab-preset").get_by_text(race, exact=True).click()
        )
        echo_ms += [page.evaluate(ECHO_JS) for _ in range(5)]
    echo = statistics.median(echo_ms)
    rows = []
    for key, what in (("collapse", "one run"), ("wgan_gp", "race of two")):
        w = windows[key]
        ms = 1000 / w.fps if w.fps > 0 else float("inf")
        figure = f"2-D GAN lab frame drawn in Chromium, {what} ({presets.preset(key).label})"
        target = f"≤ {1000 / TARGET_FPS:.0f} ms (≥ {TARGET_FPS:.0f} frames/s)"
        ok = w.fps >= TARGET_FPS
        rows.append(Row(figure, ms, "ms", echo, "Gradio round trip doing nothing", target, ok))
        server = _server_frame_ms(key)
        rows.append(Row(figure, ms, "ms", server, "the frame's server work in-process"))
        # CPU time per frame drawn: what a frame costs whatever else the machine runs
        frames = max(w.frames, 1)
        for who, seconds in (("server", w.server_cpu_s), ("Chromium", w.browser_cpu_s)):
            name = f"{who} CPU per frame drawn, {what}"
            rows.append(Row(name, 1000 * seconds / frames, "ms", server, "frame work in-process"))
    return rows


def main() -> None:
    load = os.getloadavg()[0]
    rows = measure()
    print(f"load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at the end")
    print(format_table(rows, "2-D GAN lab in the browser (frames drawn while playing)"))
    for row in rows[::4]:
        print(f"{row.figure}: {1000 / row.value:.2f} frames/s")


if __name__ == "__main__":
    main()
