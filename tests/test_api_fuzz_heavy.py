"""The API fuzz of tests/test_api_fuzz.py on the heavy lane's endpoints (attacks, translation,
inversion, the defences' trainings): the same cases and judge, in a file of its own so that
pytest-xdist runs it beside the light half, on another worker with its own app."""

from __future__ import annotations

import pytest

from tests.test_api_fuzz import (  # noqa: F401  (fixtures, found by pytest under these names)
    HEAVY,
    bad_files,
    check_endpoint,
    fuzz_results,
    max_file_size,
    spec,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzzed() -> set[str]:
    return set(HEAVY)


@pytest.mark.parametrize("endpoint", sorted(HEAVY))
def test_bad_values_get_clear_answers(fuzz_results, spec, endpoint):  # noqa: F811
    check_endpoint(fuzz_results, spec, endpoint)
