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
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
from collections.abc import Iterator, MutableMapping
from copy import copy
from typing import Any

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
