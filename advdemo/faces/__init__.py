"""Faces: a DCGAN's latent space: codes and paths (latent), named directions and probes
(attributes), what the latent explorer draws (views) and the truncation tab (truncation),
vector arithmetic (arithmetic) and finding the code of a photo (inversion)."""
