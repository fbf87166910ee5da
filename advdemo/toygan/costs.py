"""The generator's two costs against D(G(z)), with the current batch on both curves.

CS230's slide (II.C) plots the saturating cost log(1 − D(G(z))) and the non-saturating cost
−log D(G(z)) over D(G(z)) ∈ (0, 1): the first is flat where D rejects the fakes (D(G(z)) ≈ 0),
exactly where G most needs a push; the second is steep there. Here the current batch of the
1-D game is marked on both curves, so the saturation is seen where it happens, and the
gradient each cost would give θ is computed from the same batch. No Gradio here.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from advdemo.toygan.analytic import softplus
from advdemo.toygan.game import ToyGanTrainer

SATURATING = "#d95f02"
NON_SATURATING = "#1b9e77"
MAX_MARKERS = 160  # batch samples drawn per curve (a batch may hold 4096)
Y_LIMIT = 5.0  # costs beyond ±5 (D(G(z)) within 0.7 % of 0 or 1) are cut at the frame


def batch_costs(trainer: ToyGanTrainer) -> dict[str, float]:
    """Both generator costs on the current generated batch and the gradient each gives θ.

    D(G(z)) = sigmoid(a) with a = w·G(z) + b; costs from a directly (no log of 0):
    saturating log(1 − D) = −softplus(a), non-saturating −log D = softplus(−a).
    dJ/dθ: saturating −w · mean D(G(z)); non-saturating −w · mean(1 − D(G(z))).
    """
    a = trainer.w * trainer.last_generated + trainer.b
    d = trainer.discriminator(trainer.last_generated)
    mean_d = float(d.mean())
    return {
        "batch": int(d.size),
        "mean_d_of_g_z": mean_d,
        "saturating_cost": float(-softplus(a).mean()),
        "non_saturating_cost": float(softplus(-a).mean()),
        "saturating_grad_theta": float(-trainer.w * mean_d),
        "non_saturating_grad_theta": float(-trainer.w * (1.0 - mean_d)),
    }


def _curve_x() -> np.ndarray:
    """D(G(z)) from 0.001 to 0.999, dense near both ends where the costs bend."""
    logits = np.linspace(-7.0, 7.0, 241)
    return 1.0 / (1.0 + np.exp(-logits))


def costs_figure(trainer: ToyGanTrainer, height: int = 340) -> go.Figure:
    """Both cost curves over D(G(z)), the batch on each, the cost in use drawn thicker."""
    numbers = batch_costs(trainer)
    d = trainer.discriminator(trainer.last_generated)
    if d.size > MAX_MARKERS:
        d = d[np.linspace(0, d.size - 1, MAX_MARKERS).astype(int)]
    d = np.clip(d, 1e-12, 1 - 1e-12)
    x = _curve_x()
    in_use = trainer.config.g_loss
    curves = (
        ("saturating", "log(1 − D(G(z)))", SATURATING, np.log1p(-x), np.log1p(-d)),
        ("non_saturating", "−log D(G(z))", NON_SATURATING, -np.log(x), -np.log(d)),
    )
    data: list[dict] = []
    for key, name, colour, curve, batch in curves:
        used = key == in_use
        data.append(
            {
                "type": "scatter",
                "x": x.astype(np.float32),
                "y": curve.astype(np.float32),
                "mode": "lines",
                "line": {
                    "color": colour,
                    "width": 4 if used else 2,
                    "dash": None if used else "dash",
                },
                "name": f"{name}{' (G uses this)' if used else ''}",
            }
        )
        data.append(
            {
                "type": "scatter",
                "x": d.astype(np.float32),
                "y": np.clip(batch, -Y_LIMIT, Y_LIMIT).astype(np.float32),
                "mode": "markers",
                "marker": {"color": colour, "size": 7, "opacity": 0.45, "line": {"width": 0}},
                "name": "current batch" if key == "saturating" else "current batch ",
                "showlegend": key == "saturating",
                "legendgroup": "batch",
                "hovertemplate": "D(G(z)) = %{x:.3f}<br>cost = %{y:.3f}<extra></extra>",
            }
        )
    # Two short lines, so that a phone's narrow plot shows the numbers too.
    title = (
        f"step {trainer.steps_done:,} · batch mean D(G(z)) = {numbers['mean_d_of_g_z']:.3f}<br>"
        f"dJ/dθ: saturating {numbers['saturating_grad_theta']:+.3f} · "
        f"non-saturating {numbers['non_saturating_grad_theta']:+.3f}"
    )
    layout = {
        "template": {"layout": {"paper_bgcolor": "white", "plot_bgcolor": "white"}},
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 64, "b": 80},
        "font": {"size": 13, "family": "Arial, Helvetica, sans-serif", "color": "#2a2f3a"},
        "title": {"text": title, "x": 0.01, "font": {"size": 14}},
        "xaxis": {
            "title": {"text": "D(G(z)): how real D finds a fake"},
            "range": [0, 1],
            "gridcolor": "#e5e8ef",
            "zeroline": False,
        },
        "yaxis": {
            "title": {"text": "generator cost"},
            "range": [-Y_LIMIT - 0.2, Y_LIMIT + 0.2],
            "gridcolor": "#e5e8ef",
            "zerolinecolor": "#c9ced8",
        },
        "legend": {"orientation": "h", "x": 0, "y": 0, "yref": "container", "yanchor": "bottom"},
        "uirevision": "toy-gan-costs",
    }
    return go.Figure(data=data, layout=layout, _validate=False)
