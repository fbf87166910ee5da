"""Black-box figures: the query attack on the playground's cat (queries and seconds) and
substitute training, each against a baseline measured in the same run.

    .venv/bin/python -m benchmarks blackbox        (or: python -m benchmarks.bench_blackbox)

What is measured (EfficientNet-Lite0 as the store loads it, the cat's 224² crop, ε = 4/255,
the playground's default, 8-bit images, seed 0; the target is reached only through
ImageClassifier.probabilities):
- Square Attack, untargeted (away from the predicted class): queries until the top-1 changes,
  against SimBA-DCT's queries on the same image; its wall time against one query's.
- Square Attack away from every cat breed (ImageNet 281..285: tabby, tiger cat, Persian,
  Siamese, Egyptian cat) at ε = 16/255 (at 4/255 it does not get there in 1,000 queries),
  budget CAT_BUDGET: queries used (the budget when it does not get there) and wall seconds;
  the baseline is SimBA-DCT again.
- The numerical gradient ("nes": 2·NES_SAMPLES probes per estimate) with query_attack's
  default for 224² images, one image per call, against its probes batched 64 per call (on
  two cores Lite0 costs twice as much per image in batches of 40 as one at a time). Same
  queries (checked; the images may differ by the float rounding of a batched forward); wall
  seconds per 100 queries.
- Substitute training (train_substitute, 4 rounds of Jacobian augmentation from 10 images per
  class, 800 label queries) on 8×8 digits (the built-in ones when fetched, else a synthetic
  stand-in; the figure says which), against training the same MLP on as many images with
  their true labels in one go (no queries, no augmentation).

Timings are wall-clock medians of interleaved repeats (benchmarks.common), indicative on a
shared machine.
"""

from __future__ import annotations

import statistics

import torch
import torch.nn.functional as F

from benchmarks.common import Row, format_table, interleaved

EPS = 4 / 255
EPS_BREEDS = 16 / 255  # at 4/255 Square gets nowhere near leaving every breed in 1,000 queries
SEED = 0
BUDGET = 1000
CAT_BUDGET = 1000
CAT_BREEDS = range(281, 286)
NES_QUERIES = 200
SUB_ROUNDS = 4
SUB_PER_CLASS = 10


def _cat():
    from advdemo.core import images
    from advdemo.models.store import ModelStore

    model = ModelStore().classifier("efficientnet-lite0")
    x = model.prepare(images.load_image(images.asset("chelsea.png")))
    return model, x, int(model.probabilities(x).argmax())


def _attack(model, x, y, method, *, budget=BUDGET, eps=EPS, **options):
    from advdemo.adversarial.blackbox import query_attack

    return query_attack(
        model.probabilities,
        x,
        y,
        eps=eps,
        budget=budget,
        seed=SEED,
        method=method,
        quantize=True,
        **options,
    )


def _queries(result) -> int:
    """Queries to success, or the whole budget spent without it."""
    hit = int(result.queries_to_success[0])
    return hit if hit > 0 else int(result.queries[0])


def query_rows(
    repeats: int, cat_budget: int = CAT_BUDGET, nes_queries: int = NES_QUERIES
) -> list[Row]:
    model, x, y = _cat()
    rows = []
    square = _attack(model, x, y, "square")
    simba = _attack(model, x, y, "simba-dct")
    one = lambda: model.probabilities(x)  # noqa: E731
    times = interleaved({"square": lambda: _attack(model, x, y, "square"), "one": one}, repeats)
    rows.append(
        Row(
            "cat, untargeted: queries until the top-1 changes (Square)",
            _queries(square),
            "queries",
            _queries(simba),
            "SimBA-DCT",
            f"fooled within {BUDGET}",
            bool(square.success[0]),
        )
    )
    rows.append(
        Row(
            "cat, untargeted: Square attack, wall time",
            statistics.median(times["square"]) * 1000,
            "ms",
            statistics.median(times["one"]) * 1000,
            "one query (one forward)",
        )
    )
    breeds = _attack(model, x, y, "square", budget=cat_budget, eps=EPS_BREEDS, same_as=CAT_BREEDS)
    breeds_simba = _attack(
        model, x, y, "simba-dct", budget=cat_budget, eps=EPS_BREEDS, same_as=CAT_BREEDS
    )
    after = model.labels[int(breeds.probabilities[0].argmax())]
    verdict = "fooled" if breeds.success[0] else "not fooled"
    rows.append(
        Row(
            f"cat, no cat breed left at ε=16/255 (Square, {verdict}: top-1 {after}): queries",
            _queries(breeds),
            "queries",
            _queries(breeds_simba),
            "SimBA-DCT",
            f"≤ {cat_budget}",
            bool(breeds.success[0]),
        )
    )
    rows.append(
        Row(
            "cat, no cat breed left (Square): wall time",
            breeds.seconds,
            "s",
            breeds_simba.seconds,
            "SimBA-DCT",
        )
    )
    rows.append(_nes_row(model, x, y, max(repeats // 2, 1), nes_queries))
    return rows


def _nes_row(model, x, y, repeats: int, queries: int) -> Row:
    """NES on the cat with query_attack's default for large images (one image per call)
    against its probes batched (64 per call): same queries, seconds."""

    def run(max_batch: int | None):
        return _attack(model, x, y, "nes", budget=queries, max_batch=max_batch)

    default, batched = run(None), run(64)
    # Same queries; the images may differ: a batched forward rounds differently from a single
    # one, which can flip the sign of an estimated gradient component.
    same = torch.equal(default.queries, batched.queries)
    verdict = bool(default.success[0]) == bool(batched.success[0])
    times = interleaved({"default": lambda: run(None), "batched": lambda: run(64)}, repeats, 0)
    per_100 = {k: statistics.median(v) * 100 / int(default.queries[0]) for k, v in times.items()}
    return Row(
        f"numerical gradient (NES) on the cat, one query per call (the default at 224²): s per "
        f"100 queries (same queries: {same}, same verdict: {verdict})",
        per_100["default"],
        "s",
        per_100["batched"],
        "probes in batches of 64",
        "≤ batched, same queries",
        same and per_100["default"] <= per_100["batched"] * 1.05,
    )


# --------------------------------------------------------------------------- substitutes


def _digits():
    """The built-in 8×8 digits when fetched (training split), else a synthetic stand-in."""
    from advdemo.core.errors import ModelUnavailable
    from advdemo.models.checkpoints import BUILTIN

    try:
        from advdemo.adversarial.digits import load_uci_digits

        data = load_uci_digits(BUILTIN["digits"].path)
        return "digits", data.train_x, data.train_y
    except (ImportError, KeyError, ModelUnavailable):
        gen = torch.Generator().manual_seed(0)
        protos = (torch.rand(10, 1, 8, 8, generator=gen) > 0.6).float()
        y = torch.arange(1400) % 10
        x = protos[y] * (0.6 + 0.4 * torch.rand(len(y), 1, 1, 1, generator=gen))
        return "synthetic 8×8", (x + 0.15 * torch.randn(x.shape, generator=gen)).clamp(0, 1), y


def _mlp(gen: torch.Generator) -> torch.nn.Module:
    net = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(64, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * p.shape[-1] ** -0.5)
    return net


def _fit(net, x, y, epochs: int, seed: int) -> torch.nn.Module:
    """Adam on true labels, minibatches of 64, one go; returns net frozen, in eval mode."""
    from advdemo.models.runtime import single_thread

    gen = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    with single_thread():
        for _ in range(epochs):
            for idx in torch.randperm(len(x), generator=gen).split(64):
                optimiser.zero_grad(set_to_none=True)
                F.cross_entropy(net(x[idx]), y[idx]).backward()
                optimiser.step()
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def substitute_rows(repeats: int) -> list[Row]:
    from advdemo.adversarial.substitute import train_substitute, transfer_rates

    name, x, y = _digits()
    held_x, held_y, x, y = x[-300:], y[-300:], x[:-300], y[:-300]
    target = _fit(_mlp(torch.Generator().manual_seed(1)), x, y, 20, SEED + 1)
    ask = lambda images: target(images).argmax(-1)  # noqa: E731
    seeds = torch.cat([x[(y == c).nonzero()[:SUB_PER_CLASS, 0]] for c in range(10)])
    n = len(seeds) * 2 ** (SUB_ROUNDS - 1)
    epochs = 30

    def train():
        return train_substitute(ask, seeds, _mlp, rounds=SUB_ROUNDS, seed=SEED, epochs=epochs)

    # the substitute trains `epochs` per round on 100, 200, 400, 800 images: as many
    # minibatches as 56 epochs of 800 (plain_epochs), the baseline's share
    plain_epochs = epochs * sum(len(seeds) * 2**r for r in range(SUB_ROUNDS)) // n
    times = interleaved(
        {
            "substitute": train,
            "plain": lambda: _fit(
                _mlp(torch.Generator().manual_seed(SEED)), x[:n], y[:n], plain_epochs, SEED
            ),
        },
        repeats,
        warmup=1,
    )
    sub = train()
    report = transfer_rates(ask, [sub.net], held_x, held_y, eps=0.2, seed=SEED)
    u, t = report.rate("substitute 1", "untargeted"), report.rate("substitute 1", "targeted")
    return [
        Row(
            f"substitute on {name}: {SUB_ROUNDS} rounds, {sub.queries} label queries "
            f"(transfer at ε=0.2: untargeted {u:.0%}, targeted {t:.0%})",
            statistics.median(times["substitute"]),
            "s",
            statistics.median(times["plain"]),
            f"same MLP, {n} true labels, {plain_epochs} epochs",
            "untargeted > targeted",
            u > t,
        )
    ]


def measure(repeats: int = 5) -> list[Row]:
    return query_rows(repeats) + substitute_rows(repeats)


def main() -> None:
    print(format_table(measure(), "black-box attacks"))


if __name__ == "__main__":
    main()
