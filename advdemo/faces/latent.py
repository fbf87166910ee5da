"""Latent-space operations on GAN codes z: pure tensor functions, no models, no Gradio.

Interpolation (lerp, slerp), truncation (scale toward the mean, BigGAN-style resampling),
directions (unit vectors, difference of class means, projection and removal, offsets along
several directions at once) and a diversity measure for a batch of images. Codes are float
tensors of shape (D,) or (B, D); images are (B, C, H, W) in [0, 1].
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

EPS = 1e-8  # below this a vector has no direction
PARALLEL_COS = 1 - 1e-6  # unit vectors this close need no rotation: slerp is lerp there


# --------------------------------------------------------------------------- interpolation


def fractions(n: int) -> Tensor:
    """n evenly spaced path positions t from 0 to 1 inclusive, (n,). n ≥ 2."""
    if n < 2:
        raise ValueError(f"a path needs at least 2 frames, got {n}")
    return torch.linspace(0.0, 1.0, n)


def _check_pair(z0: Tensor, z1: Tensor) -> None:
    if z0.dim() != 1 or z0.shape != z1.shape:
        raise ValueError(f"endpoints must be two vectors of one length, got {z0.shape}, {z1.shape}")


def lerp(z0: Tensor, z1: Tensor, t: Tensor) -> Tensor:
    """Straight line (1 − t)·z0 + t·z1 for each t: (T,) -> (T, D)."""
    _check_pair(z0, z1)
    t = t.to(z0.dtype)[:, None]
    return (1 - t) * z0 + t * z1


def _perpendicular(u: Tensor) -> Tensor:
    """A unit vector orthogonal to unit vector u, chosen deterministically.

    Gram–Schmidt against the coordinate axis along which u is smallest (that axis is never
    close to u, so the result is well conditioned).
    """
    axis = torch.zeros_like(u)
    axis[u.abs().argmin()] = 1.0
    w = axis - (axis @ u) * u
    return w / w.norm()


def slerp(z0: Tensor, z1: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation: (T,) -> (T, D).

    The direction turns at constant speed along the great circle from z0/‖z0‖ to z1/‖z1‖ and
    the length moves linearly from ‖z0‖ to ‖z1‖, so ‖z(t)‖ never leaves the endpoints' range
    (a straight line cuts through the sphere and its middle is shorter by about 1/√2 for two
    random high-dimensional codes). Degenerate cases:

    - either endpoint (near) zero: there is no direction to turn, so this is the straight line;
    - parallel endpoints: the direction stays put and only the length changes (= lerp);
    - antiparallel endpoints: every half great circle is a shortest path; we take the one
      through a deterministic perpendicular direction, so the same inputs give the same path.
    """
    _check_pair(z0, z1)
    t = t.to(z0.dtype)
    r0, r1 = z0.norm(), z1.norm()
    if r0 < EPS or r1 < EPS:
        return lerp(z0, z1, t)
    u0, u1 = z0 / r0, z1 / r1
    cos = float((u0 @ u1).clamp(-1.0, 1.0))
    if cos > PARALLEL_COS:
        return lerp(z0, z1, t)
    if cos < -PARALLEL_COS:
        w, omega = _perpendicular(u0), math.pi
    else:
        w = u1 - cos * u0  # the part of u1 orthogonal to u0: the plane of the turn
        w = w / w.norm()
        omega = math.acos(cos)
    angle = t[:, None] * omega  # (T, 1)
    direction = torch.cos(angle) * u0 + torch.sin(angle) * w  # unit vectors (T, D)
    radius = (1 - t) * r0 + t * r1  # (T,)
    return radius[:, None] * direction


def path(kind: str, z0: Tensor, z1: Tensor, t: Tensor) -> Tensor:
    """lerp or slerp by name (a loud error for any other name)."""
    if kind == "lerp":
        return lerp(z0, z1, t)
    if kind == "slerp":
        return slerp(z0, z1, t)
    raise ValueError(f"unknown interpolation {kind!r}; use 'lerp' or 'slerp'")


# --------------------------------------------------------------------------- truncation


def truncate_scale(z: Tensor, psi: float, mean: Tensor | None = None) -> Tensor:
    """Pull codes toward the mean: mean + psi·(z − mean). psi = 1 is the identity, 0 the mean.

    The prior here is N(0, I), so `mean` defaults to 0 and this is simply z·psi.
    """
    if mean is None:
        return z * psi
    return mean + psi * (z - mean)


def truncated_normal(shape: tuple[int, ...], tau: float, generator: torch.Generator) -> Tensor:
    """Samples of N(0, 1) conditioned on |x| ≤ tau, by inverting the CDF (no rejection loop,
    so tiny tau costs the same as large tau)."""
    lo = torch.special.ndtr(torch.tensor(-tau, dtype=torch.float64))
    u = torch.rand(shape, generator=generator, dtype=torch.float64)
    p = lo + u * (1 - 2 * lo)  # uniform on [Φ(−tau), Φ(tau)]
    return torch.special.ndtri(p).clamp(-tau, tau).float()


def truncate_resample(z: Tensor, tau: float, seed: int) -> Tensor:
    """BigGAN-style truncation: every component with |z_i| > tau is redrawn from the normal
    distribution truncated to [−tau, tau]; the others stay. Deterministic for a given seed.

    Components inside the threshold keep their value, so a face changes only where its code
    was unusual; as tau → 0 all components shrink toward 0 and every face toward the mean.
    """
    if not tau > 0:
        raise ValueError(f"tau must be positive, got {tau}")
    gen = torch.Generator().manual_seed(int(seed))
    fresh = truncated_normal(tuple(z.shape), tau, gen).to(z.dtype)
    return torch.where(z.abs() > tau, fresh, z)


# --------------------------------------------------------------------------- directions


def unit(v: Tensor) -> Tensor:
    """v / ‖v‖ along the last axis; raises for a (near) zero vector, which has no direction."""
    n = v.norm(dim=-1, keepdim=True)
    if bool((n < EPS).any()):
        raise ValueError("a zero vector has no direction")
    return v / n


def mean_difference(positive: Tensor, negative: Tensor) -> Tensor:
    """Unit direction from the mean of `negative` codes (N, D) to the mean of `positive` (P, D).

    With codes of labelled faces, moving along it adds the label: the DCGAN paper's recipe.
    """
    if positive.dim() != 2 or negative.dim() != 2 or positive.shape[1] != negative.shape[1]:
        raise ValueError(f"need (P, D) and (N, D) codes, got {positive.shape}, {negative.shape}")
    if len(positive) == 0 or len(negative) == 0:
        raise ValueError("each set needs at least one code")
    return unit(positive.mean(0) - negative.mean(0))


def project(z: Tensor, direction: Tensor) -> Tensor:
    """Coordinate of z along a unit direction: z·d, (..., D) -> (...)."""
    return z @ direction


def remove_direction(z: Tensor, direction: Tensor) -> Tensor:
    """z without its component along a unit direction: z − (z·d)·d (same shape as z)."""
    return z - project(z, direction)[..., None] * direction


def orthogonalize(direction: Tensor, others: Tensor) -> Tensor:
    """`direction` with the span of `others` (K, D) removed, renormalised to unit length.

    Moving along the result leaves the coordinates along every one of `others` unchanged,
    e.g. a "glasses" edit that does not move along "man".
    """
    if others.numel() == 0:
        return unit(direction)
    q, _ = torch.linalg.qr(others.T.double())  # orthonormal basis of span(others), (D, K)
    residual = direction.double() - q @ (q.T @ direction.double())
    return unit(residual).to(direction.dtype)


def apply_offsets(z: Tensor, directions: Tensor, offsets: Tensor) -> Tensor:
    """z + Σ_k offsets_k · directions_k; directions (K, D), offsets (K,) or (B, K)."""
    if directions.shape[0] != offsets.shape[-1]:
        raise ValueError(f"{directions.shape[0]} directions but {offsets.shape[-1]} offsets")
    return z + offsets.to(z.dtype) @ directions.to(z.dtype)


# --------------------------------------------------------------------------- measurements


def norms(z: Tensor) -> Tensor:
    """‖z‖ for each code, (B, D) -> (B,)."""
    return z.norm(dim=-1)


def typical_norm(dim: int) -> float:
    """Where N(0, I_dim) puts almost all its mass: ‖z‖ ≈ √dim (the 'soap bubble')."""
    return math.sqrt(dim)


def diversity(images: Tensor) -> float:
    """Mean pairwise RMS pixel distance of a batch (B, C, H, W) in [0, 1]; 0 = all identical.

    RMS per pixel and channel, so the number reads on the image's own 0–1 scale
    (0.1 ≈ a typical pixel differs by 10 % of the full range).
    """
    if images.dim() != 4 or images.shape[0] < 2:
        raise ValueError(f"need a batch of at least 2 images (B, C, H, W), got {images.shape}")
    flat = images.flatten(1).double()
    d = torch.pdist(flat) / math.sqrt(flat.shape[1])
    return float(d.mean())
