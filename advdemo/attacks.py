"""Adversarial attacks on image classifiers (FGSM, PGD, the lecture's λ method) and their checks.

Every attack works on images in [0, 1] (B, C, H, W): normalisation lives inside the model, so
eps is in pixel units (8/255 = eight steps of an 8-bit image). After every step the image is
clamped to [0, 1] and to the L∞ ball of radius eps around the original. Targeted mode is the
sign flip of the loss (step down the loss of the target class instead of up the loss of the true
class). Nothing here knows about Gradio.

Where we quantise to 8 bits (`quantize=True`, what the app uses): inside the loop. Every image
the model sees during the attack lies on the 8-bit grid, so the result is exactly what an 8-bit
PNG holds and saving it changes nothing. FGSM and PGD round each iterate (with eps and the step
size whole multiples of 1/255 their steps stay on the grid anyway; rounding removes float drift
and snaps the random start). The λ method takes small continuous steps that rounding would undo,
so it keeps a float copy, feeds the model that copy rounded (straight-through gradient) and
returns the rounded image.
"""

from __future__ import annotations

import difflib
import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from numbers import Integral

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from advdemo import images
from advdemo.errors import InputError, finite, whole

Model = Callable[[Tensor], Tensor]  # images (B, C, H, W) in [0, 1] -> logits (B, classes)

MAX_EPS_K = 64  # largest budget the app accepts, in 1/255 steps
MAX_EPS = MAX_EPS_K / 255
MAX_STEPS = 500
MAX_LAMBDA = 100.0
MAX_LR = 0.5


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class AttackStep:
    """What an attack reports to its callback: the logits at iterate `iteration` (0 = start).

    Iteration `steps` is the returned image. Logits are detached, fp32, (B, classes).
    """

    iteration: int
    steps: int
    logits: Tensor


StepCallback = Callable[[AttackStep], None]


@dataclass
class ProbabilityTrace:
    """A callback that records, for the first image of the batch, the probability of the true
    class and of the target class at every iteration (for the plots), and passes each step on
    to `on_step` (e.g. a progress bar)."""

    true_class: int
    target_class: int | None = None
    on_step: StepCallback | None = None
    iterations: list[int] = field(default_factory=list)
    true_prob: list[float] = field(default_factory=list)
    target_prob: list[float] = field(default_factory=list)
    top1: list[int] = field(default_factory=list)

    def __call__(self, step: AttackStep) -> None:
        probs = step.logits[0].float().softmax(-1)
        self.iterations.append(step.iteration)
        self.true_prob.append(float(probs[self.true_class]))
        if self.target_class is not None:
            self.target_prob.append(float(probs[self.target_class]))
        self.top1.append(int(probs.argmax()))
        if self.on_step is not None:
            self.on_step(step)


def _labels(value: Tensor | int, x: Tensor, name: str) -> Tensor:
    """An int or a (B,) tensor of class indices -> a (B,) long tensor on x's device."""
    if isinstance(value, Tensor):
        labels = value.to(device=x.device, dtype=torch.long).reshape(-1)
        if labels.numel() == 1 and x.shape[0] > 1:
            labels = labels.expand(x.shape[0])
    elif isinstance(value, Integral) and not isinstance(value, bool):
        labels = torch.full((x.shape[0],), int(value), dtype=torch.long, device=x.device)
    else:
        raise InputError(f"{name} must be a class index or a tensor of them, got {value!r}.")
    if labels.shape[0] != x.shape[0]:
        raise InputError(f"{name} has {labels.shape[0]} labels for {x.shape[0]} images.")
    return labels


def _check_images(x: Tensor) -> None:
    if not isinstance(x, Tensor) or x.dim() != 4 or not x.is_floating_point():
        raise InputError("Attacks take a float tensor of images shaped (B, C, H, W).")
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise InputError("Attacks take images with values in [0, 1] (normalise in the model).")


def check_eps(eps: float) -> float:
    """eps as a float in [0, 64/255], or InputError."""
    eps = finite("eps", eps)
    if eps < 0:
        raise InputError(f"eps must be at least 0, got {eps:g}.")
    if eps > MAX_EPS + 1e-9:
        raise InputError(f"eps must be at most {MAX_EPS_K}/255 ≈ {MAX_EPS:.3f}, got {eps:.4g}.")
    return eps


def check_steps(steps: int) -> int:
    return whole("steps", steps, 1, MAX_STEPS)


def round_in_ball(x_adv: Tensor, x: Tensor, eps: float | Tensor) -> Tensor:
    """Round to the 8-bit grid, staying in [0, 1] and within eps of x (when such a level exists).

    x itself is normally on the grid (it came from an 8-bit image); then the nearest level of
    x_adv is always allowed. Where no level lies within eps of an off-grid x, x_adv is kept.
    """
    # The 1e-4 grey-level slack absorbs float32 error (≈ 2e-5 levels near 255) so on-grid
    # bounds are not lost, while an off-grid x can overshoot the ball by at most 4e-7.
    lo = torch.ceil((x - eps).clamp(0, 1) * 255 - 1e-4) / 255
    hi = torch.floor((x + eps).clamp(0, 1) * 255 + 1e-4) / 255
    rounded = torch.round(x_adv * 255) / 255
    return torch.where(lo <= hi, torch.minimum(torch.maximum(rounded, lo), hi), x_adv)


def project(x_adv: Tensor, x: Tensor, eps: float | Tensor, quantize: bool = False) -> Tensor:
    """Clamp x_adv to the L∞ ball of radius eps around x and to [0, 1] (torchattacks' order),
    then, if `quantize`, onto the 8-bit grid inside both."""
    delta = torch.clamp(x_adv - x, min=-eps, max=eps)
    x_adv = torch.clamp(x + delta, min=0, max=1)
    return round_in_ball(x_adv, x, eps) if quantize else x_adv


def attack_loss(logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
    """The loss FGSM and PGD step up: cross-entropy of the true class, or minus the
    cross-entropy of the target class when targeted (mean over the batch)."""
    if target is None:
        return F.cross_entropy(logits, y)
    return -F.cross_entropy(logits, target)


def input_gradient(
    model: Model, x: Tensor, y: Tensor | int, *, target: Tensor | int | None = None
) -> Tensor:
    """∇ₓ of `attack_loss` at x: the direction FGSM and PGD follow (its sign)."""
    y_t = _labels(y, x, "y")
    t_t = None if target is None else _labels(target, x, "target")
    with torch.enable_grad():
        x_var = x.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(attack_loss(model(x_var), y_t, t_t), x_var)
    return grad


def lecture_loss(logits: Tensor, x_adv: Tensor, x: Tensor, target: Tensor, lam: float) -> Tensor:
    """½‖softmax(logits) − onehot(target)‖² + λ‖x_adv − x‖², one value per image (B,)."""
    low_precision = logits.dtype in (torch.float16, torch.bfloat16)
    probs = (logits.float() if low_precision else logits).softmax(-1)
    onehot = F.one_hot(target, probs.shape[-1]).to(probs.dtype)
    fit = 0.5 * (probs - onehot).pow(2).sum(-1)
    return fit + lam * (x_adv - x).to(probs.dtype).pow(2).flatten(1).sum(-1)


def _seeded_uniform(x: Tensor, seed: int | None) -> Tensor:
    """U(−1, 1) noise shaped like x; reproducible from `seed` on every device (drawn on CPU)."""
    if seed is None:
        return torch.empty_like(x).uniform_(-1, 1)
    gen = torch.Generator().manual_seed(int(seed))
    return (torch.rand(x.shape, generator=gen) * 2 - 1).to(x.device, x.dtype)


def _report(callback: StepCallback | None, model: Model, x_adv: Tensor, i: int, n: int) -> None:
    """Report the returned image's logits (one extra forward, only when someone listens)."""
    if callback is not None:
        with torch.no_grad():
            callback(AttackStep(i, n, model(x_adv).detach().float()))


# --------------------------------------------------------------------------- attacks


def fgsm(
    model: Model,
    x: Tensor,
    y: Tensor | int,
    eps: float,
    *,
    target: Tensor | int | None = None,
    quantize: bool = False,
    callback: StepCallback | None = None,
) -> Tensor:
    r"""FGSM, the fast gradient sign method: one step of size eps along the gradient's sign.

    Paper: Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial Examples",
    ICLR 2015 (arXiv:1412.6572).

    Distance measure: L∞.

    Args:
        model: images (B, C, H, W) in [0, 1] -> logits (B, classes); normalises inside; eval mode.
        x (Tensor): clean images (B, C, H, W) in [0, 1].
        y (Tensor | int): true classes (B,) or one class for all; the class to move away from.
        eps (float): L∞ budget in pixel units, 0 ≤ eps ≤ 64/255. (Default: none, e.g. 8/255)
        target (Tensor | int | None): class(es) to move toward instead. (Default: None, untargeted)
        quantize (bool): return an image on the 8-bit grid, still within eps. (Default: False)
        callback: called with an AttackStep at iteration 0 (x) and 1 (the result). (Default: None)

    Input range: [0, 1]; returns (B, C, H, W) in [0, 1] with ‖x_adv − x‖∞ ≤ eps.

    Example:
        >>> x_adv = fgsm(model, x, y, eps=8 / 255)
        >>> model(x_adv).argmax(-1)  # usually no longer y
    """
    _check_images(x)
    eps = check_eps(eps)
    y_t = _labels(y, x, "y")
    t_t = None if target is None else _labels(target, x, "target")
    x = x.detach()
    with torch.enable_grad():
        x_var = x.clone().requires_grad_(True)
        logits = model(x_var)
        (grad,) = torch.autograd.grad(attack_loss(logits, y_t, t_t), x_var)
    if callback is not None:
        callback(AttackStep(0, 1, logits.detach().float()))
    x_adv = project(x + eps * grad.sign(), x, eps, quantize).detach()
    _report(callback, model, x_adv, 1, 1)
    return x_adv


def pgd(
    model: Model,
    x: Tensor,
    y: Tensor | int,
    eps: float,
    alpha: float,
    steps: int,
    *,
    target: Tensor | int | None = None,
    random_start: bool = True,
    seed: int | None = 0,
    quantize: bool = False,
    callback: StepCallback | None = None,
) -> Tensor:
    r"""PGD, projected gradient descent: iterated FGSM steps of size alpha, projected back onto
    the eps ball and [0, 1] after each, from a random start inside the ball.

    Paper: Madry, Makelov, Schmidt, Tsipras, Vladu, "Towards Deep Learning Models Resistant to
    Adversarial Attacks", ICLR 2018 (arXiv:1706.06083); without the random start it is the
    iterative FGSM (BIM) of Kurakin, Goodfellow, Bengio (arXiv:1607.02533).

    Distance measure: L∞.

    Args:
        model: images (B, C, H, W) in [0, 1] -> logits (B, classes); normalises inside; eval mode.
        x (Tensor): clean images (B, C, H, W) in [0, 1].
        y (Tensor | int): true classes (B,) or one class for all; the class to move away from.
        eps (float): L∞ budget in pixel units, 0 ≤ eps ≤ 64/255. (Default: none, e.g. 8/255)
        alpha (float): step size in pixel units. (Default: none, e.g. 1/255 or 2/255)
        steps (int): number of gradient steps, 1..500. (Default: none, e.g. 10 or 40)
        target (Tensor | int | None): class(es) to move toward instead. (Default: None, untargeted)
        random_start (bool): start from a uniform random point in the ball. (Default: True)
        seed (int | None): seed of the random start; None = the global RNG. (Default: 0)
        quantize (bool): round every iterate to the 8-bit grid inside the ball; use whole
            multiples of 1/255 for eps and alpha then. (Default: False)
        callback: called with an AttackStep for iterations 0..steps. (Default: None)

    Input range: [0, 1]; returns (B, C, H, W) in [0, 1] with ‖x_adv − x‖∞ ≤ eps. With
    random_start=False, quantize=False it matches torchattacks.PGD bit for bit.

    Example:
        >>> x_adv = pgd(model, x, y, eps=8 / 255, alpha=1 / 255, steps=40, target=39)
        >>> model(x_adv).argmax(-1)  # 39, the common iguana, on most photos
    """
    _check_images(x)
    eps = check_eps(eps)
    alpha = finite("step size", alpha, 0, MAX_EPS)
    steps = check_steps(steps)
    y_t = _labels(y, x, "y")
    t_t = None if target is None else _labels(target, x, "target")
    return _pgd(
        model, x.detach(), y_t, eps, alpha, steps, t_t, random_start, seed, quantize, callback
    )


def _pgd(
    model: Model,
    x: Tensor,
    y: Tensor,
    eps: float | Tensor,
    alpha: float | Tensor,
    steps: int,
    target: Tensor | None,
    random_start: bool,
    seed: int | None,
    quantize: bool,
    callback: StepCallback | None,
) -> Tensor:
    """PGD's loop; eps and alpha may be (B, 1, 1, 1) tensors (one budget per image)."""
    x_adv = x.clone()
    if random_start:
        x_adv = project(x_adv + _seeded_uniform(x, seed) * eps, x, eps, quantize)
    elif quantize:
        x_adv = project(x_adv, x, eps, quantize)
    with torch.enable_grad():
        for i in range(steps):
            x_adv.requires_grad_(True)
            logits = model(x_adv)
            (grad,) = torch.autograd.grad(attack_loss(logits, y, target), x_adv)
            if callback is not None:
                callback(AttackStep(i, steps, logits.detach().float()))
            x_adv = x_adv.detach() + alpha * grad.sign()
            x_adv = project(x_adv, x, eps, quantize).detach()
    _report(callback, model, x_adv, steps, steps)
    return x_adv


def lecture_l2(
    model: Model,
    x: Tensor,
    target: Tensor | int,
    lam: float = 1e-3,
    steps: int = 50,
    lr: float = 1 / 255,
    *,
    eps: float = 16 / 255,
    quantize: bool = False,
    callback: StepCallback | None = None,
) -> Tensor:
    r"""The lecture's method: optimise the image itself to minimise
    ½‖softmax(f(x')) − onehot(target)‖² + λ‖x' − x‖², starting at x' = x.

    Paper: the formulation of Stanford CS230 (Katanforoosh & Ng), lecture 3, "Attacking
    networks with adversarial examples"; the trade-off term follows Szegedy et al., "Intriguing
    properties of neural networks", ICLR 2014 (arXiv:1312.6199).

    Distance measure: L2 penalty (λ), inside a hard L∞ ball (eps).

    The steps are Adam's (a gradient-descent variant that scales each pixel's step): the
    squared error on probabilities has tiny gradients while the target's probability is near
    0, and Adam's per-pixel scaling keeps the image moving anyway.

    Args:
        model: images (B, C, H, W) in [0, 1] -> logits (B, classes); normalises inside; eval mode.
        x (Tensor): clean images (B, C, H, W) in [0, 1].
        target (Tensor | int): class(es) to reach. (Default: none, e.g. 39 = common iguana)
        lam (float): λ, weight of the squared L2 distance, 0 ≤ λ ≤ 100. (Default: 1e-3)
        steps (int): gradient steps, 1..500. (Default: 50)
        lr (float): Adam's learning rate in pixel units per step. (Default: 1/255)
        eps (float): hard L∞ budget, 0 ≤ eps ≤ 64/255. (Default: 16/255)
        quantize (bool): the model sees, and you get back, the iterate rounded to the 8-bit grid
            (straight-through: the float copy keeps Adam's small steps). (Default: False)
        callback: called with an AttackStep for iterations 0..steps. (Default: None)

    Input range: [0, 1]; returns (B, C, H, W) in [0, 1] with ‖x_adv − x‖∞ ≤ eps.

    Example:
        >>> x_adv = lecture_l2(model, x, target=39, lam=1e-3, steps=50)
        >>> model(x_adv).softmax(-1)[:, 39]  # the iguana's probability, up from about 0
    """
    _check_images(x)
    eps = check_eps(eps)
    lam = finite("λ", lam, 0, MAX_LAMBDA)
    steps = check_steps(steps)
    lr = finite("learning rate", lr, 0, MAX_LR)
    t_t = _labels(target, x, "target")
    x = x.detach()
    shadow = x.clone().requires_grad_(True)  # the float iterate Adam moves
    optimiser = torch.optim.Adam([shadow], lr=lr)

    def seen(s: Tensor) -> Tensor:  # what the model is shown: s, or s rounded (straight-through)
        return s + (round_in_ball(s, x, eps) - s).detach() if quantize else s

    with torch.enable_grad():
        for i in range(steps):
            x_adv = seen(shadow)
            logits = model(x_adv)
            optimiser.zero_grad(set_to_none=True)
            lecture_loss(logits, x_adv, x, t_t, lam).sum().backward()
            if callback is not None:
                callback(AttackStep(i, steps, logits.detach().float()))
            optimiser.step()
            with torch.no_grad():
                shadow.copy_(project(shadow, x, eps))
    x_adv = project(shadow.detach(), x, eps, quantize)
    _report(callback, model, x_adv, steps, steps)
    return x_adv


ATTACKS = {
    "fgsm": "FGSM (one step)",
    "pgd": "PGD (iterative FGSM, random start)",
    "lecture": "the lecture's λ method",
}


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
) -> Tensor:
    """Run the attack named `method` (a key of ATTACKS) with the arguments it uses.

    FGSM ignores steps, alpha, lam and lr; PGD ignores lam and lr; the λ method ignores alpha
    and needs a target. Raises InputError for an unknown method.
    """
    if method == "fgsm":
        return fgsm(model, x, y, eps, target=target, quantize=quantize, callback=callback)
    if method == "pgd":
        return pgd(
            model,
            x,
            y,
            eps,
            alpha,
            steps,
            target=target,
            random_start=random_start,
            seed=seed,
            quantize=quantize,
            callback=callback,
        )
    if method == "lecture":
        if target is None:
            raise InputError(
                "The lecture's λ method steers the image toward a target class: "
                "switch to targeted and pick a class."
            )
        return lecture_l2(
            model, x, target, lam, steps, lr, eps=eps, quantize=quantize, callback=callback
        )
    raise InputError(f"Unknown attack {method!r}; known attacks: {', '.join(ATTACKS)}.")


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class PerturbationSize:
    """Size of x_adv − x: L∞ (also in 1/255 steps), L2 (over all values, [0, 1] units), PSNR."""

    linf: float
    l2: float
    psnr_db: float  # inf when nothing changed

    @property
    def linf_k(self) -> float:
        return self.linf * 255


def perturbation_size(x: Tensor, x_adv: Tensor) -> PerturbationSize:
    """L∞, L2 and PSNR (peak 1.0) of the difference of two images (one image each)."""
    delta = (x_adv.detach().float() - x.detach().float()).cpu()
    mse = float(delta.pow(2).mean())
    psnr = math.inf if mse == 0 else 10 * math.log10(1.0 / mse)
    return PerturbationSize(float(delta.abs().max()), float(delta.norm()), psnr)


def magnified_perturbation(x: Tensor, x_adv: Tensor, factor: float = 10.0) -> Tensor:
    """(x_adv − x) × factor on mid-grey, as Szegedy et al. showed it: 8-bit value
    128 + factor·255·δ, clamped. Grey = unchanged, lighter = raised, darker = lowered."""
    delta = x_adv.detach().float() - x.detach().float()
    return ((128 + factor * 255 * delta).clamp(0, 255) / 255).cpu()


def png_roundtrip(x: Tensor) -> Tensor:
    """Encode one image as an 8-bit PNG and decode it again: (1, 3, H, W) in [0, 1] on CPU."""
    buffer = io.BytesIO()
    images.to_pil(x).save(buffer, format="PNG")
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return images.to_tensor(decoded.convert("RGB"))


def jpeg_roundtrip(x: Tensor, quality: int = 75) -> Tensor:
    """Encode one image as JPEG at `quality` and decode it again (PIL's libjpeg, 4:2:0)."""
    buffer = io.BytesIO()
    images.to_pil(x).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return images.to_tensor(decoded.convert("RGB"))


def is_fooled(top1: int, true_class: int, target: int | None) -> bool:
    """Untargeted: fooled once top-1 is not the true class. Targeted: once top-1 is the target."""
    return top1 == target if target is not None else top1 != true_class


def download_frame_size(input_size: int, crop_fraction: float) -> int:
    """Side of the square PNG whose centre crop a classifier's `prepare` takes at exactly its
    input size: S / crop_fraction (256 for 224 at 0.875), so the crop is an identity resize."""
    side = round(input_size / crop_fraction)
    if (side - input_size) % 2:
        side += 1  # keep the frame symmetric so the crop box starts on a whole pixel
    return side


def download_image(x_adv: Tensor, model, original: Image.Image | None = None) -> Image.Image:
    """The adversarial image as a PIL image that, through load_image + model.prepare, gives back
    exactly x_adv (when x_adv is on the 8-bit grid).

    `prepare` takes a centre crop (crop_fraction of the short side) and resizes it to the input
    size, so x_adv (the prepared S×S crop) alone would be cropped and rescaled again. Instead we
    return the S×S crop inside a frame: a (S / crop_fraction)-pixel square whose centre crop is
    S×S (256 around 224 for EfficientNet-Lite0), so prepare's resize is the identity. The frame
    is the surrounding part of the original photo when given (edge pixels repeated otherwise);
    the model never sees it.
    """
    side = download_frame_size(model.input_size, model.crop_fraction)
    size = model.input_size
    pad = (side - size) // 2
    if original is not None:
        w, h = original.size
        crop = min(w, h) * model.crop_fraction * side / size
        left, top = (w - crop) / 2, (h - crop) / 2
        frame = original.convert("RGB").resize(
            (side, side), Image.Resampling.BICUBIC, box=(left, top, left + crop, top + crop)
        )
    else:
        frame = images.to_pil(F.pad(x_adv.detach().float().cpu(), [pad] * 4, mode="replicate"))
    frame.paste(images.to_pil(x_adv), (pad, pad))
    return frame


@dataclass(frozen=True)
class Check:
    """What a classifier says about one version of the adversarial image."""

    name: str  # e.g. "8-bit PNG, uploaded again"
    how: str  # one line on what was done to the image
    top1: int
    top1_prob: float
    true_prob: float
    target_prob: float | None
    fooled: bool


def _check(name: str, how: str, probs: Tensor, true_class: int, target: int | None) -> Check:
    p = probs[0]
    top1 = int(p.argmax())
    return Check(
        name=name,
        how=how,
        top1=top1,
        top1_prob=float(p[top1]),
        true_prob=float(p[true_class]),
        target_prob=None if target is None else float(p[target]),
        fooled=is_fooled(top1, true_class, target),
    )


def robustness_checks(
    model,
    x_adv: Tensor,
    png: object,
    true_class: int,
    target: int | None = None,
    *,
    other=None,
    other_name: str = "the second model",
    jpeg_quality: int = 75,
) -> list[Check]:
    """Does the attack survive what happens to images in the wild?

    - the adversarial image as attacked;
    - `png` (the downloadable PNG: a path, PIL image or array) through the upload path,
      images.load_image + model.prepare;
    - the attacked crop saved as JPEG at `jpeg_quality` and decoded again;
    - transfer: the same PNG given to `other` (a second classifier), which prepares it its own
      way (centre crop, bicubic resize to its input size, e.g. 260² for EfficientNet-Lite2).

    `model` and `other` are inference.ImageClassifier-like (prepare, probabilities).
    """
    uploaded = images.load_image(png)
    size = model.input_size
    checks = [
        _check(
            "as attacked",
            f"the attacked {size}×{size} crop",
            model.probabilities(x_adv),
            true_class,
            target,
        ),
        _check(
            "PNG, uploaded again",
            "download → upload → centre crop",
            model.probabilities(model.prepare(uploaded)),
            true_class,
            target,
        ),
        _check(
            f"JPEG quality {jpeg_quality}",
            "crop saved as JPEG, decoded",
            model.probabilities(jpeg_roundtrip(x_adv, jpeg_quality)),
            true_class,
            target,
        ),
    ]
    if other is not None:
        s = other.input_size
        checks.append(
            _check(
                "transfer to a second model",
                f"same PNG → {other_name}: centre crop, bicubic to {s}×{s}",
                other.probabilities(other.prepare(uploaded)),
                true_class,
                target,
            )
        )
    return checks


# --------------------------------------------------------------------------- eps sweep


@dataclass(frozen=True)
class Sweep:
    """Probabilities of the true and the target class after an attack at each eps = k/255."""

    method: str
    ks: list[int]
    true_prob: list[float]
    target_prob: list[float] | None
    top1: list[int]
    steps: int


def sweep_alpha_k(k: int, steps: int) -> int:
    """PGD step size (in 1/255) for the sweep: 2.5·eps/steps (Madry et al.), at least 1/255."""
    return max(1, round(2.5 * k / steps))


@torch.no_grad()
def _probs(model: Model, x: Tensor, chunk: int = 8) -> Tensor:
    return torch.cat([model(part).float().softmax(-1) for part in x.split(chunk)]).cpu()


def eps_sweep(
    model: Model,
    x: Tensor,
    y: int,
    ks: Iterable[int] = range(17),
    *,
    method: str = "fgsm",
    target: int | None = None,
    steps: int = 10,
    seed: int | None = 0,
    quantize: bool = True,
    chunk: int = 6,
    on_chunk: Callable[[int, int], None] | None = None,
) -> Sweep:
    """Attack one image (1, C, H, W) at eps = k/255 for each k and record the probabilities.

    FGSM needs one gradient for all k (its step is eps·sign of the same gradient). PGD runs
    `steps` iterations with step size `sweep_alpha_k`, the images of several k in one batch
    (`chunk` at a time; `on_chunk(done, total)` after each).
    """
    ks = [whole("k", k, 0, MAX_EPS_K) for k in ks]
    if not ks:
        raise InputError("The eps sweep needs at least one eps.")
    if method not in ("fgsm", "pgd"):
        raise InputError(f"The eps sweep runs FGSM or PGD, not {method!r}.")
    _check_images(x)
    if x.shape[0] != 1:
        raise InputError("The eps sweep takes one image.")
    steps = check_steps(steps)
    x = x.detach()
    eps = torch.tensor(ks, dtype=x.dtype, device=x.device).view(-1, 1, 1, 1) / 255
    if method == "fgsm":
        grad = input_gradient(model, x, y, target=target)
        batch = project(x + eps * grad.sign(), x, eps, quantize)
        probs = _probs(model, batch)
        if on_chunk is not None:
            on_chunk(len(ks), len(ks))
    else:
        alpha = (
            torch.tensor(
                [sweep_alpha_k(k, steps) for k in ks], dtype=x.dtype, device=x.device
            ).view(-1, 1, 1, 1)
            / 255
        )
        parts = []
        for start in range(0, len(ks), chunk):
            n = min(chunk, len(ks) - start)
            xs = x.expand(n, -1, -1, -1).contiguous(memory_format=_memory_format(x))
            ys = torch.full((n,), y, dtype=torch.long, device=x.device)
            ts = None if target is None else torch.full_like(ys, target)
            e, a = eps[start : start + n], alpha[start : start + n]
            parts.append(_pgd(model, xs, ys, e, a, steps, ts, True, seed, quantize, None))
            if on_chunk is not None:
                on_chunk(start + n, len(ks))
        probs = _probs(model, torch.cat(parts))
    return Sweep(
        method=method,
        ks=ks,
        true_prob=probs[:, y].tolist(),
        target_prob=None if target is None else probs[:, target].tolist(),
        top1=probs.argmax(-1).tolist(),
        steps=1 if method == "fgsm" else steps,
    )


def _memory_format(x: Tensor) -> torch.memory_format:
    if (
        x.dim() == 4
        and x.is_contiguous(memory_format=torch.channels_last)
        and not x.is_contiguous()
    ):
        return torch.channels_last
    return torch.contiguous_format


# --------------------------------------------------------------------------- class names


def class_choices(labels: list[str]) -> list[str]:
    """One unique, readable name per class: the label, or "label (class N)" where ImageNet
    uses a name twice (crane the bird and crane the machine, two maillots)."""
    seen: dict[str, int] = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    return [label if seen[label] == 1 else f"{label} (class {i})" for i, label in enumerate(labels)]


def class_from_choice(labels: list[str], value: object) -> int:
    """A name from class_choices (or a class index) -> the class index; InputError otherwise,
    with the closest names as suggestions."""
    choices = class_choices(labels)
    if isinstance(value, Integral) and not isinstance(value, bool) and 0 <= value < len(labels):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text in choices:
            return choices.index(text)
        if text.isdigit() and int(text) < len(labels):
            return int(text)
        lowered = [c.lower() for c in choices]
        if text.lower() in lowered:
            return lowered.index(text.lower())
        close = difflib.get_close_matches(text.lower(), lowered, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(choices[lowered.index(c)]) for c in close)}?"
        raise InputError(
            f"Unknown class {value!r}: pick one of the {len(labels)} ImageNet classes from the "
            f"list.{hint if close else ''}"
        )
    raise InputError(f"The target class must be a class name, got {value!r}.")
