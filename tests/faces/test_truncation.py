"""The truncation tab's views: sweep, grid, measured diversity, bad inputs."""

from __future__ import annotations

import itertools
import math

import pytest

from advdemo.core.errors import InputError
from advdemo.faces import truncation as ft


@pytest.fixture(scope="module")
def g(store):
    return store.face_generator()


def test_resample_diversity_grows_with_tau(g):
    curve = ft.DiversityCurves(g).curve("resample", 0, 16)
    small = [d for tau, d in curve if tau <= 2.0]
    assert all(a < b for a, b in itertools.pairwise(small)), curve
    assert small[0] < 0.01


def test_diversity_curves_are_kept_per_instance(g):
    curves = ft.DiversityCurves(g)
    first = curves.curve("scale", 0, 4)
    assert curves.curve("scale", 0, 4) is first  # measured once
    assert curves.curve.cache_info().currsize == 1
    assert ft.DiversityCurves(g).curve("scale", 0, 4) == first  # a pure function


def test_truncation_view(g):
    curves = ft.DiversityCurves(g)
    settings = ft.truncation_settings(5, "scale", 0.5, 1.0, 100, 6)
    assert settings == ft.Settings(seed=5, variant="scale", value=0.5, first=100, count=6)
    v = ft.truncation_view(g, settings, curves=curves)
    assert v.diversity < v.baseline_diversity
    assert v.grid.size == (3 * 128, 2 * 128)  # 6 faces: 3 columns, 2 rows
    assert v.sweep.width == len(ft.PSI_SWEEP) * 128
    assert "Diversity at ψ = 0.5" in v.summary
    v1 = ft.truncation_view(g, ft.truncation_settings(5, "scale", 1.0, 1.0, 100, 6), curves=curves)
    assert v1.diversity == pytest.approx(v1.baseline_diversity, rel=1e-6)
    g2 = ft.truncation_grid(g, settings)  # what a drag redraws
    assert g2.grid.tobytes() == v.grid.tobytes() and g2.summary == v.summary


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1, "scale", math.nan, 1.0, 0, 16), "psi"),
        ((1, "scale", -0.1, 1.0, 0, 16), "psi .* must be at least 0"),
        ((1, "scale", 1e6, 1.0, 0, 16), "psi .* must be at most 2"),
        ((1, "resample", 0.7, 0.0, 0, 16), "tau .* must be at least 0.05"),
        ((1, "resample", 0.7, math.inf, 0, 16), "tau .* must be a finite number"),
        ((1, "clip", 0.7, 1.0, 0, 16), "Truncation variant must be one of 'scale', 'resample'"),
        ((1, "scale", 0.7, 1.0, 0, 65), "Number of faces in the grid must be at most 64"),
        ((1, "scale", 0.7, 1.0, 0, -4), "Number of faces in the grid must be at least 4"),
        ((1, "scale", 0.7, 1.0, -1, 16), "First seed of the grid must be at least 0"),
    ],
)
def test_bad_truncation_inputs_are_rejected(args, message):
    with pytest.raises(InputError, match=message):
        ft.truncation_settings(*args)
