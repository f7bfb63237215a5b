"""Stage 5: a torchvision crop classifier trained on real vs real + synthetic crops."""
