"""The analytic side of the 1-D GAN game: what can be computed exactly, without sampling.

Real data N(mu, sigma²), generated data N(theta, 1), D(x) = sigmoid(w·x + b). Here: both
densities, the optimal discriminator D*, the Jensen–Shannon divergence and its two parts (the
"quality" and "coverage" terms of DS542's split), the best logistic D for a fixed generator,
the expected (population) gradients, and the losses at equilibrium. No Gradio here.
"""

from __future__ import annotations

import math

import numpy as np

from advdemo.core.errors import choice

GENERATOR_LOSSES = ("non_saturating", "saturating")
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def sigmoid(a: np.ndarray | float) -> np.ndarray | float:
    """Logistic function, overflow-free for any finite input (tanh form)."""
    return 0.5 + 0.5 * np.tanh(0.5 * a)


def softplus(a: np.ndarray | float) -> np.ndarray | float:
    """log(1 + e^a) without overflow; -log sigmoid(a) = softplus(-a)."""
    return np.logaddexp(0.0, a)


def gaussian_pdf(x: np.ndarray, mean: float | np.ndarray, std: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * _SQRT_2PI)


def p_data(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """Density of the real data N(mu, sigma²)."""
    return gaussian_pdf(x, mu, sigma)


def p_g(x: np.ndarray, theta: float) -> np.ndarray:
    """Density of the generated data N(theta, 1)."""
    return gaussian_pdf(x, theta, 1.0)


def log_odds_optimal(x: np.ndarray, mu: float, sigma: float, theta: float) -> np.ndarray:
    """log(p_data / p_g): the logit of D*. Linear in x when sigma = 1, quadratic otherwise."""
    return -0.5 * ((x - mu) / sigma) ** 2 - math.log(sigma) + 0.5 * (x - theta) ** 2


def d_star(x: np.ndarray, mu: float, sigma: float, theta: float) -> np.ndarray:
    """The optimal discriminator for the current generator, p_data / (p_data + p_g).

    Computed as sigmoid of the log-odds, which stays exact where both densities underflow.
    """
    return sigmoid(log_odds_optimal(x, mu, sigma, theta))


def _js_grid(mu: float, sigma: float, theta_lo: float, theta_hi: float) -> np.ndarray:
    lo = min(mu - 10.0 * sigma, theta_lo - 10.0)
    hi = max(mu + 10.0 * sigma, theta_hi + 10.0)
    return np.linspace(lo, hi, 2001)


def js_parts(mu: float, sigma: float, theta: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two halves of JS(p_data, p_g) in nats, as DS542 splits it (m = (p_data + p_g)/2):

    quality  = ½ KL(p_g ‖ m): large where G puts samples where there is little real data;
    coverage = ½ KL(p_data ‖ m): large where real data lie that G rarely produces.

    Trapezoid integrals on a fine grid, vectorised over theta; each lies in [0, ½ ln 2]."""
    thetas = np.atleast_1d(np.asarray(theta, dtype=float))
    x = _js_grid(mu, sigma, float(thetas.min()), float(thetas.max()))
    log_p = -0.5 * ((x - mu) / sigma) ** 2 - math.log(sigma * _SQRT_2PI)  # (X,)
    log_q = -0.5 * (x[None, :] - thetas[:, None]) ** 2 - math.log(_SQRT_2PI)  # (T, X)
    log_m = np.logaddexp(log_p, log_q) - math.log(2.0)
    half_ln2 = 0.5 * math.log(2.0)
    quality = np.trapezoid(0.5 * np.exp(log_q) * (log_q - log_m), x, axis=1)
    coverage = np.trapezoid(0.5 * np.exp(log_p) * (log_p - log_m), x, axis=1)
    parts = [np.clip(v, 0.0, half_ln2) for v in (quality, coverage)]
    if np.ndim(theta):
        return parts[0].reshape(np.shape(theta)), parts[1].reshape(np.shape(theta))
    return parts[0][0], parts[1][0]


def js_divergence(mu: float, sigma: float, theta: float | np.ndarray) -> np.ndarray:
    """Jensen–Shannon divergence in nats between N(mu, sigma²) and N(theta, 1): the sum of
    js_parts. 0 when the distributions are equal, ln 2 ≈ 0.693 when they do not overlap."""
    quality, coverage = js_parts(mu, sigma, theta)
    return np.clip(quality + coverage, 0.0, math.log(2.0))


# Gauss–Hermite (probabilists') nodes: E[f(X)], X ~ N(m, s²), is sum(weights · f(m + s·nodes)).
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(64)
_GH_WEIGHTS = _GH_WEIGHTS / _SQRT_2PI


def expected_gradients(
    theta: np.ndarray | float,
    w: np.ndarray | float,
    b: np.ndarray | float,
    mu: float,
    sigma: float,
    g_loss: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Population gradients (dJ(G)/dtheta, dJ(D)/dw, dJ(D)/db), broadcasting over the inputs.

    The same formulas as the mini-batch versions with the batch means replaced by
    expectations over the real and generated distributions (64-node Gauss–Hermite rule).
    """
    choice("generator loss", g_loss, GENERATOR_LOSSES)
    theta, w, b = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (theta, w, b)))
    x_real = mu + sigma * _GH_NODES  # (N,)
    x_fake = theta[..., None] + _GH_NODES  # (..., N)
    d_real = sigmoid(w[..., None] * x_real + b[..., None])
    d_fake = sigmoid(w[..., None] * x_fake + b[..., None])
    err_real = d_real - 1.0
    grad_w = (err_real * x_real) @ _GH_WEIGHTS + (d_fake * x_fake) @ _GH_WEIGHTS
    grad_b = err_real @ _GH_WEIGHTS + d_fake @ _GH_WEIGHTS
    if g_loss == "non_saturating":
        grad_theta = -w * ((1.0 - d_fake) @ _GH_WEIGHTS)
    else:
        grad_theta = -w * (d_fake @ _GH_WEIGHTS)
    return grad_theta, grad_w, grad_b


def best_logistic_discriminator(
    mu: float,
    sigma: float,
    theta: float,
    iterations: int = 100,
    start: tuple[float, float] = (0.0, 0.0),
) -> tuple[float, float]:
    """The (w, b) minimising the expected J(D) for a fixed generator (Newton's method).

    With sigma = 1 this D equals D* exactly: w = mu - theta, b = (theta² - mu²) / 2. With
    sigma ≠ 1 it is only the closest a straight log-odds line can get to D*'s parabola.
    The expectations are trapezoid integrals on a fine grid, accurate even for a steep D.
    `start` is where Newton's method begins: the previous optimum, when theta has moved a
    little, leaves a few iterations to do instead of a dozen.
    """
    x = _js_grid(mu, sigma, theta, theta)
    dx = np.gradient(x)
    weight_real = p_data(x, mu, sigma) * dx
    weight_fake = p_g(x, theta) * dx
    features = np.stack([x, np.ones_like(x)])  # (2, X)
    params = np.array(start, dtype=float)
    if not np.all(np.isfinite(params)):
        params = np.zeros(2)
    for _ in range(iterations):
        d = sigmoid(params @ features)
        # J(D) = E_real[-log D] + E_fake[-log(1 - D)]; dJ/da = (D - 1) real, D fake.
        grad = features @ (weight_real * (d - 1.0) + weight_fake * d)
        hessian = (features * ((weight_real + weight_fake) * d * (1.0 - d))) @ features.T
        delta = np.linalg.solve(hessian, grad)
        params -= delta
        if np.max(np.abs(delta)) < 1e-13:
            break
    return float(params[0]), float(params[1])


def equilibrium_losses(g_loss: str) -> tuple[float, float]:
    """J(D) and J(G) when D(x) = 1/2 everywhere: 2 ln 2, and ln 2 or -ln 2."""
    ln2 = math.log(2.0)
    return 2.0 * ln2, (ln2 if g_loss == "non_saturating" else -ln2)
