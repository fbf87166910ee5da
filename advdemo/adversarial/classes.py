"""ImageNet class names as the target dropdown shows them, and back to class indices."""

from __future__ import annotations

import difflib
from numbers import Integral

from advdemo.core.errors import InputError


def class_choices(labels: list[str]) -> list[str]:
    """One unique, readable name per class: the label, or "label (class N)" where ImageNet
    uses a name twice (crane the bird and crane the machine, two maillots)."""
    seen: dict[str, int] = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    return [label if seen[label] == 1 else f"{label} (class {i})" for i, label in enumerate(labels)]


def class_from_choice(labels: list[str], value: object) -> int:
    """A name from class_choices (or a class index) -> the class index; InputError otherwise,
    with the closest names as suggestions."""
    choices = class_choices(labels)
    if isinstance(value, Integral) and not isinstance(value, bool) and 0 <= value < len(labels):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text in choices:
            return choices.index(text)
        if text.isdigit() and int(text) < len(labels):
            return int(text)
        lowered = [c.lower() for c in choices]
        if text.lower() in lowered:
            return lowered.index(text.lower())
        close = difflib.get_close_matches(text.lower(), lowered, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(choices[lowered.index(c)]) for c in close)}?"
        raise InputError(
            f"Unknown class {value!r}: pick one of the {len(labels)} ImageNet classes from the "
            f"list.{hint if close else ''}"
        )
    raise InputError(f"The target class must be a class name, got {value!r}.")
