"""The shared result cache: keys by content, one computation per key however many ask at once,
bounded by bytes, failures not kept."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from advdemo.core import cache
from advdemo.core.cache import ResultCache, approx_bytes, content_key


def photo(value: int = 100) -> Image.Image:
    return Image.new("RGB", (8, 6), (value, 50, 200))


def test_keys_differ_for_images_one_pixel_apart_and_match_for_equal_pixels():
    a, b = photo(), photo()
    assert content_key(a) == content_key(b)  # two objects, same content
    b.putpixel((7, 5), (100, 50, 201))  # one channel of one pixel, by one grey level
    assert content_key(a) != content_key(b)
    assert content_key(a) != content_key(a.convert("RGBA"))  # same pixels, another mode
    assert content_key(photo().resize((6, 8))) != content_key(photo())


def test_keys_tell_types_values_order_and_nesting_apart():
    keys = [
        content_key(1),
        content_key(1.0),
        content_key("1"),
        content_key(True),
        content_key(None),
        content_key((1, 2)),
        content_key((2, 1)),
        content_key(((1, 2),)),
        content_key("ab", "c"),
        content_key("a", "bc"),
        content_key(0.001),
        content_key(0.0010000000000000002),
        content_key({"a": 1}),
        content_key({"a": 2}),
        content_key(torch.zeros(2, 3)),
        content_key(torch.zeros(3, 2)),
        content_key(torch.zeros(2, 3, dtype=torch.float64)),
        content_key(np.zeros((2, 3), np.float32)),
    ]
    assert len(set(keys)) == len(keys)
    assert content_key(torch.tensor([1.0, 2.0])) == content_key(torch.tensor([1.0, 2.0]))
    t = torch.tensor([1.0, 2.0])
    u = t.clone()
    u[1] = torch.nextafter(u[1], torch.tensor(3.0))  # the smallest change a float32 can make
    assert content_key(t) != content_key(u)


def test_unknown_types_are_refused_rather_than_guessed():
    with pytest.raises(TypeError, match="object"):
        content_key(object())


def test_a_result_is_computed_once_then_served():
    c = ResultCache()
    calls = []
    assert c.get("k", lambda: calls.append(1) or "v") == "v"
    assert c.get("k", lambda: calls.append(1) or "w") == "v"
    assert calls == [1]
    assert (c.stats().hits, c.stats().computed) == (1, 1)


def test_100_concurrent_identical_requests_cost_one_computation():
    c = ResultCache()
    calls = []
    waiting = threading.Event()

    def compute():
        calls.append(threading.current_thread().name)
        # hold the flight open until the other 99 have joined it (bounded: fails, not hangs)
        deadline = time.monotonic() + 30
        while c.stats().joined < 99 and time.monotonic() < deadline:
            time.sleep(0.005)
        waiting.set()
        return {"answer": 42}

    results = [None] * 100
    start = threading.Barrier(100)

    def user(i):
        start.wait()
        results[i] = c.get("preset", compute)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert waiting.is_set()
    assert len(calls) == 1
    assert all(r is results[0] for r in results) and results[0] == {"answer": 42}
    stats = c.stats()
    assert (stats.computed, stats.joined, stats.hits) == (1, 99, 0)


def test_a_failure_reaches_every_waiter_of_its_flight_and_is_not_kept():
    c = ResultCache()
    started, release = threading.Event(), threading.Event()

    def fail():
        started.set()
        release.wait(10)
        raise ValueError("bad photo")

    errors = []

    def ask(compute):
        try:
            c.get("k", compute)
        except ValueError as exc:
            errors.append(str(exc))

    leader = threading.Thread(target=ask, args=(fail,))
    leader.start()
    assert started.wait(10)
    follower = threading.Thread(target=ask, args=(lambda: "never run",))
    follower.start()
    deadline = time.monotonic() + 10
    while c.stats().joined < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    release.set()
    leader.join(10)
    follower.join(10)
    assert errors == ["bad photo", "bad photo"]
    assert len(c) == 0
    assert c.get("k", lambda: "fine now") == "fine now"  # the next request tries again


def test_an_invalid_kept_result_is_computed_again():
    c = ResultCache()
    c.get("k", lambda: {"file": "gone"})
    fresh = c.get("k", lambda: {"file": "new"}, valid=lambda v: v["file"] != "gone")
    assert fresh == {"file": "new"}
    assert c.peek("k") == {"file": "new"}


def test_the_byte_budget_drops_the_least_recently_used_first():
    one = approx_bytes(photo())
    c = ResultCache(max_bytes=3 * one)
    for k in "abc":
        c.get(k, photo)
    c.get("a", lambda: pytest.fail("a is kept"))  # a becomes the most recent
    c.get("d", photo)  # over budget: b, the least recent, goes
    assert c.peek("b") is None and all(c.peek(k) is not None for k in "acd")
    assert c.stats().bytes <= 3 * one and c.stats().evicted == 1
    big = Image.new("RGB", (64, 64))
    assert c.get("big", lambda: big) is big  # larger than the budget: handed back, not kept
    assert c.peek("big") is None and len(c) == 3


def test_sizes_count_pixels_and_storage():
    assert approx_bytes(Image.new("RGB", (100, 100))) >= 30_000
    assert approx_bytes(torch.zeros(1000)) >= 4000
    assert approx_bytes(("x" * 1000, [np.zeros(500)])) >= 5000


def test_zero_megabytes_in_the_environment_turns_keeping_off(monkeypatch):
    monkeypatch.setenv(cache.MAX_MB_ENV, "0")
    c = ResultCache()
    c.get("k", lambda: "v")
    assert len(c) == 0
    monkeypatch.setenv(cache.MAX_MB_ENV, "not a number")
    assert cache.default_max_bytes() == cache.DEFAULT_MAX_MB << 20


def test_a_store_has_one_shared_cache():
    class Store:
        def __init__(self):
            self.kept = {}

        def derived(self, key, make):
            return self.kept.setdefault(key, make())

    s = Store()
    assert cache.shared(s) is cache.shared(s)
    assert cache.shared(Store()) is not cache.shared(s)


def test_a_stream_yields_first_answers_to_its_computer_and_the_whole_result_to_the_rest():
    c = ResultCache()
    runs = []

    def stages():
        runs.append(1)
        yield "first answer"
        yield "whole result"

    assert list(c.stream("k", stages)) == ["first answer", "whole result"]
    assert list(c.stream("k", stages)) == ["whole result"]  # a hit: the kept, whole result
    assert runs == [1] and c.peek("k") == "whole result"


def test_a_stream_waiter_gets_the_whole_result_of_the_running_computation():
    c = ResultCache()
    first_out, release = threading.Event(), threading.Event()

    def stages():
        yield "first"
        first_out.set()
        release.wait(10)
        yield "whole"

    seen = {}
    leader = threading.Thread(target=lambda: seen.setdefault("leader", list(c.stream("k", stages))))
    leader.start()
    assert first_out.wait(10)
    waiter = threading.Thread(target=lambda: seen.setdefault("waiter", list(c.stream("k", stages))))
    waiter.start()
    deadline = time.monotonic() + 10
    while c.stats().joined < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    release.set()
    leader.join(10)
    waiter.join(10)
    assert seen == {"leader": ["first", "whole"], "waiter": ["whole"]}
    assert c.stats().computed == 1


def test_when_the_computing_user_leaves_a_waiter_computes_it_instead():
    c = ResultCache()
    closed = threading.Event()
    runs = []

    def stages():
        runs.append(1)
        try:
            yield "first"
            yield "whole"
        finally:
            closed.set()

    leaving = c.stream("k", stages)
    assert next(leaving) == "first"
    result = {}
    waiter = threading.Thread(target=lambda: result.setdefault("got", list(c.stream("k", stages))))
    waiter.start()
    deadline = time.monotonic() + 10
    while c.stats().joined < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    leaving.close()  # the first user left after the first answer
    assert closed.wait(10)  # its computation was closed, not left hanging
    waiter.join(10)
    assert result["got"] == ["first", "whole"] and len(runs) == 2
    assert c.peek("k") == "whole"


def test_known_means_kept_and_valid_or_being_computed():
    c = ResultCache()
    assert not c.known("k")
    c.get("k", lambda: "v")
    assert c.known("k") and not c.known("k", valid=lambda v: False)
    stream = c.stream("s", lambda: iter(["first", "whole"]))
    next(stream)
    assert c.known("s")  # in flight
    list(stream)
    assert c.known("s")
