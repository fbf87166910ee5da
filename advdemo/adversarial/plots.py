"""Plotly figures for the adversarial playground: confidences per iteration and the eps sweep.

Pure functions of attack results (advdemo.adversarial) to plotly figures; no Gradio here.
"""

from __future__ import annotations

import plotly.graph_objects as go

from advdemo.adversarial.base import ProbabilityTrace
from advdemo.adversarial.robustness import is_fooled
from advdemo.adversarial.sweep import Sweep

TRUE_COLOUR = "#1f77b4"  # blue: the class the photo shows
TARGET_COLOUR = "#d62728"  # red: the class the attack aims at
# Right-aligned and below the top edge: Gradio's block label covers the top-left corner.
TITLE = {"font": {"size": 15}, "x": 0.98, "xanchor": "right", "y": 0.9, "yanchor": "top"}
LAYOUT = {
    "template": "plotly_white",
    "height": 430,
    "margin": {"l": 60, "r": 20, "t": 80, "b": 20},
    "showlegend": True,
    "font": {"size": 15},
    "legend": {"orientation": "h", "yanchor": "top", "y": -0.3, "x": 0},
    "yaxis": {"range": [-0.02, 1.02], "title": "probability"},
}


def _add_curve(
    fig: go.Figure, x: list, y: list[float], name: str, colour: str, dash: str | None = None
) -> None:
    """One probability curve: lines and markers, 3 px wide; solid unless `dash` is given."""
    fig.add_scatter(
        x=x, y=y, mode="lines+markers", name=name, line={"color": colour, "dash": dash, "width": 3}
    )


def trace_figure(
    trace: ProbabilityTrace, labels: list[str], method_title: str, quantized: bool = True
) -> go.Figure:
    """True-class and target-class probability at every iteration of one attack."""
    fig = go.Figure()
    its = trace.iterations
    true_name = f"p({labels[trace.true_class]}), the original class"
    _add_curve(fig, its, trace.true_prob, true_name, TRUE_COLOUR)
    if trace.target_class is not None:
        target_name = f"p({labels[trace.target_class]}), the target"
        _add_curve(fig, its, trace.target_prob, target_name, TARGET_COLOUR)
    _mark_returned(fig, trace)
    flipped = _first_flip(trace)
    if flipped is not None:
        fig.add_vline(x=flipped, line={"dash": "dot", "color": "#555"})
        fig.add_annotation(
            x=flipped,
            y=0.5,
            text=f"top-1: {labels[trace.top1[its.index(flipped)]]}",
            showarrow=False,
            xanchor="left",
            xshift=4,
            bgcolor="rgba(255,255,255,0.85)",
        )
    grid = "8-bit images" if quantized else "float images"
    fig.update_layout(
        title={"text": f"{method_title} · {grid}", **TITLE},
        xaxis={"title": "iteration (0 = start)", "dtick": _tick(len(its))},
        **LAYOUT,
    )
    return fig


def _mark_returned(fig: go.Figure, trace: ProbabilityTrace) -> None:
    """A star on the curve the attack is judged by, at the iteration whose image it returned
    (its strongest, not always the last)."""
    chosen = trace.returned
    if chosen is None or chosen not in trace.iterations:
        return
    i = trace.iterations.index(chosen)
    targeted = trace.target_class is not None
    p = trace.target_prob[i] if targeted else trace.true_prob[i]
    last = chosen == trace.iterations[-1]
    fig.add_scatter(
        x=[chosen],
        y=[p],
        mode="markers",
        name=f"returned image: step {chosen}" + (" (the last)" if last else " (the best seen)"),
        marker={
            "symbol": "star",
            "size": 18,
            "color": TARGET_COLOUR if targeted else TRUE_COLOUR,
            "line": {"color": "black", "width": 1},
        },
    )


def _first_flip(trace: ProbabilityTrace) -> int | None:
    """First iteration whose top-1 is the target (targeted) or not the true class."""
    for it, top1 in zip(trace.iterations, trace.top1, strict=True):
        if is_fooled(top1, trace.true_class, trace.target_class):
            return it
    return None


def _tick(n: int) -> int | None:
    return 1 if n <= 12 else None


def sweep_figure(
    sweeps: list[Sweep],
    labels: list[str],
    true_class: int,
    target: int | None,
    current_k: int | None = None,
) -> go.Figure:
    """Probability of the true and target class against eps = k/255, one line per method."""
    fig = go.Figure()
    for sweep in sweeps:
        dash = "dash" if sweep.method == "fgsm" else "solid"
        name = "FGSM" if sweep.method == "fgsm" else f"PGD-{sweep.steps}"
        true_name = f"{name}: p({labels[true_class]})"
        _add_curve(fig, sweep.ks, sweep.true_prob, true_name, TRUE_COLOUR, dash)
        if target is not None and sweep.target_prob is not None:
            target_name = f"{name}: p({labels[target]})"
            _add_curve(fig, sweep.ks, sweep.target_prob, target_name, TARGET_COLOUR, dash)
    if current_k is not None:
        fig.add_vline(x=current_k, line={"dash": "dot", "color": "#555"})
    fig.update_layout(
        title={"text": "after the attack, at each budget ε", **TITLE},
        xaxis={"title": "ε = k/255 (k grey levels)", "dtick": 2},
        **LAYOUT,
    )
    return fig
