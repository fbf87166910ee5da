"""The app's tabs, in the order a lecture meets them.

Each tab module exposes TITLE (the tab's label), TAB_ID (a stable id used in URLs and tests),
build() (creates the layout and wires its events inside an open gr.Tab) and, optionally,
CSS (a string added to the page's stylesheet). Tabs talk to models only through
advdemo.inference and to users only through advdemo.ui.
"""

from __future__ import annotations

from types import ModuleType

from advdemo.tabs import adversarial, arithmetic, cyclegan, latent_explorer, toy_gan, truncation

# Final order: latent explorer, truncation, vector arithmetic, cyclegan, adversarial, 1-D GAN.
TABS: list[ModuleType] = [latent_explorer, truncation, arithmetic, cyclegan, adversarial, toy_gan]
