"""Live frames without one Gradio event per frame: a loop in the page asks the server for the
next frame through a gr.HTML server function and swaps pictures in place.

Why: every Gradio event (a gr.Timer tick included) costs headless Chromium ~140 ms of CPU on
this 2-core machine whatever it updates (measured with benchmarks/bench_gan2d_browser.py and
the page's performance counters: a tick that changes an 8×8 picture cost as much), while
swapping an <img>'s source from a plain request costs ~20-40 ms. At ~12 frames a second the
events alone would need more than one core.

How: the playing component is a gr.HTML made with `picture_kwargs(frame_fn)`. Its page script
starts a loop when a Gradio update gives it an <img> marked data-playing="1", and stops when
the server says the run is no longer playing (Pause, the end) or a Gradio update without that
mark arrives. Each turn calls `next_frame` with the <img>'s data-token, which names the
session's object (the tab's ordinary callbacks `register` it and put the token in the
picture; a random token per object, so nobody can play another user's run), and runs
`frame_fn(obj)` in a small pool shared by every session; each session waits for its own
frame before asking for the one after (it asks for one frame ahead, so that the server
makes it while the browser shows the last), so a slow machine or browser gets fewer frames,
never a backlog, and sessions take turns in the pool's queue (a run's frames are made one
at a time, so a client that floods the server function with its token gets empty answers).
`frame_fn` returns {"playing": bool, "pictures": {elem_id: <img> HTML}, "sync": bool}; with
"sync" the script fires the component's `submit` event, a normal Gradio event the tab wires to
refresh what the loop does not touch (status line, numbers), and at the end of a run.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

FRAME_SECONDS = 0.08  # at most 12.5 frames a second
FRAME_WORKERS = 2  # frames of all sessions are made by these threads, first come first served

_lock = threading.Lock()
_pools: list[ThreadPoolExecutor] = []
_objects: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # token -> object
TOKEN_BYTES = 16
_making: set[str] = set()  # tokens whose frame is being made: one at a time per run


def _pool() -> ThreadPoolExecutor:
    with _lock:
        if not _pools:
            _pools.append(ThreadPoolExecutor(FRAME_WORKERS, thread_name_prefix="advdemo-frames"))
        return _pools[0]


def side_pool() -> ThreadPoolExecutor:
    """Threads for the independent halves of one frame (a race's run B while its frame worker
    plays run A), apart from the frame workers so that a frame never waits on a queue that its
    own worker holds up. Made on first use, like the frame workers."""
    with _lock:
        while len(_pools) < 2:
            prefix = "advdemo-frames" if not _pools else "advdemo-frames-side"
            _pools.append(ThreadPoolExecutor(FRAME_WORKERS, thread_name_prefix=prefix))
        return _pools[1]


def register(obj: object) -> str:
    """The token that names `obj` (kept weakly: it lives in the session's gr.State) for
    `next_frame`; the same token every time for the same object (kept on it)."""
    with _lock:
        token = getattr(obj, "_frame_token", None)
        if token is None:
            token = secrets.token_hex(TOKEN_BYTES)
            obj._frame_token = token  # type: ignore[attr-defined]
            _objects[token] = obj
        return token


def lookup(token: object) -> object | None:
    if not isinstance(token, str) or len(token) != 2 * TOKEN_BYTES:
        return None
    with _lock:
        return _objects.get(token)


def server_function(frame_fn: Callable[[Any], dict]) -> Callable:
    """The gr.HTML server function of the loop: the next frame of the object `token` names
    (none, and not playing, for an unknown or malformed token)."""

    async def next_frame(token: object) -> dict:
        obj = lookup(token)
        if obj is None:
            return {"playing": False, "pictures": {}, "sync": False}
        with _lock:
            if token in _making:  # the page asks one at a time; a client that floods with
                return {"playing": True, "pictures": {}, "sync": False}  # its token waits
            _making.add(token)
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(_pool(), frame_fn, obj)
        finally:
            with _lock:
                _making.discard(token)

    return next_frame


# The loop in the page. `element`, `props`, `server`, `trigger` and `watch` are what Gradio
# gives a gr.HTML's js_on_load. A frame's pictures replace the attributes of the <img> in the
# element of each id (the picture only changes once decoded, so nothing flickers).
LOOP_JS = """
const pause = ms => new Promise(r => setTimeout(r, ms));
const marked = () => {
  const img = element.querySelector('img');
  return !!(img && img.dataset.playing === '1');
};
const show = (id, html) => {
  const target = document.querySelector('#' + id + ' img');
  if (!target || !html) return;
  const t = document.createElement('template');
  t.innerHTML = html;
  const next = t.content.querySelector('img');
  if (!next) return;
  for (const a of next.attributes) {
    if (a.name !== 'src' && target.getAttribute(a.name) !== a.value) {
      target.setAttribute(a.name, a.value);
    }
  }
  target.src = next.getAttribute('src');
};
const ask = () => {
  const img = element.querySelector('img');
  return server.next_frame(img ? img.dataset.token : '');
};
const run = async () => {
  if (element.__framesLoop) return;
  element.__framesLoop = true;
  let shown = 0;
  try {
    // One frame asked for ahead: the server makes the next while this one is shown.
    let next = ask();
    while (marked()) {
      let frame;
      try { frame = await next; } catch (e) { trigger('submit'); break; }
      if (!marked()) break;  // Pause or Reset came meanwhile: their pictures stand
      if (frame.playing) next = ask();
      const rest = __FRAME_MS__ - (performance.now() - shown);
      if (rest > 0) await pause(rest);
      if (!marked()) break;
      for (const [id, html] of Object.entries(frame.pictures || {})) show(id, html);
      shown = performance.now();
      if (frame.sync || !frame.playing) trigger('submit');
      if (!frame.playing) break;
    }
  } finally {
    element.__framesLoop = false;
  }
};
watch('value', () => { if (marked()) run(); });
if (marked()) run();
""".replace("__FRAME_MS__", str(round(FRAME_SECONDS * 1000)))


def picture_kwargs(frame_fn: Callable[[Any], dict]) -> dict:
    """Keyword arguments for the gr.HTML that drives the loop."""
    return {"js_on_load": LOOP_JS, "server_functions": [server_function(frame_fn)]}


def marks(obj: object, playing: bool) -> dict[str, str]:
    """The <img> attributes the loop reads: the object's token, and whether it plays."""
    return {"token": register(obj), **({"playing": "1"} if playing else {})}
