"""Network architectures (plain nn.Modules, no weights, no devices): DCGAN, EfficientNet-Lite,
CycleGAN's ResNet generator. Weights are attached by advdemo.models.store."""
