"""The 2-D GAN's two small MLPs, with every backward pass written out by hand.

Why by hand: at this size (batch 256, two hidden layers of 128) a training step is a few
dozen tiny matrix products, and autograd's per-op bookkeeping (graph building, and for the
gradient penalty a second, differentiated graph) costs more than the arithmetic. Written out,
a step is a fixed list of torch calls: each network's parameters live in one flat tensor
(layer weights are views into it), so an optimiser update is a handful of ops on one tensor
whatever the depth. The trainer's passes (work=...) write their batch-sized activations and
backward signals into buffers kept from step to step instead of new tensors: a 512 × 128
float32 tensor is 256 KB, above glibc's mmap threshold, so fresh ones were page-faulted in and
handed back every step (up to ~480 faults a step, ~20% of its CPU time, measured on the
2-core machine). Hidden activations are leaky ReLU'd in place: with a positive slope the
activation has the sign of its pre-activation, which is all the backward pass needs.

Both networks use leaky ReLU (slope 0.2) between layers and a linear output. The
discriminator's options:
- spectral normalisation: every layer uses W / σ(W), σ estimated by one power iteration per
  refresh (u persists between refreshes; u and v are constants in the backward pass, as in
  Miyato et al. and torch's spectral_norm), so each layer, and D, is at most 1-Lipschitz;
- minibatch standard deviation: the last layer also sees one number per mini-batch, the mean
  over features of the features' standard deviation across the batch (real and generated
  batches get their own), so D can notice a generator whose samples are all alike.
The gradient penalty's backward (the gradient of ‖∇ₓD‖ with respect to D's weights) is written
out too: with leaky ReLU, ∇ₓD is a product of the weights and fixed slope masks, so it is
linear in each weight matrix. In the penalty the minibatch feature of the penalised points is
held fixed (the penalty is on each point's own gradient). Tests check all of it against
autograd and finite differences. No Gradio here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

SLOPE = 0.2  # leaky ReLU
CODE = 1  # BEGAN's autoencoder squeezes the plane through this many numbers
STD_EPS = 1e-8  # inside the minibatch standard deviation's square root
NORM_EPS = 1e-12

_lrelu_ = torch.nn.functional.leaky_relu_
_lrelu_backward = torch.ops.aten.leaky_relu_backward
_lrelu_backward_into = torch.ops.aten.leaky_relu_backward.grad_input


def _slopes(d: torch.Tensor, act: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """d ⊙ leaky ReLU'(pre-activation), read from the activation `act` (same sign); into
    `out` when given (which may be d itself)."""
    if out is None:
        return _lrelu_backward(d, act, SLOPE, True)
    return _lrelu_backward_into(d, act, SLOPE, True, grad_input=out)


class FlatMLP:
    """An MLP whose weights and biases are views into one flat tensor (and so are their grads).

    sizes = [inputs, layer widths..., outputs]; `extra_last` adds input columns to the last layer
    (the discriminator's minibatch feature). Initialised like torch.nn.Linear (uniform in
    ±1/√fan_in) from `generator`, so a seed fixes the network.
    """

    def __init__(
        self,
        sizes: list[int],
        generator: torch.Generator,
        dtype: torch.dtype = torch.float32,
        extra_last: int = 0,
    ) -> None:
        self.sizes = list(sizes)
        shapes = []
        for i in range(len(sizes) - 1):
            fan_in = sizes[i] + (extra_last if i == len(sizes) - 2 else 0)
            shapes.append((sizes[i + 1], fan_in))
        total = sum(o * i + o for o, i in shapes)
        self.flat = torch.empty(total, dtype=dtype)
        self.grad = torch.zeros(total, dtype=dtype)
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        self.grad_weights: list[torch.Tensor] = []
        self.grad_biases: list[torch.Tensor] = []
        offset = 0
        for o, i in shapes:
            for views, grads, n, shape in (
                (self.weights, self.grad_weights, o * i, (o, i)),
                (self.biases, self.grad_biases, o, (o,)),
            ):
                views.append(self.flat[offset : offset + n].view(shape))
                grads.append(self.grad[offset : offset + n].view(shape))
                offset += n
        self._work: dict[tuple, torch.Tensor] = {}
        with torch.no_grad():
            for w, b in zip(self.weights, self.biases, strict=True):
                bound = 1.0 / math.sqrt(w.shape[1])
                w.copy_(torch.rand(w.shape, generator=generator, dtype=dtype) * 2 - 1).mul_(bound)
                b.copy_(torch.rand(b.shape, generator=generator, dtype=dtype) * 2 - 1).mul_(bound)

    @property
    def layers(self) -> int:
        return len(self.weights)

    def parameter_count(self) -> int:
        return self.flat.numel()

    def _buf(self, work: str | None, key: tuple, rows: int, cols: int) -> torch.Tensor | None:
        """The kept buffer `key` of the pass `work` (None: no buffer, torch allocates). A
        buffer is overwritten by the next pass of the same name: only the trainer, which
        finishes with one before it starts the next, names its passes."""
        if work is None:
            return None
        full = (work, *key)
        buf = self._work.get(full)
        if buf is None or buf.shape != (rows, cols):
            buf = self._work[full] = torch.empty((rows, cols), dtype=self.flat.dtype)
        return buf


@dataclass
class Cache:
    """What a forward pass keeps for its backward pass."""

    inputs: list[torch.Tensor]  # the input of every layer (the last one without extra columns)
    pres: list[torch.Tensor]  # every hidden layer's activation (it has its pre-activation's sign)
    groups: tuple[int, ...] = ()
    work: str | None = None  # the name of the pass, if it used kept buffers
    centred: list[torch.Tensor] = field(default_factory=list)  # (h − mean) / std per group
    stats: list[float] = field(default_factory=list)  # the minibatch feature per group
    sign: torch.Tensor | None = None  # BEGAN: sign(x − AE(x)), the derivative of |·|


class Generator(FlatMLP):
    """G: z (n × z_dim) → x (n × 2)."""

    def __init__(self, z_dim: int, width: int, depth: int, generator, dtype=torch.float32):
        super().__init__([z_dim, *[width] * depth, 2], generator, dtype)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.forward(z)[0]

    def forward(self, z: torch.Tensor, work: str | None = None) -> tuple[torch.Tensor, Cache]:
        cache = Cache([], [], work=work)
        h = z
        last = self.layers - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            cache.inputs.append(h)
            out = self._buf(work, ("h", i), z.shape[0], w.shape[0]) if i < last else None
            h = torch.addmm(b, h, w.t(), out=out)
            if i < last:
                h = _lrelu_(h, SLOPE)
                cache.pres.append(h)
        return h, cache

    def backward(self, cache: Cache, d_out: torch.Tensor) -> None:
        """Add dLoss/dparameters to `grad`, given dLoss/dx (n × 2)."""
        d, n = d_out, d_out.shape[0]
        for i in range(self.layers - 1, -1, -1):
            self.grad_weights[i].addmm_(d.t(), cache.inputs[i])
            self.grad_biases[i].add_(d.sum(0))
            if i > 0:
                into = self._buf(cache.work, ("d", i), n, self.weights[i].shape[1])
                d = torch.mm(d, self.weights[i], out=into)
                d = _slopes(d, cache.pres[i - 1], into)


class Discriminator(FlatMLP):
    """D: x (n × 2) → one number per point (a logit, or a critic's score).

    Call refresh() after every change of the weights: it (re)computes the weights in use
    (W / σ(W) under spectral normalisation, the raw weights otherwise). After backward passes
    that filled the gradient of the weights in use, finish_grad() carries it to the raw ones.
    """

    OUTPUTS = 1

    def __init__(
        self,
        width: int,
        depth: int,
        generator,
        dtype=torch.float32,
        spectral_norm: bool = False,
        minibatch_std: bool = False,
    ):
        # The minibatch feature's weight always exists (unused when the option is off), so the
        # same seed gives the same starting weights with and without it (the race needs that).
        super().__init__(self._sizes(width, depth), generator, dtype, extra_last=1)
        self.hidden = width
        self.spectral_norm = spectral_norm
        self.minibatch_std = minibatch_std
        self._u = [
            torch.nn.functional.normalize(
                torch.randn(w.shape[0], generator=generator, dtype=dtype), dim=0
            )
            for w in self.weights
        ]
        self._v: list[torch.Tensor] = [torch.empty(0)] * self.layers
        self._sigma: list[torch.Tensor] = [torch.ones((), dtype=dtype)] * self.layers
        self._eff_grads = [torch.zeros_like(w) for w in self.weights]
        self.used: list[torch.Tensor] = []
        self.used_grads: list[torch.Tensor] = []
        self.refresh()

    def _sizes(self, width: int, depth: int) -> list[int]:
        return [2, *[width] * depth, self.OUTPUTS]

    def _cols(self, i: int) -> int:
        """Columns of layer i's weight in use (the last layer's minibatch column only if on)."""
        w = self.weights[i]
        return w.shape[1] if i < self.layers - 1 or self.minibatch_std else w.shape[1] - 1

    def set_options(self, spectral_norm: bool, minibatch_std: bool) -> None:
        self.spectral_norm, self.minibatch_std = spectral_norm, minibatch_std
        self.refresh()

    def refresh(self, iterate: bool = True) -> None:
        """The weights in use after a change: one power iteration per layer under SN
        (iterate=False keeps u and v: σ = uᵀWv, what the backward pass differentiates)."""
        self.used, self.used_grads = [], []
        for i, w in enumerate(self.weights):
            w = w[:, : self._cols(i)]
            if not self.spectral_norm:
                self.used.append(w)
                self.used_grads.append(self.grad_weights[i][:, : w.shape[1]])
                continue
            if iterate:
                v = w.t() @ self._u[i]
                v = v / (v.norm() + NORM_EPS)
                wv = w @ v
                sigma = wv.norm() + NORM_EPS
                self._u[i] = wv / sigma
                self._v[i], self._sigma[i] = v, sigma
            else:
                sigma = self._sigma[i] = self._u[i] @ w @ self._v[i]
            self.used.append(w / sigma)
            grad = self._eff_grads[i][:, : w.shape[1]]
            self.used_grads.append(grad)

    def sigmas(self) -> list[float]:
        """Each layer's estimated largest singular value (1.0 without spectral norm)."""
        if not self.spectral_norm:
            return [float(torch.linalg.matrix_norm(w, 2)) for w in self.used]
        return [float(s) for s in self._sigma]

    def zero_grad(self) -> None:
        self.grad.zero_()
        if self.spectral_norm:
            for g in self._eff_grads:
                g.zero_()

    def finish_grad(self) -> None:
        """Carry the gradient of W/σ to W: (G − ⟨G, Ŵ⟩ u vᵀ) / σ, with u, v held fixed."""
        if not self.spectral_norm:
            return
        for i in range(self.layers):
            g_used, w_used = self.used_grads[i], self.used[i]
            inner = torch.sum(g_used * w_used)
            corrected = torch.addr(g_used, self._u[i] * inner, self._v[i], alpha=-1)
            self.grad_weights[i][:, : w_used.shape[1]].copy_(corrected / self._sigma[i])

    # --- forward and backward -------------------------------------------------------------

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x, (x.shape[0],))[0]

    def forward(
        self, x: torch.Tensor, groups: tuple[int, ...], work: str | None = None
    ) -> tuple[torch.Tensor, Cache]:
        """D on the rows of x (n,); `groups` splits the rows into the mini-batches whose
        standard deviation the minibatch feature measures (e.g. real, then generated).
        `work` names the pass whose kept buffers hold the activations (the trainer's)."""
        cache = Cache([], [], groups, work)
        h = x
        last = self.layers - 1
        for i in range(last):
            cache.inputs.append(h)
            out = self._buf(work, ("h", i), x.shape[0], self.used[i].shape[0])
            h = _lrelu_(torch.addmm(self.biases[i], h, self.used[i].t(), out=out), SLOPE)
            cache.pres.append(h)
        cache.inputs.append(h)
        w = self.used[last]
        out = torch.addmm(self.biases[last], h, w[:, : self.hidden].t())
        if self.minibatch_std:
            start = 0
            for n in groups:
                part = h[start : start + n]
                centred = part - part.mean(0)
                std = torch.sqrt(centred.square().mean(0) + STD_EPS)
                stat = std.mean()
                cache.centred.append(centred / std)
                cache.stats.append(stat)
                out[start : start + n] += stat * w[:, self.hidden]
                start += n
        return (out.view(-1) if self.OUTPUTS == 1 else out), cache

    def backward(
        self, cache: Cache, d_out: torch.Tensor, params: bool = True, inputs: bool = False
    ) -> torch.Tensor | None:
        """Backward from dLoss/dD (n,; n × OUTPUTS): adds to the gradient of the weights in use
        if `params`, returns dLoss/dx (n × 2) if `inputs`."""
        last = self.layers - 1
        d = d_out.view(d_out.shape[0], -1)
        w = self.used[last]
        h = cache.inputs[last]
        if params:
            self.used_grads[last][:, : self.hidden].addmm_(d.t(), h)
            self.grad_biases[last].add_(d.sum(0))
        n_rows = d.shape[0]
        dh = torch.mm(
            d, w[:, : self.hidden], out=self._buf(cache.work, ("b", last), n_rows, self.hidden)
        )
        if self.minibatch_std:
            start = 0
            for n, centred, stat in zip(cache.groups, cache.centred, cache.stats, strict=True):
                d_sum = d[start : start + n].sum(0)
                if params:
                    self.used_grads[last][:, self.hidden] += d_sum * stat
                # s = mean_j std_j, ∂s/∂h_ij = (h_ij − mean_j) / (n · H · std_j)
                scale = (d_sum @ w[:, self.hidden]) / (n * self.hidden)
                dh[start : start + n].add_(centred * scale)
                start += n
        for i in range(last - 1, -1, -1):
            d = _slopes(dh, cache.pres[i], dh if cache.work else None)
            if params:
                self.used_grads[i].addmm_(d.t(), cache.inputs[i])
                self.grad_biases[i].add_(d.sum(0))
            if i > 0 or inputs:
                cols = self.used[i].shape[1]
                dh = torch.mm(d, self.used[i], out=self._buf(cache.work, ("b", i), n_rows, cols))
        return dh if inputs else None

    def input_gradient(
        self, x: torch.Tensor, work: str | None = None
    ) -> tuple[torch.Tensor, Cache, list[torch.Tensor]]:
        """∇ₓD at every row of x (n × 2), with the minibatch feature held fixed; also the
        forward cache and each layer's backward signal (what the penalty's backward needs)."""
        n = x.shape[0]
        out, cache = self.forward(x, (n,), work)
        del out
        last = self.layers - 1
        signals: list[torch.Tensor] = [torch.empty(0)] * self.layers
        signals[last] = torch.ones((n, 1), dtype=x.dtype)
        r = self.used[last][:, : self.hidden].expand(n, -1)
        for i in range(last - 1, -1, -1):
            signals[i] = _slopes(r, cache.pres[i], self._buf(work, ("s", i), n, self.hidden))
            cols = self.used[i].shape[1]
            r = torch.mm(signals[i], self.used[i], out=self._buf(work, ("r", i), n, cols))
        return r, cache, signals

    def penalty(self, x: torch.Tensor, weight: float, work: str | None = None) -> torch.Tensor:
        """weight · mean((‖∇ₓD(x)‖₂ − 1)²); adds its gradient to the weights in use."""
        g, cache, signals = self.input_gradient(x, work)
        norm = g.norm(dim=1, keepdim=True)
        value = weight * (norm - 1).square().mean()
        # d/dg of the mean: 2·weight·(‖g‖ − 1)·g/‖g‖ / n, then back through the chain
        # g = E₀ W₀, E_i = slope_i ⊙ (E_{i+1} W_{i+1}), which is linear in every W.
        dr = g * ((norm - 1) / (norm + NORM_EPS) * (2.0 * weight / x.shape[0]))
        last = self.layers - 1
        for i in range(last):
            self.used_grads[i].addmm_(signals[i].t(), dr)
            into = self._buf(work, ("p", i), x.shape[0], self.hidden)
            dr = _slopes(torch.mm(dr, self.used[i].t(), out=into), cache.pres[i], into)
        self.used_grads[last][:, : self.hidden].add_(dr.sum(0))
        return value


class AutoencoderD(Discriminator):
    """BEGAN's D: an autoencoder x → CODE numbers → AE(x), with `depth` hidden layers of
    `width` on each side of the bottleneck. Its output per point is the reconstruction error
    L(x) = ‖x − AE(x)‖₁ (low where D takes x for real), so the losses, the heat map and G's
    arrows use it like any other D's output. Through a one-number code the autoencoder can
    only reconstruct a curve in the plane well; D's loss bends that curve through the real
    data and away from G's samples. |·|' is taken as sign(·) (0 at 0, as autograd does).
    """

    OUTPUTS = 2

    def _sizes(self, width: int, depth: int) -> list[int]:
        return [2, *[width] * depth, CODE, *[width] * depth, 2]

    def forward(
        self, x: torch.Tensor, groups: tuple[int, ...], work: str | None = None
    ) -> tuple[torch.Tensor, Cache]:
        rebuilt, cache = super().forward(x, groups, work)
        diff = x - rebuilt
        cache.sign = diff.sign()
        return diff.abs().sum(1), cache

    def backward(
        self, cache: Cache, d_out: torch.Tensor, params: bool = True, inputs: bool = False
    ) -> torch.Tensor | None:
        direct = cache.sign * d_out.view(-1, 1)  # dLoss/dx through the x of x − AE(x)
        through = super().backward(cache, -direct, params, inputs)
        return through + direct if inputs else None

    def penalty(self, x: torch.Tensor, weight: float, work: str | None = None) -> torch.Tensor:
        """Refused: BEGAN's loss has no gradient penalty (losses.loss_info("began").penalty is
        None, so the trainer never asks; a caller that does has mixed up its losses)."""
        raise TypeError("BEGAN's autoencoder D takes no gradient penalty")
