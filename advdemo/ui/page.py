"""The page around the tabs: lecture mode for a projector, the phone layout, explanations folded
to their try-this line, plotly figures whose text follows the mode.

Everything here is the browser's side (CSS and one script run at page load), so it applies to
every tab without the tabs knowing: a tab writes its explanation with `ui.explanation` and draws
plotly figures as usual; the plot builders of the subject packages stay free of Gradio and of
any notion of a lecture.

- **Lecture mode** (`?lecture=1`, or the toggle, which keeps the address in step so a reload
  stays in the mode): every text a hall must read is at least `LECTURE_MIN_PX`, tab labels,
  radio options, dropdown values, top-5 rows, slider numbers included; every plotly figure's
  fonts (axes, ticks, legend, title, annotations) are multiplied by `PLOT_SCALE`, read from the
  figure as drawn, so a figure the server sends later is scaled too, and leaving the mode puts
  the sizes back.
- **Compact pages** (lecture mode, or a screen narrower than `PHONE_MAX_PX`): each explanation
  is folded to its heading and its *try this* paragraph (moved to the top of the block), with a
  button that opens the rest; short notes are never folded.
- **Phone**: the header stacks and its title never breaks inside a word; the tabs wrap onto
  several rows instead of hiding behind a "…" menu (`gr.Tabs(overflow_behavior="wrap")`).
"""

from __future__ import annotations

import gradio as gr

LECTURE_MIN_PX = 18  # the smallest text anywhere on the page in lecture mode
PLOT_SCALE = 1.5  # plotly font sizes in lecture mode, relative to the figure's own (at least
# LECTURE_MIN_PX)
PLOT_HEIGHT_SCALE = 1.25  # and their height and top margin, so titles still fit
PHONE_MAX_PX = 640  # narrower screens get the phone layout and folded explanations
FOLD_MIN_CHARS = 400  # an explanation folds only if it hides at least this much text...
FOLD_MIN_PARTS = 2  # ...or at least this many paragraphs, lists or formulas

TOGGLE_ON = "Lecture mode: large text"  # what clicking does while the mode is off
TOGGLE_OFF = "Leave lecture mode (normal text)"  # ...and while it is on
UNFOLD = "▸ Read the explanation"
FOLD = "▾ Fold the explanation"
EXPLANATION_CLASS = "advdemo-explanation"


# Gradio copies each rule of the page's CSS with `.gradio-container.gradio-container-<v> .contain`
# in front (rules inside @media only in that form), so a rule that starts at `body` works only
# in its unprefixed copy: beside Gradio's prefixed rules it needs !important, and @media rules
# must not name body or .gradio-container.
CSS = f"""
#advdemo-header {{ align-items: center; }}
#lecture-toggle {{ max-width: 18em; }}
#advdemo-header h1 {{ overflow-wrap: normal; word-break: normal; hyphens: manual; }}

/* Lecture mode: large type and nothing but the demo, for a projector at the back of a hall. */
body.lecture-mode .gradio-container {{
  --text-xs: {LECTURE_MIN_PX}px; --text-sm: 19px; --text-md: 21px; --text-lg: 25px;
  --text-xl: 30px; --text-xxl: 38px; --block-label-text-size: {LECTURE_MIN_PX}px;
  --block-title-text-size: 20px; --block-info-text-size: {LECTURE_MIN_PX}px;
  --prose-text-size: 21px; --button-large-text-size: 22px; --button-small-text-size: 19px;
  --checkbox-label-text-size: 19px; --input-text-size: 20px; --section-header-text-size: 20px;
  max-width: 100% !important;
}}
body.lecture-mode .lecture-hide, body.lecture-mode footer {{ display: none !important; }}
/* Gradio sizes these in fixed pixels, not through the variables above. */
body.lecture-mode .gradio-container :is(
  .tab-container button, .overflow-dropdown button, label span, dt, dd, th, td,
  input, textarea, select, ul.options li, .options .item, [data-testid="block-info"],
  [data-testid="block-label"], .label-wrap span, .token span, [data-testid="status-tracker"] *,
  .toast-body, .toast-title, .toast-text
) {{ font-size: max(1em, {LECTURE_MIN_PX}px) !important; line-height: 1.3; }}
body.lecture-mode .gradio-container .tab-container button {{ font-size: 22px !important; }}
/* Labels wrap instead of being cut ("photo (upload, paste, or pick an exampl"). */
body.lecture-mode .gradio-container [data-testid="block-label"] {{
  white-space: normal; max-width: calc(100% - 4.5em); height: auto; overflow: visible;
  text-overflow: clip;
}}
body.lecture-mode .gradio-container [data-testid="block-label"] * {{
  white-space: normal; overflow: visible; text-overflow: clip;
}}

/* Folded explanations: the heading and the try-this line first, the rest behind a button. */
.advdemo-fold-button {{ display: none; }}
body.advdemo-compact .block.{EXPLANATION_CLASS}.advdemo-foldable .md {{
  display: flex; flex-direction: column;
}}
body.advdemo-compact .block.{EXPLANATION_CLASS}.advdemo-foldable .md > :is(h1, h2, h3, h4) {{
  order: -2;
}}
body.advdemo-compact .block.{EXPLANATION_CLASS}.advdemo-foldable .md > .advdemo-try-this {{
  order: -1;
}}
body.advdemo-compact .block.{EXPLANATION_CLASS}.advdemo-foldable:not(.advdemo-unfolded)
  .md > :not(h1, h2, h3, h4, .advdemo-try-this) {{ display: none; }}
body.advdemo-compact .block.{EXPLANATION_CLASS}.advdemo-foldable .advdemo-fold-button {{
  display: inline-block; margin-top: 0.4em; padding: 0.2em 0.8em; cursor: pointer;
  font-size: var(--text-md); border: 1px solid var(--border-color-primary);
  border-radius: var(--radius-md); background: var(--button-secondary-background-fill);
  color: var(--body-text-color);
}}

/* Phone: the header stacks, its title stays whole, no lecture toggle. */
@media (max-width: {PHONE_MAX_PX}px) {{
  #advdemo-header {{ flex-direction: column; align-items: stretch; gap: 0; }}
  #advdemo-header h1 {{ font-size: 1.6rem; line-height: 1.2; }}
  #advdemo-header .md > p {{ display: none; }}
  #lecture-toggle {{ display: none; }}
  .tab-container button {{ padding: 0.3em 0.6em; }}
}}
"""

# Runs once when the page loads. window.advdemoPage.toggle() is what the toggle's click runs.
JS = f"""
() => {{
  const SCALE = {PLOT_SCALE}, HEIGHT = {PLOT_HEIGHT_SCALE}, MIN = {LECTURE_MIN_PX};
  const PHONE = {PHONE_MAX_PX};
  const FOLD_CHARS = {FOLD_MIN_CHARS}, FOLD_PARTS = {FOLD_MIN_PARTS};
  const body = document.body;
  const phone = window.matchMedia(`(max-width: ${{PHONE}}px)`);
  const lecture = () => body.classList.contains("lecture-mode");
  const scaled = new WeakMap();  // a figure's layout object -> the font sizes it had
  const watched = new WeakSet();

  function label() {{
    const button = document.getElementById("lecture-toggle");
    if (!button) return;
    const text = lecture() ? {TOGGLE_OFF!r} : {TOGGLE_ON!r};
    if (button.textContent.trim() !== text) button.textContent = text;
    button.setAttribute("aria-pressed", String(lecture()));
  }}

  function fontSizes(obj, prefix, out, depth) {{
    if (!obj || typeof obj !== "object" || depth > 5) return;
    for (const [key, value] of Object.entries(obj)) {{
      if (key.startsWith("_") || key === "template") continue;
      if (!value || typeof value !== "object") continue;
      const path = Array.isArray(obj) ? `${{prefix}}[${{key}}]`
        : (prefix ? `${{prefix}}.${{key}}` : key);
      if (/font$/.test(key) && typeof value.size === "number") out[`${{path}}.size`] = value.size;
      else fontSizes(value, path, out, depth + 1);
    }}
  }}

  function stylePlot(gd) {{
    const Plotly = window.Plotly;
    if (!Plotly || !gd.layout || !gd._fullLayout) return;
    const done = scaled.get(gd.layout);
    if (lecture() && !done) {{
      const sizes = {{}};
      fontSizes(gd._fullLayout, "", sizes, 0);
      const update = {{}};
      for (const [path, size] of Object.entries(sizes)) {{
        update[path] = Math.max(MIN, Math.round(size * SCALE));
      }}
      // room for the larger text: an axis title needs the height, a title the top margin
      // (where Gradio's own label of the plot also sits)
      if (gd._fullLayout.height) {{
        sizes.height = gd._fullLayout.height;
        update.height = Math.round(gd._fullLayout.height * HEIGHT);
      }}
      const top = gd._fullLayout.margin && gd._fullLayout.margin.t;
      if (top) {{
        sizes["margin.t"] = top;
        update["margin.t"] = Math.round(top * HEIGHT);
      }}
      for (const key of Object.keys(gd._fullLayout)) {{
        if (/^[xy]axis\\d*$/.test(key)) update[`${{key}}.automargin`] = true;
      }}
      scaled.set(gd.layout, sizes);
      Plotly.relayout(gd, update);
    }} else if (!lecture() && done) {{
      scaled.delete(gd.layout);
      Plotly.relayout(gd, done);
    }}
  }}

  function watchPlots() {{
    for (const gd of document.querySelectorAll(".js-plotly-plot")) {{
      if (!watched.has(gd) && typeof gd.on === "function") {{
        watched.add(gd);
        gd.on("plotly_afterplot", () => stylePlot(gd));
      }}
      stylePlot(gd);
    }}
  }}

  function prepareFolds() {{
    for (const block of document.querySelectorAll(".block.{EXPLANATION_CLASS}")) {{
      const md = block.querySelector(".md");
      if (!md) continue;
      let hiddenChars = 0, hiddenParts = 0;
      for (const part of md.children) {{
        const text = part.textContent.trim();
        if (/^try this\\b/i.test(text)) {{ part.classList.add("advdemo-try-this"); continue; }}
        if (/^H[1-4]$/.test(part.tagName)) continue;
        hiddenChars += text.length; hiddenParts += 1;
      }}
      const foldable = hiddenChars >= FOLD_CHARS || hiddenParts >= FOLD_PARTS;
      block.classList.toggle("advdemo-foldable", foldable);
      let button = block.querySelector(":scope > .advdemo-fold-button");
      if (foldable && !button) {{
        button = document.createElement("button");
        button.type = "button";
        button.className = "advdemo-fold-button";
        button.addEventListener("click", () => {{
          const open = block.classList.toggle("advdemo-unfolded");
          button.textContent = open ? {FOLD!r} : {UNFOLD!r};
          button.setAttribute("aria-expanded", String(open));
        }});
        button.textContent = {UNFOLD!r};
        button.setAttribute("aria-expanded", "false");
        block.appendChild(button);
      }}
    }}
  }}

  function compact() {{
    body.classList.toggle("advdemo-compact", lecture() || phone.matches);
  }}

  let pending = false;
  function refresh() {{
    pending = false;
    label(); compact(); prepareFolds(); watchPlots();
  }}
  function soon() {{ if (!pending) {{ pending = true; requestAnimationFrame(refresh); }} }}

  window.advdemoPage = {{
    toggle() {{
      const on = !lecture();
      body.classList.toggle("lecture-mode", on);
      const url = new URL(window.location.href);
      if (on) url.searchParams.set("lecture", "1"); else url.searchParams.delete("lecture");
      window.history.replaceState(null, "", url);
      refresh();
      window.dispatchEvent(new Event("resize"));  // plotly refits its figures to the new text
    }},
  }};
  if (new URLSearchParams(window.location.search).get("lecture") === "1") {{
    body.classList.add("lecture-mode");
  }}
  phone.addEventListener("change", soon);
  new MutationObserver(soon).observe(body, {{ childList: true, subtree: true }});
  refresh();
}}
"""

TOGGLE_JS = "() => { window.advdemoPage && window.advdemoPage.toggle(); }"


def lecture_toggle() -> gr.Button:
    """The button that turns lecture mode on and off in the browser (no server round trip);
    its text always says what a click will do."""
    button = gr.Button(TOGGLE_ON, elem_id="lecture-toggle", size="sm")
    button.click(None, js=TOGGLE_JS, api_visibility="private")
    return button
