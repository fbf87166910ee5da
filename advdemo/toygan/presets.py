"""The 1-D GAN's presets: one click on a scenario of the lecture sets every control and plays.

Each preset's values are the game's settings (toygan.game.SETTING_KEYS) plus how to play it
(PLAYBACK_KEYS: steps per frame, step budget), named as the tab's controls; its note says
what a student should notice.
"""

from __future__ import annotations

from collections.abc import Mapping

from advdemo.core.errors import choice
from advdemo.core.presets import Preset, by_key
from advdemo.toygan.game import SETTING_KEYS

PLAYBACK_KEYS = ("steps_per_frame", "budget")
CONTROL_KEYS = (*SETTING_KEYS, *PLAYBACK_KEYS)  # every control a preset fills, in order


def _scenario(
    key: str,
    label: str,
    settings: Mapping[str, object],
    *,
    steps: int,  # the step budget that tells the story
    steps_per_frame: int,  # playback speed that keeps the interesting part watchable
    look_for: str,  # what a student should notice
) -> Preset:
    values = {**settings, "steps_per_frame": steps_per_frame, "budget": steps}
    return Preset(key, label, values, note=look_for)


_BASE = {
    "mu": 2.0,
    "sigma": 1.0,
    "theta0": -2.0,
    "lr_d": 0.05,
    "lr_g": 0.05,
    "optimizer": "sgd",
    "batch": 256,
    "k_d": 1,
    "g_loss": "non_saturating",
    "update": "alternating",
    "seed": 0,
    "d_optimal": False,
}

PRESETS: tuple[Preset, ...] = (
    _scenario(
        "converges",
        "converges",
        dict(_BASE),
        steps=2000,
        steps_per_frame=10,
        look_for=(
            "The green curve slides onto the black one, overshoots a little and settles; D "
            "flattens to 1/2 and meets D*; J(D) settles at 2 ln 2 and the JS divergence "
            "falls to 0. In the phase portrait the path spirals into the star."
        ),
    ),
    _scenario(
        "saturating",
        "saturating loss stalls",
        {**_BASE, "theta0": -4.0, "g_loss": "saturating"},
        steps=2500,
        steps_per_frame=15,
        look_for=(
            "D quickly learns to reject the far-away fakes (D(G(z)) ≈ 0), and with "
            "log(1 − D(G(z))) that leaves G almost no gradient: θ creeps for about a thousand "
            "steps before it finally takes off. The costs plot shows why: the batch sits at "
            "the left end, where log(1 − D) is flat and −log D is steep. Switch to the "
            "non-saturating loss while it creeps and θ leaves at once."
        ),
    ),
    _scenario(
        "d_strong",
        "D too strong",
        {**_BASE, "theta0": -6.0, "k_d": 5, "lr_d": 0.5, "g_loss": "saturating"},
        steps=2000,
        steps_per_frame=10,
        look_for=(
            "Five well-tuned D steps per G step and a far start: D separates real from fake "
            "perfectly, J(D) drops to 0, JS stays at ln 2, and the saturating G loss is flat, "
            "so θ does not move. The non-saturating loss gets the same G going within a "
            "hundred steps: a strong D only hurts together with the saturating loss."
        ),
    ),
    _scenario(
        "d_weak",
        "D too weak",
        {**_BASE, "lr_d": 0.001, "lr_g": 0.1},
        steps=4000,
        steps_per_frame=20,
        look_for=(
            "D learns 100 times slower than G, so G keeps following old advice: θ shoots past "
            "μ, swings back and rings for thousands of steps. Notice the moments when D is "
            "almost flat at 1/2 while θ is far from μ: D = 1/2 means only that D cannot tell, "
            "not that G is right."
        ),
    ),
    _scenario(
        "oscillates",
        "oscillates (simultaneous updates)",
        {
            **_BASE,
            "mu": 0.0,
            "theta0": 2.0,
            "lr_d": 0.02,
            "lr_g": 3.0,
            "update": "simultaneous",
        },
        steps=3000,
        steps_per_frame=3,
        look_for=(
            "Both players step from the same point at once. θ keeps swinging around μ and "
            "the path circles the star in the phase portrait instead of reaching it. Switch "
            "the update mode to alternating, where G answers the D that has just moved: the "
            "swings die out within a few hundred steps."
        ),
    ),
    _scenario(
        "wide_data",
        "real data wider than G (σ = 2)",
        {**_BASE, "sigma": 2.0},
        steps=2000,
        steps_per_frame=10,
        look_for=(
            "θ still reaches μ and D still flattens to 1/2, yet the curves differ and the JS "
            "divergence stays above 0. G cannot change its spread, and a D whose log-odds is a "
            "straight line cannot see a difference in spread. D* (red) can: it dips where G "
            "piles up its samples and rises in the tails, a shape no sigmoid of w·x + b has."
        ),
    ),
    _scenario(
        "d_optimal",
        "D optimal every step (Proposition 2)",
        {**_BASE, "d_optimal": True, "g_loss": "saturating", "lr_g": 0.5},
        steps=400,
        steps_per_frame=2,
        look_for=(
            "D is set to its best response before every G step, as the convergence proof "
            "assumes: the blue D(x) is D* for where G stood one step ago, so it trails the red "
            "D* by one G step. G, using the original log(1 − D(G(z))) cost, then descends the "
            "JS divergence itself: θ glides to μ without a swing and JS falls smoothly to 0. "
            "Set the initial θ to −8 and Reset: with no overlap JS is flat at ln 2, and even "
            "the best D gives G nothing to follow."
        ),
    ),
    _scenario(
        "narrow_data",
        "real data narrower than G (σ = 0.5)",
        {**_BASE, "sigma": 0.5},
        steps=2000,
        steps_per_frame=10,
        look_for=(
            "G's spread is fixed at 1, twice the data's. θ reaches μ, yet JS stays above 0 "
            "and its coverage part (dotted) ends above the quality part (dashed): every real "
            "sample lies in a narrow peak where G is thinner than the data, while only G's "
            "tails fall where there is no data (its middle sits where the data outweigh it). "
            "The σ = 2 preset gives the opposite order; with σ = 1 the two parts are equal."
        ),
    ),
)
DEFAULT_PRESET = "converges"


def preset(key: object) -> Preset:
    """The preset called `key`; InputError naming the known ones otherwise."""
    return by_key(PRESETS, choice("preset", key, [p.key for p in PRESETS]))


def settings(preset: Preset) -> dict[str, object]:
    """The game settings of `preset` (what make_config takes), without its playback."""
    return {k: preset[k] for k in SETTING_KEYS}
