"""Network architectures (plain nn.Modules, no weights, no devices): DCGAN, CycleGAN's ResNet
generator, the digits MLP and CNN. The ImageNet classifiers are timm's architectures (see
advdemo.models.registry). Weights are attached by advdemo.models.store."""
