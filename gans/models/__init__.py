"""The GAN families, one file each; importing this package registers every family.

``core`` holds what they share: the :class:`GAN` base class, phases, ``train_step`` (the one
step that training and the benchmarks both run) and the registry.
"""

from . import celeba_conv, celeba_mlp, cgan, dcgan, mnist_mlp, pattern1010, segan, wgan  # noqa: F401  (registers)
from .core import GAN, GANEntry, Phase, StepContext, build_gan, get_gan_entry, iter_entries, list_gans, train_step

__all__ = [
    "GAN",
    "GANEntry",
    "Phase",
    "StepContext",
    "build_gan",
    "get_gan_entry",
    "iter_entries",
    "list_gans",
    "train_step",
]
