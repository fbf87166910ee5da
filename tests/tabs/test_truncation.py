"""The truncation tab through its public API and in a real browser."""

from __future__ import annotations

import pytest
from PIL import Image

from advdemo.faces import truncation as ft
from tests.conftest import wait_for_new_image


@pytest.mark.parametrize(
    ("variant", "psi", "tau", "sweep_values", "said"),
    [
        ("scale", 0.0, 1.0, ft.PSI_SWEEP, "Diversity at ψ = 0: 0.000"),
        ("resample", 0.7, 1.5, ft.TAU_SWEEP, "Diversity at τ = 1.5"),
    ],
)
def test_truncation_api(client, variant, psi, tau, sweep_values, said):
    sweep, grid, summary, plot = client.predict(
        seed=3,
        variant=variant,
        psi=psi,
        tau=tau,
        first_seed=10,
        grid_size=4,
        api_name="/truncation",
    )
    assert said in summary
    assert plot["type"] == "plotly"
    with Image.open(sweep) as s:
        assert s.width == len(sweep_values) * 128
    with Image.open(grid) as g:
        assert g.size == (2 * 128, 2 * 128)


@pytest.mark.browser
def test_truncation_tab_in_a_browser(page, app_url, artifacts):
    page.goto(app_url)
    page.get_by_role("tab", name="Truncation").click()
    grid = "#truncation-grid img"
    page.wait_for_selector(grid, timeout=60_000)
    before = page.locator(grid).get_attribute("src")
    summary_before = page.locator("#truncation-summary").inner_text()
    psi = page.locator("#truncation-psi input[type=range]")
    psi.fill("0.6")  # a drag: `input` redraws the grid and its diversity ...
    wait_for_new_image(page, grid, before)
    page.wait_for_function(
        "old => document.querySelector('#truncation-summary').innerText !== old",
        arg=summary_before,
    )
    assert "ψ = 0.6" in page.locator("#truncation-summary").inner_text()
    psi.dispatch_event("pointerup")  # ... letting go (`release`) redraws the plot too
    page.wait_for_function(
        "() => (document.querySelector('#truncation-plot')?.innerText || '').includes('ψ=0.6')",
        timeout=30_000,
    )
    # the other variant: its slider appears and everything is redrawn for tau
    assert not page.locator("#truncation-tau").is_visible()
    shown = page.locator(grid).get_attribute("src")
    page.locator("#truncation-variant").get_by_text("resample").click()
    page.wait_for_selector("#truncation-tau", state="visible")
    wait_for_new_image(page, grid, shown)
    page.wait_for_function(
        "() => document.querySelector('#truncation-summary').innerText.includes('τ = 1')"
    )
    # a preset back to psi = 0.7 in one click
    shown = page.locator(grid).get_attribute("src")
    page.locator("#truncation-preset-0").click()
    wait_for_new_image(page, grid, shown)
    page.wait_for_function(
        "() => document.querySelector('#truncation-summary').innerText.includes('ψ = 0.7')"
    )
    page.screenshot(path=str(artifacts / "truncation.png"), full_page=True)
