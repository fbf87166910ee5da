"""The page around the tabs, in a real browser: lecture mode on a projector (1920×1080 and
1366×768), a phone (390×844), folded explanations, error messages that stay (issues #15, #20).

Screenshots land in tests/artifacts/page-*.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from advdemo.ui import page as ui_page

# each tab and an element of its demo that must be on the first screen in lecture mode...
DEMOS = {
    "Latent explorer": "#latent-face",
    "Truncation": "#truncation-sweep",
    "Vector arithmetic": "#arith-gallery",
    "CycleGAN": "#cg-input",
    "Adversarial playground": "#adv-image",
    "Defences & black box": "#def-presets",
    "1-D GAN": "#toy-gan-game",
    "2-D GAN lab": "#gan-lab-main",
}
# ...and within one scroll on a phone, where a row's columns stack (the 1-D GAN's controls
# column comes before its plots: its preset list and Play button are what is reached)
PHONE_DEMOS = {**DEMOS, "1-D GAN": "#toy-gan-play"}

# Every visible text node (HTML and SVG, plotly's included) and every text box smaller than
# `min` px: [size, description]. A node counts when it and its ancestors are displayed.
SMALL_TEXT = """(min) => {
  const shown = el => { for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.display === "none" || cs.visibility === "hidden") return false; }
    const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const out = [], walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    // .sr-only: a 1-pixel clipped box for screen readers (Gradio's status announcements)
    if (!node.textContent.trim() || !el || el.closest("script, style, .katex-mathml, .sr-only")) {
      continue;
    }
    if (!shown(el)) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (size < min) out.push([size, `${el.tagName} ${node.textContent.trim().slice(0, 40)}`]);
  }
  for (const el of document.querySelectorAll("input, textarea")) {
    if (["range", "checkbox", "radio", "file", "hidden"].includes(el.type) || !shown(el)) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (size < min) out.push([size, `input ${el.type} ${el.value.slice(0, 20)}`]);
  }
  return out;
}"""

PLOT_TEXT_SIZES = """() => [...document.querySelectorAll(".js-plotly-plot text")]
  .filter(t => t.textContent.trim() && t.getBoundingClientRect().width > 0)
  .map(t => parseFloat(getComputedStyle(t).fontSize))"""

CLIPPED_LABELS = """() => [...document.querySelectorAll('[data-testid="block-label"]')]
  .filter(l => l.getBoundingClientRect().width > 0)
  .flatMap(l => [l, ...l.querySelectorAll("*")])
  .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflow !== "visible")
  .map(e => e.textContent.trim())"""


def _open(browser, url: str, width: int, height: int):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_selector("#lecture-toggle", state="attached", timeout=60_000)
    return page


def _tab(page, title: str, demos: dict[str, str] = DEMOS) -> None:
    page.get_by_role("tab", name=title).click()
    page.wait_for_selector(demos[title], state="visible", timeout=30_000)


def _plots_scaled(page, minimum: float) -> None:
    page.wait_for_function(
        f"() => {{ const s = ({PLOT_TEXT_SIZES})();"
        f" return s.length > 0 && Math.min(...s) >= {minimum}; }}",
        timeout=30_000,
    )


@pytest.mark.browser
@pytest.mark.slow
def test_lecture_mode_scales_every_text_and_figure(browser, app_url, artifacts: Path):
    """#20 item 2: at 1920×1080 with ?lecture=1 nothing on any tab is under LECTURE_MIN_PX, plots
    included; no label is cut; the toggle says what a click does, and leaving the mode puts
    the figures' own sizes back."""
    page = _open(browser, f"{app_url}/?lecture=1", 1920, 1080)
    toggle = page.locator("#lecture-toggle")
    page.wait_for_function(
        "t => document.querySelector('#lecture-toggle').textContent.trim() === t",
        arg=ui_page.TOGGLE_OFF,
    )
    assert toggle.get_attribute("aria-pressed") == "true"
    smallest = ui_page.LECTURE_MIN_PX
    for title in DEMOS:
        _tab(page, title)
        if title == "Adversarial playground":  # top-5 rows, metrics, both plots
            page.locator("#adv-preset-panda").click()
            page.wait_for_selector("#adv-after dt", timeout=60_000)
            page.wait_for_selector("#adv-history .js-plotly-plot", timeout=60_000)
        if title in ("Truncation", "Adversarial playground", "1-D GAN"):
            _plots_scaled(page, smallest)
        page.wait_for_timeout(300)  # the page script runs on the next animation frame
        assert page.evaluate(SMALL_TEXT, smallest) == [], title
        assert page.evaluate(CLIPPED_LABELS) == [], title
        name = title.lower().replace(" ", "-")
        page.screenshot(path=str(artifacts / f"page-lecture-1920-{name}.png"))

    # leaving: the button says so, the address forgets the mode, plots get their own sizes back
    _tab(page, "1-D GAN")  # a tab with plotly figures (the 2-D GAN lab draws pictures)
    toggle.click()
    page.wait_for_function(
        "t => document.querySelector('#lecture-toggle').textContent.trim() === t",
        arg=ui_page.TOGGLE_ON,
    )
    assert toggle.get_attribute("aria-pressed") == "false"
    assert "lecture" not in page.url
    page.wait_for_function(f"() => Math.min(...({PLOT_TEXT_SIZES})()) < {smallest}", timeout=10_000)
    toggle.click()  # and back on: scaled again, in the address again
    _plots_scaled(page, smallest)
    assert "lecture=1" in page.url
    page.close()


@pytest.mark.browser
@pytest.mark.parametrize(("width", "height"), [(1366, 768), (1920, 1080)])
def test_lecture_mode_opens_on_the_demo(browser, app_url, artifacts: Path, width, height):
    """#15 projector: in lecture mode each tab's explanation is folded to its heading and its
    try-this line (first), so the demo starts on the first screen; one click opens the rest."""
    page = _open(browser, f"{app_url}/?lecture=1", width, height)
    for title, demo in DEMOS.items():
        _tab(page, title)
        page.wait_for_timeout(300)
        top = page.locator(demo).evaluate("e => e.getBoundingClientRect().top")
        assert top < height - 100, f"{title}: the demo starts at {top:.0f} px"
        name = title.lower().replace(" ", "-")
        page.screenshot(path=str(artifacts / f"page-lecture-{width}-{name}-top.png"))

    _tab(page, "Latent explorer")
    block = page.locator(".block.advdemo-foldable:visible").first
    try_this = block.locator(".advdemo-try-this")
    hidden = block.locator(".md > p:not(.advdemo-try-this)").first
    assert try_this.is_visible() and not hidden.is_visible()
    heading_bottom = block.locator("h3").evaluate("e => e.getBoundingClientRect().bottom")
    assert try_this.evaluate("e => e.getBoundingClientRect().top") >= heading_bottom
    assert hidden.evaluate("e => e.getBoundingClientRect().top") == 0  # not laid out
    block.locator(".advdemo-fold-button").click()
    assert hidden.is_visible()
    assert block.locator(".advdemo-fold-button").inner_text() == ui_page.FOLD
    page.close()


@pytest.mark.browser
def test_normal_mode_keeps_explanations_open(browser, app_url):
    page = _open(browser, app_url, 1366, 900)
    _tab(page, "Latent explorer")
    page.wait_for_timeout(300)
    block = page.locator(".block.advdemo-explanation:visible").first
    assert block.locator(".md > p").first.is_visible()
    assert not block.locator(".advdemo-fold-button").is_visible()
    page.close()


@pytest.mark.browser
def test_phone_layout(browser, app_url, artifacts: Path):
    """#15 phone: the title breaks only between words, every tab is visible (wrapped, no "…"
    menu), each tab's demo starts within the first screen or one scroll."""
    width, height = 390, 844
    page = _open(browser, app_url, width, height)
    split_words = page.evaluate(
        """() => { const h = document.querySelector("#advdemo-header h1"), out = [];
          const text = h.firstChild, words = text.textContent.matchAll(/\\S+/g);
          for (const m of words) { const r = document.createRange();
            r.setStart(text, m.index); r.setEnd(text, m.index + m[0].length);
            const lines = new Set([...r.getClientRects()].map(q => Math.round(q.top)));
            if (lines.size > 1) out.push(m[0]); }
          return out; }"""
    )
    assert split_words == []
    tabs = page.get_by_role("tab")
    assert tabs.count() == len(DEMOS)
    for i in range(tabs.count()):
        box = tabs.nth(i).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width
    assert not page.get_by_role("button", name="More tabs").is_visible()
    for title, demo in PHONE_DEMOS.items():
        _tab(page, title, PHONE_DEMOS)
        page.wait_for_timeout(300)
        top = page.locator(demo).evaluate("e => e.getBoundingClientRect().top + window.scrollY")
        assert top < 2 * height - 150, f"{title}: the demo starts at {top:.0f} px"
        name = title.lower().replace(" ", "-")
        page.screenshot(path=str(artifacts / f"page-phone-{name}.png"))
    page.close()


@pytest.mark.browser
def test_error_messages_stay_until_closed(browser, app_url, tmp_path):
    """#20 item 6: an error's message stays on screen until the user closes it (Gradio's toast
    vanished after 10 s and left bare "Error" badges on the outputs)."""
    bad = tmp_path / "bad.png"
    bad.write_text("not an image at all")
    page = _open(browser, app_url, 1366, 900)
    _tab(page, "Vector arithmetic")
    page.locator("#arith-inversion-panel button").first.click()
    page.locator("#arith-upload input[type=file]").set_input_files(str(bad))
    page.locator("#arith-invert").click()
    toast = page.locator("[data-testid=toast-body]")
    toast.wait_for(timeout=30_000)
    assert "not an image this app can read" in toast.inner_text()
    assert toast.locator(".timer").count() == 0  # Gradio's countdown to hiding it
    page.locator("[data-testid=toast-close]").click()
    toast.wait_for(state="detached", timeout=5_000)
    page.close()
