"""The black-box part of the defences tab: a query attack and substitute transfer.

Layout and wiring only; the attacks are advdemo.adversarial.blackbox (query_attack: the target
is seen only through its output probabilities) and advdemo.adversarial.substitute (a
substitute trained on the target's labels, attacked in white box, its examples transferred).
Targets: the standard digits network of the tab, and the playground's EfficientNet-Lite0 on
the cat photo. Public API: "blackbox_attack" and "transfer".
"""

from __future__ import annotations

import gradio as gr
import plotly.graph_objects as go
import torch

from advdemo import ui
from advdemo.adversarial import blackbox, defence_views, substitute
from advdemo.adversarial.base import MAX_EPS_K
from advdemo.adversarial.defence_plots import digit_grid
from advdemo.adversarial.plots import LAYOUT, TITLE
from advdemo.core import images
from advdemo.core.errors import choice, seed, whole
from advdemo.core.presets import Preset, by_key
from advdemo.models.nets import digits as nets
from advdemo.models.store import ModelStore

VICTIMS = [
    ("standard digits network (10 held-out digits)", "digits"),
    ("EfficientNet-Lite0 on the cat photo (the playground's model)", "efficientnet-lite0"),
]
CAT_CLASSES = (281, 282, 283, 284, 285)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
# On the cat, "fooled" means no cat breed at all (its top two, tiger cat and Egyptian cat, are
# 38 % and 37 %): measured by the query attack's author, not within 1,000 queries at 4/255,
# 68 queries at 16/255.
DEFAULT_EPS_K = {"digits": 51, "efficientnet-lite0": 16}
SEED_PER_CLASS = 10  # the attacker's own labelled digits for the substitutes
ATTACK_CONTROLS = ("victim", "method", "eps_k", "budget", "seed")
TRANSFER_CONTROLS = ("substitutes", "rounds", "eps_k", "seed")
PRESETS = (
    Preset(
        "cat",
        "the cat, probabilities only (ε = 16/255)",
        {"victim": "efficientnet-lite0", "method": "square", "eps_k": 16, "budget": 500, "seed": 0},
    ),
    Preset(
        "digits",
        "ten digits, probabilities only",
        {"victim": "digits", "method": "square", "eps_k": 51, "budget": 300, "seed": 0},
    ),
    Preset(
        "transfer",
        "3 substitutes → transfer",
        {"victim": "digits", "substitutes": 3, "rounds": 4, "eps_k": 51, "seed": 0},
    ),
)

EXPLANATION = r"""
### Attacks without gradients
Everything above was **white box**: the attacker computed $\nabla_x L$ through the network.
Often one can only *ask*: send an image, read the probabilities. Two ways remain.

**Queries.** Estimate the direction from answers alone. The lecture's numerical gradient,
$\partial L/\partial x_i \approx [L(x + h e_i) - L(x - h e_i)]/2h$, costs two queries per pixel
(301,056 for one ImageNet gradient), so practical attacks guess smarter: *Square Attack*
tries random squares of $\pm\varepsilon$ and keeps those that lower the margin
$\log p_y - \max_{k \ne y} \log p_k$; *SimBA* tries one direction at a time. The counter is the
bill: every image sent is one query. Below zero margin the model is fooled.

**Substitutes and transfer.** Cannot even afford many queries? Train your own network on the
target's *labels* (a few seed digits, grown by Jacobian augmentation toward where the labels
change), attack it in white box, and hand the result to the target. Adversarial examples
transfer because networks trained on the same task learn similar features. Untargeted ones
(just any wrong class) transfer far more often than targeted ones (one exact wrong class), and
attacking an ensemble of substitutes transfers better than attacking one.
"""


def _digits_target(store: ModelStore, progress):
    """The tab's standard digits network (trained once per store, shared with the defences
    part) and the digits: a Trainer to run, then its model."""
    from advdemo.tabs import defences  # the tab that owns the data and the model cache

    d = defences.DEFAULTS
    wanted = defence_views.settings_for(
        ["standard"], d["arch"], d["eps_k"], d["lam"], d["epochs"], d["pgd_steps"], d["seed"]
    )
    data = defences.data_for(store, "digits")
    return data, defence_views.Trainer(data, wanted, defences.model_cache(store), progress)


def blackbox_attack(store, victim, method, eps_k, budget, seed_value, progress=gr.Progress()):
    """A query-only attack (api_name "blackbox_attack"), untargeted; a generator: status
    lines, then the result.

    victim: "digits" (the standard digits network, on ten held-out digits) or
    "efficientnet-lite0" (the cat photo; every cat breed counts as "cat"); method: "square",
    "simba-dct", "simba-pixel" or "nes"; eps_k: ε in grey levels (0..64); budget: queries per
    image (1..10,000); seed_value: 0..2³²−1. Returns a summary (Markdown), fooled share and
    margin against queries (plot) and the images before and after (image).
    """
    victim = choice("victim", victim, [v for _, v in VICTIMS])
    method = blackbox.check_method(method)
    eps = whole("ε (grey levels)", eps_k, 0, MAX_EPS_K) / 255
    budget = blackbox.check_budget(budget)
    seed_value = seed("seed", seed_value)
    bar = lambda done, text: progress(done, desc=text)  # noqa: E731
    if victim == "digits":
        data, trainer = _digits_target(store, lambda f, t: progress(f, desc=t))
        for status in trainer.run():
            yield f"### {status}", gr.skip(), gr.skip()
        net = trainer.models[0].net
        x, y = defence_views.grid_digits(data)
        result = blackbox.query_attack(
            lambda batch: net(batch).softmax(-1),
            x,
            y,
            eps=eps,
            budget=budget,
            seed=seed_value,
            method=method,
            progress=bar,
        )
        picture = digit_grid(
            x, y, [("after queries", result.images, result.probabilities.argmax(-1))], eps
        )
        labels = [str(i) for i in range(10)]
    else:
        model = store.classifier("efficientnet-lite0")
        x = model.prepare(images.load_image(images.asset("chelsea.png")))
        y = int(model.probabilities(x).argmax(-1))
        result = blackbox.query_attack(
            model.probabilities,
            x,
            y,
            eps=eps,
            budget=budget,
            seed=seed_value,
            method=method,
            same_as=CAT_CLASSES,
            quantize=True,
            progress=bar,
        )
        picture = _side_by_side(x[0], result.images[0])
        labels = model.labels
    yield _summary(result, labels, victim), _figure(result), picture


def _side_by_side(before, after):
    from PIL import Image

    left, right = images.to_pil(before), images.to_pil(after)
    canvas = Image.new("RGB", (left.width * 2 + 8, left.height), "white")
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width + 8, 0))
    return canvas


def _summary(result: blackbox.QueryAttackResult, labels, victim: str) -> str:
    n = len(result.success)
    fooled = int(result.success.sum())
    hits = result.queries_to_success[result.success]
    median = f"median {int(hits.float().median())} queries" if fooled else "none fooled"
    top = [labels[int(i)] for i in result.probabilities.argmax(-1)]
    where = "the cat" if victim != "digits" else f"{n} digits"
    return (
        f"### {blackbox.METHODS[result.method]}: {fooled} of {n} fooled on {where} ({median})\n"
        f"ε = {round(result.eps * 255)}/255, budget {result.budget} queries an image; spent "
        f"{int(result.queries.sum())} in {result.calls} calls, {result.seconds:.1f} s. "
        f"The model now says: {', '.join(top[:10])}. It was only ever asked for "
        "probabilities: no gradient, no weights."
    )


def _figure(result: blackbox.QueryAttackResult) -> go.Figure:
    q, share = result.success_curve()
    fig = go.Figure()
    fig.add_scatter(
        x=q.tolist(),
        y=share.tolist(),
        name="share fooled",
        mode="lines",
        line={"color": "#d62728", "width": 3},
    )
    for i, trace in enumerate(result.margin_trace[:10]):
        fig.add_scatter(
            x=q.tolist(),
            y=trace.tolist(),
            mode="lines",
            yaxis="y2",
            name="margin" if i == 0 else None,
            showlegend=i == 0,
            line={"color": "rgba(31,119,180,0.45)", "width": 1.5},
        )
    fig.update_layout(
        title={"text": "fooled share and margin against queries", **TITLE},
        xaxis={"title": "queries"},
        yaxis2={"title": "margin (log p)", "overlaying": "y", "side": "right"},
        **{**LAYOUT, "yaxis": {"range": [-0.02, 1.02], "title": "share fooled"}},
    )
    return fig


def transfer(store, substitutes, rounds, eps_k, seed_value, progress=gr.Progress()):
    """Substitutes trained on the standard digits network's labels, attacked with PGD, their
    examples sent to it (api_name "transfer"); a generator: status lines, then the result.

    substitutes: how many (1..5; with 2 or more their ensemble is attacked too); rounds:
    Jacobian-augmentation rounds (1..6); eps_k: ε in grey levels (1..64); seed_value:
    0..2³²−1. Returns a summary (Markdown) and transfer rates untargeted vs targeted (plot).
    """
    count = whole("substitutes", substitutes, 1, 5)
    rounds = whole("rounds", rounds, 1, 6)
    eps = whole("ε (grey levels)", eps_k, 1, MAX_EPS_K) / 255
    seed_value = seed("seed", seed_value)
    data, trainer = _digits_target(store, lambda f, t: progress(f, desc=t))
    for status in trainer.run():
        yield f"### {status}", gr.skip()
    target = trainer.models[0].net
    picks = torch.cat([(data.train_y == c).nonzero()[:SEED_PER_CLASS, 0] for c in range(10)])
    subs = substitute.train_substitutes(
        lambda x: target(x).argmax(-1),
        data.train_x[picks],
        lambda gen: nets.reset(nets.build("mlp"), gen),
        count=count,
        seed=seed_value,
        rounds=rounds,
        progress=lambda done, text: progress(done, desc=text),
    )
    report = substitute.transfer_rates(
        lambda x: target(x).argmax(-1),
        [s.net for s in subs],
        data.test_x,
        data.test_y,
        eps=eps,
        seed=seed_value,
    )
    yield _transfer_summary(report, subs), _transfer_figure(report)


def _transfer_summary(report: substitute.TransferReport, subs) -> str:
    best = report.rows[-1].attacker
    return (
        f"### Transfer at ε = {round(report.eps * 255)}/255: untargeted "
        f"{report.rate(best, 'untargeted'):.0%}, targeted {report.rate(best, 'targeted'):.0%} "
        f"({best})\n{len(subs)} substitute(s) cost {sum(s.queries for s in subs)} label "
        f"queries in all; the target was attacked only through them. Rates are shares of the "
        f"{report.rows[0].images} held-out digits the target got right."
    )


def _transfer_figure(report: substitute.TransferReport) -> go.Figure:
    fig = go.Figure()
    for mode, colour in (("untargeted", "#d62728"), ("targeted", "#9467bd")):
        rows = [r for r in report.rows if r.mode == mode]
        fig.add_bar(
            x=[r.attacker for r in rows],
            y=[r.transfer for r in rows],
            name=f"{mode}: fools the target",
            marker_color=colour,
            text=[f"{r.transfer:.0%}" for r in rows],
            textposition="outside",
        )
    fig.update_layout(
        title={"text": "examples made on substitutes, sent to the target", **TITLE},
        barmode="group",
        **{**LAYOUT, "yaxis": {"range": [0, 1.12], "title": "transfer rate"}},
    )
    return fig


def layout() -> dict[str, gr.components.Component]:
    """The black-box section's controls and outputs."""
    c: dict[str, gr.components.Component] = {}
    gr.Markdown("## Black box: attacks that only ask", elem_id="def-bb-title")
    with gr.Row(elem_id="def-bb-presets"):
        for p in PRESETS:
            c[f"preset-{p.key}"] = gr.Button(p.label, size="sm", elem_id=f"def-bb-preset-{p.key}")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            c["victim"] = gr.Radio(VICTIMS, value="digits", label="target", elem_id="def-victim")
            c["method"] = gr.Radio(
                [(v, k) for k, v in blackbox.METHODS.items()],
                value="square",
                label="query attack",
                elem_id="def-bb-method",
            )
            c["eps_k"] = gr.Slider(
                0, MAX_EPS_K, value=51, step=1, label="ε in grey levels", elem_id="def-bb-eps"
            )
            c["budget"] = gr.Slider(
                10,
                blackbox.MAX_BUDGET,
                value=500,
                step=10,
                label="query budget per image",
                elem_id="def-bb-budget",
            )
            c["seed"] = ui.seed_box(0, "seed", "def-bb-seed")
            c["attack"] = gr.Button("Query attack", variant="primary", elem_id="def-bb-attack")
            c["substitutes"] = gr.Slider(
                1, 5, value=3, step=1, label="substitutes", elem_id="def-bb-subs"
            )
            c["rounds"] = gr.Slider(
                1, 6, value=4, step=1, label="augmentation rounds", elem_id="def-bb-rounds"
            )
            c["transfer"] = gr.Button("Train substitutes & transfer", elem_id="def-bb-transfer")
        with gr.Column(scale=3):
            c["summary"] = gr.Markdown("", elem_id="def-bb-summary")
            c["plot"] = gr.Plot(label="queries", elem_id="def-bb-plot")
            c["picture"] = ui.picture(None, "before and after", "def-bb-picture")
            c["transfer_plot"] = gr.Plot(label="transfer", elem_id="def-bb-transfer-plot")
    return c


def victim_changed(victim):
    return gr.update(value=DEFAULT_EPS_K.get(victim, 8))


def preset_values(key: str, names: tuple[str, ...]) -> tuple:
    """The preset's values of `names` (the controls it names; the others keep theirs)."""
    preset = by_key(PRESETS, key)
    return tuple(preset.values.get(n, gr.skip()) for n in names)


def wire(store: ModelStore, c) -> list:
    """The section's events; returns the ones a Stop button cancels."""
    c["victim"].change(victim_changed, c["victim"], c["eps_k"], **ui.INSTANT)
    run_attack = (
        ui.on_gpu(ui.friendly(ui.bind(blackbox_attack, store))),
        [c[k] for k in ATTACK_CONTROLS],
        [c["summary"], c["plot"], c["picture"]],
    )
    run_transfer = (
        ui.on_gpu(ui.friendly(ui.bind(transfer, store))),
        [c[k] for k in TRANSFER_CONTROLS],
        [c["summary"], c["transfer_plot"]],
    )
    events = [
        c["attack"].click(*run_attack, api_name="blackbox_attack", **ui.HEAVY_LANE),
        c["transfer"].click(*run_transfer, api_name="transfer", **ui.HEAVY_LANE),
    ]
    names = tuple(dict.fromkeys(ATTACK_CONTROLS + TRANSFER_CONTROLS))
    setter = ui.friendly(preset_values)
    for p in PRESETS:
        follow = run_transfer if p.key == "transfer" else run_attack
        events.append(
            c[f"preset-{p.key}"]
            .click(lambda k=p.key: setter(k, names), None, [c[n] for n in names], **ui.INSTANT)
            .then(*follow, api_visibility="private", **ui.HEAVY_LANE)
        )
    return events
