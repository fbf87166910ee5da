"""advdemo: an interactive app that teaches adversarial examples and GANs.

The package is importable without torch or gradio (set-up code in checkpoints.py runs
before either is installed); heavy modules import them themselves.
"""

__version__ = "0.1.0"
