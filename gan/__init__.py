"""Stage 2: GANs (DCGAN, cDCGAN, WGAN-GP, cWGAN-GP, DiffAugment) trained on object crops, with measured quality."""
