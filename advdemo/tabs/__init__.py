"""The app's tabs, in the order a lecture meets them.

The contract every tab module keeps (app.py relies on nothing else):
- TITLE: the tab's label; TAB_ID: a stable id used in URLs and tests; CSS (optional): added
  to the page's stylesheet.
- build(store): creates the layout inside an open gr.Tab, then wires its events. Endpoint
  functions are plain module functions that take the model store first; build binds it
  (ui.bind) so the API documents only the user's parameters. It may return a dict of
  components another tab's link() uses (nothing else reads it).
- link(store, tabs, exports) (optional): events from one tab into another, wired after every
  tab is built; `exports` maps TAB_ID to what each build returned, `tabs` is the gr.Tabs (an
  output that selects a tab). The latent explorer opens the arithmetic tab's inverted face.
- warm_up(store): work worth doing before the first user arrives (caches, compiled paths);
  app.main runs every tab's warm_up in one background thread after the page is served.
Tabs hold layout and wiring only: they ask the store for the models an event needs and hand
them to the library (advdemo.faces, .adversarial, .translation, .toygan, .gan2d), which
knows nothing of Gradio; users hear of errors through advdemo.ui.
"""

from __future__ import annotations

from types import ModuleType

from advdemo.tabs import (
    adversarial,
    arithmetic,
    cyclegan,
    defences,
    gan_lab,
    latent_explorer,
    toy_gan,
    truncation,
)

# Final order: latent explorer, truncation, vector arithmetic, cyclegan, adversarial, defences
# and black box, 1-D GAN, 2-D GAN lab.
TABS: list[ModuleType] = [
    latent_explorer,
    truncation,
    arithmetic,
    cyclegan,
    adversarial,
    defences,
    toy_gan,
    gan_lab,
]
