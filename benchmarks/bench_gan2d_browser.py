"""2-D GAN lab frames per second as headless Chromium draws them, while a preset plays.

The tab alone (benchmarks.common.tab_in_chromium) is opened in Debian's Chromium; a
MutationObserver on plane A notes the time of every new step number in its title, i.e. every
frame that reached the screen. After a warm-up, frames are counted for WINDOW_S seconds for
one run (the default "mode collapse" preset, started with Play) and for a race (the
"WGAN-GP covers the ring" preset, two planes and the curves per frame). Beside each, measured
in the same run: a do-nothing Gradio round trip on the same page and queue (#bench-echo),
and the frame's server work in-process (gan_lab.tick: the frame's steps, then the figures),
so a low figure says whether the queue, the server work or the browser is slow.
Target: ≥ 10 frames/s (issue #14). Run: python -m benchmarks gan2d_browser
"""

from __future__ import annotations

import os
import statistics
import time

from benchmarks.common import ECHO_JS, Row, format_table, tab_in_chromium

TARGET_FPS = 10.0
WINDOW_S = 8.0
WARM_S = 2.0

HOOK_JS = """
() => {
  window.__ganFrames = [];
  const plane = document.querySelector('#gan-lab-plane-a');
  const note = () => {
    const title = plane.querySelector('.gtitle');
    const m = title && title.textContent.match(/step ([\\d,]+)/);
    const frames = window.__ganFrames;
    if (m && (!frames.length || frames[frames.length - 1][1] !== m[1])) {
      frames.push([performance.now(), m[1]]);
    }
  };
  new MutationObserver(note).observe(
    plane, {subtree: true, childList: true, characterData: true});
}
"""


def _frames_per_second(page, start) -> float:
    """Frames drawn per second over WINDOW_S while playing (after WARM_S), then Pause."""
    start()
    page.wait_for_timeout(WARM_S * 1000)
    page.evaluate("() => { window.__ganFrames = []; }")
    page.wait_for_timeout(WINDOW_S * 1000)
    frames = page.evaluate("() => window.__ganFrames")
    page.click("#gan-lab-pause")
    page.wait_for_function(
        "document.querySelector('#gan-lab-status').innerText.includes('Paused')", timeout=60_000
    )
    if len(frames) < 2:
        return len(frames) / WINDOW_S
    return (len(frames) - 1) / ((frames[-1][0] - frames[0][0]) / 1000)


def _server_frame_ms(key: str, frames: int = 8) -> float:
    """The median time of the frame's callback in-process, playing preset `key`."""
    from advdemo.gan2d import presets
    from advdemo.gan2d.playback import Playback
    from advdemo.tabs import gan_lab

    playback = Playback.start(*gan_lab._split(presets.preset(key).pick(*presets.CONTROL_KEYS)))
    playback.playing = True
    gan_lab.tick(playback)  # warm
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        gan_lab.tick(playback)
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def measure() -> list[Row]:
    from advdemo.gan2d import presets
    from advdemo.models.store import ModelStore
    from advdemo.tabs import gan_lab

    fps: dict[str, float] = {}
    with tab_in_chromium(gan_lab, ModelStore(), gan_lab.CSS, "#gan-lab-plane-a .gtitle") as page:
        page.evaluate(HOOK_JS)
        echo_ms = [page.evaluate(ECHO_JS) for _ in range(7)][2:]  # two to warm up
        fps["collapse"] = _frames_per_second(page, lambda: page.click("#gan-lab-play"))
        race = presets.preset("wgan_gp").label
        fps["wgan_gp"] = _frames_per_second(
            page, lambda: page.locator("#gan-lab-preset").get_by_text(race, exact=True).click()
        )
        echo_ms += [page.evaluate(ECHO_JS) for _ in range(5)]
    echo = statistics.median(echo_ms)
    rows = []
    for key, what in (("collapse", "one run"), ("wgan_gp", "race of two")):
        ms = 1000 / fps[key] if fps[key] > 0 else float("inf")
        figure = f"2-D GAN lab frame drawn in Chromium, {what} ({presets.preset(key).label})"
        target = f"≤ {1000 / TARGET_FPS:.0f} ms (≥ {TARGET_FPS:.0f} frames/s)"
        ok = fps[key] >= TARGET_FPS
        rows.append(Row(figure, ms, "ms", echo, "Gradio round trip doing nothing", target, ok))
        server = _server_frame_ms(key)
        rows.append(Row(figure, ms, "ms", server, "the frame's server work in-process"))
    return rows


def main() -> None:
    load = os.getloadavg()[0]
    rows = measure()
    print(f"load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at the end")
    print(format_table(rows, "2-D GAN lab in the browser (frames drawn while playing)"))
    for row in rows[::2]:
        print(f"{row.figure}: {1000 / row.value:.2f} frames/s")


if __name__ == "__main__":
    main()
