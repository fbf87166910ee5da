"""Models: the runtime (device, threads), the registry of specs, the wrappers, the fast paths,
the architectures (nets/), the built-in checkpoints, and the model store that owns them all."""
