"""The physical world (Kurakin, Goodfellow and Bengio, 2016): print the adversarial image,
photograph it, and ask the classifier again. Here the print and the photograph are simulated:
seeded random transforms (a slight tilt, scale and shift; blur; brightness and contrast; JPEG at
a random quality) applied in a batch to the downloadable frame, then the upload path's centre
crop. The survival rate is the share of transformed adversarial images that still fool the
model, beside the clean image's accuracy under the very same transforms.

Also the checks a camera frame needs before a classifier reads it (`check_photo`). Models come
in as arguments; nothing here knows about Gradio.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from advdemo.adversarial.plots import LAYOUT, TARGET_COLOUR, TITLE, TRUE_COLOUR
from advdemo.adversarial.robustness import Check
from advdemo.core import images
from advdemo.core.errors import InputError, finite, seed, whole

MAX_COUNT = 64  # transforms per strength level
MAX_STRENGTH = 2.0
LEVELS = 4  # strength/8, strength/4, strength/2, strength: each twice the one before
BATCH = 32  # images per forward pass
NEAR_TIE = 1 / 3  # a class this close to the clean top-1 (a share of its probability) counts too
MAX_ASPECT = 8.0  # a longer image leaves the classifier's centre square too little of it
BLACK = 3 / 255  # a frame with no pixel brighter than this is a camera that shows nothing

# What strength 1 means: the largest change of each kind (a transform draws each one uniformly
# in ±these, or 0..these, times the strength). Chosen to look like a sheet held by hand in front
# of a laptop camera: a tilt of a few degrees, a slightly soft focus, room lighting, the
# camera's JPEG.
FULL = {
    "angle_deg": 6.0,
    "scale": 0.08,  # zoom in or out by up to 8 %
    "shift": 0.03,  # of the frame's side
    "blur_px": 1.5,  # Gaussian σ
    "brightness": 0.1,  # added to [0, 1] pixel values
    "contrast": 0.2,  # multiplies the distance from mid-grey by 1 ± this
    "jpeg_drop": 60,  # JPEG quality falls from 95 by up to this
}
BEST_JPEG = 95
WORST_JPEG = 10


@dataclass(frozen=True)
class PrintPhoto:
    """One simulated print-and-photograph: what happens to the picture, in order."""

    angle_deg: float
    scale: float
    shift_x: float  # fractions of the width / height
    shift_y: float
    blur_px: float
    brightness: float
    contrast: float
    jpeg_quality: int

    def describe(self) -> str:
        return (
            f"tilt {self.angle_deg:+.1f}°, zoom ×{self.scale:.2f}, blur {self.blur_px:.1f} px, "
            f"light {self.brightness:+.2f}, contrast ×{self.contrast:.2f}, JPEG {self.jpeg_quality}"
        )


def check_count(count: object) -> int:
    return whole("prints per strength", count, 1, MAX_COUNT)


def check_strength(strength: object) -> float:
    return finite("strength", strength, 0, MAX_STRENGTH)


def sample_transforms(count: object, strength: object, seed_value: object) -> list[PrintPhoto]:
    """`count` transforms of `strength` (0: none at all, 1: the FULL ranges), seeded.

    The random draws depend on `count` and `seed_value` only; `strength` scales them, so the
    same seed at two strengths gives the same transforms, one a stronger version of the other
    (a survival curve over strengths is then smooth, not noisy)."""
    count, s = check_count(count), check_strength(strength)
    gen = torch.Generator().manual_seed(seed("seed", seed_value))
    u = torch.rand(count, 7, generator=gen, dtype=torch.float64)
    sym = (2 * u - 1).tolist()  # in [-1, 1]
    one = u.tolist()  # in [0, 1]
    transforms = []
    for a, o in zip(sym, one, strict=True):
        quality = round(BEST_JPEG - s * FULL["jpeg_drop"] * o[6])
        transforms.append(
            PrintPhoto(
                angle_deg=s * FULL["angle_deg"] * a[0],
                scale=1 + s * FULL["scale"] * a[1],
                shift_x=s * FULL["shift"] * a[2],
                shift_y=s * FULL["shift"] * a[3],
                blur_px=s * FULL["blur_px"] * o[4],
                brightness=s * FULL["brightness"] * a[5],
                contrast=max(0.05, 1 + s * FULL["contrast"] * a[6]),
                jpeg_quality=max(WORST_JPEG, min(BEST_JPEG, quality)),
            )
        )
    return transforms


def _affine(x: Tensor, ts: Sequence[PrintPhoto]) -> Tensor:
    """Tilt, zoom and shift every copy of x (1, C, H, W) its own way: (N, C, H, W); the border
    the paper would leave is filled by reflection (the photo's surroundings go on)."""
    n, (h, w) = len(ts), x.shape[-2:]
    theta = torch.zeros(n, 2, 3, dtype=torch.float32)
    for i, t in enumerate(ts):
        a = math.radians(t.angle_deg)
        c, s = math.cos(a) / t.scale, math.sin(a) / t.scale
        # grid coordinates are normalised per axis: correct the rotation for the aspect ratio
        theta[i] = torch.tensor([[c, -s * h / w, -2 * t.shift_x], [s * w / h, c, -2 * t.shift_y]])
    grid = F.affine_grid(theta, [n, x.shape[1], h, w], align_corners=False)
    copies = x.expand(n, -1, -1, -1)
    return F.grid_sample(copies, grid, padding_mode="reflection", align_corners=False)


def _blur(x: Tensor, sigmas: Sequence[float]) -> Tensor:
    """Separable Gaussian blur, each image (N, C, H, W) with its own σ in pixels (0: none)."""
    n, c = x.shape[:2]
    radius = max(1, math.ceil(3 * max(sigmas, default=0)))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernels = []
    for sigma in sigmas:
        k = torch.exp(-0.5 * (offsets / max(sigma, 1e-3)) ** 2)  # σ ≈ 0: a single tap
        kernels.append(k / k.sum())
    k = torch.stack(kernels).repeat_interleave(c, 0)  # (N·C, taps)
    flat = x.reshape(1, n * c, *x.shape[-2:])
    flat = F.pad(flat, [radius] * 4, mode="reflect")
    flat = F.conv2d(flat, k[:, None, None, :], groups=n * c)
    flat = F.conv2d(flat, k[:, None, :, None], groups=n * c)
    return flat.reshape_as(x)


def _jpeg(x: Tensor, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    images.to_pil(x).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def print_and_photograph(frame: Image.Image, ts: Sequence[PrintPhoto]) -> list[Image.Image]:
    """The photographs of `frame` (a PIL image) under each transform, as the camera saves them
    (8-bit JPEG): geometry, then blur, then light, then JPEG."""
    if not ts:
        return []
    x = images.to_tensor(frame.convert("RGB"))
    out = _blur(_affine(x, ts), [t.blur_px for t in ts])
    contrast = torch.tensor([t.contrast for t in ts], dtype=torch.float32).view(-1, 1, 1, 1)
    light = torch.tensor([t.brightness for t in ts], dtype=torch.float32).view(-1, 1, 1, 1)
    out = ((out - 0.5) * contrast + 0.5 + light).clamp(0, 1)
    return [_jpeg(out[i : i + 1], t.jpeg_quality) for i, t in enumerate(ts)]


def clean_classes(probabilities: Tensor, near: float = NEAR_TIE) -> tuple[int, ...]:
    """The classes a clean photo "is" for the model, most likely first: its top-1 and every
    class within `near` of the top-1's probability (the cat: tiger cat 39 %, Egyptian cat
    37 %, tabby 17 %). A print read as any of them is read correctly; an attack has only
    fooled the model when it reads none of them."""
    p = probabilities.flatten()
    top = float(p.max())
    order = p.argsort(descending=True).tolist()
    return tuple(i for i in order[:10] if float(p[i]) >= near * top)


def classify_photos(model, photos: Sequence[Image.Image], batch: int = BATCH) -> Tensor:
    """Each photo through the upload path (model.prepare: centre crop, resize), in batches:
    probabilities (N, classes)."""
    out = []
    for i in range(0, len(photos), batch):
        crops = torch.cat([model.prepare(p) for p in photos[i : i + batch]])
        out.append(model.probabilities(crops))
    return torch.cat(out) if out else torch.zeros(0, len(model.labels))


@dataclass(frozen=True)
class Level:
    """Survival at one strength: shares of the `count` prints."""

    strength: float
    clean_correct: float  # clean prints whose top-1 is still one of the true classes
    adv_target: float | None  # adversarial prints whose top-1 is the target (None: untargeted)
    adv_not_true: float  # adversarial prints whose top-1 is none of the true classes

    @property
    def survival(self) -> float:
        """The attack's own criterion: the target when it had one, else any wrong class."""
        return self.adv_target if self.adv_target is not None else self.adv_not_true


@dataclass(frozen=True)
class Sample:
    """One print of the clean and the adversarial image under the same transform."""

    transform: PrintPhoto
    clean: Image.Image  # the model's crop of the photographed clean print
    adversarial: Image.Image
    clean_top1: int
    clean_prob: float
    adv_top1: int
    adv_prob: float


@dataclass(frozen=True)
class PhysicalReport:
    levels: list[Level]  # weakest first; the last is at the strength asked for
    samples: list[Sample]  # a few prints at the strength asked for
    count: int
    seed: int
    true_classes: tuple[int, ...]
    target: int | None

    @property
    def final(self) -> Level:
        return self.levels[-1]


def level_strengths(strength: float, levels: int = LEVELS) -> list[float]:
    """The strengths of a survival curve: halving down from `strength`, weakest first."""
    return [strength / 2 ** (levels - 1 - i) for i in range(levels)]


def physical_world(
    model,
    clean_frame: Image.Image,
    adv_frame: Image.Image,
    true_classes: Sequence[int],
    target: int | None,
    *,
    count: object = 8,
    strength: object = 1.0,
    seed_value: object = 0,
    levels: int = LEVELS,
    samples: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> PhysicalReport:
    """Print and photograph the clean and the adversarial frame `count` times at each of
    `levels` strengths up to `strength` (the same transforms for both, seeded), and classify
    every photograph through `model.prepare` as an upload would be.

    `clean_frame` / `adv_frame`: what would be printed (the downloadable PNG: the model's crop
    inside its frame), PIL images. `true_classes`: the model's answers on the clean crop (see
    clean_classes);
    `target`: the attack's target class, None for an untargeted attack."""
    count, strength = check_count(count), check_strength(strength)
    seed_value = seed("seed", seed_value)
    strengths = level_strengths(strength, levels)
    truth = torch.tensor(list(true_classes), dtype=torch.long)
    done = []
    kept: list[Sample] = []
    for j, s in enumerate(strengths):
        ts = sample_transforms(count, s, seed_value)
        clean = print_and_photograph(clean_frame, ts)
        adv = print_and_photograph(adv_frame, ts)
        probs = classify_photos(model, clean + adv)
        top = probs.argmax(-1)
        clean_top, adv_top = top[:count], top[count:]
        done.append(
            Level(
                strength=s,
                clean_correct=float(torch.isin(clean_top, truth).float().mean()),
                adv_target=None if target is None else float((adv_top == target).float().mean()),
                adv_not_true=float((~torch.isin(adv_top, truth)).float().mean()),
            )
        )
        if j == len(strengths) - 1:
            for i in range(min(samples, count)):
                c, a = int(clean_top[i]), int(adv_top[i])
                kept.append(
                    Sample(
                        transform=ts[i],
                        clean=images.to_pil(model.prepare(clean[i]).cpu()),
                        adversarial=images.to_pil(model.prepare(adv[i]).cpu()),
                        clean_top1=c,
                        clean_prob=float(probs[i, c]),
                        adv_top1=a,
                        adv_prob=float(probs[count + i, a]),
                    )
                )
        if progress is not None:
            progress(j + 1, len(strengths))
    return PhysicalReport(done, kept, count, seed_value, tuple(true_classes), target)


def print_check(
    model,
    png: Image.Image,
    clean_probabilities: Tensor,
    target: int | None,
    *,
    count: int = 8,
    strength: float = 1.0,
    seed_value: int = 0,
) -> Check:
    """The playground's robustness row: `count` simulated prints of the downloadable `png` at
    `strength` (adversarial only: one batch), fooled when most of them still are."""
    truth = torch.tensor(clean_classes(clean_probabilities))
    photos = print_and_photograph(png, sample_transforms(count, strength, seed_value))
    probs = classify_photos(model, photos)
    top = probs.argmax(-1)
    hits = top == target if target is not None else ~torch.isin(top, truth)
    common = int(top.mode().values)
    return Check(
        name="printed and photographed",
        how=f"{count} simulated prints (tilt, blur, light, JPEG): {int(hits.sum())} still fool it",
        top1=common,
        top1_prob=float(probs[top == common, common].mean()),
        true_prob=float(probs[:, truth[0]].mean()),
        target_prob=None if target is None else float(probs[:, target].mean()),
        fooled=2 * int(hits.sum()) > count,
    )


# --------------------------------------------------------------------------- what is shown


def _share(x: float, n: int) -> str:
    return f"{round(x * n)} of {n}"


def summary_markdown(report: PhysicalReport, labels: list[str]) -> str:
    """The headline at the strength asked for, and what counted as right and as fooled."""
    last, n = report.final, report.count
    truth = ", ".join(labels[i] for i in report.true_classes)
    if report.target is not None:
        survived = f"{_share(last.survival, n)} prints still read **{labels[report.target]}**"
    else:
        survived = f"{_share(last.survival, n)} prints still fool the model"
    return (
        f"### Printed and photographed {n} times (strength {last.strength:g}): {survived}; "
        f"the clean photo is read correctly in {_share(last.clean_correct, n)}\n"
        f"Correct means top-1 is one of the model's own answers on the clean photo ({truth}); "
        f"the same {n} random prints (seed {report.seed}) for both images, at each strength. "
        f"Not the true class any more: {_share(last.adv_not_true, n)}."
    )


def survival_figure(report: PhysicalReport, labels: list[str]) -> go.Figure:
    """Survival of the adversarial image and accuracy of the clean one against strength."""
    x = [round(level.strength, 4) for level in report.levels]
    fig = go.Figure()

    def curve(values, name, colour, dash=None):
        fig.add_scatter(
            x=x,
            y=values,
            name=name,
            mode="lines+markers",
            line={"color": colour, "width": 3, "dash": dash},
        )

    curve([lv.clean_correct for lv in report.levels], "clean photo: read correctly", TRUE_COLOUR)
    if report.target is not None:
        curve(
            [lv.adv_target or 0.0 for lv in report.levels],
            f"adversarial: still {labels[report.target]}",
            TARGET_COLOUR,
        )
    curve(
        [lv.adv_not_true for lv in report.levels],
        "adversarial: not the true class",
        "#9467bd",
        "dot" if report.target is not None else None,
    )
    fig.update_layout(
        title={"text": f"survival of {report.count} simulated prints per strength", **TITLE},
        xaxis={"title": "print-and-photograph strength", "type": "log", "tickvals": x},
        **{**LAYOUT, "yaxis": {"range": [-0.02, 1.02], "title": "share of prints"}},
    )
    return fig


def gallery(report: PhysicalReport, labels: list[str]) -> list[tuple[Image.Image, str]]:
    """A few prints at the strength asked for: each clean one, then its adversarial twin."""
    items = []
    for s in report.samples:
        how = s.transform.describe()
        clean = f"clean: {labels[s.clean_top1]} {s.clean_prob:.0%} ({how})"
        attacked = f"attacked: {labels[s.adv_top1]} {s.adv_prob:.0%} ({how})"
        items += [(s.clean, clean), (s.adversarial, attacked)]
    return items


# --------------------------------------------------------------------------- camera frames


def check_photo(photo: Image.Image) -> Image.Image:
    """A photo (an upload or a webcam frame, already through images.load_image) that a
    classifier can read, or InputError saying why not: a black frame (what a covered or
    starting camera gives) or one so long and thin that the classifier's centre square would
    hold almost nothing of it. Any other size, mode or colour is the upload path's business."""
    w, h = photo.size
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise InputError(
            f"The image is {w}×{h} pixels, {max(w, h) / min(w, h):.0f} times longer than wide; "
            f"the classifier looks only at a centred square of {min(w, h)} pixels. Crop it (or "
            f"turn the camera) to at most {MAX_ASPECT:.0f}:1."
        )
    small = np.asarray(photo.convert("RGB").resize((32, 32), Image.Resampling.BOX), np.float32)
    if float(small.max()) <= BLACK * 255:
        raise InputError(
            "The frame is black everywhere: is the camera covered, or still starting? Capture "
            "again once the picture shows in the box."
        )
    return photo
