"""Why adversarial examples work, the linear view (Goodfellow et al., CS294 eq. 8.1): how the
logits of the true and the target class move as an image slides along the FGSM direction
sign(∇ₓJ), measured on a real model, and how the linear model's w·x̃ = w·x + ε‖w‖₁ = w·x + ε·m·n
grows with the number of inputs n.

Models come in as arguments; the plot builders are pure (results to plotly figures); nothing
here knows about Gradio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from torch import Tensor

from advdemo.adversarial.base import input_gradient
from advdemo.adversarial.plots import LAYOUT, TARGET_COLOUR, TITLE, TRUE_COLOUR
from advdemo.core.errors import InputError, finite

MAX_K = 32  # the ends of the ε range, in grey levels (ε = k/255)
MIN_SPAN_K = 0.25  # the narrowest range that still shows a slope
POINTS = 21  # evenly spaced ε, plus 0 and ±½, ±1 grey level where the range holds them
CHUNK = 8  # images per forward pass (bounded memory)
GROWTH_EPS_K = 1  # the linear view at the smallest change an 8-bit image can store
# The input sizes the linear view compares, (label, n); the model's own is added to them.
SIZES = (
    ("8×8 grey (the digits)", 8 * 8),
    ("28×28 grey (MNIST)", 28 * 28),
    ("32×32×3 (CIFAR-10)", 32 * 32 * 3),
    ("64×64×3", 64 * 64 * 3),
    ("128×128×3", 128 * 128 * 3),
)


def check_range(eps_from_k: object, eps_to_k: object) -> tuple[float, float]:
    """The ε range in grey levels, checked: finite, within ±MAX_K, increasing, not too narrow."""
    lo = finite("ε from (k/255)", eps_from_k, -MAX_K, MAX_K)
    hi = finite("ε to (k/255)", eps_to_k, -MAX_K, MAX_K)
    if hi <= lo:
        raise InputError(f"The ε range must increase: 'from' ({lo:g}) is not below 'to' ({hi:g}).")
    if hi - lo < MIN_SPAN_K:
        raise InputError(f"The ε range is too narrow: make it at least {MIN_SPAN_K:g} grey levels.")
    return lo, hi


def range_points(lo_k: float, hi_k: float, points: int = POINTS) -> list[float]:
    """Evenly spaced ε (grey levels) over [lo, hi], plus 0, ±½ and ±1 where they fall inside:
    on a real network the first grey level is where most happens."""
    even = np.linspace(lo_k, hi_k, points).tolist()
    near = [k for k in (-1.0, -0.5, 0.0, 0.5, 1.0) if lo_k < k < hi_k]
    return sorted({round(k, 6) for k in even + near})


@dataclass(frozen=True)
class LineFit:
    """A least-squares line through (ε in grey levels, value) and its R² (1 = a straight line)."""

    slope: float  # per grey level
    intercept: float
    r2: float


def line_fit(x: list[float], y: list[float]) -> LineFit:
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    slope, intercept = np.polyfit(xs, ys, 1)
    residual = float(((ys - (slope * xs + intercept)) ** 2).sum())
    total = float(((ys - ys.mean()) ** 2).sum())
    r2 = 1.0 - residual / total if total > 0 else 1.0
    return LineFit(float(slope), float(intercept), r2)


@dataclass(frozen=True)
class LogitCurves:
    """The logits of two classes along x + ε·sign(∇ₓJ) (J: cross-entropy of the true class),
    the tangents at ε = 0 (the linear view's prediction), and the loss gradient's size."""

    eps_k: list[float]
    true_class: int
    target_class: int
    true_logits: list[float]
    target_logits: list[float]
    true_tangent: float  # ∇ₓz_true · sign(∇ₓJ), per grey level
    target_tangent: float
    grad_l1: float  # ‖∇ₓJ‖₁ (the linear view's ‖w‖₁)
    n: int  # inputs: C·H·W
    side: int  # the model's input size
    loss_at_0: float  # J at ε = 0 and at ε = GROWTH_EPS_K/255 (measured)
    loss_at_growth: float

    @property
    def true_fit(self) -> LineFit:
        return line_fit(self.eps_k, self.true_logits)

    @property
    def target_fit(self) -> LineFit:
        return line_fit(self.eps_k, self.target_logits)

    @property
    def mean_abs_grad(self) -> float:
        """m: the average size of a weight of the linear view, ‖w‖₁ / n."""
        return self.grad_l1 / self.n


def logit_curves(
    model, x: Tensor, true_class: int, target_class: int, eps_k: list[float]
) -> LogitCurves:
    """Measure the logits of `true_class` and `target_class` for x + (k/255)·sign(∇ₓJ) at every
    k of `eps_k`, kept in [0, 1] (a real image), where J is the cross-entropy of the true class.

    model: images (B, C, H, W) in [0, 1] -> logits; x: one image (1, C, H, W) in [0, 1].
    """
    x = x.detach()
    grad = input_gradient(model, x, true_class)
    direction = grad.sign()
    with torch.enable_grad():
        x_var = x.clone().requires_grad_(True)
        logits = model(x_var)[0].float()
        g_true, g_target = _two_gradients(logits, x_var, true_class, target_class)
    ks = [*eps_k, float(GROWTH_EPS_K)]
    steps = torch.tensor(ks, dtype=x.dtype, device=x.device).view(-1, 1, 1, 1) / 255
    outputs = []
    with torch.no_grad():
        for chunk in steps.split(CHUNK):
            outputs.append(model((x + chunk * direction).clamp(0, 1)).float().cpu())
    measured = torch.cat(outputs)
    losses = F.cross_entropy(
        torch.cat([logits.detach().cpu()[None], measured[-1:]]),
        torch.tensor([true_class, true_class]),
        reduction="none",
    )
    return LogitCurves(
        eps_k=list(eps_k),
        true_class=true_class,
        target_class=target_class,
        true_logits=measured[:-1, true_class].tolist(),
        target_logits=measured[:-1, target_class].tolist(),
        true_tangent=float((g_true * direction).sum()) / 255,
        target_tangent=float((g_target * direction).sum()) / 255,
        grad_l1=float(grad.abs().sum()),
        n=x[0].numel(),
        side=int(x.shape[-1]),
        loss_at_0=float(losses[0]),
        loss_at_growth=float(losses[1]),
    )


def _two_gradients(logits: Tensor, x_var: Tensor, a: int, b: int) -> tuple[Tensor, Tensor]:
    (g_a,) = torch.autograd.grad(logits[a], x_var, retain_graph=True)
    (g_b,) = torch.autograd.grad(logits[b], x_var)
    return g_a, g_b


# --------------------------------------------------------------------------- the linear view


def linear_change(w: Tensor, eps: float) -> float:
    """w·η for η = ε·sign(w), the largest change of a linear score w·x when no input moves by
    more than ε: equal to ε‖w‖₁ (eq. 8.1)."""
    return float((w * (eps * w.sign())).sum())


def linear_growth(eps: float, m: float, sizes) -> list[tuple[str, int, float]]:
    """ε·m·n for each (label, n) of `sizes`: what ε‖w‖₁ is for n weights of average size m."""
    return [(label, n, eps * m * n) for label, n in sizes]


def growth_sizes(side: int, channels: int = 3) -> list[tuple[str, int]]:
    """SIZES and the model's own input (side × side colour), smallest first."""
    own = (f"{side}×{side}×{channels} (this model)", side * side * channels)
    return sorted([*SIZES, own], key=lambda s: s[1])


# --------------------------------------------------------------------------- figures


def curves_figure(curves: LogitCurves, labels: list[str]) -> go.Figure:
    """The two logits against ε, each with its fitted line's R², and the tangents at ε = 0
    (the linear view) drawn dashed where they stay within the measured values."""
    fig = go.Figure()
    ks = curves.eps_k
    for name, cls, values, tangent, fit, colour in (
        ("true", curves.true_class, curves.true_logits, curves.true_tangent, curves.true_fit,
         TRUE_COLOUR),
        ("target", curves.target_class, curves.target_logits, curves.target_tangent,
         curves.target_fit, TARGET_COLOUR),
    ):  # fmt: skip
        label = labels[cls]
        fig.add_scatter(
            x=ks,
            y=values,
            mode="lines+markers",
            name=f"{label} ({name}), line fit R² = {fit.r2:.2f}",
            line={"color": colour, "width": 3},
        )
        at_zero = float(np.interp(0.0, ks, values)) if ks[0] <= 0 <= ks[-1] else values[0]
        spread = max(max(values) - min(values), 1e-6)
        reach = min(max(abs(ks[0]), abs(ks[-1])), spread / max(abs(tangent), 1e-9))
        fig.add_scatter(
            x=[-reach, reach],
            y=[at_zero - tangent * reach, at_zero + tangent * reach],
            mode="lines",
            name=f"{label}: tangent at 0, {tangent:+.2f} per level",
            line={"color": colour, "width": 2, "dash": "dash"},
        )
    fig.add_vline(x=0, line={"color": "#888", "width": 1})
    fig.update_layout(
        **{**LAYOUT, "yaxis": {"title": "logit"}},
        title={**TITLE, "text": "logits along ε·sign(∇ₓJ)"},
        xaxis={"title": "ε in grey levels (k/255)"},
    )
    return fig


def growth_figure(curves: LogitCurves, eps_k: float = GROWTH_EPS_K) -> go.Figure:
    """The linear view: ε·m·n against n at ε = eps_k/255, m = this model's ‖∇ₓJ‖₁/n, with the
    input sizes marked, and the loss change measured on the model at its own n. Both axes are
    logarithmic: a change proportional to n is a straight line of slope 1."""
    rows = linear_growth(eps_k / 255, curves.mean_abs_grad, growth_sizes(curves.side))
    xs, ys = [n for _, n, _ in rows], [v for _, _, v in rows]
    measured = curves.loss_at_growth - curves.loss_at_0
    shown = [y for y in (*ys, measured) if y > 0] or [1.0]  # a log axis shows only y > 0
    fig = go.Figure()
    fig.add_scatter(
        x=xs,
        y=ys,
        mode="lines+markers+text",
        text=[label.split(" (")[0] for label, _, _ in rows],
        textposition="top left",  # off the rising line
        name=f"linear model: ε·m·n, m = {curves.mean_abs_grad:.2g}",
        line={"color": "#555", "width": 3},
        hovertext=[f"{label}: n = {n:,}, ε·m·n = {v:.3g}" for label, n, v in rows],
    )
    fig.add_scatter(
        x=[curves.n],
        y=[measured],
        mode="markers",
        marker={"size": 14, "symbol": "star", "color": TARGET_COLOUR},
        name="this model: loss change measured",
    )
    fig.update_layout(
        **{**LAYOUT, "yaxis": {"title": "change of the score", **_decades(shown, 0.3, 0.9)}},
        title={**TITLE, "text": f"ε‖w‖₁ at ε = {eps_k:g}/255 grows with n"},
        xaxis={"title": "inputs n (pixels × channels)", **_decades(xs, 1.1, 0.2)},
    )
    return fig


def _decades(values: list[float], below: float, above: float) -> dict:
    """A logarithmic axis ticked at powers of ten, padded `below` and `above` (in decades) so
    that the labels beside the first and last points stay inside the plot."""
    logs = np.log10(values)
    return {"type": "log", "dtick": 1, "range": [logs.min() - below, logs.max() + above]}


def summary_markdown(curves: LogitCurves, labels: list[str]) -> str:
    """Two lines: how straight the curves are, and the linear view's numbers for this model."""
    t, g = curves.true_fit, curves.target_fit
    eps = GROWTH_EPS_K / 255
    return (
        f"**{labels[curves.true_class]}** logit: line fit R² = {t.r2:.2f}, tangent at 0: "
        f"{curves.true_tangent:+.2f} per grey level · **{labels[curves.target_class]}**: "
        f"R² = {g.r2:.2f}, tangent {curves.target_tangent:+.2f} per grey level  \n"
        f"Linear view at ε = {GROWTH_EPS_K}/255: n = {curves.n:,} inputs, m = "
        f"{curves.mean_abs_grad:.3g}, ε‖w‖₁ = ε·m·n = **{eps * curves.grad_l1:.2f}**; the loss "
        f"measured on the model moves by **{curves.loss_at_growth - curves.loss_at_0:.2f}** "
        f"({curves.loss_at_0:.2f} → {curves.loss_at_growth:.2f})."
    )
