"""Presets: one shape for every tab's one-click settings that reproduce a figure of a lecture."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Preset:
    """A named setting of a tab's controls.

    Args:
        key: a stable identifier (API names and element ids are built from it).
        label: what the button or radio shows.
        values: control name -> value, named as the tab's endpoint parameters are.
        note: one line on what to look at once it has run (optional).
    """

    key: str
    label: str
    values: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def pick(self, *names: str) -> tuple[Any, ...]:
        """The values of `names`, in that order (what a preset's click returns to Gradio)."""
        return tuple(self.values[n] for n in names)


def by_key(presets: tuple[Preset, ...] | list[Preset], key: str) -> Preset:
    """The preset called `key`; an unknown key is a plain ValueError naming the known ones."""
    for preset in presets:
        if preset.key == key:
            return preset
    raise ValueError(f"unknown preset {key!r}; known: {', '.join(p.key for p in presets)}")
