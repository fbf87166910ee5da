"""One /attack request read once (tabs/adversarial_request.py): /attack, its "is it kept?"
check and /physical_world key the same request alike, and any value that changes the result,
the photo's pixels included, changes the key."""

from __future__ import annotations

import re
import shutil

import pytest

from advdemo.adversarial import playground
from advdemo.core import images
from advdemo.core.cache import shared
from advdemo.core.errors import InputError
from advdemo.tabs import adversarial
from advdemo.tabs import adversarial_physical as section
from advdemo.tabs import adversarial_request as request
from tests.tabs.test_adversarial import CAT, MODEL, PRESET, FreshCache, fake_attack_photo, final

# Each differs from PRESET (then start "photo", transfer "auto") in one value.
VARIANTS = {
    "model": ("efficientnet-lite2", *PRESET[1:]),
    "method": (MODEL, "fgsm", *PRESET[2:]),
    "eps": (MODEL, "pgd", 5, *PRESET[3:]),
    "steps": (MODEL, "pgd", 4, 21, *PRESET[4:]),
    "target": (MODEL, "pgd", 4, 20, "goldfish", *PRESET[5:]),
    "mode": (MODEL, "pgd", 4, 20, "common iguana", "untargeted", 1, 0.001),
    "step": (MODEL, "pgd", 4, 20, "common iguana", "targeted", 2, 0.001),
    "lambda": (MODEL, "pgd", 4, 20, "common iguana", "targeted", 1, 0.01),
    "start": (*PRESET, "grey"),
    "transfer": (*PRESET, "photo", "timm/resnet18"),
}


def read(store, image, *values):
    """request.read with values in /attack's order (start and transfer optional)."""
    settings, transfer = values[:9], values[9:]
    return request.read(store, image, *settings, transfer=transfer[0] if transfer else "auto")


@pytest.fixture
def copies(tmp_path):
    """The cat at another path (same pixels) and with one pixel a grey level brighter."""
    same = tmp_path / "same-cat.png"
    shutil.copy(CAT, same)
    nudged = images.load_image(CAT)
    nudged.putpixel((10, 20), tuple(min(255, v + 1) for v in nudged.getpixel((10, 20))))
    nudged.save(tmp_path / "nudged-cat.png")
    return str(same), str(tmp_path / "nudged-cat.png")


def test_attack_and_its_known_check_key_a_request_alike(store, monkeypatch, copies):
    monkeypatch.setattr(playground, "attack_stages", fake_attack_photo([]))
    fresh = FreshCache(store)
    same, nudged = copies
    assert not adversarial.attack_known(fresh, CAT, *PRESET)
    final(adversarial.attack(fresh, CAT, *PRESET))
    key = read(fresh, CAT, *PRESET).attack_key
    assert shared(fresh).peek(key) is not None  # the attack kept its report under this key
    assert adversarial.attack_known(fresh, CAT, *PRESET)
    assert adversarial.attack_known(fresh, same, *PRESET)  # the content counts, not the path
    assert read(fresh, same, *PRESET).attack_key == key
    assert not adversarial.attack_known(fresh, nudged, *PRESET)
    keys = {"preset": key, "one pixel": read(fresh, nudged, *PRESET).attack_key}
    for name, values in VARIANTS.items():
        keys[name] = read(fresh, CAT, *values).attack_key
        assert not adversarial.attack_known(fresh, CAT, *values), name
    assert len(set(keys.values())) == len(keys)


def test_the_physical_world_keys_its_prints_on_the_attack_and_its_own_values(store):
    asked = read(store, CAT, *PRESET)
    prints = asked.key("physical_world", 8, 0.4, 0)
    assert prints == read(store, CAT, *PRESET).key("physical_world", 8, 0.4, 0)
    others = {asked.attack_key, asked.key("physical_world", 9, 0.4, 0)}
    others |= {asked.key("physical_world", 8, 0.45, 0), asked.key("physical_world", 8, 0.4, 1)}
    for name, values in VARIANTS.items():
        if name != "transfer":
            others.add(read(store, CAT, *values).key("physical_world", 8, 0.4, 0))
    assert len(others) == 4 + len(VARIANTS) - 1 and prints not in others
    # the prints are of the attack with the automatic transfer check, whatever was asked
    assert read(store, CAT, *VARIANTS["transfer"]).key("physical_world", 8, 0.4, 0) == prints


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (("no-such-model", *PRESET[1:]), "no-such-model"),
        ((MODEL, "pgd", 99, *PRESET[3:]), "eps (k/255)"),
        ((MODEL, "pgd", 4, 20, "no such class", *PRESET[5:]), "no such class"),
        ((*PRESET, "sideways"), "start"),
    ],
)
def test_the_three_endpoints_answer_a_bad_value_with_one_message(store, values, message):
    endpoints = (
        lambda: final(adversarial.attack(store, CAT, *values)),
        lambda: adversarial.attack_known(store, CAT, *values),
    )
    if len(values) == len(PRESET):  # /physical_world has no start
        endpoints += (lambda: section.physical_world(store, CAT, *values, 2, 1.0, 0),)
    messages = set()
    for call in endpoints:
        with pytest.raises(InputError, match=re.escape(message)) as caught:
            call()
        messages.add(str(caught.value))
    assert len(messages) == 1, messages
