"""Robustness: 8-bit PNG and JPEG round trips, the download frame that makes the upload path an
identity, and the checks (PNG uploaded again, transfer) on the real classifiers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advdemo.adversarial.fgsm import fgsm
from advdemo.adversarial.robustness import (
    download_frame_size,
    download_image,
    jpeg_roundtrip,
    png_roundtrip,
    robustness_checks,
)
from advdemo.core import images
from advdemo.models import registry
from advdemo.models.wrappers import ImageClassifier
from tests.adversarial.conftest import grid_images


def test_png_roundtrip_is_exact_on_the_grid_and_jpeg_is_not():
    x = grid_images(n=1, side=32)
    assert torch.equal(png_roundtrip(x), x)
    assert not torch.equal(jpeg_roundtrip(x, 75), x)


@pytest.mark.parametrize("name", registry.names("classifier"))
def test_download_frame_makes_prepare_an_identity(name):
    """For every registered classifier: prepare(download_image(x)) == x, bit for bit."""
    spec = registry.spec(name)
    net = nn.Identity()
    # The wrapper finds its device through a parameter; an identity network has none.
    net.register_parameter("anchor", nn.Parameter(torch.zeros(1), requires_grad=False))
    wrapper = ImageClassifier(net, spec.mean, spec.std, spec.input_size, [], spec.crop_fraction)
    s = spec.input_size
    x = grid_images(n=1, side=s, seed=5)
    frame = download_image(x, wrapper)
    assert frame.size == (download_frame_size(s, spec.crop_fraction),) * 2
    assert torch.equal(wrapper.prepare(images.load_image(frame)).cpu(), x)


def test_the_downloaded_png_still_fools_the_model(lite0, cat, cat_to_iguana, tmp_path):
    photo, _ = cat
    y, iguana, x_adv = cat_to_iguana
    path = tmp_path / "adversarial.png"
    download_image(x_adv, lite0, photo).save(path)
    uploaded = lite0.prepare(images.load_image(str(path)))
    assert torch.equal(uploaded.cpu(), x_adv.cpu()), "the upload path must give back the attack"
    checks = {c.name: c for c in robustness_checks(lite0, x_adv, path, y, iguana)}
    assert checks["PNG, uploaded again"].fooled
    assert checks["PNG, uploaded again"].top1 == iguana


def test_lite2_download_roundtrip_and_transfer_check(store, lite0, cat, tmp_path):
    """Attack Lite2 at its own 260² input; its PNG comes back exactly; Lite0 gets a transfer."""
    photo, _ = cat
    lite2 = store.classifier("efficientnet-lite2")
    x = lite2.prepare(photo)
    assert x.shape[-1] == 260
    y = int(lite2.probabilities(x).argmax())
    x_adv = fgsm(lite2, x, y, 4 / 255, quantize=True)
    path = tmp_path / "lite2.png"
    download_image(x_adv, lite2, photo).save(path)
    assert torch.equal(lite2.prepare(images.load_image(str(path))).cpu(), x_adv.cpu())
    checks = robustness_checks(lite2, x_adv, path, y, None, other=lite0)
    assert [c.name for c in checks][-1] == "transfer to a second model"
    assert all(0 <= c.true_prob <= 1 for c in checks)
