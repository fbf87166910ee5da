"""A new browser session without the price of the whole page's config.

Gradio 6.31 makes a SessionState for each session on its first event, and its constructor
builds the config of every block of the app there and then (`config_for_block` for each of our
~500 blocks: props, API info, signatures read with `inspect`). That is 40-90 ms of CPU on the
server's event loop for one session, 70-590 ms at load 13-18, and nothing else is served
meanwhile. In a lecture, 100 students' first clicks come within a few seconds: py-spy on the
load test's opening burst found a third of the event loop's samples in that constructor,
while every slider waited.

Those configs are kept only for deep links (`SessionState.components`, read when a visitor
asks for a link to their state) and to record a component's new value. So they can be built
when first read: `lazy_session_configs()` gives SessionState a `config_values` mapping that
builds a block's config on first access, from the block it held when the session began, and
builds them all when iterated. The result is the same as Gradio's.

The replacement copies Gradio's constructor but for that one line, so it is installed only
when the installed Gradio's constructor is the one it was written against (CHECKED_SOURCE);
otherwise Gradio's own stays and an error is logged.

Also here: `SessionLatest`, the latest value of one control in each session as the server
last heard of it, and `while_current`, which holds back a callback's answers once the session
has moved on from the value they were asked for (a new photo while an attack runs: its
results would land under the new photo, after the page emptied the old ones).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
from copy import copy
from typing import Any

import gradio as gr
from gradio.context import LocalContext

log = logging.getLogger("advdemo.sessions")

# sha256 of inspect.getsource(gradio.state_holder.SessionState.__init__) in Gradio 6.31.0.
CHECKED_SOURCE = "1b2ea21dc42c45dafb54280eccd932efe6851230b7f896ddbfd4cf593bc0d06b"


class LazyBlockConfigs(MutableMapping):
    """Block id → its config dict, made on first access from the block the session began with.

    Iteration, len() and `in` see every block at once without building any config; reading a
    config (including through items() and values()) builds it once."""

    def __init__(self, blocks_config: Any, blocks: dict[int, Any]) -> None:
        self._blocks_config = blocks_config
        self._pending = dict(blocks)  # id → block, config not yet built
        self._made: dict[int, dict] = {}
        self._order = dict.fromkeys(blocks)  # Gradio's dict kept the blocks' order

    def __getitem__(self, key: int) -> dict:
        if key not in self._made:
            block = self._pending.pop(key)  # KeyError for an unknown block, as a dict gives
            self._made[key] = self._blocks_config.config_for_block(key, [], block)
        return self._made[key]

    def __setitem__(self, key: int, value: dict) -> None:
        self._pending.pop(key, None)
        self._made[key] = value
        self._order[key] = None

    def __delitem__(self, key: int) -> None:
        if key not in self._order:
            raise KeyError(key)
        self._pending.pop(key, None)
        self._made.pop(key, None)
        del self._order[key]

    def __contains__(self, key: object) -> bool:
        return key in self._order

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    @property
    def built(self) -> int:
        """How many configs have been built so far (for tests)."""
        return len(self._made)


def _session_init(self, blocks) -> None:
    """Gradio 6.31's SessionState.__init__, with config_values built on first use."""
    self.blocks_config = copy(blocks.default_config)
    self.config_values = LazyBlockConfigs(
        self.blocks_config,
        {k: v for k, v in self.blocks_config.blocks.items() if k in blocks.blocks},
    )
    self.state_data = {}
    self._state_ttl = {}
    self.is_closed = False
    self.STATE_TTL_WHEN_CLOSED = 1 if os.getenv("GRADIO_IS_E2E_TEST", None) else 3600


_session_init.lazy = True  # type: ignore[attr-defined]


def source_digest() -> str:
    from gradio.state_holder import SessionState

    init = SessionState.__init__
    init = getattr(init, "gradio_original", init)
    return hashlib.sha256(inspect.getsource(init).encode()).hexdigest()


def lazy_session_configs() -> bool:
    """Install the lazy constructor (idempotent). False, with an error logged, if the installed
    Gradio's constructor is not the one this was checked against."""
    from gradio.state_holder import SessionState

    if getattr(SessionState.__init__, "lazy", False):
        return True
    try:
        digest = source_digest()
    except (OSError, TypeError) as exc:
        digest = f"unreadable ({exc})"
    if digest != CHECKED_SOURCE:
        log.error(
            "lazy session configs (advdemo.ui.sessions) are OFF: Gradio's SessionState.__init__ "
            "is not the one they were checked against (sha256 %s); each new session builds "
            "every block's config on the event loop",
            digest[:16],
        )
        return False
    _session_init.gradio_original = SessionState.__init__  # type: ignore[attr-defined]
    SessionState.__init__ = _session_init
    return True


# --------------------------------------------------------------- a session's latest value
MAX_SESSIONS = 20_000  # sessions remembered; the longest silent are forgotten first


def session_hash() -> str | None:
    """The browser session (or gradio_client Client) of the event being handled, if any."""
    return getattr(LocalContext.request.get(None), "session_hash", None) or None


class SessionLatest:
    """The latest value of one control in each session, as the server last heard of it
    (`remember`, wired to the control's change event). A session that never said is never
    taken to have moved on (API callers have no such events)."""

    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self._values: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def remember(self, value: object) -> None:
        session = session_hash()
        if session is None:
            return
        with self._lock:
            self._values[session] = value
            self._values.move_to_end(session)
            while len(self._values) > self._limit:
                self._values.popitem(last=False)

    def moved_on(self, value: object) -> bool:
        """Whether this session's latest value is now another one than `value`."""
        session = session_hash()
        with self._lock:
            return session in self._values and self._values[session] != value


def _held(item: object) -> object:
    """Outputs left as they are: one gr.skip() per output of `item`."""
    return tuple(gr.skip() for _ in item) if isinstance(item, tuple) else gr.skip()


def while_current(fn: Callable[..., Any], latest: SessionLatest, position: int = 0):
    """`fn`, a Gradio callback (function or generator, async or not), whose answers are held
    back (left as they are on screen) once the session's latest value is no longer its
    argument `position`. It still runs to its end: its work may be shared with other users."""

    def kept(item: object, args: tuple) -> object:
        return _held(item) if latest.moved_on(args[position]) else item

    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def async_stream(*args, **kwargs):
            async for item in fn(*args, **kwargs):
                yield kept(item, args)

        return async_stream
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_call(*args, **kwargs):
            return kept(await fn(*args, **kwargs), args)

        return async_call
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args, **kwargs):
            for item in fn(*args, **kwargs):
                yield kept(item, args)

        return stream

    @functools.wraps(fn)
    def call(*args, **kwargs):
        return kept(fn(*args, **kwargs), args)

    return call
