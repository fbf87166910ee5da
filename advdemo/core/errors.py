"""Errors a user can cause and read, and the validators that raise them.

Library code raises InputError (bad values, bad uploads) or ModelUnavailable (weights that
cannot be had on this machine); the UI layer (advdemo.ui) shows their message as is.
Nothing here imports gradio or torch.
"""

from __future__ import annotations

import math
from numbers import Real

MAX_SEED = 2**32 - 1  # every seed box of the app accepts 0 .. 2³² − 1 (torch's generator range)


def seed(name: str, value: object) -> int:
    """Return `value` as a seed in [0, MAX_SEED], or raise InputError saying so."""
    return whole(name, value, 0, MAX_SEED)


class InputError(ValueError):
    """A value or upload the user supplied is unusable; the message says why and what to do."""


class ModelUnavailable(RuntimeError):
    """A model's weights are missing and cannot be fetched here; the message says what to run."""


def finite(name: str, value: object, lo: float | None = None, hi: float | None = None) -> float:
    """Return `value` as a float, or raise InputError if it is not a finite number in [lo, hi].
    An empty box (None, or a blank string) is told so, whatever the box is for."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{name} is empty: type a number.")
    if isinstance(value, bool) or not isinstance(value, Real | str):
        raise InputError(f"{name} must be a number, got {type(value).__name__}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}.") from None
    if not math.isfinite(number):
        raise InputError(f"{name} must be a finite number, got {number}.")
    if lo is not None and number < lo:
        raise InputError(f"{name} must be at least {lo:g}, got {number:g}.")
    if hi is not None and number > hi:
        raise InputError(f"{name} must be at most {hi:g}, got {number:g}.")
    return number


def whole(name: str, value: object, lo: int | None = None, hi: int | None = None) -> int:
    """Return `value` as an int, or raise InputError if it is not a whole number in [lo, hi]."""
    number = finite(name, value)
    if number != int(number):
        raise InputError(f"{name} must be a whole number, got {number:g}.")
    if lo is not None and number < lo:
        raise InputError(f"{name} must be at least {lo}, got {int(number)}.")
    if hi is not None and number > hi:
        raise InputError(f"{name} must be at most {hi}, got {int(number)}.")
    return int(number)


def choice(name: str, value: object, options: list[str] | tuple[str, ...]) -> str:
    """Return `value` if it is one of `options`, or raise InputError listing them."""
    if not isinstance(value, str) or value not in options:
        shown = ", ".join(repr(o) for o in options[:12])
        more = f" and {len(options) - 12} more" if len(options) > 12 else ""
        raise InputError(f"{name} must be one of {shown}{more}; got {value!r}.")
    return value
