"""A SafetyNet-style detector (CS230): a second network that tells clean digits from
adversarial ones, and the attack that fools the classifier and the detector together.

The detector is one of the digits networks with two outputs (0 = clean, 1 = adversarial),
trained by `defence.Training` on clean training digits and their PGD versions made against the
classifier. Its detection rate is measured on held-out digits whose attack fooled the
classifier. The adaptive attacker knows the detector is there and attacks both at once: PGD
steps up the classifier's loss on the true class while stepping down the detector's loss on
"clean", so an example must fool the classifier and look clean to the detector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from advdemo.adversarial.base import check_eps, check_steps, project, seeded_uniform
from advdemo.adversarial.defence import (
    PGD_STEP_FACTOR,
    TrainedModel,
    Training,
    TrainProgress,
    TrainSettings,
)
from advdemo.adversarial.digits import DigitData
from advdemo.adversarial.pgd import pgd
from advdemo.core.errors import finite

CLEAN, ADVERSARIAL = 0, 1
MAX_DETECTOR_WEIGHT = 100.0


@dataclass(frozen=True)
class DetectorSettings:
    """eps and steps of the PGD examples the detector learns from (and is tested on); the
    detector's own architecture, epochs and seed."""

    eps: float = 0.15
    steps: int = 10
    arch: str = "cnn"
    epochs: int = 10
    seed: int = 0

    def check(self) -> DetectorSettings:
        TrainSettings(arch=self.arch, epochs=self.epochs, seed=self.seed).check()
        return DetectorSettings(
            check_eps(self.eps),
            check_steps(self.steps),
            self.arch,
            int(self.epochs),
            int(self.seed),
        )


def attack_classifier(
    classifier: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, eps: float, steps: int, seed=0
) -> Tensor:
    """The non-adaptive attack: PGD against the classifier alone (it ignores the detector)."""
    return pgd(classifier, x, y, eps, PGD_STEP_FACTOR * eps / steps, steps, seed=seed)


def detector_data(
    classifier: Callable[[Tensor], Tensor], data: DigitData, settings: DetectorSettings
) -> DigitData:
    """Clean digits labelled 0 and their PGD versions labelled 1, training and held-out
    halves kept apart as in `data`."""
    s = settings

    def both(x: Tensor, y: Tensor, seed: int) -> tuple[Tensor, Tensor]:
        x_adv = attack_classifier(classifier, x, y, s.eps, s.steps, seed)
        labels = torch.cat([torch.full_like(y, CLEAN), torch.full_like(y, ADVERSARIAL)])
        return torch.cat([x, x_adv]), labels

    train = both(data.train_x, data.train_y, s.seed)
    test = both(data.test_x, data.test_y, s.seed + 1)
    return DigitData(f"{data.name}, clean vs PGD", *train, *test, classes=2)


def training(
    classifier: Callable[[Tensor], Tensor], data: DigitData, settings: DetectorSettings
) -> Training:
    """The detector's training run (iterate it; see defence.Training)."""
    settings = settings.check()
    pairs = detector_data(classifier, data, settings)
    return Training(
        pairs, TrainSettings(arch=settings.arch, epochs=settings.epochs, seed=settings.seed)
    )


def train_detector(
    classifier: Callable[[Tensor], Tensor],
    data: DigitData,
    settings: DetectorSettings,
    progress: Callable[[TrainProgress], None] | None = None,
) -> TrainedModel:
    run = training(classifier, data, settings)
    for step in run:
        if progress is not None:
            progress(step)
    return run.result


def adaptive_attack(
    classifier: Callable[[Tensor], Tensor],
    detector: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    eps: float,
    steps: int,
    *,
    weight: float = 1.0,
    seed: int = 0,
) -> Tensor:
    """PGD against both networks: each step goes up the sign of the gradient of
    CE(classifier(x'), y) − weight · CE(detector(x'), clean), within the ε-ball and [0, 1].
    Each image's iterate that fools both (or, failing that, the last) is returned."""
    eps, steps = check_eps(eps), check_steps(steps)
    weight = finite("detector weight", weight, 0, MAX_DETECTOR_WEIGHT)
    alpha = PGD_STEP_FACTOR * eps / steps
    x = x.detach()
    clean = torch.full_like(y, CLEAN)
    x_adv = project(x + seeded_uniform(x, seed) * eps, x, eps)
    found = x_adv.clone()
    done = torch.zeros(len(y), dtype=torch.bool)
    for _ in range(steps + 1):
        with torch.enable_grad():
            x_adv.requires_grad_(True)
            cls_logits, det_logits = classifier(x_adv), detector(x_adv)
            loss = F.cross_entropy(cls_logits, y, reduction="sum") - weight * F.cross_entropy(
                det_logits, clean, reduction="sum"
            )
            (grad,) = torch.autograd.grad(loss, x_adv)
        both = (cls_logits.argmax(-1) != y) & (det_logits.argmax(-1) == CLEAN)
        new = both & ~done
        found[new] = x_adv.detach()[new]
        done |= both
        x_adv = project(x_adv.detach() + alpha * grad.sign(), x, eps)
    found[~done] = x_adv[~done]
    return found


@dataclass(frozen=True)
class Detection:
    """What the detector does on held-out digits.

    false_alarms: clean digits flagged; fooled: adversarial digits the classifier got wrong;
    detected: of those, the share the detector flagged; fooled_both: of all digits, the share
    the attack turned into a wrong answer that the detector let through."""

    attack: str
    false_alarms: float
    fooled: float
    detected: float
    fooled_both: float


@torch.no_grad()
def detection(
    classifier: Callable[[Tensor], Tensor],
    detector: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    x_adv: Tensor,
    attack: str,
) -> Detection:
    wrong = classifier(x_adv).argmax(-1) != y
    flagged = detector(x_adv).argmax(-1) == ADVERSARIAL
    false_alarms = (detector(x).argmax(-1) == ADVERSARIAL).float().mean()
    detected = flagged[wrong].float().mean() if wrong.any() else torch.tensor(float("nan"))
    return Detection(
        attack,
        float(false_alarms),
        float(wrong.float().mean()),
        float(detected),
        float((wrong & ~flagged).float().mean()),
    )


def evaluate(
    classifier: Callable[[Tensor], Tensor],
    detector: Callable[[Tensor], Tensor],
    data: DigitData,
    settings: DetectorSettings,
    *,
    weight: float = 1.0,
) -> tuple[Detection, Detection, Tensor, Tensor]:
    """The detector against the plain PGD attack and against the adaptive one, on the
    held-out digits; also both attacks' images (for the pictures)."""
    s = settings.check()
    x, y = data.test_x, data.test_y
    plain = attack_classifier(classifier, x, y, s.eps, s.steps, s.seed + 1)
    adaptive = adaptive_attack(
        classifier, detector, x, y, s.eps, s.steps, weight=weight, seed=s.seed + 1
    )
    return (
        detection(classifier, detector, x, y, plain, "PGD on the classifier"),
        detection(classifier, detector, x, y, adaptive, "adaptive PGD on both"),
        plain,
        adaptive,
    )
