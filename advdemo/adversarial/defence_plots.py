"""What the defences tab draws: robust accuracy against ε, training losses, the grid of
attacked digits, and the detector's rates. Results in, plotly figures and PIL images out."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from advdemo.adversarial.defence import Robustness, TrainedModel
from advdemo.adversarial.plots import LAYOUT, TITLE
from advdemo.adversarial.safetynet import Detection
from advdemo.core.pictures import draw_text

COLOURS = {"standard": "#1f77b4", "fgsm": "#ff7f0e", "pgd": "#2ca02c"}
CELL = 64  # px per digit in the grid
CAPTION = 26  # px of caption under a digit
GAP = 16  # px between digits
LABEL_W = 150  # px of row label


def robustness_figure(
    curves: Sequence[tuple[str, Robustness]], mark_eps: float | None
) -> go.Figure:
    """Accuracy against ε: one colour per model, solid under PGD, dotted under FGSM."""
    fig = go.Figure()
    for method, r in curves:
        colour = COLOURS.get(method, "#555")
        ticks = [round(e * 255) for e in r.eps]
        fig.add_scatter(
            x=ticks,
            y=r.pgd,
            mode="lines+markers",
            name=f"{r.title}, PGD",
            line={"color": colour, "width": 3},
        )
        fig.add_scatter(
            x=ticks,
            y=r.fgsm,
            mode="lines+markers",
            name=f"{r.title}, FGSM",
            line={"color": colour, "width": 2, "dash": "dot"},
            marker={"symbol": "circle-open"},
        )
    if mark_eps is not None:
        fig.add_vline(x=round(mark_eps * 255), line={"dash": "dash", "color": "#888"})
    fig.update_layout(
        title={"text": "held-out accuracy under white-box attack", **TITLE},
        xaxis={"title": "ε in grey levels (k/255)"},
        **{**LAYOUT, "height": 470, "yaxis": {"range": [-0.02, 1.02], "title": "accuracy"}},
    )
    return fig


def loss_figure(models: Sequence[tuple[str, TrainedModel]]) -> go.Figure:
    """Mean training loss per epoch of each model."""
    fig = go.Figure()
    for method, m in models:
        fig.add_scatter(
            x=list(range(1, len(m.losses) + 1)),
            y=m.losses,
            mode="lines+markers",
            name=m.settings.title,
            line={"color": COLOURS.get(method, "#555"), "width": 3},
        )
    fig.update_layout(
        title={"text": "training loss per epoch", **TITLE},
        xaxis={"title": "epoch"},
        **{**LAYOUT, "height": 380, "yaxis": {"title": "mean loss", "rangemode": "tozero"}},
    )
    return fig


def _digit(image: Tensor) -> Image.Image:
    """One (1, S, S) digit in [0, 1], dark ink on white, CELL px wide, nearest-neighbour."""
    grey = ((1 - image[0].clamp(0, 1)) * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(grey, "L").resize((CELL, CELL), Image.Resampling.NEAREST)


def _perturbation(delta: Tensor, eps: float) -> Image.Image:
    """δ on mid-grey: red where ink was added, blue where it was taken, full at ±ε."""
    d = (delta[0] / max(eps, 1e-8)).clamp(-1, 1)
    added, removed = d.clamp(min=0), (-d).clamp(min=0)
    rgb = torch.stack(
        [128 + 127 * added - 128 * removed, 128 - 128 * d.abs(), 128 + 127 * removed - 128 * added]
    )
    array = rgb.clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(array, "RGB").resize((CELL, CELL), Image.Resampling.NEAREST)


def digit_grid(
    clean: Tensor,
    labels: Tensor,
    rows: Sequence[tuple[str, Tensor, Tensor]],
    eps: float,
    *,
    show_perturbation: bool = True,
    flags: Sequence[Tensor] | None = None,
) -> Image.Image:
    """Held-out digits in the top row, then per model its adversarial versions with what it
    predicts (✓ right, ✗ wrong) and, below, the perturbation (red: ink added, blue: removed).

    rows: (title, adversarial images (N, 1, S, S), predictions (N,)) per model; flags: per
    row, (N,) booleans marked ⚑ (a detector flagged the image)."""
    n = len(labels)
    per_row = CELL + CAPTION
    heights = 1 + len(rows) * (2 if show_perturbation else 1)
    canvas = Image.new("RGB", (LABEL_W + n * (CELL + GAP), heights * per_row + 6), "white")
    draw = ImageDraw.Draw(canvas)

    def put(row: int, title: str, pictures: list[Image.Image], captions: list[str]) -> None:
        top = row * per_row + 4
        draw_text(draw, (LABEL_W / 2, top + CELL / 2 - 8), title, 14)
        for i, (picture, caption) in enumerate(zip(pictures, captions, strict=True)):
            left = LABEL_W + i * (CELL + GAP)
            canvas.paste(picture, (left, top))
            colour = "#b00020" if "✗" in caption else "black"
            draw_text(draw, (left + CELL / 2, top + CELL + 2), caption, 13, colour)

    put(0, "clean digit", [_digit(c) for c in clean], [f"label {int(t)}" for t in labels])
    row = 1
    for r, (title, adversarial, predicted) in enumerate(rows):
        flagged = flags[r].tolist() if flags is not None else [False] * n
        marks = [
            f"{'⚑ ' if f else ''}says {int(p)} {'✓' if int(p) == int(t) else '✗'}"
            for p, t, f in zip(predicted, labels, flagged, strict=True)
        ]
        put(row, title, [_digit(a) for a in adversarial], marks)
        row += 1
        if show_perturbation:
            put(
                row,
                "δ (red +, blue −)",
                [_perturbation(a - c, eps) for a, c in zip(adversarial, clean, strict=True)],
                [""] * n,
            )
            row += 1
    return canvas


def detection_figure(results: Sequence[Detection]) -> go.Figure:
    """Bars per attack: classifier fooled, detector caught, fooled both; and false alarms."""
    fig = go.Figure()
    names = [r.attack for r in results]
    bars = (
        ("classifier fooled", [r.fooled for r in results], "#1f77b4"),
        ("detector flags (of those fooled)", [r.detected for r in results], "#2ca02c"),
        ("fooled both", [r.fooled_both for r in results], "#d62728"),
    )
    for name, values, colour in bars:
        fig.add_bar(
            x=names,
            y=values,
            name=name,
            marker_color=colour,
            text=[f"{v:.0%}" for v in values],
            textposition="outside",
        )
    fig.update_layout(
        title={"text": f"false alarms on clean digits: {results[0].false_alarms:.0%}", **TITLE},
        barmode="group",
        **{
            **LAYOUT,
            "height": 430,
            "yaxis": {"range": [0, 1.12], "title": "share of held-out digits"},
        },
    )
    return fig
