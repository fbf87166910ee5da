"""Adversarial examples: attacks on [0, 1] images behind one registry, sweeps, robustness
checks (8-bit PNG, JPEG, transfer), and their plots."""
