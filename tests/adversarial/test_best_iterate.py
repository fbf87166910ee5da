"""Issue #20, item 1: an iterative attack returns the best 8-bit image it has seen, not its last
one, so more steps never give a weaker result; the trace and the plot say which step that was."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from advdemo.adversarial import attacks
from advdemo.adversarial.base import ProbabilityTrace
from advdemo.adversarial.pgd import pgd_loop
from advdemo.adversarial.plots import trace_figure
from advdemo.adversarial.sweep import eps_sweep, sweep_alpha_k

PEAK = 127.3 / 255  # between two grey levels, nearer 127


class Overshoot(nn.Module):
    """Two classes; class 1's logit is −200·Σ(x − PEAK)², highest at PEAK, which lies between
    grey levels 127 and 128. Sign steps of one grey level climb to it and then hop over it,
    127, 128, 127, ...: the target's probability rises, then dips on every other step."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = (x - PEAK).pow(2).flatten(1).sum(-1)
        return torch.stack([torch.zeros_like(d), -200 * d], -1)


def flat(level: int, n: int = 1) -> torch.Tensor:
    return torch.full((n, 3, 2, 2), level / 255)


RUNS = {
    "pgd-targeted": ("pgd", 1, {"random_start": False}),
    "pgd-untargeted": ("pgd", None, {"random_start": False}),
    "pgd-random-start": ("pgd", 1, {"seed": 2}),
    "lecture": ("lecture", 1, {}),
}


def attack(run: str, steps: int, x: torch.Tensor, callback=None) -> torch.Tensor:
    method, target, extra = RUNS[run]
    return attacks.run_attack(
        method,
        Overshoot(),
        x,
        0,
        eps=16 / 255,
        target=target,
        steps=steps,
        alpha=1 / 255,
        lr=1 / 255,
        lam=0.0,
        quantize=True,
        callback=callback,
        **extra,
    )


def score(x_adv: torch.Tensor, target: int | None) -> float:
    """log p(target), or −log p(original class): higher is a stronger attack."""
    with torch.no_grad():
        logp = Overshoot()(x_adv).log_softmax(-1)[0]
    return float(logp[1] if target is not None else -logp[0])


@pytest.mark.parametrize("run", list(RUNS))
def test_more_steps_never_return_a_worse_image(run):
    x = flat(118)
    target = RUNS[run][1]
    scores = [score(attack(run, steps, x), target) for steps in range(1, 41)]
    assert all(b >= a for a, b in itertools.pairwise(scores)), scores


@pytest.mark.parametrize("run", list(RUNS))
def test_the_returned_image_is_the_best_the_trace_saw(run):
    x = flat(118)
    target = RUNS[run][1]
    trace = ProbabilityTrace(true_class=0, target_class=target)
    x_adv = attack(run, 30, x, trace)
    curve = trace.target_prob if target is not None else [-p for p in trace.true_prob]
    assert curve[-1] < max(curve)  # the curve ends on a dip ...
    assert trace.returned == curve.index(max(curve))  # ... and the best step is returned
    p = Overshoot()(x_adv).softmax(-1)[0]
    returned = p[1] if target is not None else -p[0]
    assert float(returned) == pytest.approx(max(curve), abs=1e-6)
    levels = x_adv * 255
    assert (levels - levels.round()).abs().max() < 1e-4  # on the 8-bit grid, as checked


def test_the_confidence_plot_marks_the_returned_step():
    trace = ProbabilityTrace(true_class=0, target_class=1)
    attack("pgd-targeted", 40, flat(118), trace)
    figure = trace_figure(trace, ["zero", "one"], "PGD")
    marks = [t for t in figure.data if "returned" in (t.name or "")]
    assert len(marks) == 1
    assert list(marks[0].x) == [trace.returned] and trace.returned < 40
    assert list(marks[0].y) == [trace.target_prob[trace.returned]]


def test_the_eps_sweep_keeps_the_best_iterate_per_eps():
    model, x, ks, steps = Overshoot(), flat(118), list(range(17)), 10
    sweep = eps_sweep(model, x, 0, ks, method="pgd", target=1, steps=steps, chunk=len(ks))
    # The plain loop stopped after every n ≤ steps visits the same iterates (same seed, and
    # one batch of all budgets, as the sweep's single chunk: the random start is drawn per batch).
    eps = torch.tensor(ks, dtype=x.dtype).view(-1, 1, 1, 1) / 255
    alpha = torch.tensor([sweep_alpha_k(k, steps) for k in ks], dtype=x.dtype).view(-1, 1, 1, 1)
    xs, ys = x.expand(len(ks), -1, -1, -1).contiguous(), torch.zeros(len(ks), dtype=torch.long)
    with torch.no_grad():
        seen = torch.stack(
            [
                model(
                    pgd_loop(model, xs, ys, eps, alpha / 255, n, ys + 1, True, 0, True, None)
                ).softmax(-1)[:, 1]
                for n in range(steps + 1)
            ]
        )
    assert (seen[-1] < seen.max(0).values).any()  # some budgets end on a dip
    assert sweep.target_prob == pytest.approx(seen.max(0).values.tolist(), abs=1e-6)
