"""HTTP serving details for a whole room using the app at once.

atomic_cache_writes() stops Gradio from serving half-written images, and encodes its PNGs
faster (PNG_COMPRESSION). Gradio 6.31 saves every output image to a file named after a hash
of its bytes, and writes that file in place (truncate, then write) each time the image is
produced again. When thirty students click the same preset they produce the same images:
one student's write truncates the file while another student's browser is downloading it,
and that download ends early ("peer closed connection without sending complete message
body" in benchmarks/load_test.py). Gradio's own save_file_to_cache already writes to a
temporary name and renames; this gives its image and bytes savers the same discipline, and
skips rewriting a file that is already complete (the name is the hash of the content, so an
existing file of the right size is that content).

CachedPages replays Gradio's page ("/") and config ("/config") responses instead of building
them afresh for every visitor. Gradio builds both per request: a deep copy of the app's
~0.5 MB config, then a walk over all of it to write the root URL into every file link: 60-90
ms of CPU here, holding the GIL, so 30 students opening the app cost the server 2-3 s during
which other requests wait. Replayed, a gradio_client connection costs the server ~17 ms.

The responses depend only on the request's address (scheme, host, the headers Gradio builds
the root URL from, root path, path and query) as long as nobody logs in, and the app's config
does not change after launch. So a response is replayed only for a GET without a login cookie,
it is keyed on all of those, and only complete 200 responses that set no cookie are kept (a
few, least recently used first out). Plain ASGI: no Gradio internals are touched.

Which headers Gradio reads for the root was checked against Gradio CHECKED_GRADIO (its
route_utils.get_request_origin: Host through the request URL, X-Forwarded-Host,
X-Forwarded-Proto, X-Gradio-Server). A header left out of the key lets one request that
carries it (X-Gradio-Server: http://attacker) be replayed to every visitor: issue #19. With
another Gradio version installed, or if that function reads a header not in ROOT_HEADERS,
CachedPages logs an error and replays nothing (every request reaches Gradio).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import logging
import os
import re
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException

log = logging.getLogger("advdemo.serving")

PATHS = frozenset({"/", "/config", "/config/"})
# What Gradio derives the page's root URL from, besides the scope's scheme and root_path
# (Host through the request URL). Checked against this Gradio version's route_utils:
CHECKED_GRADIO = "6.31.0"
ROOT_HEADERS = (b"host", b"x-forwarded-host", b"x-forwarded-proto", b"x-gradio-server")
LOGIN_COOKIE = b"access-token"  # Gradio's login cookies are access-token-<id>...
MAX_ENTRIES = 16  # each entry is one page (~0.7 MB): bounded even if clients vary the query


def replay_unsafe_because() -> str | None:
    """None if the installed Gradio builds the root URL from what CachedPages keys on;
    otherwise why the replay must stay off."""
    import gradio
    from gradio import route_utils

    if gradio.__version__ != CHECKED_GRADIO:
        return (
            f"Gradio {gradio.__version__} is installed; the replay was checked against "
            f"{CHECKED_GRADIO} only"
        )
    try:
        source = inspect.getsource(route_utils.get_request_origin) + inspect.getsource(
            route_utils.get_root_url
        )
    except (AttributeError, OSError, TypeError) as exc:
        return f"Gradio's root-URL code cannot be read ({exc})"
    read = {h.lower() for h in re.findall(r"[\"']((?:x-|forwarded)[A-Za-z0-9-]*)[\"']", source)}
    unknown = read - {h.decode() for h in ROOT_HEADERS}
    if unknown:
        return f"Gradio builds the root URL from {sorted(unknown)} too, not in the replay's key"
    return None


class CachedPages:
    """ASGI middleware: serve repeat GETs of "/" and "/config" from memory (see module note)."""

    def __init__(self, app: Any, max_entries: int = MAX_ENTRIES) -> None:
        self.app = app
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, tuple[dict, bytes]] = OrderedDict()
        self.off_because = replay_unsafe_because()
        if self.off_because:
            log.error("page replay (advdemo.ui.serving.CachedPages) is OFF: %s", self.off_because)

    def key(self, scope: dict) -> tuple | None:
        """The cache key for this request, or None if it must reach Gradio."""
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] not in PATHS:
            return None
        if self.off_because:
            return None
        headers = scope["headers"]  # ASGI header names are lower-case bytes
        if any(name == b"cookie" and LOGIN_COOKIE in value for name, value in headers):
            return None  # a logged-in page names its user
        return (
            scope["path"],
            scope.get("query_string", b""),
            scope.get("scheme", "http"),
            scope.get("root_path", ""),
            # every value, in order: with a header sent twice, Gradio reads the first
            *(tuple(v for n, v in headers if n == name) for name in ROOT_HEADERS),
        )

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        key = self.key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        hit = self._entries.get(key)
        if hit is not None:
            self._entries.move_to_end(key)
            start, body = hit
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        messages: list[dict] = []

        async def capture(message: dict) -> None:
            messages.append(message)
            await send(message)

        await self.app(scope, receive, capture)
        self._keep(key, messages)

    def _keep(self, key: tuple, messages: list[dict]) -> None:
        if not messages or messages[0].get("type") != "http.response.start":
            return
        start, parts = messages[0], messages[1:]
        if start.get("status") != 200 or any(
            name.lower() == b"set-cookie" for name, _ in start.get("headers", [])
        ):
            return
        if not parts or any(m.get("type") != "http.response.body" for m in parts):
            return
        if parts[-1].get("more_body", False):
            return  # the response did not finish
        body = b"".join(m.get("body", b"") for m in parts)
        self._entries[key] = ({**start, "headers": list(start.get("headers", []))}, body)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


# --------------------------------------------------------------------------- request bodies

# Gradio's max_file_size covers the files of a multipart upload, one by one; a JSON body (an
# API call, a queue join) is read whole, whatever its size, before anything checks its values.
MAX_BODY_BYTES = 256 * 1024  # the largest call the app takes (3 slots × 8 codes) is ~60 kB
MULTIPART_SLACK = 64 * 1024  # a multipart envelope around one file of max_file_size
UPLOAD_PATH = "/gradio_api/upload"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body too large: this route takes at most {limit} bytes.")


class BodyLimit:
    """ASGI middleware: refuse a request body over `max_bytes` (uploads: `max_upload_bytes`)
    with HTTP 413, from its Content-Length before reading it, else as soon as more than that
    has arrived (chunked bodies). The app reads a body through receive(); once past the
    limit, receive() raises BodyTooLarge, an HTTPException that FastAPI turns into the 413."""

    def __init__(
        self,
        app: Any,
        max_bytes: int = MAX_BODY_BYTES,
        max_upload_bytes: int = 10 * 2**20 + MULTIPART_SLACK,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["path"].rstrip("/").endswith(UPLOAD_PATH)
        limit = self.max_upload_bytes if upload else self.max_bytes
        declared = [v for name, v in scope["headers"] if name == b"content-length"]
        if any(not v.strip().isdigit() or int(v) > limit for v in declared):
            await _answer_413(send, limit)
            return
        received = 0
        started = False

        async def counting_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def noting_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, noting_send)
        except BodyTooLarge:  # raised where nothing turned it into a response
            if not started:
                await _answer_413(send, limit)


async def _answer_413(send: Any, limit: int) -> None:
    body = json.dumps({"detail": BodyTooLarge(limit).detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------- atomic cache files


def publish(target: Path, data: bytes) -> None:
    """Write `data` to `target` so that readers see either no file or all of it."""
    with contextlib.suppress(OSError):
        if target.stat().st_size == len(data):
            os.utime(target)  # keep it young for Gradio's delete_cache, as Gradio does
            return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(staging, target)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


# zlib level for the PNGs Gradio sends. Against PIL's default (6), measured here: a 451×300
# photo 35.9 → 10.1 ms (+6.5 % bytes), 768×512 132.8 → 25.6 ms (+11.5 %), a 384² face
# 2.5 → 1.6 ms (+21 %, 13 → 16 kB). Under the 30-user load test PNG encoding was the largest
# single cost of the request threads (py-spy: about a quarter of their samples).
PNG_COMPRESSION = 1


def atomic_cache_writes() -> None:
    """Replace Gradio's in-place image and bytes cache writers with atomic ones (idempotent),
    PNGs encoded at PNG_COMPRESSION.

    Same file names and return values as Gradio's save_pil_to_cache and save_bytes_to_cache;
    save_img_array_to_cache goes through save_pil_to_cache and is covered too."""
    from gradio import processing_utils as pu

    if getattr(pu.save_pil_to_cache, "atomic", False):
        return

    def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
        if format.lower() == "png":  # as Gradio does, but at a faster compression level
            with io.BytesIO() as out:
                img.save(
                    out, "png", pnginfo=pu.get_pil_metadata(img), compress_level=PNG_COMPRESSION
                )
                data = out.getvalue()
        else:
            data = pu.encode_pil_to_bytes(img, format)
        target = (Path(cache_dir) / pu.hash_bytes(data) / f"{name}.{format}").resolve()
        publish(target, data)
        return str(target)

    def save_bytes_to_cache(data: bytes, file_name: str, cache_dir: str) -> str:
        if not Path(file_name).suffix:
            file_name += pu.detect_audio_format(data)
        target = Path(cache_dir) / pu.hash_bytes(data) / Path(file_name).name
        publish(target, data)
        return str(target.resolve())

    for fn in (save_pil_to_cache, save_bytes_to_cache):
        fn.atomic = True  # type: ignore[attr-defined]
        GRADIO_ORIGINALS[fn.__name__] = getattr(pu, fn.__name__)
        setattr(pu, fn.__name__, fn)


GRADIO_ORIGINALS: dict[str, Any] = {}  # what atomic_cache_writes replaced (tests compare)
