"""Which endpoints run on the Ray Serve backend, in which deployment, and how their arguments
and results cross the wire (no Ray here: the front end and the tests import this freely).

An endpoint is named by its module and function, e.g. "advdemo.tabs.cyclegan.translate": the
same module-level function the tab wires, run by a replica with the replica's own ModelStore
in place of the front end's. Only the names listed in ROUTES are ever resolved, so a request
can never make a replica import or call anything else.

Files cross as bytes: an upload's path means nothing on another machine, so the front end
sends the file's content and the replica writes it to a temp folder of its own and passes
that path (the endpoint then checks and decodes the image exactly as it does embedded); a
file an endpoint returns (a GIF, a PNG to download) comes back the same way and is written
to the front end's own temp folder, where Gradio serves it. Gradio's progress trackers stay on
the front end: the replica runs the endpoint with its default (which reports nowhere).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advdemo.core import files

HEAVY, LIGHT, FACES = "heavy", "light", "faces"
ROUTES: dict[str, str] = {
    "advdemo.tabs.adversarial.attack": HEAVY,
    "advdemo.tabs.adversarial.sweep": HEAVY,
    "advdemo.tabs.adversarial_physical.physical_world": HEAVY,  # its attack: the replica's own
    "advdemo.tabs.cyclegan.translate": HEAVY,
    "advdemo.tabs.cyclegan.translate_if_ready": HEAVY,
    "advdemo.tabs.adversarial.classify": LIGHT,
    "advdemo.tabs.truncation.truncation": LIGHT,
    "advdemo.tabs.truncation.grid_only": LIGHT,
    "advdemo.tabs.latent_explorer.interpolate": LIGHT,
    "advdemo.tabs.latent_explorer.generate": FACES,  # batched across users: @serve.batch
}
BATCHED = {"advdemo.tabs.latent_explorer.generate"}
MAX_FILE_BYTES = 64 * 2**20  # far above the app's 10 MB upload limit; a guard, not a policy
RESULT_MAX_AGE_S = 3600  # files returned by a replica, deleted when an hour old


def name_of(fn: Callable[..., Any]) -> str:
    """ "module.function" of an endpoint function (what ROUTES lists)."""
    fn = getattr(fn, "__wrapped__", fn)
    return f"{fn.__module__}.{fn.__qualname__}"


def endpoint(name: str) -> Callable[..., Any]:
    """The endpoint function called `name`, which must be listed in ROUTES."""
    if name not in ROUTES:
        raise LookupError(f"{name!r} is not an endpoint the Ray backend serves")
    module, _, function = name.rpartition(".")
    return getattr(importlib.import_module(module), function)


@dataclass(frozen=True)
class ShippedFile:
    """A file's name and content, in place of its path on the machine that had it."""

    name: str
    data: bytes

    def write(self, folder: Path) -> str:
        """Write into a fresh sub-folder of `folder` (two calls never collide); its path."""
        target = folder / secrets.token_hex(8)
        target.mkdir(parents=True, exist_ok=True)
        path = target / Path(self.name).name
        path.write_bytes(self.data)
        return str(path)


def _is_progress(value: object) -> bool:
    return type(value).__name__ == "Progress" and type(value).__module__.startswith("gradio")


def _local_file(value: object, roots: tuple[Path, ...]) -> Path | None:
    """`value` as a file inside one of `roots` (resolved: no link or .. leads out), or None."""
    if not isinstance(value, str | Path) or not str(value):
        return None
    try:
        path = Path(value)
        if not path.is_absolute() or not path.is_file():
            return None
        resolved = path.resolve()
    except (OSError, ValueError):
        return None
    inside = any(resolved.is_relative_to(root.resolve()) for root in roots)
    if not inside or resolved.stat().st_size > MAX_FILE_BYTES:
        return None
    return resolved


def _temp_roots() -> tuple[Path, ...]:
    roots = [Path(tempfile.gettempdir())]
    if os.environ.get("GRADIO_TEMP_DIR"):
        roots.append(Path(os.environ["GRADIO_TEMP_DIR"]))
    return tuple(roots)


def ship(value: Any, roots: tuple[Path, ...] | None = None) -> Any:
    """`value` (arguments or results, nested in tuples, lists and dicts) with every path to a
    file inside the temp folders replaced by its ShippedFile."""
    roots = roots or _temp_roots()
    path = _local_file(value, roots)
    if path is not None:
        return ShippedFile(path.name, path.read_bytes())
    if isinstance(value, tuple | list):
        return type(value)(ship(v, roots) for v in value)
    if isinstance(value, dict):
        return {k: ship(v, roots) for k, v in value.items()}
    return value


def unship(value: Any, folder: Path) -> Any:
    """The reverse of ship: every ShippedFile written into `folder`, replaced by its path."""
    if isinstance(value, ShippedFile):
        return value.write(folder)
    if isinstance(value, tuple | list):
        return type(value)(unship(v, folder) for v in value)
    if isinstance(value, dict):
        return {k: unship(v, folder) for k, v in value.items()}
    return value


def outgoing(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """A call's arguments as they cross to a replica: files as content, no progress tracker
    (it belongs to the front end's event; the replica's endpoint uses its own default)."""
    args = tuple(a for a in args if not _is_progress(a))
    kwargs = {k: v for k, v in kwargs.items() if not _is_progress(v)}
    return ship(args), ship(kwargs)


def result_folder() -> Path:
    """Where the front end writes files a replica returned (pruned by age)."""
    folder = files.output_dir("remote")
    cutoff = time.time() - RESULT_MAX_AGE_S
    for old in folder.iterdir():
        with contextlib.suppress(OSError):  # another request pruned it first
            if old.is_dir() and old.stat().st_mtime < cutoff:
                files.prune(old, "*", RESULT_MAX_AGE_S)
                old.rmdir()  # fails, harmlessly, while a younger file is left in it
    return folder
