"""Attacks: invariants on a tiny random CNN for every attack and mode, gradients against finite
differences, and the lecture's claims on the real EfficientNet-Lite0 (cat → iguana)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from advdemo import attacks, images, inference
from advdemo.errors import InputError

CAT_CLASSES = {"tiger cat", "Egyptian cat", "tabby"}
# Sample photos with an ImageNet class; the accepted labels for each.
SAMPLES = {
    "chelsea.png": CAT_CLASSES,
    "coffee.png": {"espresso", "cup"},
    "rocket.jpg": {"missile", "projectile"},
}


class TinyCNN(nn.Module):
    """A small random convnet on [0, 1] images with smooth activations (for finite differences)."""

    def __init__(self, classes: int = 10, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, classes)
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=gen) * 0.5
            p.requires_grad_(False)
        self.eval()

    def forward(self, x):
        h = torch.tanh(self.conv1((x - 0.5) / 0.25))
        h = torch.tanh(self.conv2(h))
        return self.fc(h.mean(dim=(2, 3))) * 4


@pytest.fixture(scope="module")
def tiny():
    return TinyCNN()


def grid_images(n: int = 3, side: int = 12, seed: int = 1) -> torch.Tensor:
    """Random images on the 8-bit grid, with some pixels at 0 and 1 to exercise the clamp."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, side, side), generator=gen).float() / 255
    x[:, :, 0, :] = 0.0
    x[:, :, -1, :] = 1.0
    return x


def run(method, model, x, y, eps, target, quantize):
    return attacks.run_attack(
        method,
        model,
        x,
        y,
        eps=eps,
        target=target,
        steps=5,
        alpha=max(eps / 4, 1 / 255),
        lam=1e-3,
        lr=max(eps / 3, 1 / 255),
        quantize=quantize,
    )


MODES = ["untargeted", "targeted"]


# --------------------------------------------------------------------------- invariants


@pytest.mark.parametrize("quantize", [False, True], ids=["float", "8bit"])
@pytest.mark.parametrize("k", [0, 1, 8, 64])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", list(attacks.ATTACKS))
def test_attack_stays_in_eps_ball_and_image_range(tiny, method, mode, k, quantize):
    if method == "lecture" and mode == "untargeted":
        pytest.skip("the λ method is targeted by construction (tested to refuse below)")
    x = grid_images()
    y = tiny(x).argmax(-1)
    target = (y + 3) % 10 if mode == "targeted" else None
    eps = k / 255
    x_adv = run(method, tiny, x, y, eps, target, quantize)
    assert x_adv.shape == x.shape
    assert torch.isfinite(x_adv).all()
    assert (x_adv - x).abs().max() <= eps + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    if quantize:
        levels = x_adv * 255
        assert (levels - levels.round()).abs().max() < 1e-4, "8-bit mode left off-grid values"
    if k == 0:
        assert torch.equal(x_adv, x)


@pytest.mark.parametrize("method", list(attacks.ATTACKS))
def test_quantize_never_leaves_the_ball_for_off_grid_images(tiny, method):
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 10, 10, generator=gen)  # not on the 8-bit grid
    y = tiny(x).argmax(-1)
    for eps in (0.3 / 255, 2.5 / 255):
        x_adv = run(method, tiny, x, y, eps, (y + 1) % 10, True)
        assert (x_adv - x).abs().max() <= eps + 1e-6
        assert x_adv.min() >= 0 and x_adv.max() <= 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_sign_attacks_move_the_loss_the_right_way(tiny, method, mode):
    x = grid_images(n=4)
    y = tiny(x).argmax(-1)
    target = (y + 5) % 10 if mode == "targeted" else None
    x_adv = run(method, tiny, x, y, 8 / 255, target, False)
    with torch.no_grad():
        before = attacks.attack_loss(tiny(x), y, target)
        after = attacks.attack_loss(tiny(x_adv), y, target)
    assert after > before


def test_pgd_per_image_budgets_are_respected(tiny):
    """The eps sweep batches several budgets; each image must keep its own."""
    x = grid_images(n=4).clone()
    eps = torch.tensor([0, 1, 4, 16], dtype=torch.float32).view(-1, 1, 1, 1) / 255
    alpha = torch.full_like(eps, 2 / 255)
    y = tiny(x).argmax(-1)
    x_adv = attacks._pgd(tiny, x, y, eps, alpha, 3, None, True, 0, True, None)
    per_image = (x_adv - x).abs().flatten(1).max(-1).values
    assert (per_image <= eps.flatten() + 1e-6).all()
    assert per_image[3] > 4 / 255  # the largest budget is used


def test_pgd_is_reproducible_from_its_seed(tiny):
    x = grid_images()
    y = tiny(x).argmax(-1)
    a = attacks.pgd(tiny, x, y, 8 / 255, 2 / 255, 3, seed=7)
    b = attacks.pgd(tiny, x, y, 8 / 255, 2 / 255, 3, seed=7)
    c = attacks.pgd(tiny, x, y, 8 / 255, 2 / 255, 3, seed=8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("method", list(attacks.ATTACKS))
def test_trace_records_every_iteration_and_ends_at_the_result(tiny, method):
    x = grid_images(n=1)
    y = int(tiny(x).argmax())
    trace = attacks.ProbabilityTrace(true_class=y, target_class=(y + 2) % 10)
    x_adv = attacks.run_attack(
        method, tiny, x, y, eps=8 / 255, target=(y + 2) % 10, steps=4, callback=trace
    )
    n = 1 if method == "fgsm" else 4
    assert trace.iterations == list(range(n + 1))
    final = tiny(x_adv).softmax(-1)[0]
    assert trace.true_prob[-1] == pytest.approx(float(final[y]), abs=1e-6)
    assert trace.target_prob[-1] == pytest.approx(float(final[(y + 2) % 10]), abs=1e-6)
    start = tiny(x).softmax(-1)[0]
    if method != "pgd":  # PGD's iteration 0 is its random start
        assert trace.true_prob[0] == pytest.approx(float(start[y]), abs=1e-6)


# --------------------------------------------------------------------------- gradients


def _finite_difference_check(f, x: torch.Tensor, grad: torch.Tensor, n: int = 12) -> None:
    gen = torch.Generator().manual_seed(0)
    flat = torch.randperm(x.numel(), generator=gen)[:n]
    h = 1e-6
    for i in flat.tolist():
        e = torch.zeros_like(x).view(-1)
        e[i] = h
        e = e.view_as(x)
        numeric = (f(x + e) - f(x - e)) / (2 * h)
        assert float(grad.view(-1)[i]) == pytest.approx(float(numeric), rel=1e-5, abs=1e-8)


@pytest.mark.parametrize("mode", MODES)
def test_input_gradient_matches_finite_differences(mode):
    model = TinyCNN().double()
    x = grid_images(n=1, side=6).double() * 0.8 + 0.1
    y = torch.tensor([2])
    target = torch.tensor([7]) if mode == "targeted" else None
    grad = attacks.input_gradient(model, x, y, target=target)

    def loss(z):
        with torch.no_grad():
            return attacks.attack_loss(model(z), y, target)

    _finite_difference_check(loss, x, grad)


def test_lecture_loss_gradient_matches_finite_differences():
    model = TinyCNN().double()
    x0 = grid_images(n=1, side=6).double()
    x = (x0 + 0.02).clamp(0, 1)
    target = torch.tensor([4])
    lam = 0.05

    def loss(z):
        return attacks.lecture_loss(model(z), z, x0, target, lam).sum()

    z = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss(z), z)
    with torch.no_grad():
        _finite_difference_check(loss, x, grad)


# --------------------------------------------------------------------------- metrics


def test_perturbation_size_and_magnified_view():
    x = torch.full((1, 3, 4, 5), 0.5)
    assert attacks.perturbation_size(x, x).psnr_db == math.inf
    x_adv = x + 2 / 255
    size = attacks.perturbation_size(x, x_adv)
    assert size.linf_k == pytest.approx(2, abs=1e-4)
    assert size.l2 == pytest.approx(2 / 255 * math.sqrt(60), rel=1e-4)
    assert size.psnr_db == pytest.approx(20 * math.log10(255 / 2), abs=1e-3)
    shown = attacks.magnified_perturbation(x, x + torch.tensor([8, 0, -8]).view(1, 3, 1, 1) / 255)
    assert shown[0, :, 0, 0].mul(255).round().tolist() == [208, 128, 48]
    huge = attacks.magnified_perturbation(x, x + 0.4)
    assert float(huge.max()) == 1.0  # clamped, as in Szegedy et al.'s figure


def test_png_roundtrip_is_exact_on_the_grid_and_jpeg_is_not():
    x = grid_images(n=1, side=32)
    assert torch.equal(attacks.png_roundtrip(x), x)
    assert not torch.equal(attacks.jpeg_roundtrip(x, 75), x)


@pytest.mark.parametrize("name", inference.names("classifier"))
def test_download_frame_makes_prepare_an_identity(name):
    """For every registered classifier: prepare(download_image(x)) == x, bit for bit."""
    spec = inference.spec(name)
    wrapper = inference.ImageClassifier(
        nn.Identity(), spec.mean, spec.std, spec.input_size, [], spec.crop_fraction
    )
    s = spec.input_size
    x = grid_images(n=1, side=s, seed=5)
    frame = attacks.download_image(x, wrapper)
    assert frame.size == (attacks.download_frame_size(s, spec.crop_fraction),) * 2
    assert torch.equal(wrapper.prepare(images.load_image(frame)).cpu(), x)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eps": -1 / 255}, "at least 0"),
        ({"eps": 65 / 255}, "at most 64/255"),
        ({"eps": float("nan")}, "finite"),
        ({"eps": "a lot"}, "number"),
        ({"steps": 0}, "at least 1"),
        ({"steps": 501}, "at most 500"),
        ({"steps": 2.5}, "whole number"),
        ({"alpha": -0.1}, "at least 0"),
        ({"lam": -1.0, "method": "lecture"}, "at least 0"),
        ({"lr": float("inf"), "method": "lecture"}, "finite"),
        ({"method": "lecture", "target": None}, "target class"),
        ({"method": "deepfool"}, "Unknown attack"),
        ({"y": torch.tensor([1, 2])}, "2 labels for 1 images"),
        ({"y": "cat"}, "class index"),
    ],
)
def test_bad_parameters_get_clear_messages(tiny, kwargs, message):
    args = {"method": "pgd", "eps": 8 / 255, "steps": 3, "target": 1, "y": 0}
    args.update(kwargs)
    method, y = args.pop("method"), args.pop("y")
    with pytest.raises(InputError, match=message):
        attacks.run_attack(method, tiny, grid_images(n=1), y, **args)


@pytest.mark.parametrize(
    "x",
    [torch.full((1, 3, 8, 8), 2.0), torch.full((1, 3, 8, 8), float("nan")), torch.zeros(3, 8, 8)],
    ids=["above-one", "nan", "no-batch"],
)
def test_bad_images_are_refused(tiny, x):
    with pytest.raises(InputError):
        attacks.fgsm(tiny, x, 0, 8 / 255)


def test_sweep_validates_and_starts_from_the_clean_image(tiny):
    x = grid_images(n=1)
    y = int(tiny(x).argmax())
    for method in ("fgsm", "pgd"):
        sweep = attacks.eps_sweep(tiny, x, y, range(0, 5), method=method, target=3, steps=2)
        assert sweep.ks == [0, 1, 2, 3, 4]
        clean = tiny(x).softmax(-1)[0]
        assert sweep.true_prob[0] == pytest.approx(float(clean[y]), abs=1e-6)
        assert sweep.target_prob[0] == pytest.approx(float(clean[3]), abs=1e-6)
    with pytest.raises(InputError, match="FGSM or PGD"):
        attacks.eps_sweep(tiny, x, y, method="lecture")
    with pytest.raises(InputError, match="at most 64"):
        attacks.eps_sweep(tiny, x, y, [65])


# --------------------------------------------------------------------------- the real model


@pytest.fixture(scope="module")
def lite0():
    """The model the tab attacks: Lite0 on inference's gradient path (BatchNorm folded)."""
    return inference.gradient_classifier("efficientnet-lite0")


@pytest.mark.parametrize("name", inference.names("classifier"))
def test_folding_batchnorm_keeps_every_classifier_the_same_function(name):
    """Every registered classifier architecture (random weights, random BN statistics)."""
    torch.manual_seed(0)
    net = inference.spec(name).build().eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    folded = inference.fold_batchnorm(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    if not any(isinstance(m, nn.BatchNorm2d) for m in net.modules()):  # ViT: nothing to fold
        original, traced = net.state_dict(), folded.state_dict()
        assert original.keys() == traced.keys()
        assert all(torch.equal(original[k], traced[k]) for k in original)
        return
    x = torch.rand(1, 3, 64, 64)  # convnets take any size; keeps the test fast
    with torch.no_grad():
        expected, got = net(x), folded(x)
    assert (got - expected).abs().max() <= 1e-3 * expected.abs().max()


def test_gradient_path_agrees_with_the_plain_classifier(lite0, cat):
    plain = inference.classifier("efficientnet-lite0")
    _, x = cat
    assert lite0.labels == plain.labels and lite0.input_size == plain.input_size
    assert torch.equal(lite0.prepare(cat[0]), plain.prepare(cat[0]))
    with torch.no_grad():
        assert (lite0(x) - plain(x)).abs().max() < 1e-3
    y = int(plain.probabilities(x).argmax())
    g_fast = attacks.input_gradient(lite0, x, y)
    g_plain = attacks.input_gradient(plain, x, y)
    assert (g_fast.sign() == g_plain.sign()).float().mean() > 0.999


@pytest.fixture(scope="module")
def cat(lite0):
    photo = images.load_image(images.asset("chelsea.png"))
    return photo, lite0.prepare(photo)


@pytest.fixture(scope="module")
def cat_to_iguana(lite0, cat):
    """The 'cat → iguana' preset: targeted PGD, eps 8/255, 40 steps of 1/255, 8-bit inside."""
    _, x = cat
    y = int(lite0.probabilities(x).argmax())
    iguana = lite0.class_index("common iguana")
    x_adv = attacks.pgd(lite0, x, y, 8 / 255, 1 / 255, 40, target=iguana, quantize=True)
    return y, iguana, x_adv


def test_fgsm_at_8_changes_the_cats_top1(lite0, cat):
    _, x = cat
    y = int(lite0.probabilities(x).argmax())
    assert lite0.labels[y] in CAT_CLASSES
    x_adv = attacks.fgsm(lite0, x, y, 8 / 255, quantize=True)
    assert (x_adv - x).abs().max() <= 8 / 255 + 1e-6
    assert int(lite0.probabilities(x_adv).argmax()) != y


def test_targeted_pgd_turns_the_cat_into_an_iguana(lite0, cat, cat_to_iguana):
    _, x = cat
    _, _, x_adv = cat_to_iguana
    assert (x_adv - x).abs().max() <= 8 / 255 + 1e-6
    assert lite0.labels[int(lite0.probabilities(x_adv).argmax())] == "common iguana"


def test_the_downloaded_png_still_fools_the_model(lite0, cat, cat_to_iguana, tmp_path):
    photo, _ = cat
    y, iguana, x_adv = cat_to_iguana
    path = tmp_path / "adversarial.png"
    attacks.download_image(x_adv, lite0, photo).save(path)
    uploaded = lite0.prepare(images.load_image(str(path)))
    assert torch.equal(uploaded.cpu(), x_adv.cpu()), "the upload path must give back the attack"
    checks = {c.name: c for c in attacks.robustness_checks(lite0, x_adv, path, y, iguana)}
    assert checks["PNG, uploaded again"].fooled
    assert checks["PNG, uploaded again"].top1 == iguana


def test_lecture_method_raises_the_target_probability(lite0, cat):
    _, x = cat
    iguana = lite0.class_index("common iguana")
    trace = attacks.ProbabilityTrace(true_class=0, target_class=iguana)
    x_adv = attacks.lecture_l2(
        lite0,
        x,
        iguana,
        lam=1e-3,
        steps=12,
        lr=1 / 255,
        eps=16 / 255,
        quantize=True,
        callback=trace,
    )
    assert (x_adv - x).abs().max() <= 16 / 255 + 1e-6
    before = float(lite0.probabilities(x)[0, iguana])
    after = float(lite0.probabilities(x_adv)[0, iguana])
    assert after > 10 * before
    assert trace.target_prob[-1] == pytest.approx(after, rel=1e-3, abs=1e-6)


def test_clean_accuracy_is_at_least_attacked_accuracy(lite0):
    x = torch.cat([lite0.prepare(images.load_image(images.asset(n))) for n in SAMPLES])
    clean = lite0.probabilities(x).argmax(-1)
    x_adv = attacks.pgd(lite0, x, clean, 4 / 255, 1 / 255, 6, quantize=True)
    attacked = lite0.probabilities(x_adv).argmax(-1)

    def accuracy(top1):
        hits = [lite0.labels[int(i)] in ok for i, ok in zip(top1, SAMPLES.values(), strict=True)]
        return sum(hits) / len(hits)

    assert accuracy(clean) == 1.0
    assert accuracy(clean) >= accuracy(attacked)
    assert accuracy(attacked) < accuracy(clean)


def test_lite2_download_roundtrip_and_transfer_check(lite0, cat, tmp_path):
    """Attack Lite2 at its own 260² input; its PNG comes back exactly; Lite0 gets a transfer."""
    photo, _ = cat
    lite2 = inference.classifier("efficientnet-lite2")
    x = lite2.prepare(photo)
    assert x.shape[-1] == 260
    y = int(lite2.probabilities(x).argmax())
    x_adv = attacks.fgsm(lite2, x, y, 4 / 255, quantize=True)
    path = tmp_path / "lite2.png"
    attacks.download_image(x_adv, lite2, photo).save(path)
    assert torch.equal(lite2.prepare(images.load_image(str(path))).cpu(), x_adv.cpu())
    checks = attacks.robustness_checks(lite2, x_adv, path, y, None, other=lite0)
    assert [c.name for c in checks][-1] == "transfer to a second model"
    assert all(0 <= c.true_prob <= 1 for c in checks)
