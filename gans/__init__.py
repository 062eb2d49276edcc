"""ganbench's GAN zoo: the course notes' GANs, their data sources and the one training loop.

>>> from gans import build_gan, list_gans
>>> gan = build_gan("mnist_mlp")
"""

from .core import GAN, Phase, StepContext, build_gan, get_gan_entry, list_gans, train_step
from .errors import DataError, UserError

__all__ = [
    "GAN",
    "Phase",
    "StepContext",
    "build_gan",
    "get_gan_entry",
    "list_gans",
    "train_step",
    "UserError",
    "DataError",
]
