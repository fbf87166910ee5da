"""The 1-D GAN game: Gaussian data, a shift generator and a logistic-regression discriminator.

Real data x ~ N(mu, sigma²); the generator maps z ~ N(0, 1) to x* = z + theta, so
p_g = N(theta, 1); the discriminator is D(x) = sigmoid(w·x + b). Every gradient is written
out by hand (D is logistic regression) and evaluated on whole mini-batches with numpy, so one
training step costs tens of microseconds. The analytic side of the game (densities, D*, the
Jensen–Shannon divergence and its two parts, the best logistic D, expected gradients) is in
toygan.analytic; this module adds the expected gradient field the phase portrait draws. The
lecture's scenarios are in toygan.presets, how a browser session plays a game frame by frame
in toygan.playback. No Gradio here.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass

import numpy as np

from advdemo.core.errors import MAX_SEED, InputError, choice, finite, whole
from advdemo.toygan.analytic import (
    GENERATOR_LOSSES,
    best_logistic_discriminator,
    expected_gradients,
    js_parts,
    sigmoid,
    softplus,
)

OPTIMIZERS = ("sgd", "adam")
UPDATE_MODES = ("alternating", "simultaneous")

# Limits of what the game accepts. Learning rates above MAX_LR blow up within a few steps
# whatever the other settings, so they are refused rather than run.
MAX_ABS_MEAN = 10.0
MIN_SIGMA, MAX_SIGMA = 0.1, 5.0
MAX_LR = 10.0
MAX_BATCH = 4096
MAX_K = 20
# A parameter beyond this size means the run has blown up (D's sigmoid is saturated far
# beyond anything a plot can show); the trainer stops and says so.
BLOW_UP_LIMIT = 1e6

# One request may play at most this much work: steps × (k + 1) updates × batch samples.
# About ten seconds on this machine's two cores; a long run at batch 256, k = 1 fits 100,000 steps.
MAX_RUN_WORK = 250_000_000
MAX_RUN_STEPS = 100_000
# What setting D to its optimum costs, in the same units (a few Newton steps on a 2001-point
# grid, ~0.5 ms: about ten SGD steps at batch 256).
D_OPTIMAL_WORK = 8_000

NOISE_BLOCK = 1 << 13  # normals per refill (64 kB): a game kept in a session stays small


@dataclass(frozen=True)
class ToyGanConfig:
    """Settings of one run of the 1-D GAN game."""

    mu: float = 2.0  # mean of the real data
    sigma: float = 1.0  # standard deviation of the real data (the generator's is always 1)
    theta0: float = -2.0  # the generator's starting shift
    lr_d: float = 0.05  # discriminator learning rate
    lr_g: float = 0.05  # generator learning rate
    optimizer: str = "sgd"  # 'sgd' | 'adam' (one optimiser per player)
    batch: int = 256  # real and generated samples per mini-batch
    k_d: int = 1  # discriminator steps per generator step (alternating mode)
    g_loss: str = "non_saturating"  # 'non_saturating': -log D(G(z)); 'saturating': log(1-D(G(z)))
    update: str = "alternating"  # 'alternating': D first, G sees the new D; 'simultaneous'
    seed: int = 0  # seeds the noise of the whole run
    d_optimal: bool = False  # D set to the best logistic D for the current theta every step
    w0: float = 0.0  # the discriminator's starting slope
    b0: float = 0.0  # the discriminator's starting bias
    adam_beta1: float = 0.5  # the usual GAN choice (DCGAN) rather than Adam's 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8


# The settings a user plays with, in the order the controls and the toy_gan API take them
# (the rest of ToyGanConfig keeps its defaults).
SETTING_KEYS = (
    "mu",
    "sigma",
    "theta0",
    "lr_d",
    "lr_g",
    "optimizer",
    "batch",
    "k_d",
    "g_loss",
    "update",
    "seed",
    "d_optimal",
)

SETTING_LABELS = {
    "mu": "mu (mean of the real data)",
    "sigma": "sigma (spread of the real data)",
    "theta0": "initial theta",
    "lr_d": "D learning rate",
    "lr_g": "G learning rate",
    "optimizer": "optimiser",
    "batch": "batch size",
    "k_d": "k (D steps per G step)",
    "g_loss": "generator loss",
    "update": "update mode",
    "seed": "seed",
    "d_optimal": "D trained to optimality each step",
    "w0": "initial w",
    "b0": "initial b",
    "adam_beta1": "Adam beta1",
    "adam_beta2": "Adam beta2",
    "adam_eps": "Adam eps",
}


def make_config(**settings: object) -> tuple[ToyGanConfig, list[str]]:
    """Validate user settings into a ToyGanConfig; return it with notes about any adjustment.

    Raises InputError with a readable message for anything unusable: an empty field, NaN,
    sigma <= 0, a learning rate <= 0 or above MAX_LR, k = 0, an unknown optimiser...
    Settings not given take the ToyGanConfig defaults; unknown names are refused.
    """
    label = SETTING_LABELS
    unknown = sorted(set(settings) - set(label))
    if unknown:
        raise InputError(f"Unknown setting(s) for the 1-D GAN: {', '.join(unknown)}.")
    empty = [label[k] for k, v in settings.items() if v is None or v == ""]
    if empty:
        raise InputError(f"Please fill in: {', '.join(empty)}.")
    raw = {**asdict(ToyGanConfig()), **settings}
    notes: list[str] = []

    sigma = finite(label["sigma"], raw["sigma"])
    if sigma <= 0:
        raise InputError(f"{label['sigma']} must be positive, got {sigma:g}.")
    sigma = finite(label["sigma"], sigma, MIN_SIGMA, MAX_SIGMA)
    lrs = {}
    for key in ("lr_d", "lr_g"):
        lr = finite(label[key], raw[key])
        if lr <= 0:
            raise InputError(f"{label[key]} must be positive, got {lr:g}.")
        if lr > MAX_LR:
            raise InputError(
                f"{label[key]} {lr:g} is far too large: steps that big throw the parameters "
                f"around instead of learning. Use at most {MAX_LR:g} (useful values here are "
                f"roughly 0.001 to 3)."
            )
        lrs[key] = lr
    k_d = whole(label["k_d"], raw["k_d"], lo=1, hi=MAX_K)
    update = choice(label["update"], raw["update"], UPDATE_MODES)
    d_optimal = raw["d_optimal"]
    if d_optimal not in (True, False):  # bools, and 0 / 1 (True == 1)
        raise InputError(f"{label['d_optimal']} must be true or false, got {d_optimal!r}.")
    if d_optimal and (k_d != 1 or update != "alternating"):
        notes.append(
            "D is set to its optimum for the current θ before every G step, so k and the "
            "update mode do not apply while that switch is on."
        )
    elif update == "simultaneous" and k_d != 1:
        notes.append(
            f"Simultaneous updates take one D step and one G step from the same point, "
            f"so k = {k_d} was used as k = 1."
        )
        k_d = 1
    config = ToyGanConfig(
        mu=finite(label["mu"], raw["mu"], -MAX_ABS_MEAN, MAX_ABS_MEAN),
        sigma=sigma,
        theta0=finite(label["theta0"], raw["theta0"], -MAX_ABS_MEAN, MAX_ABS_MEAN),
        optimizer=choice(label["optimizer"], raw["optimizer"], OPTIMIZERS),
        batch=whole(label["batch"], raw["batch"], lo=1, hi=MAX_BATCH),
        k_d=k_d,
        g_loss=choice(label["g_loss"], raw["g_loss"], GENERATOR_LOSSES),
        update=update,
        seed=whole(label["seed"], raw["seed"], lo=0, hi=MAX_SEED),
        d_optimal=bool(d_optimal),
        w0=finite(label["w0"], raw["w0"], -100.0, 100.0),
        b0=finite(label["b0"], raw["b0"], -100.0, 100.0),
        adam_beta1=finite(label["adam_beta1"], raw["adam_beta1"], 0.0, 0.999),
        adam_beta2=finite(label["adam_beta2"], raw["adam_beta2"], 0.0, 0.99999),
        adam_eps=finite(label["adam_eps"], raw["adam_eps"], 1e-12, 1.0),
        **lrs,
    )
    if config.batch < 8:
        notes.append(f"With a batch of {config.batch} every gradient is very noisy.")
    return config, notes


def run_work(config: ToyGanConfig, steps: int) -> int:
    """How much a run costs, in sample evaluations: steps × (k + 1) player updates × batch
    (with D set to its optimum: that, one batch for J(D) and one G update)."""
    batch = max(config.batch, 64)  # small batches cost their overhead
    if config.d_optimal:
        return steps * (D_OPTIMAL_WORK + 2 * batch)
    return steps * (config.k_d + 1) * batch


def check_run_length(config: ToyGanConfig, steps: object) -> int:
    """Validate a number of steps to play in one go; InputError if it is too much work."""
    steps = whole("number of steps", steps, lo=1, hi=MAX_RUN_STEPS)
    if run_work(config, steps) > MAX_RUN_WORK:
        fits = max(1, MAX_RUN_WORK // run_work(config, 1))
        raise InputError(
            f"{steps:,} steps with k = {config.k_d} and batch {config.batch} are too much work "
            f"for one request. Use at most {fits:,} steps, or a smaller batch or k."
        )
    return steps


# --- the model and its hand-derived gradients -------------------------------------------------


def discriminator(x: np.ndarray, w: float, b: float) -> np.ndarray:
    """D(x) = sigmoid(w·x + b): the probability D gives to x being real."""
    return sigmoid(w * x + b)


def discriminator_loss_and_grads(
    w: float, b: float, x_real: np.ndarray, x_fake: np.ndarray
) -> tuple[float, float, float]:
    """J(D) on a mini-batch and its gradient (dJ/dw, dJ/db).

    J(D) = mean(-log D(x_real)) + mean(-log(1 - D(x_fake))). With a = w·x + b, the derivative
    of the per-sample cross-entropy with respect to a is D(x) - y (y = 1 real, 0 fake).
    """
    a_real = w * x_real + b  # (B,)
    a_fake = w * x_fake + b  # (B,)
    err_real = sigmoid(a_real) - 1.0  # dJ/da for real samples
    err_fake = sigmoid(a_fake)  # dJ/da for generated samples
    n_real, n_fake = x_real.shape[0], x_fake.shape[0]
    loss = softplus(-a_real).sum() / n_real + softplus(a_fake).sum() / n_fake
    grad_w = (err_real @ x_real) / n_real + (err_fake @ x_fake) / n_fake
    grad_b = err_real.sum() / n_real + err_fake.sum() / n_fake
    return float(loss), float(grad_w), float(grad_b)


def generator_loss_and_grad(
    theta: float, w: float, b: float, z: np.ndarray, g_loss: str
) -> tuple[float, float]:
    """J(G) on the latent batch z and dJ(G)/dtheta, for either generator loss.

    The generated samples are x* = z + theta, so da/dtheta = w for a = w·x* + b.
    non_saturating: J = mean(-log D(x*)),    dJ/dtheta = -w · mean(1 - D(x*))
    saturating:     J = mean(log(1 - D(x*))), dJ/dtheta = -w · mean(D(x*))
    The saturating gradient vanishes where D confidently rejects the fakes (D(x*) ≈ 0).
    """
    a_fake = w * (z + theta) + b  # (B,)
    d_fake = sigmoid(a_fake)
    n = z.shape[0]
    if g_loss == "non_saturating":
        return float(softplus(-a_fake).sum() / n), float(-w * (n - d_fake.sum()) / n)
    if g_loss == "saturating":
        return float(-softplus(a_fake).sum() / n), float(-w * d_fake.sum() / n)
    raise InputError(f"generator loss must be one of {GENERATOR_LOSSES}; got {g_loss!r}.")


class _Adam:
    """Adam for a handful of scalar parameters, in plain floats (no array overhead)."""

    def __init__(self, size: int, beta1: float, beta2: float, eps: float) -> None:
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = [0.0] * size
        self.v = [0.0] * size
        self.t = 0

    def steps(self, grads: tuple[float, ...], lr: float) -> list[float]:
        """The parameter changes for these gradients (to be added to the parameters)."""
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        corr1 = 1.0 - b1**self.t
        corr2 = 1.0 - b2**self.t
        deltas = []
        for i, g in enumerate(grads):
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * g * g
            deltas.append(-lr * (self.m[i] / corr1) / (math.sqrt(self.v[i] / corr2) + self.eps))
        return deltas


class _History:
    """Per-step records in a growable (steps, fields) array."""

    FIELDS = ("theta", "w", "b", "d_loss", "g_loss", "mu", "sigma")

    def __init__(self, capacity: int = 512) -> None:  # grows by doubling
        self._data = np.empty((capacity, len(self.FIELDS)))
        self.size = 0

    def append(self, row: tuple[float, ...]) -> None:
        if self.size == self._data.shape[0]:
            self._data = np.concatenate([self._data, np.empty_like(self._data)])
        self._data[self.size] = row
        self.size += 1

    def column(self, name: str) -> np.ndarray:
        return self._data[: self.size, self.FIELDS.index(name)]


class ToyGanTrainer:
    """Plays the 1-D GAN game one step at a time; every number it knows is observable.

    One step is k discriminator updates then one generator update (alternating), or one of
    each computed at the same point (simultaneous). Parameters: theta (G), w and b (D).
    history.column(name) holds theta, w, b, d_loss, g_loss, mu and sigma after every step,
    with the starting point as row 0. The run is deterministic for a given config, whatever way its
    steps are split between step() and run() calls. A step whose result is NaN, infinite or
    beyond BLOW_UP_LIMIT is not applied: the trainer stops and `diverged` says why.
    `lock` serialises a trainer shared between threads (e.g. a UI run and a settings change).
    """

    def __init__(self, config: ToyGanConfig) -> None:
        self.config = config
        self.theta = config.theta0
        self.w = config.w0
        self.b = config.b0
        self.steps_done = 0
        self.d_loss = math.nan
        self.g_loss = math.nan
        self.diverged: str | None = None
        self.lock = threading.Lock()
        self.history = _History()
        self.history.append(
            (self.theta, self.w, self.b, math.nan, math.nan, config.mu, config.sigma)
        )
        self._rng = np.random.default_rng(config.seed)
        self._noise = np.empty(0)
        self._noise_pos = 0
        self._make_optimizers()
        # The generated batch the plots show; before the first step it comes from a stream of
        # its own so that the run's noise does not depend on whether anyone looked.
        preview = np.random.default_rng([config.seed, 1]).standard_normal(config.batch)
        self.last_generated = config.theta0 + preview

    def _make_optimizers(self) -> None:
        c = self.config
        self._adam_d = _Adam(2, c.adam_beta1, c.adam_beta2, c.adam_eps)
        self._adam_g = _Adam(1, c.adam_beta1, c.adam_beta2, c.adam_eps)

    def reconfigure(self, config: ToyGanConfig) -> None:
        """Carry on the current run under new settings (rates, losses, data...).

        The parameters stay where they are; the starting point (theta0, w0, b0) and the seed
        only matter for a new trainer. Switching optimiser, or changing Adam's settings,
        starts fresh optimiser statistics.
        """
        old = self.config
        self.config = config
        if (old.optimizer, old.adam_beta1, old.adam_beta2, old.adam_eps) != (
            config.optimizer,
            config.adam_beta1,
            config.adam_beta2,
            config.adam_eps,
        ):
            self._make_optimizers()

    # --- noise -----------------------------------------------------------------------------

    def _standard_normals(self, n: int) -> np.ndarray:
        """The next n numbers of the run's N(0, 1) stream, refilled in fixed-size blocks."""
        if self._noise_pos + n > self._noise.shape[0]:
            leftover = self._noise[self._noise_pos :]
            blocks = -(-(n - leftover.shape[0]) // NOISE_BLOCK)
            fresh = self._rng.standard_normal(blocks * NOISE_BLOCK)
            self._noise = np.concatenate([leftover, fresh])
            self._noise_pos = 0
        out = self._noise[self._noise_pos : self._noise_pos + n]
        self._noise_pos += n
        return out

    # --- training --------------------------------------------------------------------------

    def _update(
        self, params: tuple[float, ...], grads: tuple[float, ...], lr: float, adam: _Adam
    ) -> tuple[float, ...]:
        if self.config.optimizer == "adam":
            deltas = adam.steps(grads, lr)
            return tuple(p + d for p, d in zip(params, deltas, strict=True))
        return tuple(p - lr * g for p, g in zip(params, grads, strict=True))

    def _check(self, what: str, values: tuple[float, ...]) -> bool:
        if all(math.isfinite(v) and abs(v) <= BLOW_UP_LIMIT for v in values):
            return True
        names = "theta" if what == "G" else "w, b"
        self.diverged = (
            f"The run diverged at step {self.steps_done + 1}: the {what} update would make "
            f"{names} = {', '.join(f'{v:.3g}' for v in values)}. Lower the learning rates "
            f"and press Reset."
        )
        return False

    def step(self) -> bool:
        """Play one round of the game; False (and nothing changes) once the run has diverged."""
        if self.diverged is not None:
            return False
        c = self.config
        batch = c.batch
        if c.d_optimal:
            return self._step_against_optimal_d()
        if c.update == "alternating":
            for _ in range(c.k_d):
                noise = self._standard_normals(2 * batch)
                x_real = c.mu + c.sigma * noise[:batch]
                x_fake = self.theta + noise[batch:]
                d_loss, grad_w, grad_b = discriminator_loss_and_grads(
                    self.w, self.b, x_real, x_fake
                )
                new_wb = self._update((self.w, self.b), (grad_w, grad_b), c.lr_d, self._adam_d)
                if not self._check("D", new_wb):
                    return False
                self.w, self.b = new_wb
            z = self._standard_normals(batch)
            g_loss, grad_theta = generator_loss_and_grad(self.theta, self.w, self.b, z, c.g_loss)
            (new_theta,) = self._update((self.theta,), (grad_theta,), c.lr_g, self._adam_g)
            if not self._check("G", (new_theta,)):
                return False
            self.theta = new_theta
            self.last_generated = z + new_theta
        else:
            noise = self._standard_normals(2 * batch)
            x_real = c.mu + c.sigma * noise[:batch]
            z = noise[batch:]
            d_loss, grad_w, grad_b = discriminator_loss_and_grads(
                self.w, self.b, x_real, z + self.theta
            )
            g_loss, grad_theta = generator_loss_and_grad(self.theta, self.w, self.b, z, c.g_loss)
            new_wb = self._update((self.w, self.b), (grad_w, grad_b), c.lr_d, self._adam_d)
            (new_theta,) = self._update((self.theta,), (grad_theta,), c.lr_g, self._adam_g)
            if not (self._check("D", new_wb) and self._check("G", (new_theta,))):
                return False
            self.w, self.b = new_wb
            self.theta = new_theta
            self.last_generated = z + new_theta
        self.d_loss, self.g_loss = d_loss, g_loss
        self.steps_done += 1
        self.history.append((self.theta, self.w, self.b, d_loss, g_loss, c.mu, c.sigma))
        return True

    def _step_against_optimal_d(self) -> bool:
        """D jumps to the best logistic D for the current theta (DS542's Proposition 2 lets
        D reach its optimum at every step), then G takes one step against it."""
        c = self.config
        noise = self._standard_normals(2 * c.batch)  # a batch only for J(D)'s read-out
        x_real = c.mu + c.sigma * noise[: c.batch]
        x_fake = self.theta + noise[c.batch :]
        new_wb = best_logistic_discriminator(c.mu, c.sigma, self.theta, start=(self.w, self.b))
        if not self._check("D", new_wb):
            return False
        self.w, self.b = new_wb
        d_loss, _, _ = discriminator_loss_and_grads(self.w, self.b, x_real, x_fake)
        z = self._standard_normals(c.batch)
        g_loss, grad_theta = generator_loss_and_grad(self.theta, self.w, self.b, z, c.g_loss)
        (new_theta,) = self._update((self.theta,), (grad_theta,), c.lr_g, self._adam_g)
        if not self._check("G", (new_theta,)):
            return False
        self.theta = new_theta
        self.last_generated = z + new_theta
        self.d_loss, self.g_loss = d_loss, g_loss
        self.steps_done += 1
        self.history.append((self.theta, self.w, self.b, d_loss, g_loss, c.mu, c.sigma))
        return True

    def run(self, n: int) -> int:
        """Play up to n rounds; stop early if the run diverges. Returns the rounds played."""
        done = 0
        for _ in range(n):
            if not self.step():
                break
            done += 1
        return done

    # --- read-outs -------------------------------------------------------------------------

    def discriminator(self, x: np.ndarray) -> np.ndarray:
        return discriminator(x, self.w, self.b)

    def summary(self) -> dict[str, object]:
        """The run's state in plain numbers (what the API returns)."""
        c = self.config
        quality, coverage = js_parts(c.mu, c.sigma, self.theta)
        return {
            "step": self.steps_done,
            "theta": self.theta,
            "w": self.w,
            "b": self.b,
            "mu": c.mu,
            "sigma": c.sigma,
            "d_loss": None if math.isnan(self.d_loss) else self.d_loss,
            "g_loss": None if math.isnan(self.g_loss) else self.g_loss,
            "js_divergence": float(min(quality + coverage, math.log(2.0))),
            "js_quality": float(quality),
            "js_coverage": float(coverage),
            "diverged": self.diverged,
            "config": asdict(c),
        }


# --- the expected gradient field (the phase portrait's arrows) --------------------------------


def gradient_field(
    thetas: np.ndarray, ws: np.ndarray, b: float, config: ToyGanConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Where simultaneous gradient descent pushes (theta, w) from each grid point, b held fixed.

    Returns (d_theta, d_w) on the meshgrid of thetas × ws (shape (len(ws), len(thetas))), each
    the negative expected gradient scaled by its player's learning rate: one plain SGD step.
    """
    theta_grid, w_grid = np.meshgrid(thetas, ws)
    grad_theta, grad_w, _ = expected_gradients(
        theta_grid, w_grid, b, config.mu, config.sigma, config.g_loss
    )
    return -config.lr_g * grad_theta, -config.lr_d * grad_w
