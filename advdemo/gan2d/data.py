"""The 2-D data sets, the user's own points, and the measured mode coverage and quality.

Every data set is a finite set of support points plus Gaussian noise of standard deviation
SIGMA: the 8 centres of the ring, the 25 of the grid, points spread evenly along the two moons
or the spiral, or the user's points (shifted and scaled to fit the plane shown). Its modes are
labels on the support: one per Gaussian for the ring and the grid, arcs of equal length for
the moons (8) and the spiral (10), and up to 12 groups of the user's points (farthest-point
anchors). A generated sample is of high quality when it lies within QUALITY_SIGMAS·SIGMA of
the support (for the mixtures: of a centre, the usual "3σ" of the mode-collapse literature);
a mode counts as covered when at least a tenth of its fair share of the samples land on it
with high quality (and at least 2). No Gradio here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch

from advdemo.core.errors import InputError

SIGMA = 0.05  # noise around the support
QUALITY_SIGMAS = 3.0
EXTENT = 3.0  # the plane shown is [−EXTENT, EXTENT]²
USER_SCALE = 2.0  # the user's points are scaled so that the largest |coordinate| is this
MAX_POINTS = 2000
MAX_TEXT = 200_000  # characters of pasted or uploaded text
MAX_USER_MODES = 12
# A small example of "your points": a smiling face (eyes and a mouth), in 'x, y' lines.
EXAMPLE_POINTS = "x, y\n" + "\n".join(
    f"{x:.2f}, {y:.2f}"
    for x, y in [(-1, 1), (1, 1)] + [(t, 0.5 * t * t - 1.2) for t in (-1.5, -0.75, 0, 0.75, 1.5)]
)
DATASETS = ("ring", "grid", "moons", "spiral", "points")
DATASET_LABELS = {
    "ring": "ring of 8 Gaussians",
    "grid": "5 × 5 grid of Gaussians",
    "moons": "two moons",
    "spiral": "spiral",
    "points": "your points",
}


@dataclass
class Dataset:
    """Support points (m × 2), the mode of each, and the noise around them."""

    name: str
    support: torch.Tensor
    labels: torch.Tensor  # (m,) mode index of every support point
    modes: int
    sigma: float = SIGMA

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        idx = torch.randint(self.support.shape[0], (n,), generator=generator)
        noise = torch.randn((n, 2), generator=generator, dtype=self.support.dtype)
        return self.support[idx].add_(noise, alpha=self.sigma)

    def to(self, dtype: torch.dtype) -> Dataset:
        return Dataset(self.name, self.support.to(dtype), self.labels, self.modes, self.sigma)

    def __post_init__(self) -> None:
        self._support_sq = self.support.square().sum(1)  # |s|² of every support point

    def measure(self, x: torch.Tensor) -> tuple[int, float, np.ndarray]:
        """(modes covered, share of high-quality samples, high-quality count per mode)."""
        n = x.shape[0]
        # |x − s|² = |x|² − 2x·s + |s|²: the nearest s minimises the last two terms, so one
        # small product and a min find it (torch.cdist takes the same route for batches this
        # size, in twice the ops; the trainer measures every step).
        least, idx = torch.addmm(self._support_sq, x, self.support.t(), alpha=-2).min(dim=1)
        good = least.add_(x.square().sum(1)) <= (QUALITY_SIGMAS * self.sigma) ** 2
        # Counting with 0/1 weights instead of selecting the good rows first: the trainer
        # measures every step, and this is a few small ops fewer (the counts are exact).
        counts = torch.bincount(self.labels[idx], good.to(x.dtype), minlength=self.modes)
        counts = counts.numpy().astype(np.int64)
        needed = max(2.0, 0.1 * n / self.modes)
        return int((counts >= needed).sum()), float(counts.sum()) / max(n, 1), counts


def _gaussians(name: str, centres: np.ndarray) -> Dataset:
    support = torch.tensor(centres, dtype=torch.float32)
    return Dataset(name, support, torch.arange(len(centres)), len(centres))


def _curve(name: str, points: np.ndarray, modes: int) -> Dataset:
    """Points along a curve, resampled evenly by arc length, cut into `modes` equal arcs."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    m = 600
    s = np.linspace(0.0, arc[-1], m)
    even = np.stack([np.interp(s, arc, points[:, 0]), np.interp(s, arc, points[:, 1])], 1)
    labels = np.minimum((s / arc[-1] * modes).astype(int), modes - 1)
    return Dataset(name, torch.tensor(even, dtype=torch.float32), torch.tensor(labels), modes)


def ring() -> Dataset:
    angles = 2 * np.pi * np.arange(8) / 8
    return _gaussians("ring", 2.0 * np.stack([np.cos(angles), np.sin(angles)], 1))


def grid() -> Dataset:
    ticks = np.arange(-2.0, 2.01, 1.0)
    return _gaussians("grid", np.array([(x, y) for x in ticks for y in ticks]))


def moons() -> Dataset:
    """Two interleaved half circles (scikit-learn's shape), scaled by 1.25 about the origin."""
    t = np.linspace(0, np.pi, 400)
    arcs = [np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)]
    halves = [_curve("moons", (arc - [0.5, 0.25]) * 1.25, 4) for arc in arcs]
    support = torch.cat([h.support for h in halves])
    labels = torch.cat([halves[0].labels, halves[1].labels + 4])
    return Dataset("moons", support, labels, 8)


def spiral() -> Dataset:
    """An Archimedean spiral of two turns out to radius 2.4."""
    t = np.linspace(0.25, 1.0, 2000)
    angle = 4 * np.pi * t
    return _curve("spiral", 2.4 * t[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1), 10)


_NUMBER = re.compile(r"[,;\s]+")


def parse_points(text: object) -> np.ndarray:
    """Points typed, drawn or uploaded as text, one 'x, y' per line (commas, semicolons, tabs
    or spaces between; a header line of words is skipped). InputError for anything else."""
    if text is None or (isinstance(text, str) and not text.strip()):
        raise InputError(
            "Your point set is empty: draw, type or upload at least two points "
            "(one 'x, y' per line)."
        )
    points = read_rows(text)
    if len(np.unique(points, axis=0)) < 2:
        raise InputError("Give at least two different points: one point has no shape to learn.")
    return points


def read_rows(text: object) -> np.ndarray:
    """The 'x, y' rows of `text` (n × 2, n ≥ 0: empty text is no points), with every check of
    parse_points but the two that a set being drawn has not met yet (empty, fewer than two)."""
    if text is None:
        return np.zeros((0, 2))
    if not isinstance(text, str):
        raise InputError(
            f"The points must be text, one 'x, y' per line; got {type(text).__name__}."
        )
    if len(text) > MAX_TEXT:
        raise InputError(
            f"The point text is too long ({len(text):,} characters; at most {MAX_TEXT:,})."
        )
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if lines and re.search(r"[A-Za-z]", lines[0]) and not re.search(r"(?i)nan|inf", lines[0]):
        lines = lines[1:]  # a header such as "x,y"
    if len(lines) > MAX_POINTS:
        raise InputError(f"Too many points: {len(lines):,} (at most {MAX_POINTS:,}).")
    rows = []
    for number, line in enumerate(lines, 1):
        cells = [c for c in _NUMBER.split(line) if c]
        if len(cells) != 2:
            raise InputError(
                f"Line {number} of your points has {len(cells)} values: '{line[:40]}'. "
                "Write 'x, y'."
            )
        try:
            x, y = float(cells[0]), float(cells[1])
        except ValueError:
            raise InputError(
                f"Line {number} of your points is not two numbers: '{line[:40]}'."
            ) from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise InputError(f"Line {number} of your points is not finite: '{line[:40]}'.")
        rows.append((x, y))
    return np.array(rows, dtype=np.float64).reshape(-1, 2)


def user_points(text: object) -> Dataset:
    """The user's points, centred and scaled so the largest |coordinate| is USER_SCALE."""
    points = parse_points(text)
    centred = points - (points.max(0) + points.min(0)) / 2
    centred *= USER_SCALE / np.abs(centred).max()
    support = torch.tensor(centred, dtype=torch.float32)
    k = min(MAX_USER_MODES, len(np.unique(centred, axis=0)))
    anchors = [0]  # farthest-point anchors: spread over the set
    dist = np.linalg.norm(centred - centred[0], axis=1)
    for _ in range(k - 1):
        anchors.append(int(dist.argmax()))
        dist = np.minimum(dist, np.linalg.norm(centred - centred[anchors[-1]], axis=1))
    to_anchor = np.linalg.norm(centred[:, None] - centred[anchors][None], axis=2)
    return Dataset("points", support, torch.tensor(to_anchor.argmin(1)), k)


def make_dataset(name: str, points: object = None) -> Dataset:
    if name == "points":
        return user_points(points)
    return {"ring": ring, "grid": grid, "moons": moons, "spiral": spiral}[name]()


def read_points_file(path: str) -> str:
    """The text of an uploaded point file (already confined to the upload folders by the
    caller): at most MAX_TEXT characters of UTF-8; InputError otherwise."""
    with open(path, "rb") as f:
        raw = f.read(MAX_TEXT + 1)
    if len(raw) > MAX_TEXT:
        raise InputError(f"That file is too large: at most {MAX_TEXT:,} bytes of 'x, y' lines.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("That file is not text: upload a CSV of 'x, y' lines.") from None
    parse_points(text)  # says what is wrong with it now, not at the next Reset
    return text
