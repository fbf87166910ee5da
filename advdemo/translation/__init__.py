"""Image-to-image translation: CycleGAN at any size (aspect kept, tiled when large, compiled
where it pays), reconstruction F(G(x)) and its error map."""
