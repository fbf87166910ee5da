"""Meaningful directions in the face GAN's latent space, and probes that measure attributes.

Three things, all for the built-in DCGAN face generator (z ∈ R^100 → 64×64 face):

- Named attribute directions (glasses, smile, man ↔ woman, dark hair): the difference of the
  mean codes of hand-labelled exemplar faces (advdemo/faces/data/face_labels.json; how they were
  labelled is written in the file). The DCGAN paper's recipe, and the vector-arithmetic tab's.
- Principal directions, GANSpace-style (Härkönen et al. 2020): PCA of the generator's first
  hidden layer over many random codes, each principal axis carried back to z by regressing z
  on that axis's coordinate. Unsupervised: the generator's own main axes of variation.
- Attribute probes: logistic regression on the generator's 8×8 feature maps (averaged over the
  four image quadrants, so "mouth region" and "eye region" stay apart), trained on the labelled
  seeds and validated on held-out seeds. `attribute_score(generator, codes, name)` is the
  measurable proxy the tests and the read-outs use.

Principal directions and probe weights are stored in small JSON files next to the labels and
recreated by `python -m scripts.build_face_data` (a few seconds); loading them is instant.
Every function that runs the generator takes it (a FaceGenerator) as its first argument;
what is computed from it (e.g. the named directions) is the caller's to keep.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from advdemo.faces import latent
from advdemo.models.runtime import forward_precision
from advdemo.models.wrappers import FaceGenerator

DATA = Path(__file__).resolve().parent / "data"
LABELS_PATH = DATA / "face_labels.json"
DIRECTIONS_PATH = DATA / "face_directions.json"
PROBES_PATH = DATA / "face_probes.json"
MODEL = "dcgan-faces"

ATTRIBUTES = ("glasses", "smile", "man", "dark_hair")
TITLES = {"glasses": "glasses", "smile": "smile", "man": "man ↔ woman", "dark_hair": "dark hair"}
READOUT = {"glasses": "glasses", "smile": "smile", "man": "man", "dark_hair": "dark hair"}

PCA_LAYER = 3  # generator.main[:3] = first block after ReLU: (B, 512, 4, 4)
PROBE_LAYER = 6  # generator.main[:6] = second block after ReLU: (B, 256, 8, 8)
PROBE_GRID = 2  # probe features: each channel averaged over the 2×2 image quadrants
N_PRINCIPAL = 10


def _check_attribute(name: str) -> str:
    if name not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {name!r}; known: {', '.join(ATTRIBUTES)}")
    return name


# --------------------------------------------------------------------------- labels


@cache  # a packaged file, read once: a constant
def labels() -> dict:
    """The hand labels: {'note', 'model', 'attributes': {name: {positive, negative}}, 'heldout'}."""
    return json.loads(LABELS_PATH.read_text())


def labelled(conditions: dict[str, bool], part: str = "attributes") -> list[int]:
    """Seeds labelled with every condition, e.g. {"man": True, "glasses": False}, sorted.

    part: "attributes" (the sets directions, probes and presets are built from) or
    "heldout" (only ever used to measure).
    """
    sets = labels()[part]
    chosen: set[int] | None = None
    for attribute, positive in conditions.items():
        if attribute not in sets:
            raise KeyError(f"no labels for {attribute!r}; known: {', '.join(sets)}")
        seeds = set(sets[attribute]["positive" if positive else "negative"])
        chosen = seeds if chosen is None else chosen & seeds
    return sorted(chosen or ())


def seed_codes(generator: FaceGenerator, seeds: Sequence[int]) -> Tensor:
    """Codes (N, nz) of the given seeds, exactly as the generator samples them."""
    if len(seeds) == 0:
        return torch.empty(0, generator.nz)
    return torch.cat([generator.sample_z(int(s), 1) for s in seeds])


def probe_examples(
    generator: FaceGenerator, name: str, part: str = "attributes"
) -> tuple[Tensor, Tensor]:
    """Codes and 0/1 labels of one attribute's labelled seeds ('attributes' or 'heldout'),
    positives first, in the file's order (what a probe is trained and measured on)."""
    sets = labels()[part][_check_attribute(name)]
    codes = seed_codes(generator, sets["positive"] + sets["negative"])
    y = torch.cat([torch.ones(len(sets["positive"])), torch.zeros(len(sets["negative"]))])
    return codes, y


# --------------------------------------------------------------------------- directions


def attribute_direction(generator: FaceGenerator, name: str) -> Tensor:
    """Unit direction (nz,) from the mean code of the negative to that of the positive faces.

    A few milliseconds; callers that need it often keep it (the latent tab: store.derived).
    """
    sets = labels()["attributes"][_check_attribute(name)]
    return latent.mean_difference(
        seed_codes(generator, sets["positive"]), seed_codes(generator, sets["negative"])
    )


def attribute_directions(generator: FaceGenerator) -> Tensor:
    """All named directions stacked in ATTRIBUTES order, (K, nz)."""
    return torch.stack([attribute_direction(generator, a) for a in ATTRIBUTES])


@dataclass(frozen=True)
class PrincipalDirections:
    """GANSpace directions in z: vectors (K, nz) of unit length, and how much of the layer's
    variance each principal axis explains (K,), largest first."""

    vectors: Tensor
    explained: Tensor
    notes: tuple[str, ...]  # what moving along each one does, judged by looking ("" if unclear)
    n_samples: int
    layer: str


def layer_activations(generator: FaceGenerator, z: Tensor, upto: int) -> Tensor:
    """Generator activations after `upto` modules of its Sequential, (B, C, H, W) on CPU."""
    device = generator.device
    with torch.inference_mode(), forward_precision(device):
        h = generator.net.main[:upto](z.to(device, torch.float32)[:, :, None, None])
    return h.float().cpu()


def compute_principal_directions(
    generator: FaceGenerator, k: int = N_PRINCIPAL, n_samples: int = 2048, seed: int = 20_200_406
) -> PrincipalDirections:
    """GANSpace on the generator's first block: PCA of its activations, mapped back to z.

    1. Sample n codes z_j ~ N(0, I) and record y_j = first block's output (flattened 4×4×512).
    2. PCA: the top-k principal axes v_k of the centred y and each sample's coordinate
       x_jk = v_k·(y_j − ȳ).
    3. For each axis, regress z on its coordinate: u_k = argmin_u Σ_j ‖z_j − x_jk u‖², i.e.
       u_k = Σ_j x_jk z_j / Σ_j x_jk² — the z-direction that moves y along v_k on average.
    Signs are fixed so each vector's largest entry is positive (deterministic output).
    """
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n_samples, generator.nz, generator=gen, dtype=torch.float64)
    y = layer_activations(generator, z.float(), PCA_LAYER).flatten(1)
    y = y - y.mean(0)
    # Top-k principal axes by randomised SVD (Halko et al.), seeded so the output is
    # deterministic; with 10 extra dimensions and 6 power iterations it agrees with an exact
    # eigendecomposition to |cos| > 0.999 for these well-separated leading axes.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        left, sing, _ = torch.svd_lowrank(y, q=k + 10, niter=6)
    evals = sing[:k] ** 2
    coords = left[:, :k] * sing[:k]  # x_jk, (n, k)
    coords = coords.double()
    u = (coords.T @ z) / (coords**2).sum(0)[:, None]  # (k, nz)
    u = latent.unit(u)
    top = u.gather(1, u.abs().argmax(1, keepdim=True))
    u = u * top.sign()
    explained = evals.double() / (y.double() ** 2).sum()
    return PrincipalDirections(
        vectors=u.float(),
        explained=explained.float(),
        notes=("",) * k,
        n_samples=n_samples,
        layer="main[:3] (first block after ReLU, 512×4×4)",
    )


@cache  # a packaged file, read once: a constant
def principal_directions() -> PrincipalDirections:
    """The stored GANSpace directions (see scripts/build_face_data.py)."""
    doc = json.loads(DIRECTIONS_PATH.read_text())
    return PrincipalDirections(
        vectors=torch.tensor(doc["vectors"], dtype=torch.float32),
        explained=torch.tensor(doc["explained"], dtype=torch.float32),
        notes=tuple(doc["notes"]),
        n_samples=int(doc["n_samples"]),
        layer=str(doc["layer"]),
    )


def directions_document(pd: PrincipalDirections, notes: Sequence[str]) -> dict:
    return {
        "note": (
            "GANSpace principal directions of the dcgan-faces generator, written by "
            "`python -m scripts.build_face_data`: PCA of the layer named below over n_samples "
            "random codes, each axis mapped back to z by regressing z on its coordinate. "
            "'notes' say what moving along each one does, judged by looking at face strips."
        ),
        "model": MODEL,
        "layer": pd.layer,
        "n_samples": pd.n_samples,
        "explained": [round(float(v), 6) for v in pd.explained],
        "notes": list(notes),
        "vectors": [[round(float(v), 6) for v in row] for row in pd.vectors],
    }


# --------------------------------------------------------------------------- probes


def probe_features_from_activations(h: Tensor) -> Tensor:
    """(B, 256, 8, 8) second-block activations -> (B, 1024) quadrant means."""
    return F.adaptive_avg_pool2d(h, PROBE_GRID).flatten(1)


def faces_and_features(generator: FaceGenerator, z: Tensor) -> tuple[Tensor, Tensor]:
    """Faces (B, 3, 64, 64) in [0, 1] and probe features (B, 1024) from ONE forward pass.

    Same numbers as FaceGenerator.generate (the same modules in the same order, split after
    the second block to keep its activations).
    """
    main, device = generator.net.main, generator.device
    with torch.inference_mode(), forward_precision(device):
        h = main[:PROBE_LAYER](z.to(device, torch.float32)[:, :, None, None])
        x = main[PROBE_LAYER:](h)
    faces = ((x.float() + 1) / 2).clamp(0, 1).cpu()
    return faces, probe_features_from_activations(h.float()).cpu()


def probe_features(generator: FaceGenerator, z: Tensor) -> Tensor:
    """Probe features (B, 1024) of codes z (B, nz); runs only the generator's first two blocks."""
    return probe_features_from_activations(layer_activations(generator, z, PROBE_LAYER))


@dataclass(frozen=True)
class Probe:
    """Logistic regression P(attribute | features) = σ(w·f + b), standardisation folded in."""

    weight: Tensor  # (F,)
    bias: float
    l2: float
    heldout_accuracy: float
    train_accuracy: float

    def logits(self, features: Tensor) -> Tensor:
        return features @ self.weight + self.bias

    def probability(self, features: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(features))


def fit_logistic(features: Tensor, y: Tensor, l2: float) -> tuple[Tensor, float]:
    """L2-regularised logistic regression on standardised features, solved with L-BFGS.

    Returns (weight, bias) for the RAW features (the standardisation is folded in).
    """
    x = features.double()
    mu, sd = x.mean(0), x.std(0).clamp_min(1e-6)
    xn = (x - mu) / sd
    target = y.double()
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [w, b], lr=1, max_iter=500, tolerance_grad=1e-9, line_search_fn="strong_wolfe"
    )

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(xn @ w + b, target) + l2 * (w**2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    w_raw = (w.detach() / sd).float()
    b_raw = float(b.detach() - (w.detach() * mu / sd).sum())
    return w_raw, b_raw


def accuracy(logits: Tensor, y: Tensor) -> float:
    return float(((logits > 0).float() == y).float().mean())


def cross_validated_l2(
    features: Tensor, y: Tensor, grid: Sequence[float] = (0.01, 0.1, 1.0), folds: int = 5
) -> float:
    """The L2 strength with the best k-fold accuracy on the training set (ties: stronger)."""
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    scores = {}
    for l2 in grid:
        correct = 0
        for f in range(folds):
            test = order[f::folds]
            mask = torch.ones(len(y), dtype=torch.bool)
            mask[test] = False
            w, b = fit_logistic(features[mask], y[mask], l2)
            correct += int((((features[test] @ w + b) > 0).float() == y[test]).sum())
        scores[l2] = correct / len(y)
    best = max(scores.values())
    return max(l2 for l2, s in scores.items() if s == best)


def train_probe(generator: FaceGenerator, name: str) -> Probe:
    """Fit one attribute's probe on its labelled seeds; measure it on the held-out seeds."""
    z, y = probe_examples(generator, name, "attributes")
    zh, yh = probe_examples(generator, name, "heldout")
    f, fh = probe_features(generator, z), probe_features(generator, zh)
    l2 = cross_validated_l2(f, y)
    w, b = fit_logistic(f, y, l2)
    return Probe(
        weight=w,
        bias=b,
        l2=l2,
        heldout_accuracy=accuracy(fh @ w + b, yh),
        train_accuracy=accuracy(f @ w + b, y),
    )


def probes_document(probes: dict[str, Probe]) -> dict:
    return {
        "note": (
            "Logistic-regression attribute probes on the dcgan-faces generator's second-block "
            "activations (256×8×8, each channel averaged over the 2×2 image quadrants = 1024 "
            "features), trained on face_labels.json 'attributes' with L2 strength chosen by "
            "5-fold cross-validation, accuracy measured on 'heldout'. Written by "
            "`python -m scripts.build_face_data`."
        ),
        "model": MODEL,
        "features": "adaptive_avg_pool2d(main[:6](z), 2).flatten(1)",
        "probes": {
            name: {
                "heldout_accuracy": round(p.heldout_accuracy, 4),
                "train_accuracy": round(p.train_accuracy, 4),
                "l2": p.l2,
                "bias": round(p.bias, 7),
                "weight": [float(f"{v:.6g}") for v in p.weight.tolist()],
            }
            for name, p in probes.items()
        },
    }


@cache  # a packaged file, read once: a constant
def probes() -> dict[str, Probe]:
    """The stored attribute probes (see scripts/build_face_data.py)."""
    doc = json.loads(PROBES_PATH.read_text())["probes"]
    return {
        name: Probe(
            weight=torch.tensor(doc[name]["weight"], dtype=torch.float32),
            bias=float(doc[name]["bias"]),
            l2=float(doc[name]["l2"]),
            heldout_accuracy=float(doc[name]["heldout_accuracy"]),
            train_accuracy=float(doc[name]["train_accuracy"]),
        )
        for name in ATTRIBUTES
    }


def scores_from_features(features: Tensor) -> dict[str, Tensor]:
    """P(attribute) (B,) for every attribute, from probe features (B, 1024)."""
    return {name: p.probability(features) for name, p in probes().items()}


def attribute_scores(generator: FaceGenerator, codes: Tensor) -> dict[str, Tensor]:
    """P(attribute) in [0, 1] for each code (B, nz) and every attribute, by the probes."""
    return scores_from_features(probe_features(generator, _as_batch(codes, generator.nz)))


def attribute_score(generator: FaceGenerator, codes: Tensor, attribute: str) -> Tensor:
    """The measurable proxy for one attribute: the probe's P(attribute | face of z), (B,).

    `codes` are latent codes (B, nz) or one code (nz,); for 'man' the score is P(man) and
    1 − score is P(woman).
    """
    probe = probes()[_check_attribute(attribute)]
    return probe.probability(probe_features(generator, _as_batch(codes, generator.nz)))


def _as_batch(codes: Tensor, nz: int) -> Tensor:
    if codes.dim() == 1:
        codes = codes[None]
    if codes.dim() != 2 or codes.shape[1] != nz:
        raise ValueError(f"codes must have shape (B, {nz}), got {tuple(codes.shape)}")
    if not bool(torch.isfinite(codes).all()):
        raise ValueError("codes contain NaN or infinite values")
    return codes.float()
