"""Query-only (black-box) attacks: the attacker sees nothing but the target's output
probabilities, never its weights or gradients, and pays one query per image evaluated.

Usage (the tab hands in the model's probability function; nothing else of the model is used):

    from advdemo.adversarial.blackbox import query_attack
    result = query_attack(model.probabilities, x, label, eps=4 / 255, budget=1000, seed=0)
    result.success[0], result.queries[0], result.images      # fooled? queries spent, image
    result.success_curve()                                   # (queries, share fooled)
    result.margin_trace[0]                                   # margin after 1, 2, ... queries

Methods (METHODS; all L∞, every image queried lies in the ε-ball and in [0, 1]):
- "square": Square Attack (Andriushchenko et al., ECCV 2020, arXiv:1912.00049). Random
  squares of ±ε per channel, kept when they lower the margin; the square shrinks on a fixed
  schedule. The default: the fewest queries on real photos.
- "simba-dct" / "simba-pixel": SimBA (Guo et al., ICML 2019, arXiv:1905.07121). One basis
  direction at a time (a low-frequency 2-D cosine first, or a single pixel), tried as −ε, then
  +ε, kept when it lowers the margin.
- "nes": the lecture's numerical gradient. Coordinate-wise finite differences would cost two
  queries per pixel value (301,056 for one 224×224 gradient), so the gradient of the margin is
  estimated from n random Gaussian directions, antithetic pairs (Ilyas et al., ICML 2018,
  arXiv:1804.08598), and followed by a PGD sign step; the 2n probes of one estimate are
  independent, so they go to the target in one batch.

What the attack minimises is the margin in log-probabilities, which equals the margin of the
logits: untargeted, log p(label) − max over other classes; targeted, max over classes other
than the target − log p(target). The image is fooled when its margin is below 0.

Counting: every image handed to `probs_fn` is one query (a batch of 50 is 50 queries),
including the first look at the clean image; `budget` is per image and never exceeded. Several
images are attacked together by batching their queries: each keeps its own count, and image i
its own random draws (from the seed and i), so its result does not depend on the other images
in the batch; `max_batch` caps the images per call and changes no count (results agree up to
the float rounding of a batched forward, which on a real convnet can flip a step's decision).
Deterministic for a seed. The target is only called under torch.no_grad(): no gradient is ever
asked for.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral

import torch
from torch import Tensor

from advdemo.adversarial.base import check_eps, check_images, round_in_ball
from advdemo.core.errors import InputError, choice, whole
from advdemo.core.errors import seed as check_seed
from advdemo.models.runtime import single_thread

# images (N, C, H, W) in [0, 1] -> probabilities (N, classes); the ONLY access to the target.
ProbsFn = Callable[[Tensor], Tensor]
# What a long job tells the user: (done, total) or None for "busy", and a description
# (the same shape as advdemo.adversarial.playground.Progress).
Progress = Callable[[tuple[int, int] | None, str], None]
StopFn = Callable[[], bool]

METHODS: dict[str, str] = {
    "square": "Square Attack (random squares)",
    "simba-dct": "SimBA, low-frequency cosines",
    "simba-pixel": "SimBA, single pixels",
    "nes": "numerical gradient (random finite differences)",
}
MAX_BUDGET = 10_000  # queries per image the app accepts
MAX_BATCH = 64  # images per call to the target, by default, for small images
NES_SAMPLES = 20  # antithetic pairs per gradient estimate: 40 queries
NES_SIGMA = 1e-3  # probe size of the finite differences, in pixel units
SMALL_IMAGE = 64 * 64  # values per image up to which the attack runs on one OpenMP thread
SQUARE_P_INIT = 0.05  # first square covers 5 % of the image (the paper's value for ImageNet)
_LOG_FLOOR = 1e-45  # probabilities below this count as this (float32's smallest)


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class QueryAttackResult:
    """What a query attack returns, per image of the batch (B images).

    images: (B, C, H, W) the best image found for each (the clean one if nothing helped);
    success: (B,) bool, the target is fooled by `images`;
    queries: (B,) long, queries spent on each image (≤ budget);
    queries_to_success: (B,) long, the query count at which each image was first fooled, −1
        where it never was;
    margin_trace: (B, Q) float, Q = max(queries): column q − 1 is the best margin after q
        queries (carried on after an image's attack ended); below 0 = fooled;
    probabilities: (B, classes) the target's output on `images` (from its queries: no extra);
    stopped: should_stop() ended the attack early; calls: how many times probs_fn was called;
    seconds: wall time of the attack.
    """

    method: str
    eps: float
    budget: int
    images: Tensor
    success: Tensor
    queries: Tensor
    queries_to_success: Tensor
    margin_trace: Tensor
    probabilities: Tensor
    stopped: bool
    calls: int
    seconds: float

    def success_curve(self) -> tuple[Tensor, Tensor]:
        """(queries (Q,) = 1..Q, share of the B images fooled within that many queries (Q,))."""
        q = torch.arange(1, self.margin_trace.shape[1] + 1)
        hit = self.queries_to_success
        fooled = (hit[:, None] >= 0) & (hit[:, None] <= q[None, :])
        return q, fooled.float().mean(0)


# --------------------------------------------------------------------------- checks


def check_budget(budget: object) -> int:
    return whole("query budget", budget, 1, MAX_BUDGET)


def check_method(method: object) -> str:
    return choice("method", method, list(METHODS))


def _labels(value: object, n: int, name: str) -> Tensor:
    """An int or (B,) tensor of class indices -> a (B,) long CPU tensor."""
    if isinstance(value, Tensor):
        labels = value.detach().to("cpu", torch.long).reshape(-1)
        if labels.numel() == 1 and n > 1:
            labels = labels.expand(n).clone()
    elif isinstance(value, Integral) and not isinstance(value, bool):
        labels = torch.full((n,), int(value), dtype=torch.long)
    else:
        raise InputError(f"{name} must be a class index or a tensor of them, got {value!r}.")
    if labels.shape[0] != n:
        raise InputError(f"{name} has {labels.shape[0]} labels for {n} images.")
    return labels


# --------------------------------------------------------------------------- the oracle


class _Oracle:
    """The target behind a counter: evaluates candidates for given images, refuses to go over
    any image's budget, keeps each image's best margin, image and trace."""

    def __init__(
        self,
        probs_fn: ProbsFn,
        x: Tensor,
        label: Tensor,
        target: Tensor | None,
        budget: int,
        max_batch: int,
    ) -> None:
        self.probs_fn, self.x, self.label, self.target = probs_fn, x, label, target
        self.same_as: list[int] = []  # untargeted: classes that count as the label too
        self.budget, self.max_batch = budget, max_batch
        b = x.shape[0]
        self.queries = torch.zeros(b, dtype=torch.long)
        self.hit = torch.full((b,), -1, dtype=torch.long)
        self.trace = torch.full((b, budget), float("nan"))
        self.best = x.clone()
        self.best_margin = torch.full((b,), float("inf"), dtype=torch.float64)
        self.best_probs: Tensor | None = None
        self.calls = 0

    def left(self) -> Tensor:
        """Queries each image may still spend (B,)."""
        return self.budget - self.queries

    def done(self) -> Tensor:
        """(B,) bool: fooled or out of budget."""
        return (self.best_margin < 0) | (self.queries >= self.budget)

    def _probs(self, images: Tensor) -> Tensor:
        chunks = []
        with torch.no_grad():
            for start in range(0, images.shape[0], self.max_batch):
                part = images[start : start + self.max_batch]
                out = self.probs_fn(part)
                self.calls += 1
                if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[0] != len(part):
                    shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                    raise TypeError(
                        f"probs_fn must map {len(part)} images to ({len(part)}, classes) "
                        f"probabilities; it returned {shape}."
                    )
                chunks.append(out.detach().to("cpu", torch.float64))
        probs = torch.cat(chunks)
        if not torch.isfinite(probs).all() or probs.min() < 0 or probs.max() > 1 + 1e-4:
            raise TypeError("probs_fn must return probabilities in [0, 1] (a softmax), not logits.")
        return probs

    def margins(self, probs: Tensor, which: Tensor) -> Tensor:
        """The margin of each row of `probs`, row r belonging to image which[r]."""
        logp = probs.clamp_min(_LOG_FLOOR).log()
        own_class = self.label[which] if self.target is None else self.target[which]
        own = torch.zeros_like(logp, dtype=torch.bool)
        own[torch.arange(len(which)), own_class] = True
        if self.target is None and self.same_as:
            own[:, self.same_as] = True
        mine = logp.masked_fill(~own, -math.inf).amax(1)
        others = logp.masked_fill(own, -math.inf).amax(1)
        return mine - others if self.target is None else others - mine

    def probe(self, images: Tensor, which: Tensor) -> Tensor:
        """Margins of candidate `images` (k, ...) for images `which` (k,), counted; no update
        of the best (the probes of a gradient estimate)."""
        per_image = torch.bincount(which, minlength=len(self.queries))
        if (per_image > self.left()).any():
            raise RuntimeError("a query attack tried to go over its budget")  # a bug, not input
        margins = self.margins(self._probs(images), which)
        self.queries += per_image
        return margins

    def offer(self, images: Tensor, which: Tensor, *, always: bool = False) -> Tensor:
        """Query one candidate per image in `which` (distinct), keep it where its margin is
        lower than the image's best (or `always`); returns the (k,) bool accepted mask."""
        if (self.left()[which] < 1).any():
            raise RuntimeError("a query attack tried to go over its budget")
        return self.take(images, which, self._probs(images), always)

    def take(self, images: Tensor, which: Tensor, probs: Tensor, always: bool) -> Tensor:
        """offer()'s bookkeeping, on probabilities already queried for `images`."""
        margin = self.margins(probs, which)
        self.queries[which] += 1
        accept = (margin < self.best_margin[which]) | always
        chosen = which[accept]
        self.best[chosen] = images[accept].to(self.best.dtype)
        self.best_margin[chosen] = margin[accept]
        if self.best_probs is None:
            self.best_probs = torch.zeros(len(self.queries), probs.shape[1], dtype=torch.float64)
        self.best_probs[chosen] = probs[accept]
        self.record(which)
        return accept

    def record(self, which: Tensor) -> None:
        """Note the best margin of images `which` at their current query count; note success."""
        q = self.queries[which]
        self.trace[which, q - 1] = self.best_margin[which].float()
        newly = (self.best_margin[which] < 0) & (self.hit[which] < 0)
        self.hit[which[newly]] = q[newly]

    def filled_trace(self) -> Tensor:
        """The trace up to the largest count, each gap holding the margin before it."""
        trace = self.trace[:, : max(int(self.queries.max()), 1)]
        known = ~torch.isnan(trace)
        index = torch.where(known, torch.arange(trace.shape[1]), 0).cummax(1).values
        return trace.gather(1, index)


# --------------------------------------------------------------------------- the attack


def query_attack(
    probs_fn: ProbsFn,
    image: Tensor,
    label: Tensor | int,
    *,
    eps: float,
    budget: int,
    seed: int,
    method: str = "square",
    target: Tensor | int | None = None,
    same_as: Sequence[int] = (),
    progress: Progress | None = None,
    should_stop: StopFn | None = None,
    quantize: bool = False,
    max_batch: int | None = None,
    nes_samples: int = NES_SAMPLES,
) -> QueryAttackResult:
    r"""Attack `image` through `probs_fn` alone, spending at most `budget` queries per image.

    Args:
        probs_fn: images (N, C, H, W) in [0, 1] -> probabilities (N, classes); the only access
            to the target (e.g. ImageClassifier.probabilities). Called under torch.no_grad().
        image: (C, H, W) or (B, C, H, W) in [0, 1]; 3 channels or 1 (the 8×8 digits).
        label: the true class (int, or (B,) tensor): untargeted, the class to move away from.
        eps: L∞ budget in pixel units, 0 ≤ eps ≤ 64/255 (the playground's default is 4/255).
        budget: queries per image, 1..10,000, including the first look at the clean image.
        seed: seeds every random draw (0..2³²−1); the same seed gives the same result.
        method: a key of METHODS ("square", "simba-dct", "simba-pixel", "nes").
        target: class(es) to move toward instead (targeted); None = untargeted.
        same_as: untargeted only: classes that count as the label too, e.g. every cat breed
            (281..285 in ImageNet), so "fooled" means no longer any of them, not tiger cat
            → Egyptian cat (the cat photo's top two are 38 % and 37 %). Measured on Lite0 with
            Square: away from tiger cat at 4/255 in 2 queries; away from every breed, not
            within 1,000 queries at 4/255, 68 queries at 16/255.
        progress: called as progress((queries spent, budget), text) now and then.
        should_stop: polled once per round; when it returns True the attack ends and returns
            the best images so far (result.stopped is True).
        quantize: round every queried image to the 8-bit grid inside the ball (use eps = k/255).
        max_batch: most images per call to probs_fn (no count depends on it); None: 64 for
            small images (≤ 64×64 values: the digits), 1 for larger ones (measured on
            EfficientNet-Lite0 at 224², 2 cores: 30 ms a query one at a time, 60 ms in
            batches of 40).
        nes_samples: antithetic pairs per gradient estimate of "nes" (1..500).

    Returns a QueryAttackResult. Raises InputError for a bad eps, budget, seed, method, label,
    target (out of range, or the label itself) or image.
    """
    started = time.perf_counter()
    method = check_method(method)
    eps = check_eps(eps)
    budget = check_budget(budget)
    seed = check_seed("seed", seed)
    if max_batch is not None:
        max_batch = whole("max_batch", max_batch, 1, 4096)
    nes_samples = whole("NES samples", nes_samples, 1, 500)
    x = image.unsqueeze(0) if isinstance(image, Tensor) and image.dim() == 3 else image
    check_images(x)
    x = x.detach()
    b = x.shape[0]
    if max_batch is None:
        max_batch = MAX_BATCH if x[0].numel() <= SMALL_IMAGE else 1
    y = _labels(label, b, "label")
    t = None if target is None else _labels(target, b, "target")
    if t is not None and (t == y).any():
        raise InputError("The target class is the true class: pick a different target.")
    oracle = _Oracle(probs_fn, x, y, t, budget, max_batch)
    if same_as and t is not None:
        raise InputError("same_as is for untargeted attacks: a targeted one has its target.")
    oracle.same_as = [_class_index(c, "same_as") for c in same_as]
    report = progress or (lambda done, text: None)
    stop = should_stop or (lambda: False)
    name = METHODS[method]
    report((0, budget), f"{name}: first look at the image")
    # Small images (the digits): tiny tensors, where a second OpenMP thread only waits.
    threads = single_thread() if x[0].numel() <= SMALL_IMAGE else contextlib.nullcontext()
    with threads:
        _first_look(oracle, x, y, t)
        stopped = False
        if eps > 0 and not oracle.done().all():
            run = {"square": _square, "nes": _nes}.get(method, _simba)
            stopped = run(oracle, x, eps, seed, method, quantize, nes_samples, report, stop, name)
    probs = oracle.best_probs.float()
    return QueryAttackResult(
        method=method,
        eps=eps,
        budget=budget,
        images=oracle.best,
        success=oracle.best_margin < 0,
        queries=oracle.queries.clone(),
        queries_to_success=oracle.hit.clone(),
        margin_trace=oracle.filled_trace(),
        probabilities=probs,
        stopped=stopped,
        calls=oracle.calls,
        seconds=time.perf_counter() - started,
    )


def _class_index(value: object, name: str) -> int:
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 0:
        raise InputError(f"{name} must hold class indices, got {value!r}.")
    return int(value)


def _first_look(oracle: _Oracle, x: Tensor, y: Tensor, t: Tensor | None) -> None:
    """Query the clean images (one query each, kept as the start) and check the labels
    against the number of classes the target answers with."""
    probs = oracle._probs(x)
    classes = probs.shape[1]
    extra = torch.tensor(oracle.same_as, dtype=torch.long)
    for name, labels in (("label", y), ("target", t), ("same_as", extra)):
        if labels is not None and ((labels < 0) | (labels >= classes)).any():
            bad = int(labels[(labels < 0) | (labels >= classes)][0])
            raise InputError(f"{name} {bad} is not a class of this model (0..{classes - 1}).")
    oracle.take(x, torch.arange(x.shape[0]), probs, always=True)


def _ball(candidate: Tensor, x: Tensor, eps: float, quantize: bool) -> Tensor:
    """Clamp to the ε-ball around x and to [0, 1] (and the 8-bit grid inside both)."""
    candidate = torch.minimum(torch.maximum(candidate, x - eps), x + eps).clamp(0, 1)
    return round_in_ball(candidate, x, eps) if quantize else candidate


def _tell(report: Progress, oracle: _Oracle, name: str) -> None:
    fooled = int((oracle.best_margin < 0).sum())
    n = len(oracle.queries)
    spent = int(oracle.queries.max())
    what = "fooled" if n == 1 and fooled else f"{fooled}/{n} fooled" if n > 1 else "not yet fooled"
    report((spent, oracle.budget), f"{name}: {spent}/{oracle.budget} queries, {what}")


class _Pacer:
    """Reports progress about a hundred times per attack and polls should_stop every round."""

    def __init__(self, report: Progress, stop: StopFn, oracle: _Oracle, name: str) -> None:
        self.report, self.stop, self.oracle, self.name = report, stop, oracle, name
        self.last = -1

    def stopped(self) -> bool:
        step = int(self.oracle.queries.max()) * 100 // self.oracle.budget
        if step != self.last:
            self.last = step
            _tell(self.report, self.oracle, self.name)
        return bool(self.stop())


# --------------------------------------------------------------------------- Square Attack


def _square_fraction(p_init: float, spent: int, budget: int) -> float:
    """The paper's schedule: the square's share of the image halves at fixed points of a
    10,000-query run, scaled to this budget."""
    i = int(spent / budget * 10_000)
    for point, share in (
        (8000, 512),
        (6000, 256),
        (4000, 128),
        (2000, 64),
        (1000, 32),
        (500, 16),
        (200, 8),
        (50, 4),
        (10, 2),
    ):
        if i > point:
            return p_init / share
    return p_init


def _square(oracle, x, eps, seed, method, quantize, nes_samples, report, stop, name) -> bool:
    b, c, h, w = x.shape
    gens = [torch.Generator().manual_seed(seed + 7919 * i) for i in range(b)]
    pacer = _Pacer(report, stop, oracle, name)
    # Start: vertical stripes of ±ε (one sign per channel and column), always taken.
    active = (~oracle.done()).nonzero()[:, 0]
    stripes = torch.stack([_signs((c, 1, w), g) for g in gens]).to(x)
    oracle.offer(
        _ball(x[active] + eps * stripes[active], x[active], eps, quantize), active, always=True
    )
    rows, cols = torch.arange(h).view(1, 1, h, 1), torch.arange(w).view(1, 1, 1, w)
    while not oracle.done().all():
        if pacer.stopped():
            return True
        active = (~oracle.done()).nonzero()[:, 0]
        spent = int(oracle.queries[active].min())
        share = _square_fraction(SQUARE_P_INIT, spent, oracle.budget)
        side = min(max(round(math.sqrt(share * h * w)), 1), max(h - 1, 1))
        # One draw per image and round, from that image's own generator: corner and signs.
        draws = torch.stack([torch.rand(2 + c, generator=gens[i]) for i in active.tolist()])
        top = (draws[:, 0] * (h - side + 1)).long().clamp(max=h - side).view(-1, 1, 1, 1)
        left = (draws[:, 1] * (w - side + 1)).long().clamp(max=w - side).view(-1, 1, 1, 1)
        signs = torch.where(draws[:, 2:] < 0.5, -1.0, 1.0).view(-1, c, 1, 1).to(x)
        window = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
        current, x0 = oracle.best[active], x[active]
        proposal = _ball(x0 + eps * signs, x0, eps, quantize)
        unchanged = ((proposal - current).abs() < 1e-7) | ~window
        # A square that would change nothing takes the opposite signs (the paper redraws).
        same = unchanged.flatten(1).all(1).view(-1, 1, 1, 1)
        proposal = torch.where(same, _ball(x0 - eps * signs, x0, eps, quantize), proposal)
        oracle.offer(torch.where(window, proposal, current), active)
    return False


def _signs(shape: tuple[int, ...], gen: torch.Generator) -> Tensor:
    return torch.randint(0, 2, shape, generator=gen).float() * 2 - 1


# --------------------------------------------------------------------------- SimBA


def _directions(shape: tuple[int, int, int], seed: int, rounds: int, dct: bool) -> Tensor:
    """The order SimBA visits directions in, pass `rounds`: indices into (C, H, W). Pixels in a
    seeded random order; cosines by frequency band (max(u, v) in bands of H/8, lowest
    first), in a seeded random order within each band."""
    c, h, w = shape
    gen = torch.Generator().manual_seed(seed + 104729 * rounds)
    n = c * h * w
    if not dct:
        return torch.randperm(n, generator=gen)
    u = torch.arange(h).view(1, h, 1).expand(c, h, w)
    v = torch.arange(w).view(1, 1, w).expand(c, h, w)
    band = (torch.maximum(u * 8 // h, v * 8 // w)).reshape(-1)
    shuffled = torch.randperm(n, generator=gen)
    order = torch.argsort(band[shuffled], stable=True)
    return shuffled[order]


def _cosines(size: int) -> Tensor:
    """(size, size): row k is the k-th DCT-II cosine over `size` pixels, peak 1."""
    i = torch.arange(size).float()
    return torch.cos(
        math.pi * (2 * i[None, :] + 1) * torch.arange(size).float()[:, None] / (2 * size)
    )


def _simba(oracle, x, eps, seed, method, quantize, nes_samples, report, stop, name) -> bool:
    b, c, h, w = x.shape
    dct = method == "simba-dct"
    n = c * h * w
    cos_h, cos_w = (_cosines(h), _cosines(w)) if dct else (None, None)
    position = torch.zeros(b, dtype=torch.long)  # how many directions each image has tried
    plus = torch.zeros(b, dtype=torch.bool)  # the −ε try of the current direction failed
    orders: dict[int, Tensor] = {}
    pacer = _Pacer(report, stop, oracle, name)
    while not oracle.done().all():
        if pacer.stopped():
            return True
        active = (~oracle.done()).nonzero()[:, 0]
        rounds = position[active] // n
        index = torch.empty_like(rounds)
        for r in rounds.unique().tolist():
            if r not in orders:
                orders[r] = _directions((c, h, w), seed, r, dct)
            chosen = rounds == r
            index[chosen] = orders[r][position[active][chosen] % n]
        ch, u, v = index // (h * w), index // w % h, index % w
        if dct:
            basis = cos_h[u][:, :, None] * cos_w[v][:, None, :]  # (k, H, W)
        else:
            basis = torch.zeros(len(active), h, w)
            basis[torch.arange(len(active)), u, v] = 1.0
        onehot = torch.nn.functional.one_hot(ch, c).float().view(-1, c, 1, 1)
        step = (basis[:, None] * onehot).to(x) * eps
        sign = torch.where(plus[active], 1.0, -1.0).view(-1, 1, 1, 1).to(x)
        current, x0 = oracle.best[active], x[active]
        accepted = oracle.offer(_ball(current + sign * step, x0, eps, quantize), active)
        move_on = accepted | plus[active]
        position[active[move_on]] += 1
        plus[active] = ~move_on
    return False


# --------------------------------------------------------------------------- NES


def _nes(oracle, x, eps, seed, method, quantize, nes_samples, report, stop, name) -> bool:
    b = x.shape[0]
    gens = [torch.Generator().manual_seed(seed + 7919 * i) for i in range(b)]
    step = max(eps / 4, 1 / 255) if eps >= 1 / 255 else eps
    pacer = _Pacer(report, stop, oracle, name)
    current = oracle.best.clone()  # PGD's iterate (the best one is kept apart)
    while not oracle.done().all():
        if pacer.stopped():
            return True
        active = (~oracle.done()).nonzero()[:, 0]
        # Images that cannot afford a whole estimate and a step spend what is left on probes.
        pairs = ((oracle.left()[active] - 1) // 2).clamp(max=nes_samples)
        noise = [torch.randn((nes_samples, *x.shape[1:]), generator=gens[i]) for i in active]
        probes, owner = [], []
        for k, i in enumerate(active.tolist()):
            if int(pairs[k]) == 0:
                continue
            u = noise[k][: int(pairs[k])].to(x)
            probes += [current[i] + NES_SIGMA * u, current[i] - NES_SIGMA * u]
            owner += [i] * (2 * int(pairs[k]))
        if not probes:  # one query left each: spend it on the current iterate
            oracle.offer(current[active], active)
            continue
        batch = torch.cat(probes).clamp(0, 1)
        which = torch.tensor(owner)
        margins = oracle.probe(batch, which)
        stepping = active[pairs > 0]
        start = 0
        for k, i in enumerate(active.tolist()):
            m = int(pairs[k])
            if m == 0:
                continue
            plus_m = margins[start : start + m]
            minus_m = margins[start + m : start + 2 * m]
            start += 2 * m
            diff = (plus_m - minus_m).float().view(-1, *[1] * (x.dim() - 1))
            grad = (diff * noise[k][:m].to(x)).sum(0)  # ∝ the margin's gradient
            current[i] = _ball(current[i] - step * grad.sign(), x[i], eps, quantize)
        oracle.offer(current[stepping], stepping)
    return False
