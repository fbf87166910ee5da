"""GAN inversion: find the code of an uploaded face (image -> z), and say how well it worked.

Gradient descent on the pixel error plus a small Gaussian prior term, from the best of many
seeded random starts; plus the checks and words around it: the centre crop a face needs,
whether an ImageNet classifier confidently sees something other than a person, and a verdict
on the reconstruction's PSNR. Pure functions of tensors, PIL images and the models passed
in (a FaceGenerator, an ImageClassifier); no Gradio.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from torch import Tensor

from advdemo.core import errors, pictures
from advdemo.core.errors import InputError
from advdemo.core.images import to_tensor
from advdemo.faces.arithmetic import MAX_CODE_ENTRY  # found codes must fit a slot
from advdemo.models.wrappers import FaceGenerator, ImageClassifier

GOOD_PSNR, ROUGH_PSNR = 22.0, 17.0  # dB; generated faces invert to ≥ 24, real face crops ~18-20
# PSNR alone rates a smooth picture well whatever it shows: the rocket photo (sky, a plume)
# inverts to 22.0 dB, the astronaut's face to 18.6 dB. What only a face reproduces is the
# picture's detail: what is left after a blur over DETAIL_BLOCK-pixel blocks (eyes, mouth,
# hairline). detail_reproduced measured, 150 steps: generated faces 0.95-0.96, the astronaut's
# face crop 0.40; her whole photo 0.15, the espresso 0.21, the cat 0.09, the rocket -0.01.
DETAIL_BLOCK = 8
FACE_DETAIL = 0.3  # below it the reconstruction is a face that matches colours and layout only
COMPARISON_SCALE = 4  # target | reconstruction, each 64 px × 4


def face_crop(image: Image.Image, side: int = 64) -> Tensor:
    """A validated RGB PIL image -> (1, 3, side, side) in [0, 1]: centre square, area resize.

    Raises InputError for images with (almost) nothing in them: a face has structure.
    """
    w, h = image.size
    s = min(w, h)
    box = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2)
    small = image.convert("RGB").resize((side, side), Image.Resampling.LANCZOS, box=box)
    x = to_tensor(small).clamp(0, 1)
    if float(x.std()) < 0.02:
        raise InputError(
            "The image is (almost) one flat colour; upload a photo of a face, centred and "
            "filling most of the frame."
        )
    return x


# ImageNet has no "person" class: a face makes a classifier spread its belief over things people
# wear. A confident vote for anything else (a tabby cat, an espresso) says "not a face".
WORN_BY_PEOPLE = frozenset(
    {
        "academic gown", "apron", "bathing cap", "bib", "bikini", "bolo tie", "bonnet",
        "bow tie", "brassiere", "bulletproof vest", "cardigan", "cowboy hat", "crash helmet",
        "football helmet", "fur coat", "gasmask", "gown", "hair spray", "jersey", "kimono",
        "lab coat", "lipstick", "maillot", "maillot tank suit", "mask", "military uniform",
        "mortarboard", "neck brace", "necklace", "oxygen mask", "pajama", "poncho",
        "shower cap", "ski mask", "sombrero", "stole", "suit", "sunglass", "sunglasses",
        "sweatshirt", "swimming trunks", "trench coat", "vestment", "wig", "Windsor tie",
    }
)  # fmt: skip
NOT_A_FACE_CONFIDENCE = 0.3  # measured: 0 of 128 generated faces give a non-worn class this


def not_a_face(probabilities: Tensor, labels: Sequence[str]) -> tuple[str, float] | None:
    """What an ImageNet classifier confidently sees instead of a person, or None.

    probabilities: (classes,) softmax output for the uploaded picture. Returns (label, p) when
    the top class has p ≥ NOT_A_FACE_CONFIDENCE and is not something people wear; a hint for
    the user, not a face detector.
    """
    p, index = probabilities.max(dim=-1)
    label = labels[int(index)]
    if float(p) >= NOT_A_FACE_CONFIDENCE and label not in WORN_BY_PEOPLE:
        return label, float(p)
    return None


def classify_not_a_face(
    classifier: ImageClassifier, picture: Image.Image
) -> tuple[str, float] | None:
    """`not_a_face` for an uploaded picture, by `classifier` (the built-in ImageNet one)."""
    return not_a_face(classifier.probabilities(classifier.prepare(picture))[0], classifier.labels)


def not_a_face_warning(label: str, p: float) -> str:
    """A pop-up for the user when the classifier confidently sees `label` instead of a face."""
    return (
        f"This looks like a {label} ({p:.0%} by an ImageNet classifier), not a face. The "
        "generator only draws faces: it will find the face closest in colours and layout."
    )


def not_a_face_note(label: str, p: float) -> str:
    """The same, as a sentence appended to the inversion's messages."""
    return (
        f" An ImageNet classifier sees **{label}** here ({p:.0%}), not a person: the face "
        "found shares colours and layout with your picture, not its content."
    )


@dataclass(frozen=True)
class Inversion:
    """The best code found so far for a target image, and how well it reproduces it."""

    code: Tensor  # (nz,) on CPU
    reconstruction: Tensor  # (1, 3, H, W) in [0, 1]: G(code)
    mse: float  # mean squared pixel error in [0, 1] units
    step: int  # optimisation steps done
    steps: int  # steps planned
    history: tuple[float, ...]  # the best restart's mean squared error after each step
    detail: float = 1.0  # detail_reproduced(target, reconstruction)

    @property
    def psnr(self) -> float:
        """Peak signal-to-noise ratio of the reconstruction, in dB (higher is closer)."""
        return 10 * math.log10(1.0 / max(self.mse, 1e-12))

    @property
    def done(self) -> bool:
        return self.step >= self.steps


def inversion(
    generator: FaceGenerator,
    target: Tensor,
    *,
    steps: int = 150,
    restarts: int = 3,
    candidates: int = 64,
    lr: float = 0.1,
    prior_weight: float = 1e-3,
    seed: int = 0,
    every: int = 10,
) -> Iterator[Inversion]:
    """Find z with G(z) ≈ target by gradient descent (Adam) on ‖G(z) − x‖² + λ·‖z‖²/nz.

    Yields a snapshot every `every` steps and the final result last (its `done` is True).

    The prior term is the Gaussian prior's negative log-density, scaled: it keeps z where
    N(0, I) codes live, so the code behaves like a sampled one in arithmetic. Restarts: of
    `candidates` seeded random codes, the `restarts` whose faces are already closest to the
    target are optimised together in one batch (they are independent: the summed loss's
    gradient splits per code); the best is returned.

    generator: the face generator; its forward is differentiable codes (B, nz) -> images
        (B, 3, H, W) in [0, 1] (its weights need no gradient). The search runs on its device.
    target: (1, 3, H, W) in [0, 1], the size the generator makes.
    """
    steps = errors.whole("Inversion steps", steps, 1, 2000)
    restarts = errors.whole("Restarts", restarts, 1, 32)
    candidates = max(restarts, errors.whole("Candidates", candidates, 1, 1024))
    every = errors.whole("Report interval", every, 1, None)
    if target.dim() != 4 or target.shape[:2] != (1, 3):
        raise ValueError(f"target must be (1, 3, H, W), got {tuple(target.shape)}")
    device = generator.device
    x = target.to(device, torch.float32)
    gen = torch.Generator().manual_seed(errors.seed("Seed", seed))
    pool = torch.randn(candidates, generator.nz, generator=gen)
    with torch.no_grad():
        first = generator(pool.to(device))
        if first.shape[1:] != x.shape[1:]:
            raise ValueError(f"target is {tuple(x.shape)}, generator makes {tuple(first.shape)}")
        start_err = ((first - x) ** 2).flatten(1).mean(1)
    z = pool[start_err.topk(restarts, largest=False).indices.cpu()].to(device)
    z.requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    history: list[float] = []

    def snapshot(step: int, faces: Tensor, err: Tensor, codes: Tensor) -> Inversion:
        best = int(err.argmin())
        reconstruction = faces[best : best + 1].detach().clamp(0, 1).cpu().float()
        return Inversion(
            code=codes[best].detach().cpu().float().clone(),
            reconstruction=reconstruction,
            mse=float(err[best]),
            step=step,
            steps=steps,
            history=tuple(history),
            detail=detail_reproduced(target.cpu().float(), reconstruction),
        )

    with torch.enable_grad():
        for step in range(steps):
            opt.zero_grad(set_to_none=True)
            faces = generator(z)
            err = ((faces - x) ** 2).flatten(1).mean(1)  # (restarts,)
            if step and step % every == 0:
                yield snapshot(step, faces, err.detach(), z)  # faces of the codes before this step
            loss = err + prior_weight * (z**2).mean(1)
            loss.sum().backward()
            opt.step()
            with torch.no_grad():
                z.clamp_(-MAX_CODE_ENTRY, MAX_CODE_ENTRY)
            history.append(float(err.detach().min()))
    with torch.no_grad():
        faces = generator(z)
        err = ((faces - x) ** 2).flatten(1).mean(1)
        history.append(float(err.min()))
        yield snapshot(steps, faces, err, z)


def invert(generator: FaceGenerator, target: Tensor, **kwargs) -> Inversion:
    """Run `inversion` to the end and return the final (best) result."""
    result = None
    for result in inversion(generator, target, **kwargs):  # noqa: B007
        pass
    assert result is not None and result.done
    return result


# --------------------------------------------------------------------------- read-outs


def _blurred(x: Tensor, block: int) -> Tensor:
    small = torch.nn.functional.avg_pool2d(x, block)
    return torch.nn.functional.interpolate(
        small, size=x.shape[-2:], mode="bilinear", align_corners=False
    )


def detail_reproduced(target: Tensor, reconstruction: Tensor, block: int = DETAIL_BLOCK) -> float:
    """How much of the target's fine detail the reconstruction reproduces, at most 1.

    Detail is what a blur over `block`-pixel blocks removes; the score is 1 − ‖d_x − d_r‖² /
    ‖d_x‖² for the details d of target and reconstruction (both (1, 3, H, W) in [0, 1]): 1 when
    they match, 0 when the reconstruction's detail is no better than none, negative when
    worse. A generator of faces reproduces a face's eyes, mouth and hairline; of anything else
    it can match the colours and layout, not the detail.
    """
    dx = target - _blurred(target, block)
    dr = reconstruction - _blurred(reconstruction, block)
    energy = float((dx**2).sum())
    if energy <= 1e-12:
        return 1.0  # nothing finer than the blocks to reproduce
    return 1.0 - float(((dx - dr) ** 2).sum()) / energy


def comparison(target: Tensor, reconstruction: Tensor) -> Image.Image:
    """The uploaded face's 64×64 crop and the generator's closest face, side by side."""
    faces = torch.cat([target, reconstruction])
    return pictures.face_grid(faces, 2, scale=COMPARISON_SCALE, pad=4)


def verdict(psnr: float, detail: float = 1.0) -> str:
    """How close a reconstruction of `psnr` dB that reproduces `detail` of the picture's fine
    structure (detail_reproduced) is, in words."""
    if detail < FACE_DETAIL:
        return (
            f"not a likeness: it reproduces {max(detail, 0.0):.0%} of the picture's fine detail "
            "(a face crop: about 40 %), so only colours and layout match; a face, centred and "
            "filling the frame, does better"
        )
    if psnr >= GOOD_PSNR:
        return "a close match"
    if psnr >= ROUGH_PSNR:
        return "a rough likeness (typical for real photos: this generator only knows its own faces)"
    return (
        "a poor match: this picture is probably not a face framed like the gallery's, so the "
        "code found is just the nearest face the generator can draw"
    )


def message(snap: Inversion, hint: str = "") -> str:
    """Markdown on a snapshot: progress while searching, the verdict once done. `hint` is a
    sentence to append (not_a_face_note), or empty."""
    if not snap.done:
        return f"Searching … step {snap.step} of {snap.steps}, PSNR {snap.psnr:.1f} dB.{hint}"
    return (
        f"**Found a code** after {snap.steps} steps: PSNR {snap.psnr:.1f} dB, "
        f"{verdict(snap.psnr, snap.detail)}. ‖z‖ = {float(snap.code.norm()):.1f}.{hint}" + USE_IT
    )


USE_IT = " Press *add to active slot* to use it, or edit it in the latent explorer."
