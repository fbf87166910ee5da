"""The losses of the lecture's table (Lucic et al., "Are GANs created equal?", Table 1), plus
the hinge loss, as functions of D's raw outputs, each with its derivative.

For MM, NS and DRAGAN, D outputs a logit a and D(x) = sigmoid(a) is a probability; for WGAN,
WGAN-GP, LSGAN and hinge D's output is used as it is (a critic's score). For BEGAN, D is an
autoencoder (nets.AutoencoderD) and its output per point is the reconstruction error
L(x) = ‖x − AE(x)‖₁: L_D = mean L(x) − k_t · mean L(x̂), L_G = mean L(x̂), with k_t kept in
[0, 1] by the proportional control of began_k (Berthelot et al.). Every function takes
D's outputs on the real batch (a_r) and/or the generated batch (a_f) and returns the batch
loss and its derivative with respect to each output (the mean's 1/n included), which is all
the hand-written backward passes need. The gradient penalties (WGAN-GP, DRAGAN) are added by
the trainer through nets.Discriminator.penalty.

LSGAN: the table prints L_D = −E[(D(x) − 1)²] + E[D(x̂)²] and L_G = −E[(D(x̂) − 1)²]; those
minus signs are a misprint (minimising them would push D(x) away from 1 and the fakes away
from 1). Mao et al.'s least-squares losses, used here, have no minus signs.
No Gradio here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn.functional import softplus


@dataclass(frozen=True)
class Loss:
    key: str
    label: str
    d_formula: str  # LaTeX, as the table writes it (LSGAN corrected)
    g_formula: str
    probability: bool  # D's output is a logit of "real" (else an unbounded score)
    penalty: str | None = None  # 'interpolates' (WGAN-GP) | 'real_noise' (DRAGAN)
    clip: bool = False  # WGAN: clip D's weights after every update
    autoencoder: bool = False  # BEGAN: D is an autoencoder, its output the reconstruction error


LOSSES: tuple[Loss, ...] = (
    Loss(
        "mm",
        "MM GAN (minimax, saturating)",
        r"-\mathbb{E}_{x}[\log D(x)] - \mathbb{E}_{\hat x}[\log(1 - D(\hat x))]",
        r"\mathbb{E}_{\hat x}[\log(1 - D(\hat x))]",
        True,
    ),
    Loss(
        "ns",
        "NS GAN (non-saturating)",
        r"-\mathbb{E}_{x}[\log D(x)] - \mathbb{E}_{\hat x}[\log(1 - D(\hat x))]",
        r"-\mathbb{E}_{\hat x}[\log D(\hat x)]",
        True,
    ),
    Loss(
        "wgan",
        "WGAN (weight clipping)",
        r"-\mathbb{E}_{x}[D(x)] + \mathbb{E}_{\hat x}[D(\hat x)]",
        r"-\mathbb{E}_{\hat x}[D(\hat x)]",
        False,
        clip=True,
    ),
    Loss(
        "wgan_gp",
        "WGAN-GP (gradient penalty)",
        r"L_D^{WGAN} + \lambda\,\mathbb{E}[(\|\nabla D(\alpha x + (1-\alpha)\hat x)\|_2 - 1)^2]",
        r"-\mathbb{E}_{\hat x}[D(\hat x)]",
        False,
        penalty="interpolates",
    ),
    Loss(
        "lsgan",
        "LSGAN (least squares)",
        r"\mathbb{E}_{x}[(D(x) - 1)^2] + \mathbb{E}_{\hat x}[D(\hat x)^2]",
        r"\mathbb{E}_{\hat x}[(D(\hat x) - 1)^2]",
        False,
    ),
    Loss(
        "dragan",
        "DRAGAN (penalty near the data)",
        r"L_D^{GAN} + \lambda\,\mathbb{E}_{\hat x \sim p_d + \mathcal{N}(0, c)}"
        r"[(\|\nabla D(\hat x)\|_2 - 1)^2]",
        r"\mathbb{E}_{\hat x}[\log(1 - D(\hat x))]",
        True,
        penalty="real_noise",
    ),
    Loss(
        "hinge",
        "hinge",
        r"\mathbb{E}_{x}[\max(0, 1 - D(x))] + \mathbb{E}_{\hat x}[\max(0, 1 + D(\hat x))]",
        r"-\mathbb{E}_{\hat x}[D(\hat x)]",
        False,
    ),
    Loss(
        "began",
        "BEGAN (autoencoder D)",
        r"\mathbb{E}_{x}[\|x - AE(x)\|_1] - k_t\,\mathbb{E}_{\hat x}[\|\hat x - AE(\hat x)\|_1]",
        r"\mathbb{E}_{\hat x}[\|\hat x - AE(\hat x)\|_1]",
        False,
        autoencoder=True,
    ),
)
# BEGAN's control of k_t (Berthelot et al.'s defaults): γ = E[L(x̂)] / E[L(x)] at equilibrium
# (lower: D works harder on the real data, G's samples are less diverse), λ_k its gain.
BEGAN_GAMMA = 0.5
BEGAN_LAMBDA_K = 0.001
KEYS = tuple(loss.key for loss in LOSSES)
_BY_KEY = {loss.key: loss for loss in LOSSES}


def loss_info(key: str) -> Loss:
    return _BY_KEY[key]


def d_loss(key: str, a_r: torch.Tensor, a_f: torch.Tensor, k: float = 0.0):
    """L_D on a batch and its derivatives (dL/da_r, dL/da_f); no penalty term here.
    `k` is BEGAN's k_t (other losses ignore it)."""
    n_r, n_f = a_r.shape[0], a_f.shape[0]
    if key in ("mm", "ns", "dragan"):
        # −mean log σ(a_r) − mean log(1 − σ(a_f)) = mean softplus(−a_r) + mean softplus(a_f)
        value = softplus(-a_r).mean() + softplus(a_f).mean()
        return value, (torch.sigmoid(a_r) - 1) / n_r, torch.sigmoid(a_f) / n_f
    if key in ("wgan", "wgan_gp"):
        value = a_f.mean() - a_r.mean()
        return value, torch.full_like(a_r, -1.0 / n_r), torch.full_like(a_f, 1.0 / n_f)
    if key == "lsgan":
        value = (a_r - 1).square().mean() + a_f.square().mean()
        return value, 2 * (a_r - 1) / n_r, 2 * a_f / n_f
    if key == "hinge":
        value = torch.relu(1 - a_r).mean() + torch.relu(1 + a_f).mean()
        return value, -(a_r < 1).to(a_r.dtype) / n_r, (a_f > -1).to(a_f.dtype) / n_f
    if key == "began":  # a = L(x), the reconstruction error
        value = a_r.mean() - k * a_f.mean()
        return value, torch.full_like(a_r, 1.0 / n_r), torch.full_like(a_f, -k / n_f)
    raise ValueError(f"unknown loss {key!r}")


def g_loss(key: str, a_f: torch.Tensor):
    """L_G on a generated batch and its derivative dL/da_f."""
    n = a_f.shape[0]
    if key in ("mm", "dragan"):  # mean log(1 − σ(a)) = −mean softplus(a): saturates as σ(a) → 0
        return -softplus(a_f).mean(), -torch.sigmoid(a_f) / n
    if key == "ns":  # −mean log σ(a) = mean softplus(−a)
        return softplus(-a_f).mean(), (torch.sigmoid(a_f) - 1) / n
    if key in ("wgan", "wgan_gp", "hinge"):
        return -a_f.mean(), torch.full_like(a_f, -1.0 / n)
    if key == "began":
        return a_f.mean(), torch.full_like(a_f, 1.0 / n)
    if key == "lsgan":
        return (a_f - 1).square().mean(), 2 * (a_f - 1) / n
    raise ValueError(f"unknown loss {key!r}")


def d_output(key: str, a: torch.Tensor) -> torch.Tensor:
    """What the heat map shows: D(x) = sigmoid(a) for probability losses, the score otherwise
    (for BEGAN the reconstruction error L(x): low where D takes x for real)."""
    return torch.sigmoid(a) if _BY_KEY[key].probability else a


def began_k(
    k: float,
    loss_real: float,
    loss_fake: float,
    gamma: float = BEGAN_GAMMA,
    lambda_k: float = BEGAN_LAMBDA_K,
) -> float:
    """BEGAN's proportional control: k_{t+1} = clip(k_t + λ_k (γ L(x) − L(G(z))), 0, 1).
    k grows while G's samples are reconstructed better than γ times the real data (D must
    push them away harder) and shrinks otherwise."""
    return min(1.0, max(0.0, k + lambda_k * (gamma * loss_real - loss_fake)))
