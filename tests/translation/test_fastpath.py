"""advdemo.translation.fastpath: which shapes are served compiled, and the real compiled path.

The compiled fast path costs 11-90 s of torch.compile per shape on this machine, so its real
accuracy check is the slow test at the bottom (run with ADVDEMO_SLOW_TESTS=1) and every run of
benchmarks/bench_cyclegan.py; the default run tests the dispatch rules with a stand-in.
"""

from __future__ import annotations

import os
import sys
import threading

import pytest
from PIL import Image

from advdemo.core import images
from advdemo.models import runtime
from advdemo.translation import cyclegan as cg
from advdemo.translation.fastpath import FAST_TOLERANCE, FastPath, canonical_shapes
from tests.translation.test_cyclegan import err, photo


@pytest.fixture
def fake_compiled(store):
    """A fast path whose compiled forward is a counting stand-in (eager plus a tiny offset):
    tests the dispatch rules without paying for torch.compile. Returns (generator, calls,
    offset)."""
    calls: list[tuple[int, ...]] = []
    offset = {"value": 0.001}
    model = store.translator(cg.BUILTIN)

    def compile_stand_in():
        def fn(x):
            calls.append(tuple(x.shape[-2:]))
            return model.translate(x) + offset["value"]

        return fn

    fast = FastPath(model, compile_stand_in, cg.BUILTIN)
    return cg.Generator(cg.BUILTIN, model, fast), calls, offset


def test_only_shapes_checked_at_warm_up_are_served_compiled(store, fake_compiled):
    generator, calls, _ = fake_compiled
    x = images.to_tensor(photo(96, 64))
    _, before = cg.generate(generator, x)
    assert before.path == "eager" and calls == []  # a user never triggers a compile

    reports = generator.fast.warm([(64, 96)], require_faster=False)
    assert reports[(64, 96)]["max_abs_diff"] == pytest.approx(0.001, abs=1e-4)
    calls.clear()
    y, after = cg.generate(generator, x)
    assert after.path == "compiled" and calls == [(64, 96)]
    assert err(y, store.translator(cg.BUILTIN).translate(x))[1] <= FAST_TOLERANCE

    calls.clear()
    _, other = cg.generate(generator, images.to_tensor(photo(64, 96)))  # not warmed
    assert other.path == "eager" and calls == []


def test_a_fast_path_that_drifts_is_never_served(fake_compiled):
    generator, _, offset = fake_compiled
    offset["value"] = 2 * FAST_TOLERANCE
    reports = generator.fast.warm([(64, 96)], require_faster=False)
    assert reports[(64, 96)]["ready"] == 0.0
    assert not generator.fast.ready((64, 96)) and generator.fast.ready_shapes() == []


def test_background_warm_up_runs_in_its_own_low_priority_thread(store):
    """The compile runs at BACKGROUND_NICENESS in a thread of its own (renicing a thread on
    Linux changes that thread only, and this one ends with the test)."""
    model = store.translator(cg.BUILTIN)
    seen: list[tuple[str, int]] = []
    release = threading.Event()

    def compile_stand_in():
        me = threading.current_thread()
        seen.append((me.name, os.getpriority(os.PRIO_PROCESS, me.native_id)))
        release.wait(60)
        return model.translate

    fast = FastPath(model, compile_stand_in, cg.BUILTIN)
    thread = fast.warm_in_background([(64, 96)], require_faster=False)
    assert thread is not threading.current_thread() and thread.daemon
    assert fast.warm_in_background([(64, 96)]) is thread  # while it runs: the same one
    release.set()
    thread.join(120)
    assert fast.ready_shapes() == [(64, 96)]
    assert seen[0][0] == "advdemo-cyclegan-compile"
    if sys.platform.startswith("linux"):
        assert seen[0][1] >= runtime.BACKGROUND_NICENESS
    here = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert here < runtime.BACKGROUND_NICENESS  # the caller's thread keeps its priority


def test_canonical_shapes_cover_every_example_at_256_and_512():
    shapes = canonical_shapes()
    for name in cg.EXAMPLES:
        with Image.open(images.asset(name)) as im:
            for side in (256, 512):
                w, h = cg.working_size(*im.size, side)
                assert (h, w) in shapes
    assert len(shapes) <= 8  # torch._dynamo's recompile limit per code object


SLOW = pytest.mark.skipif(
    not os.environ.get("ADVDEMO_SLOW_TESTS"),
    reason="torch.compile takes 11-90 s per shape here; set ADVDEMO_SLOW_TESTS=1",
)


@pytest.mark.slow
@SLOW
def test_compiled_path_matches_eager_and_serves_while_another_shape_compiles(offline_store):
    """The real thing: warm one shape, then compile a second in a background thread (as the
    app's warm-up does) while requests for the first are served compiled and requests for the
    second are served eager until it is ready. (A store of its own: nothing compiled before.)"""
    store = offline_store
    eager = store.translator(cg.BUILTIN)
    fast_path = FastPath(eager, lambda: store.compiled(cg.BUILTIN, bf16=True), cg.BUILTIN)
    generator = cg.Generator(cg.BUILTIN, eager, fast_path)
    first, second = (172, 256), (256, 256)
    reports = fast_path.warm([first], require_faster=False)
    print("fast path report", first, reports[first])  # compiled vs eager seconds, for the record
    assert reports[first]["max_abs_diff"] <= FAST_TOLERANCE
    x = images.to_tensor(photo(256, 172))
    fast, run = cg.generate(generator, x)
    assert run.path == "compiled"
    mean, worst = err(fast, eager.translate(x))
    assert worst <= FAST_TOLERANCE and mean <= 0.005, (mean, worst)

    warming = threading.Thread(
        target=fast_path.warm, args=([second],), kwargs={"require_faster": False}
    )
    warming.start()
    square = images.to_tensor(photo(256, 256))
    served = []
    while warming.is_alive() and len(served) < 20:
        y, run = cg.generate(generator, x)
        served.append(run.path)
        assert err(y, fast)[1] < 1e-6  # the same kernels, the same answer
        _, other = cg.generate(generator, square)
        assert other.path == "eager" or fast_path.ready(second)
    warming.join()
    assert served and set(served) == {"compiled"}
    assert cg.generate(generator, square)[1].path == "compiled"


def test_without_a_compiler_the_warm_up_stays_eager_quietly(store, monkeypatch, caplog):
    """A machine with only Python and pip has no C++ compiler for torch.compile: no attempt,
    no traceback in the log, every shape served eager."""
    monkeypatch.setattr(runtime, "can_compile", lambda: False)

    def must_not_compile():
        raise AssertionError("compiled without a compiler")

    fast = FastPath(store.translator(cg.BUILTIN), must_not_compile, cg.BUILTIN)
    with caplog.at_level("INFO", logger="advdemo.cyclegan"):
        fast.warm_in_background([(64, 96)]).join(30)
    assert fast.ready_shapes() == []
    assert "stays eager" in caplog.text and "Traceback" not in caplog.text
