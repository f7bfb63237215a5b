"""Stage 2: generators of object crops (a registry of families: the DCGAN-style GAN zoo, replay), trained on
train crops, judged on held-out crops (anchored quality, TSTR, memorisation) and sampled by quality tier.
The study's door is :mod:`blendaug.gan.api`; its config :class:`blendaug.gan.config.GanConfig`."""
