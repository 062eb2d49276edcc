"""Importing this module registers every GAN family (one file each)."""

from . import celeba_conv, celeba_mlp, dcgan, mnist_mlp, pattern1010  # noqa: F401

# Families added beside the seed's runnable five; each file registers itself on import.
for _name in ("cgan", "wgan", "segan"):
    try:
        __import__(f"{__package__}.{_name}")
    except ModuleNotFoundError as _e:  # a family file not present in this checkout
        if _e.name != f"{__package__}.{_name}":
            raise
