"""Results computed once: a byte-bounded cache shared by every session, with single flight.

In a lecture a hundred students press the same preset within seconds. Whatever is a pure
function of (model, input content, parameters), an attack on the cat or a translation of an
example photo, is computed by the first request and served to the others from here.

- The key is a content hash (`content_key`): the decoded pixels of every image, the values of
  every tensor and every parameter, each tagged with its type, so two inputs that differ in one
  pixel or in one parameter never share an entry; a file name or upload path never enters it.
- Single flight: while one thread computes a key, the others asking for the same key wait for
  that one result instead of computing it again (100 identical requests, one computation).
  A failure is handed to the waiters of that flight and not kept.
- Bounded by bytes (`approx_bytes` of each result), least recently used out first; a result
  larger than the whole budget is handed back and not kept.

Knows nothing of models or Gradio; `shared(store)` finds a model store's one cache through its
`derived` method, so every tab of an app shares it and tests get their own with their store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from PIL import Image

DEFAULT_MAX_MB = 256  # ~400 attack reports or ~500 translations at 256 px
MAX_MB_ENV = "ADVDEMO_RESULT_CACHE_MB"


# --------------------------------------------------------------------------- keys


def content_key(*parts: object) -> str:
    """A sha256 over `parts`: images by mode, size and pixels; tensors and arrays by dtype,
    shape and values; numbers, strings, None and bools by type and value; sequences and
    mappings element by element. Anything else is refused (TypeError) rather than guessed."""
    h = hashlib.sha256()
    for part in parts:
        _feed(h, part)
    return h.hexdigest()


def _tag(h, tag: bytes, payload: bytes = b"") -> None:
    h.update(tag)
    h.update(struct.pack("<Q", len(payload)))
    h.update(payload)


def _feed(h, value: object) -> None:
    if value is None or isinstance(value, bool):
        _tag(h, b"c", repr(value).encode())
    elif isinstance(value, int):
        _tag(h, b"i", str(value).encode())
    elif isinstance(value, float):
        _tag(h, b"f", value.hex().encode())
    elif isinstance(value, str):
        _tag(h, b"s", value.encode("utf-8", "surrogatepass"))
    elif isinstance(value, bytes):
        _tag(h, b"b", value)
    elif isinstance(value, Image.Image):
        _tag(h, b"I", f"{value.mode}:{value.size}".encode())
        _tag(h, b"p", value.tobytes())
    elif isinstance(value, torch.Tensor):
        t = value.detach().to("cpu").contiguous()
        _tag(h, b"T", f"{t.dtype}:{tuple(t.shape)}".encode())
        _tag(h, b"p", t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(value, np.ndarray):
        a = np.ascontiguousarray(value)
        _tag(h, b"A", f"{a.dtype.str}:{a.shape}".encode())
        _tag(h, b"p", a.tobytes())
    elif isinstance(value, tuple | list):
        _tag(h, b"(", str(len(value)).encode())
        for item in value:
            _feed(h, item)
    elif isinstance(value, Mapping):
        _tag(h, b"{", str(len(value)).encode())
        for k in sorted(value, key=repr):
            _feed(h, k)
            _feed(h, value[k])
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _tag(h, b"D", type(value).__qualname__.encode())
        for f in dataclasses.fields(value):
            _feed(h, f.name)
            _feed(h, getattr(value, f.name))
    else:
        raise TypeError(f"content_key cannot hash a {type(value).__name__}")


# --------------------------------------------------------------------------- sizes


def approx_bytes(value: object) -> int:
    """About how much memory `value` holds: pixels of images, storage of tensors and arrays,
    lengths of strings, sums over containers and dataclasses; anything else by its pickle."""
    if value is None or isinstance(value, bool | int | float):
        return 16
    if isinstance(value, str | bytes):
        return 64 + len(value)
    if isinstance(value, Image.Image):
        return 256 + value.width * value.height * len(value.getbands())
    if isinstance(value, torch.Tensor):
        return 128 + value.numel() * value.element_size()
    if isinstance(value, np.ndarray):
        return 128 + value.nbytes
    if isinstance(value, tuple | list):
        return 64 + sum(approx_bytes(v) for v in value)
    if isinstance(value, Mapping):
        return 64 + sum(approx_bytes(k) + approx_bytes(v) for k, v in value.items())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return 64 + sum(approx_bytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    try:
        return 64 + len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # unpicklable: count it as large rather than free
        return 1 << 20


# --------------------------------------------------------------------------- the cache


class _Abandoned(Exception):
    """The computing consumer of a stream stopped before its end (a user left)."""


_ABANDONED = _Abandoned()
_NOTHING = object()


class _Flight:
    """One computation in progress: the threads waiting for it, then its value or error."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


@dataclasses.dataclass
class CacheStats:
    hits: int = 0  # answered from the cache
    joined: int = 0  # waited for another thread's computation of the same key
    computed: int = 0  # computations run (misses)
    evicted: int = 0
    entries: int = 0
    bytes: int = 0


class ResultCache:
    """Byte-bounded LRU of computed results, thread-safe, one computation per key at a time.

    Values are shared between callers: they must not be changed after they are returned.
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes if max_bytes is not None else default_max_bytes()
        self._entries: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._flights: dict[str, _Flight] = {}
        self._lock = threading.Lock()
        self._stats = CacheStats()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> CacheStats:
        with self._lock:
            return dataclasses.replace(self._stats, entries=len(self._entries), bytes=self._bytes)

    def get(
        self, key: str, compute: Callable[[], Any], *, valid: Callable[[Any], bool] | None = None
    ) -> Any:
        """The result under `key`, computing it with `compute()` if no valid one is kept (and
        no other thread is computing it right now; then this one waits for that result).
        `valid(value)` may reject a kept value (e.g. a file it names was deleted since)."""
        found, flight = self._join(key, valid)
        if flight is None:
            return found
        try:
            value = compute()
        except BaseException as exc:
            self._land(key, flight, error=exc)
            raise
        self._land(key, flight, value=value)
        return value

    def stream(
        self,
        key: str,
        stages: Callable[[], Iterator[Any]],
        *,
        valid: Callable[[Any], bool] | None = None,
    ) -> Iterator[Any]:
        """Like `get` for a computation that yields first answers before its whole result
        (its last item, the one kept): the thread that computes yields every item as it comes;
        a hit, or a thread that waited for another's computation, yields the whole result
        once. If the computing consumer stops early, a waiter takes the computation over."""
        found, flight = self._join(key, valid)
        if flight is None:
            yield found
            return
        last, landed, items = _NOTHING, False, None
        try:
            items = stages()
            for last in items:
                yield last
        except GeneratorExit:
            self._land(key, flight, error=_ABANDONED)
            landed = True
            raise
        except BaseException as exc:
            self._land(key, flight, error=exc)
            landed = True
            raise
        finally:
            if hasattr(items, "close"):  # a generator: closed here, not left to the collector
                items.close()
            if not landed:
                if last is _NOTHING:
                    self._land(key, flight, error=ValueError(f"no result for {key[:12]}"))
                else:
                    self._land(key, flight, value=last)

    def _join(self, key: str, valid) -> tuple[Any, _Flight | None]:
        """(the value, None) from the cache or another thread's flight; or (None, flight) when
        this thread is to compute it and land the flight."""
        while True:
            with self._lock:
                kept = self._entries.get(key)
                if kept is not None and (valid is None or valid(kept[0])):
                    self._entries.move_to_end(key)
                    self._stats.hits += 1
                    return kept[0], None
                flight = self._flights.get(key)
                if flight is None:
                    flight = self._flights[key] = _Flight()
                    self._stats.computed += 1
                    return None, flight
                self._stats.joined += 1
            flight.done.wait()
            if flight.error is _ABANDONED:
                continue  # its consumer left before the end: compute it here
            if flight.error is not None:
                raise flight.error
            return flight.value, None

    def _land(self, key: str, flight: _Flight, *, value: Any = None, error=None) -> None:
        if error is None:
            flight.value = value
            self._put(key, value)
        flight.error = error
        with self._lock:
            del self._flights[key]
        flight.done.set()

    def known(self, key: str, *, valid: Callable[[Any], bool] | None = None) -> bool:
        """Whether asking for `key` now costs no computation of this thread's own: a valid
        result is kept, or another thread is computing it."""
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None and (valid is None or valid(kept[0])):
                return True
            return key in self._flights

    def peek(self, key: str) -> Any | None:
        """The kept result under `key`, or None (no computation, no change of order)."""
        with self._lock:
            kept = self._entries.get(key)
            return None if kept is None else kept[0]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _put(self, key: str, value: Any) -> None:
        size = approx_bytes(value)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes:
                return
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped
                self._stats.evicted += 1


def default_max_bytes() -> int:
    """$ADVDEMO_RESULT_CACHE_MB megabytes (0 turns caching off), else DEFAULT_MAX_MB."""
    raw = os.environ.get(MAX_MB_ENV, "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_MAX_MB
    except ValueError:
        mb = DEFAULT_MAX_MB
    return max(0, int(mb * (1 << 20)))


def shared(store: Any) -> ResultCache:
    """The one result cache of a model store (anything with `derived(key, make)`): every tab
    built on that store, and so every session of the app, shares it."""
    return store.derived(("result-cache",), ResultCache)
