"""Files the app hands to browsers (GIFs, PNGs to download): one folder per kind, old ones
deleted as new ones are made, so a long lecture never fills the disk."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path


def output_dir(kind: str) -> Path:
    """The temp folder for one kind of output ("latent-gifs", "adversarial"), created."""
    folder = Path(tempfile.gettempdir()) / f"advdemo-{kind}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def prune(folder: Path, pattern: str, max_age_s: float) -> int:
    """Delete the files in `folder` matching `pattern` older than `max_age_s`; how many went.
    Safe while other requests prune or read the same folder."""
    cutoff = time.time() - max_age_s
    removed = 0
    for old in folder.glob(pattern):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
                removed += 1
        except FileNotFoundError:  # another request pruned it first
            continue
    return removed
