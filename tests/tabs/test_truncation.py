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


def test_truncation_gif_api(client):
    from gradio_client.exceptions import AppError

    path = client.predict(seed=3, variant="resample", api_name="/truncation_gif")
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 2 * len(ft.GIF_TAU) - 2
    with pytest.raises(AppError, match="Variant"):
        client.predict(seed=3, variant="blur", api_name="/truncation_gif")


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
    # the sweep as a GIF: one click, then it plays on the page and can be downloaded
    page.get_by_text("The sweep as an animated GIF, to download").click()
    page.click("#truncation-gif-button")
    page.wait_for_selector("#truncation-gif img[src*='.gif']", timeout=60_000)
    page.screenshot(path=str(artifacts / "truncation.png"), full_page=True)


def hold_next_join(page) -> list:
    """Hold the next queued request (POST .../queue/join) until the test lets it go:
    returns the list the held route lands in."""
    held: list = []
    page.route(
        "**/gradio_api/queue/join*",
        lambda route: route.continue_() if held else held.append(route),
    )
    return held


def release(page, held: list) -> None:
    for _ in range(200):  # the request leaves when the event fires
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "no queued request was sent"
    held[0].continue_()
    page.unroute("**/gradio_api/queue/join*")


def picture_on_top(page, selector: str) -> bool:
    """Whether the <img> at `selector` is what one sees (and would click) at its centre."""
    return page.evaluate(
        """sel => { const img = document.querySelector(sel); if (!img) return false;
            const r = img.getBoundingClientRect();
            const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
            return top === img; }""",
        selector,
    )


@pytest.mark.browser
def test_pictures_stay_while_a_redraw_runs_and_seeds_apply_on_blur(page, app_url):
    """Issue #20: a typed seed applies when its box loses focus (not only on Enter), and
    while the redraw is pending the old pictures stay on screen, not behind spinners; the
    corner timer gives no estimate (Gradio's is a mean over every setting)."""
    page.goto(app_url)
    page.get_by_role("tab", name="Truncation").click()
    grid, sweep = "#truncation-grid img", "#truncation-sweep img"
    page.wait_for_selector(grid, timeout=60_000)
    before = page.locator(grid).get_attribute("src")
    held = hold_next_join(page)
    page.locator("#truncation-first-seed input").fill("4321")
    page.locator("#truncation-summary").click()  # focus leaves the box: no Enter
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "leaving the seed box did not redraw"
    page.wait_for_selector("#truncation-grid .progress-text", timeout=5_000)  # pending shown
    for picture in (grid, sweep):
        assert picture_on_top(page, picture), f"{picture} is covered while it is redrawn"
    timer = page.locator("#truncation-grid .progress-text").inner_text()
    assert "/" not in timer, f"an estimate is shown: {timer!r}"
    assert page.locator(grid).get_attribute("src") == before
    release(page, held)
    wait_for_new_image(page, grid, before)
    page.wait_for_function(
        "() => !document.querySelector('#truncation-grid .progress-text')", timeout=30_000
    )
