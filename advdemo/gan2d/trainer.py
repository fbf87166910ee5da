"""Training a 2-D GAN: settings, their checks, and the trainer that records every step.

One step is k discriminator updates (each on a fresh real batch and a fresh generated batch)
and then one generator update. All randomness (initial weights, data, z, the penalty's α or
noise) comes from one torch generator seeded by the settings, so a run is reproducible step
for step, and two runs with the same seed and network sizes start from identical weights and
see the same first batches (the race relies on it). A step that makes a loss or a weight
non-finite, or a weight larger than BLOW_UP_LIMIT, stops the run and `diverged` says so.
BEGAN's D is an autoencoder (nets.AutoencoderD) drawn from a stream of its own after the
usual D's draws are made, so that G and the batches are those of the other losses; its k_t
starts at 0 and is updated after every step from the last D update's L(x) and G's L(G(z)).
Each step records both losses and, measured on that step's generated batch, the number of
modes covered and the share of high-quality samples (gan2d.data). No Gradio here.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from advdemo.core.errors import MAX_SEED, InputError, choice, finite, whole
from advdemo.gan2d import losses
from advdemo.gan2d.data import DATASETS, Dataset, make_dataset
from advdemo.gan2d.nets import AutoencoderD, Discriminator, Generator
from advdemo.models.runtime import single_thread

OPTIMIZERS = ("adam", "sgd")
MIN_WIDTH, MAX_WIDTH = 4, 256
MAX_DEPTH = 4
MIN_Z, MAX_Z = 2, 16
MIN_BATCH, MAX_BATCH = 8, 1024
MAX_K = 10
MAX_LR = 1.0
MAX_GP_WEIGHT = 100.0
MIN_CLIP, MAX_CLIP = 1e-3, 1.0
BLOW_UP_LIMIT = 1e4
ADAM_BETAS = (0.5, 0.999)  # the usual GAN choice (DCGAN) rather than Adam's 0.9
ADAM_EPS = 1e-8
DRAGAN_NOISE = 0.5  # DRAGAN's perturbation: N(0, (0.5 · std of the real batch)²)
MAX_RUN_STEPS = 20_000
# One request may do at most this much work: steps × (k + 1) × batch × (G and D widths)².
MAX_RUN_WORK = 6e11
CODE_COST = 2  # BEGAN: the bottleneck's two thin layers, per unit of D's width


@dataclass(frozen=True)
class Gan2dConfig:
    dataset: str = "ring"
    points: str = ""  # the user's points as text (dataset 'points' only)
    loss: str = "wgan_gp"
    g_width: int = 64
    g_depth: int = 2
    d_width: int = 64
    d_depth: int = 2
    z_dim: int = 2
    optimizer: str = "adam"
    lr_d: float = 1e-3
    lr_g: float = 1e-3
    k_d: int = 1
    batch: int = 256
    spectral_norm: bool = False
    minibatch_std: bool = False
    gp_weight: float = 1.0  # λ of WGAN-GP and DRAGAN
    clip: float = 0.05  # WGAN's weight clipping bound c
    seed: int = 0


# The settings a user plays with, in the order the controls and the gan2d API take them.
SETTING_KEYS = tuple(Gan2dConfig.__dataclass_fields__)
LABELS = {
    "dataset": "data set",
    "points": "your points",
    "loss": "loss",
    "g_width": "G width",
    "g_depth": "G depth",
    "d_width": "D width",
    "d_depth": "D depth",
    "z_dim": "z dimension",
    "optimizer": "optimiser",
    "lr_d": "D learning rate",
    "lr_g": "G learning rate",
    "k_d": "k (D steps per G step)",
    "batch": "batch size",
    "spectral_norm": "spectral norm",
    "minibatch_std": "minibatch std feature",
    "gp_weight": "penalty weight λ",
    "clip": "clipping bound c",
    "seed": "seed",
}
# Changing these needs new networks or data: they apply at Reset, not in a running game.
RESET_KEYS = ("dataset", "points", "g_width", "g_depth", "d_width", "d_depth", "z_dim", "seed")


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1) and not isinstance(value, float):
        return bool(value)
    raise InputError(f"{name} must be true or false, got {value!r}.")


def _rate(name: str, value: object) -> float:
    lr = finite(name, value)
    if lr <= 0:
        raise InputError(f"{name} must be positive, got {lr:g}.")
    if lr > MAX_LR:
        raise InputError(
            f"{name} {lr:g} is far too large: steps that big throw the weights around instead "
            f"of learning. Use at most {MAX_LR:g} (useful values are about 1e-4 to 1e-2)."
        )
    return lr


def make_config(**settings: object) -> Gan2dConfig:
    """Validate user settings into a Gan2dConfig (defaults for the ones not given);
    InputError with a readable message for anything unusable."""
    unknown = sorted(set(settings) - set(LABELS))
    if unknown:
        raise InputError(f"Unknown setting(s) for the 2-D GAN: {', '.join(unknown)}.")
    raw = {**asdict(Gan2dConfig()), **settings}
    empty = [LABELS[k] for k, v in settings.items() if v is None or (v == "" and k != "points")]
    if empty:
        raise InputError(f"Please fill in: {', '.join(empty)}.")
    points = raw["points"]
    if not isinstance(points, str):
        raise InputError(f"{LABELS['points']} must be text, got {type(points).__name__}.")
    return Gan2dConfig(
        dataset=choice(LABELS["dataset"], raw["dataset"], DATASETS),
        points=points,
        loss=choice(LABELS["loss"], raw["loss"], losses.KEYS),
        g_width=whole(LABELS["g_width"], raw["g_width"], MIN_WIDTH, MAX_WIDTH),
        g_depth=whole(LABELS["g_depth"], raw["g_depth"], 1, MAX_DEPTH),
        d_width=whole(LABELS["d_width"], raw["d_width"], MIN_WIDTH, MAX_WIDTH),
        d_depth=whole(LABELS["d_depth"], raw["d_depth"], 1, MAX_DEPTH),
        z_dim=whole(LABELS["z_dim"], raw["z_dim"], MIN_Z, MAX_Z),
        optimizer=choice(LABELS["optimizer"], raw["optimizer"], OPTIMIZERS),
        lr_d=_rate(LABELS["lr_d"], raw["lr_d"]),
        lr_g=_rate(LABELS["lr_g"], raw["lr_g"]),
        k_d=whole(LABELS["k_d"], raw["k_d"], 1, MAX_K),
        batch=whole(LABELS["batch"], raw["batch"], MIN_BATCH, MAX_BATCH),
        spectral_norm=_flag(LABELS["spectral_norm"], raw["spectral_norm"]),
        minibatch_std=_flag(LABELS["minibatch_std"], raw["minibatch_std"]),
        gp_weight=finite(LABELS["gp_weight"], raw["gp_weight"], 0.0, MAX_GP_WEIGHT),
        clip=finite(LABELS["clip"], raw["clip"], MIN_CLIP, MAX_CLIP),
        seed=whole(LABELS["seed"], raw["seed"], 0, MAX_SEED),
    )


def step_work(config: Gan2dConfig) -> float:
    """The cost of one step in multiply-adds, roughly (what frame and request budgets use)."""
    d = config.d_width**2 * max(config.d_depth - 1, 1) + 3 * config.d_width
    g = config.g_width**2 * max(config.g_depth - 1, 1) + (config.z_dim + 2) * config.g_width
    info = losses.loss_info(config.loss)
    penalty = 2 if info.penalty else 1
    if info.autoencoder:  # an encoder and a decoder
        d = 2 * d + (config.d_width + 2) * CODE_COST
    return float(config.batch * (config.k_d * (2 * d * 3 * penalty + g) + 3 * (g + d)))


def check_run_length(config: Gan2dConfig, steps: object) -> int:
    steps = whole("number of steps", steps, lo=1, hi=MAX_RUN_STEPS)
    if steps * step_work(config) > MAX_RUN_WORK:
        fits = max(1, int(MAX_RUN_WORK // step_work(config)))
        raise InputError(
            f"{steps:,} steps at these sizes are too much work for one request: use at most "
            f"{fits:,}, or smaller networks, batch or k."
        )
    return steps


class _Optimizer:
    """SGD or Adam on one flat parameter tensor (a handful of ops whatever the network)."""

    def __init__(self, params: torch.Tensor, kind: str) -> None:
        self.kind = kind
        self.m = torch.zeros_like(params)
        self.v = torch.zeros_like(params)
        self._denom = torch.empty_like(params)  # reused every step
        self.t = 0

    def step(self, params: torch.Tensor, grad: torch.Tensor, lr: float) -> None:
        if self.kind == "sgd":
            params.add_(grad, alpha=-lr)
            return
        b1, b2 = ADAM_BETAS
        self.t += 1
        self.m.lerp_(grad, 1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        denom = torch.div(self.v, 1 - b2**self.t, out=self._denom).sqrt_().add_(ADAM_EPS)
        params.addcdiv_(self.m, denom, value=-lr / (1 - b1**self.t))


def _max_abs(flat: torch.Tensor) -> torch.Tensor:
    """The largest |weight| (NaN if any weight is NaN)."""
    return torch.linalg.vector_norm(flat, math.inf)


HISTORY_FIELDS = ("d_loss", "g_loss", "covered", "quality")


class Gan2dTrainer:
    """A 2-D GAN in training; every number it knows is observable.

    history[:steps_done] holds (d_loss, g_loss, modes covered, high-quality share) per step.
    `lock` serialises a trainer shared between threads (a frame and a settings change).
    `dtype` float64 is for tests (finite differences); the app trains in float32.
    """

    def __init__(
        self, config: Gan2dConfig, dataset: Dataset | None = None, dtype=torch.float32
    ) -> None:
        self.config = config
        self.dtype = dtype
        self.data = (dataset or make_dataset(config.dataset, config.points)).to(dtype)
        self.rng = torch.Generator().manual_seed(config.seed)
        self.G = Generator(config.z_dim, config.g_width, config.g_depth, self.rng, dtype)
        self.D = Discriminator(
            config.d_width,
            config.d_depth,
            self.rng,
            dtype,
            spectral_norm=config.spectral_norm,
            minibatch_std=config.minibatch_std,
        )
        self.loss = losses.loss_info(config.loss)
        if self.loss.autoencoder:  # the usual D above was drawn only to keep the streams alike
            self.D = _autoencoder(config, dtype)
        self.began_k = 0.0
        self._real_error = math.nan  # BEGAN: L(x) of the last D update
        self._opt_d = _Optimizer(self.D.flat, config.optimizer)
        self._opt_g = _Optimizer(self.G.flat, config.optimizer)
        self.steps_done = 0
        self.diverged: str | None = None
        self.lock = threading.Lock()
        self._history = np.full((1024, len(HISTORY_FIELDS)), np.nan)
        # Fixed views for the pictures, from a stream of their own, so that looking at a run
        # never changes it: the same z every frame (the samples move smoothly) and real points.
        view_rng = torch.Generator().manual_seed(config.seed + 1)
        self.view_z = torch.randn((512, config.z_dim), generator=view_rng, dtype=dtype)
        self.view_real = self.data.sample(512, view_rng)

    # --- settings --------------------------------------------------------------------------

    def reconfigure(self, config: Gan2dConfig) -> list[str]:
        """Carry on under new settings: rates, loss, k, batch, options apply at once; the
        settings in RESET_KEYS need new networks or data, and are kept (notes say so)."""
        old = self.config
        held = [LABELS[k] for k in RESET_KEYS if getattr(config, k) != getattr(old, k)]
        config = replace(config, **{k: getattr(old, k) for k in RESET_KEYS})
        if losses.loss_info(config.loss).autoencoder != self.loss.autoencoder:
            held.append("loss (BEGAN's D is an autoencoder, a network of another shape)")
            config = replace(config, loss=old.loss)
        if config.optimizer != old.optimizer:
            self._opt_d = _Optimizer(self.D.flat, config.optimizer)
            self._opt_g = _Optimizer(self.G.flat, config.optimizer)
        self.config = config
        self.loss = losses.loss_info(config.loss)
        self.D.set_options(config.spectral_norm, config.minibatch_std)
        if not held:
            return []
        return [f"The new {', '.join(held)} take effect when you press Reset."]

    # --- training --------------------------------------------------------------------------

    @property
    def history(self) -> np.ndarray:
        return self._history[: self.steps_done]

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn((n, self.config.z_dim), generator=self.rng, dtype=self.dtype)

    def d_step(self) -> float:
        """One discriminator update; returns L_D (with its penalty) before the update."""
        c, D = self.config, self.D
        n = c.batch
        real = self.data.sample(n, self.rng)
        fake = self.G.forward(self._z(n), work="train")[0]
        out, cache = D.forward(torch.cat([real, fake]), (n, n), work="d")
        value, d_r, d_f = losses.d_loss(c.loss, out[:n], out[n:], self.began_k)
        if self.loss.autoencoder:
            self._real_error = float(out[:n].mean())
        D.zero_grad()
        D.backward(cache, torch.cat([d_r, d_f]))
        if self.loss.penalty and c.gp_weight > 0:
            if self.loss.penalty == "interpolates":
                alpha = torch.rand((n, 1), generator=self.rng, dtype=self.dtype)
                points = torch.lerp(fake, real, alpha)  # α·x + (1 − α)·x̂
            else:
                spread = DRAGAN_NOISE * real.std(0)
                points = real + spread * torch.randn((n, 2), generator=self.rng, dtype=self.dtype)
            value = value + D.penalty(points, c.gp_weight, work="penalty")
        D.finish_grad()
        self._opt_d.step(D.flat, D.grad, c.lr_d)
        if self.loss.clip:
            D.flat.clamp_(-c.clip, c.clip)
        D.refresh()
        return float(value)

    def g_step(self) -> tuple[float, int, float]:
        """One generator update; returns L_G, modes covered and quality of its batch."""
        c, G, D = self.config, self.G, self.D
        fake, g_cache = G.forward(self._z(c.batch), work="train")
        out, d_cache = D.forward(fake, (c.batch,), work="g")
        value, d_f = losses.g_loss(c.loss, out)
        d_x = D.backward(d_cache, d_f, params=False, inputs=True)
        G.grad.zero_()
        G.backward(g_cache, d_x)
        self._opt_g.step(G.flat, G.grad, c.lr_g)
        covered, quality, _ = self.data.measure(fake)
        return float(value), covered, quality

    def step(self) -> bool:
        """One round: k D updates, one G update. False (nothing recorded) once diverged."""
        if self.diverged is not None:
            return False
        d_value = math.nan
        for _ in range(self.config.k_d):
            d_value = self.d_step()
        g_value, covered, quality = self.g_step()
        if not self._healthy(d_value, g_value):
            return False
        if self.loss.autoencoder:
            self.began_k = losses.began_k(self.began_k, self._real_error, g_value)
        if self.steps_done == self._history.shape[0]:
            self._history = np.concatenate([self._history, np.full_like(self._history, np.nan)])
        self._history[self.steps_done] = (d_value, g_value, covered, quality)
        self.steps_done += 1
        return True

    def _healthy(self, d_value: float, g_value: float) -> bool:
        # ‖·‖∞ is the largest |weight|, in one pass and without a temporary (every step).
        biggest = max(float(_max_abs(self.D.flat)), float(_max_abs(self.G.flat)))
        if math.isfinite(d_value + g_value) and biggest <= BLOW_UP_LIMIT:
            return True
        what = (
            f"the losses became L_D = {d_value:.3g}, L_G = {g_value:.3g}"
            if not math.isfinite(d_value + g_value)
            else f"a weight reached {biggest:.3g}"
        )
        self.diverged = (
            f"The run diverged at step {self.steps_done + 1}: {what}. Lower the learning "
            f"rates (or switch on spectral norm) and press Reset."
        )
        return False

    def run(self, n: int) -> int:
        """Play up to n rounds (stops early if the run diverges); returns the rounds played.
        On one OpenMP thread: for networks this small a second thread only adds waiting
        (and on a shared machine, spinning), whoever calls."""
        done = 0
        with single_thread():
            for _ in range(n):
                if not self.step():
                    break
                done += 1
        return done

    # --- read-outs -------------------------------------------------------------------------

    def evaluate(self, n: int = 2000, seed: int = 12345) -> dict[str, object]:
        """Modes covered and quality on n fresh samples (a stream of its own: no effect on
        the run)."""
        z = torch.randn((n, self.config.z_dim), generator=torch.Generator().manual_seed(seed))
        covered, quality, counts = self.data.measure(self.G(z.to(self.dtype)))
        return {
            "modes_covered": covered,
            "modes": self.data.modes,
            "quality": quality,
            "per_mode": counts.tolist(),
        }

    def summary(self) -> dict[str, object]:
        """The run's state in plain numbers (what the API returns)."""
        last = self.history[-1] if self.steps_done else [math.nan] * 4
        clean = [None if math.isnan(v) else float(v) for v in last]
        return {
            "step": self.steps_done,
            "d_loss": clean[0],
            "g_loss": clean[1],
            "modes_covered_last_batch": None if clean[2] is None else int(clean[2]),
            "quality_last_batch": clean[3],
            **{f"eval_{k}": v for k, v in self.evaluate().items()},
            "began_k": self.began_k if self.loss.autoencoder else None,
            "diverged": self.diverged,
            "config": {k: v for k, v in asdict(self.config).items() if k != "points"},
        }


def _autoencoder(config: Gan2dConfig, dtype) -> AutoencoderD:
    """BEGAN's D, from its own stream (seed + 2: + 1 is the pictures' view)."""
    return AutoencoderD(
        config.d_width,
        config.d_depth,
        torch.Generator().manual_seed(config.seed + 2),
        dtype,
        spectral_norm=config.spectral_norm,
        minibatch_std=config.minibatch_std,
    )
