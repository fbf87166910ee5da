"""Plotly figures of the 1-D GAN game: densities and D over x, training curves, phase portrait.

Each builder takes a ToyGanTrainer and returns a plotly Figure; nothing here knows Gradio.
The figures are redrawn about ten times a second while a run plays, so they are kept light
(a few hundred points per trace, long histories downsampled) and built from plain dicts
without plotly's per-property validation (tests validate them once). Axis ranges depend on
the run's settings and on how far it has wandered, never on the current frame alone, so the
axes stay still while the curves move.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import plotly.graph_objects as go

from advdemo.toygan.analytic import d_star, equilibrium_losses, js_parts, p_data, p_g
from advdemo.toygan.game import ToyGanTrainer, gradient_field

# Colours follow the GAN paper's figure 1 (data black dotted, generator green, D blue dashed).
REAL = "#222222"
FAKE = "#2ca02c"
DISC = "#1f77b4"
OPTIMAL = "#d62728"
GUIDE = "#888888"
J_D_COLOUR = DISC
J_G_COLOUR = FAKE

CURVE_POINTS = 301  # samples of each curve over x
HIST_BINS = 48
MAX_LINE_POINTS = 400  # per trace in the training curves
TRAIL_STEPS = 600  # recent steps drawn at full resolution in the phase portrait
FIELD_GRID = (15, 11)  # arrows along theta, along w

LN2 = math.log(2.0)
FONT = {"size": 13}


_AXIS_STYLE = {
    "gridcolor": "#e5e8ef",
    "linecolor": "#9aa0ab",
    "zerolinecolor": "#c9ced8",
    "ticks": "outside",
    "tickcolor": "#9aa0ab",
    "automargin": True,
}
# A small template of our own: plotly's built-in ones add ~10 kB to every frame's JSON.
TEMPLATE = {
    "layout": {
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "font": {"family": "Arial, Helvetica, sans-serif", "color": "#2a2f3a"},
        "xaxis": _AXIS_STYLE,
        "yaxis": _AXIS_STYLE,
        "hovermode": "closest",
    }
}


def _figure(data: list[dict], layout: dict) -> go.Figure:
    # Validation costs ~15 ms per figure; the tests build every figure validated instead.
    return go.Figure(data=data, layout={"template": TEMPLATE, **layout}, _validate=False)


def _legend_below(columns: int | None = None) -> dict:
    """A legend in the bottom margin, clear of the x-axis title; in columns if asked."""
    legend = {
        "orientation": "h",
        "x": 0,
        "xanchor": "left",
        "y": 0,
        "yanchor": "bottom",
        "yref": "container",
        "font": {"size": 12},
    }
    if columns:
        legend |= {"entrywidth": 1.0 / columns - 0.01, "entrywidthmode": "fraction"}
    return legend


def _f32(values) -> np.ndarray:
    """float32 array: plotly sends it as base64 binary, half the bytes of float64, same picture."""
    return np.asarray(values, dtype=np.float32)


# --- the game over x --------------------------------------------------------------------------


def x_range(trainer: ToyGanTrainer) -> tuple[float, float]:
    """Where both densities live: the data ± 4 sigma and every theta so far ± 4."""
    c = trainer.config
    theta = trainer.history.column("theta")
    mu = trainer.history.column("mu")
    sigma = trainer.history.column("sigma")
    lo = min(float((mu - 4.0 * sigma).min()), float(theta.min()) - 4.0)
    hi = max(float((mu + 4.0 * sigma).max()), float(theta.max()) + 4.0)
    lo = min(lo, c.mu - 4.0 * c.sigma)
    hi = max(hi, c.mu + 4.0 * c.sigma)
    return math.floor(lo), math.ceil(hi)


def game_figure(trainer: ToyGanTrainer, height: int = 440) -> go.Figure:
    """Real and generated densities, the current generated batch, D(x), D*(x) and D = 1/2."""
    c = trainer.config
    lo, hi = x_range(trainer)
    x = np.linspace(lo, hi, CURVE_POINTS)
    density_real = p_data(x, c.mu, c.sigma)
    density_fake = p_g(x, trainer.theta)
    edges = np.linspace(lo, hi, HIST_BINS + 1)
    counts, _ = np.histogram(trainer.last_generated, bins=edges)
    width = edges[1] - edges[0]
    batch_density = counts / (max(trainer.last_generated.size, 1) * width)
    density_top = 1.12 * max(float(density_real.max()), float(density_fake.max()), 0.05)
    density_top = max(density_top, 1.02 * float(batch_density.max()))

    data = [
        {
            "type": "bar",
            "x": _f32(0.5 * (edges[:-1] + edges[1:])),
            "y": _f32(batch_density),
            "width": width,
            "marker": {"color": FAKE, "opacity": 0.22, "line": {"width": 0}},
            "name": "current batch of G(z)",
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "x": _f32(x),
            "y": _f32(density_real),
            "mode": "lines",
            "line": {"color": REAL, "dash": "dot", "width": 3},
            "name": f"real data N({c.mu:g}, {c.sigma:g}²)",
        },
        {
            "type": "scatter",
            "x": _f32(x),
            "y": _f32(density_fake),
            "mode": "lines",
            "line": {"color": FAKE, "width": 3},
            "name": f"generator N({trainer.theta:.2f}, 1)",
        },
        {
            "type": "scatter",
            "x": _f32(x),
            "y": _f32(trainer.discriminator(x)),
            "yaxis": "y2",
            "mode": "lines",
            "line": {"color": DISC, "dash": "dash", "width": 3},
            "name": "D(x)",
        },
        {
            "type": "scatter",
            "x": _f32(x),
            "y": _f32(d_star(x, c.mu, c.sigma, trainer.theta)),
            "yaxis": "y2",
            "mode": "lines",
            "line": {"color": OPTIMAL, "dash": "dashdot", "width": 2},
            "name": "optimal D*(x)",
        },
    ]
    layout = {
        "height": height,
        "margin": {"l": 60, "r": 60, "t": 50, "b": 105},
        "font": FONT,
        "title": {
            "text": (
                f"step {trainer.steps_done:,}: real vs generated data, and what D makes of them"
            ),
            "x": 0.01,
            "font": {"size": 15},
        },
        "bargap": 0,
        "xaxis": {"title": {"text": "x"}, "range": [lo, hi], "zeroline": False},
        "yaxis": {
            "title": {"text": "probability density"},
            "range": [0, density_top],
            "rangemode": "tozero",
        },
        "yaxis2": {
            "title": {"text": "D(x): probability 'real'", "font": {"color": DISC}},
            "overlaying": "y",
            "side": "right",
            "range": [0, 1.02],
            "tickvals": [0, 0.25, 0.5, 0.75, 1],
            "showgrid": False,
            "tickfont": {"color": DISC},
        },
        "shapes": [
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "yref": "y2",
                "y0": 0.5,
                "y1": 0.5,
                "line": {"color": GUIDE, "width": 1, "dash": "dot"},
            }
        ],
        "annotations": [
            {
                "xref": "paper",
                "x": 0.995,
                "yref": "y2",
                "y": 0.5,
                "text": "D = 1/2",
                "showarrow": False,
                "xanchor": "right",
                "yanchor": "bottom",
                "font": {"color": GUIDE, "size": 12},
            }
        ],
        "legend": _legend_below(columns=2),
        "uirevision": "toy-gan-game",
    }
    return _figure(data, layout)


# --- the training curves ----------------------------------------------------------------------


def _strided(n: int, max_points: int = MAX_LINE_POINTS) -> np.ndarray:
    """Indices 0, s, 2s, ... and always n - 1, at most about max_points of them."""
    stride = max(1, math.ceil(n / max_points))
    idx = np.arange(0, n, stride)
    if idx[-1] != n - 1:
        idx = np.append(idx, n - 1)
    return idx


def _binned_mean(values: np.ndarray, max_points: int = MAX_LINE_POINTS):
    """(bin centres, bin means) of a long noisy series; the series itself if short."""
    n = values.size
    stride = max(1, math.ceil(n / max_points))
    full = (n // stride) * stride
    means = values[:full].reshape(-1, stride).mean(axis=1)
    centres = np.arange(means.size) * stride + (stride - 1) / 2.0
    if full < n:
        means = np.append(means, values[full:].mean())
        centres = np.append(centres, (full + n - 1) / 2.0)
    return centres, means, stride


@functools.lru_cache(maxsize=32)
def _js_table(sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """JS's quality and coverage parts between N(0, sigma²) and N(d, 1), tabulated over the
    offset d (they depend on no more)."""
    root = np.linspace(-math.sqrt(30.0), math.sqrt(30.0), 301)
    offsets = np.sign(root) * root**2  # dense near 0, where JS changes fastest relative to itself
    return (offsets, *js_parts(0.0, sigma, offsets))


def js_history(trainer: ToyGanTrainer, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """JS's (quality, coverage) parts at the given history rows (from a per-sigma table)."""
    offsets = trainer.history.column("theta")[idx] - trainer.history.column("mu")[idx]
    sigmas = trainer.history.column("sigma")[idx]
    quality, coverage = np.empty(idx.size), np.empty(idx.size)
    for sigma in np.unique(sigmas):
        rows = sigmas == sigma
        table_x, table_quality, table_coverage = _js_table(float(sigma))
        quality[rows] = np.interp(offsets[rows], table_x, table_quality)
        coverage[rows] = np.interp(offsets[rows], table_x, table_coverage)
    return quality, coverage


def timeline_figure(trainer: ToyGanTrainer, height: int = 340) -> go.Figure:
    """Three panels over training steps: both losses; theta and the target mu; JS(p_data, p_g)."""
    c = trainer.config
    n = trainer.history.size
    steps_all = np.arange(n)
    idx = _strided(n)
    data: list[dict] = []

    if n > 1:
        d_x, d_mean, stride = _binned_mean(trainer.history.column("d_loss")[1:])
        g_x, g_mean, _ = _binned_mean(trainer.history.column("g_loss")[1:])
        d_x, g_x = d_x + 1, g_x + 1
    else:
        d_x = g_x = d_mean = g_mean = np.empty(0)
        stride = 1
    d_eq, g_eq = equilibrium_losses(c.g_loss)
    averaged = f" (mean of {stride})" if stride > 1 else ""
    data += [
        {
            "type": "scatter",
            "x": _f32(d_x),
            "y": _f32(d_mean),
            "mode": "lines",
            "line": {"color": J_D_COLOUR, "width": 2},
            "name": "J(D)" + averaged,
            "legendgroup": "loss",
        },
        {
            "type": "scatter",
            "x": _f32(g_x),
            "y": _f32(g_mean),
            "mode": "lines",
            "line": {"color": J_G_COLOUR, "width": 2},
            "name": "J(G)" + averaged,
            "legendgroup": "loss",
        },
    ]
    theta = trainer.history.column("theta")[idx]
    mu = trainer.history.column("mu")[idx]
    data += [
        {
            "type": "scatter",
            "x": _f32(steps_all[idx]),
            "y": _f32(mu),
            "mode": "lines",
            "line": {"color": REAL, "dash": "dot", "width": 2, "shape": "hv"},
            "name": "target μ",
            "xaxis": "x2",
            "yaxis": "y2",
        },
        {
            "type": "scatter",
            "x": _f32(steps_all[idx]),
            "y": _f32(theta),
            "mode": "lines",
            "line": {"color": FAKE, "width": 2},
            "name": "θ (generator)",
            "xaxis": "x2",
            "yaxis": "y2",
        },
    ]
    quality, coverage = js_history(trainer, idx)
    for name, values, line in (
        ("JS(p_data, p_g) = quality + coverage", quality + coverage, {"width": 2}),
        ("quality: ½ KL(p_g ‖ m)", quality, {"width": 1.5, "dash": "dash"}),
        ("coverage: ½ KL(p_data ‖ m)", coverage, {"width": 1.5, "dash": "dot"}),
    ):
        data.append(
            {
                "type": "scatter",
                "x": _f32(steps_all[idx]),
                "y": _f32(values),
                "mode": "lines",
                "line": {"color": OPTIMAL, **line},
                "name": name,
                "xaxis": "x3",
                "yaxis": "y3",
            }
        )

    step_max = max(n - 1, 10)
    theta_all = trainer.history.column("theta")
    mu_all = trainer.history.column("mu")
    theta_lo = min(float(theta_all.min()), float(mu_all.min())) - 0.5
    theta_hi = max(float(theta_all.max()), float(mu_all.max())) + 0.5
    losses = [v for v in (d_mean, g_mean) if v.size]
    loss_lo = min([d_eq, g_eq] + [float(v.min()) for v in losses]) - 0.1
    loss_hi = max([d_eq, g_eq] + [float(v.max()) for v in losses]) + 0.1

    def guide(axis: str, y: float, text: str) -> tuple[dict, dict]:
        line = {
            "type": "line",
            "xref": f"x{axis} domain",
            "x0": 0,
            "x1": 1,
            "yref": f"y{axis}",
            "y0": y,
            "y1": y,
            "line": {"color": GUIDE, "width": 1, "dash": "dot"},
        }
        label = {
            "xref": f"x{axis} domain",
            "x": 1,
            "yref": f"y{axis}",
            "y": y,
            "text": text,
            "showarrow": False,
            "xanchor": "right",
            "yanchor": "bottom",
            "font": {"color": GUIDE, "size": 11},
            "bgcolor": "rgba(255, 255, 255, 0.75)",
        }
        return line, label

    guides = [
        guide("", d_eq, "J(D) → 2 ln 2"),
        guide("", g_eq, f"J(G) → {'' if g_eq > 0 else '−'}ln 2"),
        guide("3", LN2, "ln 2: no overlap"),
    ]
    titles = [("", "losses"), ("2", "generator θ vs target μ"), ("3", "JS and its parts (nats)")]
    domains = {"": [0.0, 0.29], "2": [0.355, 0.645], "3": [0.71, 1.0]}
    layout = {
        "height": height,
        "margin": {"l": 50, "r": 20, "t": 40, "b": 95},
        "font": FONT,
        "legend": _legend_below(),
        "shapes": [line for line, _ in guides],
        "annotations": [label for _, label in guides]
        + [
            {
                "xref": f"x{axis} domain",
                "x": 0.5,
                "yref": "paper",
                "y": 1.0,
                "yanchor": "bottom",
                "text": f"<b>{text}</b>",
                "showarrow": False,
                "font": {"size": 14},
            }
            for axis, text in titles
        ],
        "uirevision": "toy-gan-timeline",
    }
    for axis, domain in domains.items():
        layout[f"xaxis{axis}"] = {
            "domain": domain,
            "range": [0, step_max],
            "title": {"text": "step"},
            "anchor": f"y{axis}",
        }
    layout["yaxis"] = {"range": [loss_lo, loss_hi], "anchor": "x", "zeroline": False}
    layout["yaxis2"] = {"range": [theta_lo, theta_hi], "anchor": "x2", "title": {"text": "θ"}}
    layout["yaxis3"] = {"range": [0, LN2 * 1.08], "anchor": "x3", "rangemode": "tozero"}
    return _figure(data, layout)


# --- the (theta, w) phase portrait ------------------------------------------------------------


def phase_ranges(trainer: ToyGanTrainer) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis ranges of the portrait: every (theta, w) visited, the target, with a margin."""
    theta = trainer.history.column("theta")
    w = trainer.history.column("w")
    mu = trainer.history.column("mu")
    t_lo = min(float(theta.min()), float(mu.min()))
    t_hi = max(float(theta.max()), float(mu.max()))
    pad = max(0.5, 0.12 * (t_hi - t_lo))
    w_half = max(0.5, 1.15 * float(np.abs(w).max()))
    return (t_lo - pad, t_hi + pad), (-w_half, w_half)


def _arrows(
    tx: np.ndarray, wy: np.ndarray, d_theta: np.ndarray, d_w: np.ndarray, spans, cell: float
) -> tuple[np.ndarray, np.ndarray]:
    """Line segments with two-stroke heads for a quiver plot, scaled in screen proportions."""
    span_t, span_w = spans
    u = d_theta / span_t  # direction in units of the axis spans, so arrows look right
    v = d_w / span_w
    magnitude = np.hypot(u, v)
    biggest = float(magnitude.max())
    if not math.isfinite(biggest) or biggest == 0.0:
        return np.empty(0), np.empty(0)
    length = cell * (0.15 + 0.85 * np.sqrt(magnitude / biggest))  # sqrt keeps small ones visible
    with np.errstate(invalid="ignore", divide="ignore"):
        unit_u = np.where(magnitude > 0, u / magnitude, 0.0)
        unit_v = np.where(magnitude > 0, v / magnitude, 0.0)
    end_u, end_v = unit_u * length, unit_v * length
    head = 0.35 * length
    cos, sin = math.cos(math.radians(25)), math.sin(math.radians(25))
    # Two barbs: the reversed direction rotated by ±25 degrees.
    barb1_u = -(unit_u * cos - unit_v * sin) * head
    barb1_v = -(unit_u * sin + unit_v * cos) * head
    barb2_u = -(unit_u * cos + unit_v * sin) * head
    barb2_v = -(-unit_u * sin + unit_v * cos) * head
    keep = magnitude > 0
    x0, y0 = tx[keep], wy[keep]
    x1 = x0 + end_u[keep] * span_t
    y1 = y0 + end_v[keep] * span_w
    gap = np.full(x0.shape, np.nan)
    # Per arrow: shaft start, tip, first barb, gap, tip, second barb, gap.
    xs = np.stack(
        [x0, x1, x1 + barb1_u[keep] * span_t, gap, x1, x1 + barb2_u[keep] * span_t, gap], axis=1
    )
    ys = np.stack(
        [y0, y1, y1 + barb1_v[keep] * span_w, gap, y1, y1 + barb2_v[keep] * span_w, gap], axis=1
    )
    return xs.ravel(), ys.ravel()


def phase_figure(trainer: ToyGanTrainer, height: int = 440) -> go.Figure:
    """The (theta, w) plane: the expected simultaneous-gradient field and the run's path."""
    c = trainer.config
    (t_lo, t_hi), (w_lo, w_hi) = phase_ranges(trainer)
    n_t, n_w = FIELD_GRID
    thetas = np.linspace(t_lo, t_hi, n_t + 2)[1:-1]
    ws = np.linspace(w_lo, w_hi, n_w + 2)[1:-1]
    d_theta, d_w = gradient_field(thetas, ws, trainer.b, c)
    theta_grid, w_grid = np.meshgrid(thetas, ws)
    cell = 0.9 / max(n_t, n_w)
    arrow_x, arrow_y = _arrows(
        theta_grid.ravel(),
        w_grid.ravel(),
        d_theta.ravel(),
        d_w.ravel(),
        (t_hi - t_lo, w_hi - w_lo),
        cell,
    )

    theta_path = trainer.history.column("theta")
    w_path = trainer.history.column("w")
    n = theta_path.size
    recent = max(0, n - TRAIL_STEPS)
    older = _strided(recent + 1) if recent > 0 else np.empty(0, dtype=int)
    data = [
        {
            "type": "scatter",
            "x": _f32(arrow_x),
            "y": _f32(arrow_y),
            "mode": "lines",
            "line": {"color": "#9aa7b8", "width": 1.3},
            "name": f"field at b = {trainer.b:.2f}",
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "x": _f32(theta_path[older]),
            "y": _f32(w_path[older]),
            "mode": "lines",
            "line": {"color": "#c7a6d9", "width": 1.5},
            "name": "earlier path",
            "showlegend": bool(older.size),
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "x": _f32(theta_path[recent:]),
            "y": _f32(w_path[recent:]),
            "mode": "lines",
            "line": {"color": "#7b3294", "width": 2},
            "name": f"path (last {min(n, TRAIL_STEPS)})",
        },
        {
            "type": "scatter",
            "x": [c.mu],
            "y": [0.0],
            "mode": "markers",
            "marker": {"symbol": "star", "size": 16, "color": REAL},
            "name": "equilibrium",
        },
        {
            "type": "scatter",
            "x": [trainer.theta],
            "y": [trainer.w],
            "mode": "markers",
            "marker": {"size": 12, "color": "#7b3294", "line": {"color": "white", "width": 1.5}},
            "name": "now",
        },
    ]
    layout = {
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 105},
        "font": FONT,
        "title": {
            "text": "phase portrait: G's θ against D's w",
            "x": 0.01,
            "font": {"size": 15},
        },
        "xaxis": {"title": {"text": "θ (generator)"}, "range": [t_lo, t_hi], "zeroline": False},
        "yaxis": {"title": {"text": "w (slope of D)"}, "range": [w_lo, w_hi]},
        "legend": _legend_below(columns=2),
        "uirevision": "toy-gan-phase",
    }
    return _figure(data, layout)
