"""The playground's orchestration on a tiny classifier: settings checked with the tab's
messages, one attack from photo to report (progress, PNG, checks, Markdown), and the ε sweep."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from advdemo.adversarial import playground
from advdemo.core.errors import InputError
from advdemo.models.wrappers import ImageClassifier
from tests.adversarial.conftest import TinyCNN

LABELS = [f"class {i}" for i in range(10)]


def tiny_classifier(seed: int = 0) -> ImageClassifier:
    return ImageClassifier(TinyCNN(seed=seed), (0.0,) * 3, (1.0,) * 3, 16, LABELS, 0.875)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    gen = torch.Generator().manual_seed(2)
    pixels = torch.randint(0, 256, (20, 20, 3), generator=gen, dtype=torch.uint8)
    return Image.fromarray(pixels.numpy())


def clean_class(model, photo) -> int:
    return int(model.probabilities(model.prepare(photo))[0].argmax())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"method": "deepfool"}, "method must be one of"),
        ({"mode": "sideways"}, "mode must be one of"),
        ({"eps_k": 65}, "at most 64"),
        ({"eps_k": 2.5}, "eps (k/255) must be a whole number"),
        ({"step_k": 0}, "at least 1"),
        ({"steps": 501}, "at most 500"),
        ({"lam": float("nan")}, "λ must be a finite number"),
        ({"method": "lecture", "mode": "untargeted"}, "always steers toward a target class"),
        ({"target": "class 11"}, "Unknown class"),
    ],
)
def test_attack_settings_refuse_bad_values(changes, message):
    args = {"method": "pgd", "eps_k": 4, "steps": 3, "target": "class 3", "mode": "targeted"}
    args |= {"step_k": 1, "lam": 1e-3} | changes
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        playground.attack_settings(LABELS, **args)


def test_attack_photo_reports_everything_the_tab_shows(photo, tmp_path):
    model, second = tiny_classifier(), tiny_classifier(seed=1)
    target = (clean_class(model, photo) + 3) % 10
    settings = playground.attack_settings(
        LABELS, "pgd", 8, 5, f"class {target}", "targeted", 2, 1e-3
    )
    calls = []
    result = playground.attack_photo(
        model,
        photo,
        settings,
        second=second,
        second_name="tiny two",
        folder=tmp_path,
        progress=lambda done, desc: calls.append((done, desc)),
    )
    assert calls[0] == ((0, 5), "PGD: starting")
    assert calls[-1] == (None, "checking PNG, JPEG, prints and the second model")
    assert [done for done, _ in calls[1:-1]] == [(i, 5) for i in range(6)]
    outputs = result.outputs()
    assert len(outputs) == 10 and outputs[-1] == result.download
    assert result.download.startswith(str(tmp_path)) and result.download.endswith(".png")
    assert result.adversarial.size == result.original.size == (16, 16)
    assert "(budget ε = 8/255)" in result.metrics
    assert result.summary.startswith("### ") and "ε = 8/255" in result.summary
    assert f"top-1 is **class {target}**" in result.checks
    assert "same PNG → tiny two" in result.checks
    assert "| printed and photographed | 8 simulated prints" in result.checks
    assert len(result.top5_before) == len(result.top5_after) == 5
    assert result.history.layout.title.text.startswith("PGD, 5 steps of 2/255, ε = 8/255")


def test_a_target_the_model_already_sees_is_refused(photo, tmp_path):
    model = tiny_classifier()
    seen = clean_class(model, photo)
    settings = playground.sweep_settings(LABELS, "fgsm", f"class {seen}", "targeted", 4)
    with pytest.raises(InputError, match=f"already says 'class {seen}'"):
        playground.sweep_photo(model, photo, settings)


@pytest.mark.parametrize(("method", "lines"), [("fgsm", 2), ("pgd", 4), ("lecture", 4)])
def test_sweep_shows_fgsm_and_pgd_unless_the_attack_is_fgsm(photo, method, lines):
    model = tiny_classifier()
    target = (clean_class(model, photo) + 1) % 10
    settings = playground.sweep_settings(LABELS, method, f"class {target}", "targeted", 4)
    figure = playground.sweep_photo(model, photo, settings, ks=range(5))
    assert len(figure.data) == lines
    assert all(list(trace.x) == list(range(5)) for trace in figure.data)


def test_the_second_model_is_lite2_unless_lite2_is_attacked_or_another_is_chosen():
    assert playground.transfer_model_name("efficientnet-lite0") == "efficientnet-lite2"
    assert playground.transfer_model_name("efficientnet-lite2", "auto") == "efficientnet-lite0"
    adversarially_trained = playground.transfer_model_name(
        "efficientnet-lite0", "timm/adv_inception_v3"
    )
    assert adversarially_trained == "timm/inception_v3.tf_adv_in1k"  # timm's full name
    with pytest.raises(InputError, match="second model"):
        playground.transfer_model_name("efficientnet-lite0", "efficientnet-lite0")
    with pytest.raises(InputError, match="Unknown model"):
        playground.transfer_model_name("efficientnet-lite0", "lite9")


def test_the_first_answer_comes_before_any_check_and_matches_the_whole_report(photo, tmp_path):
    """Issue #16: the pictures and top-5s as soon as the attack ends; checks, plot, PNG after."""
    model, second = tiny_classifier(), tiny_classifier(seed=1)
    asked = []
    real = second.probabilities
    second.probabilities = lambda x: asked.append(1) or real(x)
    target = (clean_class(model, photo) + 3) % 10
    settings = playground.attack_settings(
        LABELS, "pgd", 8, 5, f"class {target}", "targeted", 2, 1e-3
    )
    stages = playground.attack_stages(
        model, photo, settings, second=second, second_name="tiny two", folder=tmp_path
    )
    first = next(stages)
    assert asked == [] and list(tmp_path.iterdir()) == []  # no check, no PNG yet
    assert first.history is None and first.download is None
    assert first.checks == playground.CHECKING
    whole = next(stages)
    assert asked == [1] and whole.download.startswith(str(tmp_path))
    assert whole.history is not None and "tiny two" in whole.checks
    for name in ("top5_after", "top5_before", "metrics", "summary"):
        assert getattr(first, name) == getattr(whole, name), name
    assert first.adversarial.tobytes() == whole.adversarial.tobytes()
    with pytest.raises(StopIteration):
        next(stages)
    # the summary's "after" is the attacked crop's top-1, as the checks' first row has it
    top = max(whole.top5_after, key=whole.top5_after.get)
    assert f"→ **{top} " in whole.summary
