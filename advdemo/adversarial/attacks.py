"""The registry of attacks: name → `Attack` (title, the parameters it uses, targeted support and
its function), and `run_attack`, the one way to run any of them by name.

The app's method radio and the API's `method` values ("fgsm", "pgd", "lecture") come from
ATTACKS; adding an attack is one module with its function and an ATTACK, plus one line here. The
function takes (model, x) and then, under run_attack's names (base.SETTINGS), the settings it
uses; run_attack passes it exactly those. Each attack module follows one template (torchattacks'
style): images in [0, 1] with normalisation inside the model, a docstring naming the paper, the
norm, the arguments with their defaults and the input range; targeted mode flips the loss's
sign; every step is clamped to [0, 1] and the eps ball (see advdemo.adversarial.base).
"""

from __future__ import annotations

from torch import Tensor

from advdemo.adversarial import fgsm, lecture, pgd
from advdemo.adversarial.base import Attack, Model, StepCallback
from advdemo.core.errors import InputError, choice

ATTACKS: dict[str, Attack] = {a.key: a for a in (fgsm.ATTACK, pgd.ATTACK, lecture.ATTACK)}


def get(method: object) -> Attack:
    """The attack called `method`; InputError listing the known names otherwise."""
    return ATTACKS[choice("method", method, list(ATTACKS))]


def choices() -> list[tuple[str, str]]:
    """(label, key) per attack, in registry order: the method radio's choices."""
    return [(a.label, a.key) for a in ATTACKS.values()]


def run_attack(
    method: str,
    model: Model,
    x: Tensor,
    y: Tensor | int,
    *,
    eps: float,
    target: Tensor | int | None = None,
    steps: int = 40,
    alpha: float = 1 / 255,
    lam: float = 1e-3,
    lr: float = 1 / 255,
    random_start: bool = True,
    seed: int | None = 0,
    quantize: bool = False,
    callback: StepCallback | None = None,
    best: bool = True,
) -> Tensor:
    """Run the attack named `method` (a key of ATTACKS) with the arguments it uses.

    FGSM ignores steps, alpha, lam, lr, random_start, seed and best (its one step is its
    result); PGD ignores lam and lr; the λ method ignores y, alpha, random_start and seed, and
    needs a target. `best`: return the strongest iterate seen rather than the last. Raises
    InputError for an unknown method.
    """
    attack = ATTACKS.get(method) if isinstance(method, str) else None
    if attack is None:
        raise InputError(f"Unknown attack {method!r}; known attacks: {', '.join(ATTACKS)}.")
    if attack.targeted == "required" and target is None:
        raise InputError(
            f"{attack.subject} steers the image toward a target class: "
            "switch to targeted and pick a class."
        )
    settings = {
        "y": y,
        "eps": eps,
        "target": target,
        "steps": steps,
        "alpha": alpha,
        "lam": lam,
        "lr": lr,
        "random_start": random_start,
        "seed": seed,
        "quantize": quantize,
        "callback": callback,
        "best": best,
    }
    return attack.function(model, x, **{k: v for k, v in settings.items() if k in attack.arguments})
