"""The validators every tab uses: what an empty box and other bad values are told."""

from __future__ import annotations

import math

import pytest

from advdemo.core import errors
from advdemo.core.errors import InputError


@pytest.mark.parametrize("empty", [None, "", "   "])
@pytest.mark.parametrize(
    "check",
    [
        lambda v: errors.finite("psi (ψ)", v, 0, 2),
        lambda v: errors.whole("psi (ψ)", v, 0, 10),
    ],
)
def test_an_empty_box_is_called_empty(check, empty):
    with pytest.raises(InputError, match=r"^psi \(ψ\) is empty: type a number\.$"):
        check(empty)


@pytest.mark.parametrize("empty", [None, ""])
def test_an_empty_seed_box_is_called_empty(empty):
    with pytest.raises(InputError, match=r"^End seed is empty: type a number\.$"):
        errors.seed("End seed", empty)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "Seed must be a number, got 'abc'"),
        ([1], "Seed must be a number, got list"),
        (True, "Seed must be a number, got bool"),
        (math.nan, "Seed must be a finite number"),
        (2.5, "Seed must be a whole number"),
        (-1, "Seed must be at least 0"),
        (errors.MAX_SEED + 1, f"Seed must be at most {errors.MAX_SEED}"),
    ],
)
def test_other_bad_values_keep_their_messages(value, message):
    with pytest.raises(InputError, match=message):
        errors.seed("Seed", value)


def test_good_values_pass():
    assert errors.seed("Seed", "12") == 12
    assert errors.finite("x", " 0.5 ", 0, 1) == 0.5
    assert errors.whole("n", 4.0) == 4
