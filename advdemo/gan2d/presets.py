"""The 2-D GAN's presets: one click sets every control and plays a scenario of the lecture.

A preset's values are run A's settings (trainer.SETTING_KEYS), run B's differences when it
is a race (RACE_CONTROL_KEYS, None when not racing) and how to play it (steps per frame,
budget), named as the tab's controls; its note says what to look for.
"""

from __future__ import annotations

from collections.abc import Mapping

from advdemo.core.errors import choice
from advdemo.core.presets import Preset, by_key
from advdemo.gan2d.data import EXAMPLE_POINTS
from advdemo.gan2d.playback import RACE_KEYS
from advdemo.gan2d.trainer import SETTING_KEYS, Gan2dConfig

RACE_CONTROL_KEYS = ("race", *(f"{k}_b" for k in RACE_KEYS))
PLAYBACK_KEYS = ("steps_per_frame", "budget")
CONTROL_KEYS = (*SETTING_KEYS, *RACE_CONTROL_KEYS, *PLAYBACK_KEYS)

# What to look for once you train on points of your own (no preset describes that run).
OWN_POINTS_NOTE = (
    "Your points: each is a mode, a small blob. Watch the coverage curve: does G reach every "
    "blob, or settle on a few and hop between them? Then race two losses (e.g. NS against "
    "WGAN-GP) on the same points from the same start."
)

_BASE = {k: getattr(Gan2dConfig(), k) for k in SETTING_KEYS} | {
    "loss": "ns",
    "points": EXAMPLE_POINTS,  # kept in the box, used only when the data set is 'your points'
}


def _scenario(
    key: str,
    label: str,
    settings: Mapping[str, object],
    *,
    race: Mapping[str, object] | None = None,
    steps: int,
    steps_per_frame: int,
    look_for: str,
) -> Preset:
    a = {**_BASE, **settings}
    b = {f"{k}_b": (race or {}).get(k, a[k]) for k in RACE_KEYS}
    values = {**a, "race": race is not None, **b, "steps_per_frame": steps_per_frame}
    return Preset(key, label, {**values, "budget": steps}, note=look_for)


COLLAPSE = {"loss": "ns", "k_d": 5, "lr_d": 5e-3, "lr_g": 1e-3}
WGAN_GP = {"loss": "wgan_gp", "k_d": 5, "lr_d": 2e-3, "lr_g": 2e-3, "gp_weight": 1.0}

PRESETS: tuple[Preset, ...] = (
    _scenario(
        "collapse",
        "mode collapse",
        COLLAPSE,
        steps=1000,
        steps_per_frame=4,
        look_for=(
            "D takes five quick steps for every G step. The samples soon settle on three or "
            "so of the eight modes and stay there, sharp and of high quality: the coverage "
            "curve flattens far below 8 while the quality curve keeps rising. G has found a "
            "few points D cannot tell from real ones and has no reason to leave them."
        ),
    ),
    _scenario(
        "hopping",
        "mode hopping",
        {"loss": "ns", "lr_d": 1e-3, "lr_g": 5e-3},
        steps=2000,
        steps_per_frame=10,
        look_for=(
            "Now G learns five times faster than D. The whole batch rushes to whichever spot D "
            "rates most real; D learns to reject it and the cluster jumps on to another mode: "
            "watch it travel round the ring while coverage stays at 0 or 1 (the Metz et al. "
            "figure in the Durham notes)."
        ),
    ),
    _scenario(
        "wgan_gp",
        "WGAN-GP covers the ring (race)",
        COLLAPSE,
        race=WGAN_GP,
        steps=500,
        steps_per_frame=3,
        look_for=(
            "A (left) is the collapsing NS GAN of the first preset; B (right) is WGAN-GP from "
            "the very same weights and batches. B's critic is kept close to 1-Lipschitz by its "
            "penalty, so its score rises smoothly towards every mode and B's samples spread "
            "over all eight: B's coverage curve climbs to 8 while A's stays near 3."
        ),
    ),
    _scenario(
        "saturating",
        "saturating loss stalls (race MM vs NS)",
        {"loss": "mm", "k_d": 5, "lr_d": 1e-2, "lr_g": 1e-3},
        race={"loss": "ns"},
        steps=600,
        steps_per_frame=3,
        look_for=(
            "Five fast D steps per G step: D soon rejects every fake, D(G(z)) ≈ 0, and "
            "log(1 − D(G(z))) is flat there, so A's arrows (MM, left) are short and its "
            "samples hardly move for a while. B (right) has the same D but minimises "
            "−log D(G(z)), whose gradient is largest exactly there: its samples reach the "
            "modes much sooner."
        ),
    ),
    _scenario(
        "d_strong",
        "D too strong (race: spectral norm)",
        {"loss": "ns", "k_d": 10, "lr_d": 1e-2, "lr_g": 1e-3, "d_width": 128},
        race={"spectral_norm": True},
        steps=500,
        steps_per_frame=2,
        look_for=(
            "A wide D takes ten big steps per G step. A's D (left) jumps from 0 to 1 across "
            "thin borders, so G's arrows are long near a border and vanish elsewhere: A "
            "settles on about three modes. B (right) is the same with spectral normalisation: "
            "D's slope is bounded, its map stays smooth, and although B starts slower it "
            "keeps a useful signal and spreads over 7-8 modes by step 400-500 (seed 0)."
        ),
    ),
)
DEFAULT_PRESET = "collapse"


def preset(key: object) -> Preset:
    return by_key(PRESETS, choice("preset", key, [p.key for p in PRESETS]))


def settings(preset: Preset) -> dict[str, object]:
    """Run A's settings (what make_config takes)."""
    return {k: preset[k] for k in SETTING_KEYS}


def race(preset: Preset) -> dict[str, object] | None:
    """Run B's differences, or None when the preset is not a race."""
    if not preset["race"]:
        return None
    return {k: preset[f"{k}_b"] for k in RACE_KEYS}
