"""The 1-D GAN's playback session: the frame counter and the frame rate it reports.

The rate is measured from the times frames were asked for (given here, so nothing depends on
how fast this machine is): the status line must say what arrives, not what the timer asks.
"""

from __future__ import annotations

import pytest

from advdemo.toygan import presets
from advdemo.toygan.game import SETTING_KEYS
from advdemo.toygan.playback import FRAMES_PER_SECOND, RATE_WINDOW, PlaybackSession

VALUES = presets.settings(presets.preset("converges"))


def _session(steps_per_frame=10, budget=100_000) -> PlaybackSession:
    return PlaybackSession.start([VALUES[k] for k in SETTING_KEYS], steps_per_frame, budget)


def _play(session: PlaybackSession, times: list[float]) -> None:
    for t in times:
        session.advance(now=t)


def test_each_frame_counts_and_runs_its_steps():
    s = _session(steps_per_frame=7)
    s.resume()
    _play(s, [0.0, 0.1, 0.2])
    assert (s.frames, s.trainer.steps_done) == (3, 21)
    assert "frame 3" in s.status("Playing")


@pytest.mark.parametrize(("interval", "rate"), [(0.1, 10.0), (0.5, 2.0), (0.25, 4.0)])
def test_the_rate_is_measured_from_the_frames(interval, rate):
    s = _session()
    s.resume()
    _play(s, [i * interval for i in range(30)])
    assert s.frames_per_second() == pytest.approx(rate)
    status = s.status("Playing")
    assert f"{rate:.1f} frames/s measured (asked: {FRAMES_PER_SECOND})" in status


def test_a_slow_page_is_told_so_and_a_fast_one_is_not():
    slow, fast = _session(), _session()
    for s, interval in ((slow, 0.5), (fast, 0.1)):
        s.resume()
        _play(s, [i * interval for i in range(RATE_WINDOW + 1)])
    assert "not 10" in slow.status("Playing") and "busy" in slow.status("Playing")
    assert "busy" not in fast.status("Playing")


def test_the_rate_follows_the_last_frames_and_ignores_pauses():
    s = _session()
    s.resume()
    _play(s, [i * 0.5 for i in range(20)])  # slow at first
    _play(s, [10 + i * 0.1 for i in range(RATE_WINDOW + 1)])  # then fast
    assert s.frames_per_second() == pytest.approx(10.0)
    s.playing = False
    assert "frames/s" not in s.status("Paused")  # no rate while paused
    s.resume()  # a minute later: the pause is not one slow frame
    _play(s, [70.0, 70.1])
    assert s.frames_per_second() is None  # fewer than three frames since Play
    _play(s, [70.2])
    assert s.frames_per_second() == pytest.approx(10.0)
    assert s.frames == 20 + RATE_WINDOW + 1 + 3
