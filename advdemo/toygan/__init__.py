"""The 1-D GAN: the game x = z + θ against a logistic D, its presets, playback, and plots."""
