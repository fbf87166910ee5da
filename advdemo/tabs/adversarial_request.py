"""One /attack request, read once: the playground's classifier, the checked attack settings, the
photo and the transfer check's second model, and the cache keys of what they give.

The playground's `attack`, its `attack_known` (is that answer kept?) and the physical-world
section's `physical_world` all start here, so the same request is checked in the same order
(the same message for the same bad value) and gives the same key wherever it is asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from advdemo.adversarial import physical, playground
from advdemo.core import cache, images
from advdemo.models import registry
from advdemo.models.store import ModelStore
from advdemo.models.wrappers import ImageClassifier


def classifier(store: ModelStore, model_name: object) -> ImageClassifier:
    """The model for attacks: BatchNorm folded and channels_last (the store's gradient path)."""
    return store.gradient_classifier(registry.classifier_name(model_name), progress=True)


@dataclass(frozen=True)
class AttackRequest:
    """An /attack request's values, checked; `model_name` as asked (the keys use it)."""

    model_name: object
    model: ImageClassifier
    settings: playground.Settings
    photo: Image.Image
    second: str  # the transfer check's model, by registry name

    def key(self, kind: str, *extra: object) -> str:
        """The cache key of result `kind` of this request (and of `extra`, the kind's own
        values): the model as asked, the photo's pixels and every setting the attack's result
        depends on."""
        s = self.settings
        attack = (s.attack.key, s.target_class, s.eps_k, s.steps, s.step_k, s.lam, s.start)
        return cache.content_key(kind, self.model_name, self.photo, *attack, *extra)

    @property
    def attack_key(self) -> str:
        """The key of the playground's attack report (its transfer check's model included)."""
        return self.key("attack", self.second)


def read(
    store: ModelStore, image, model_name, *values, transfer=playground.AUTO_TRANSFER
) -> AttackRequest:
    """An /attack request checked in the order of its parameters (InputError with the message
    for the first bad one): the classifier loaded (its labels check the target), `values` (the
    attack's method, eps_k, steps, target, mode, step_k, lam and optionally start, as
    playground.attack_settings takes them), the photo, then the transfer check's model."""
    model = classifier(store, model_name)
    settings = playground.attack_settings(model.labels, *values)
    photo = physical.check_photo(images.load_image(image))  # a webcam frame, too
    second = playground.transfer_model_name(model_name, transfer)
    return AttackRequest(model_name, model, settings, photo, second)


def download_exists(report: playground.AttackReport) -> bool:
    """Whether a kept attack report's PNG to download is still there (pruned after an hour)."""
    return report.download is not None and Path(report.download).is_file()
