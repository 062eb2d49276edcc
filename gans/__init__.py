"""ganbench's bottom floor: the course notes' GANs, their data sources and the one training loop.

``gans.base`` (errors, atomic writes, the cache folder, shared defaults) · ``gans.models`` (one
file per family, the registry and ``train_step``) · ``gans.data`` (data sources by kind) ·
``gans.training`` (the loop, the run directory, the scalar stream). This package imports no
other ganbench package.

>>> from gans.models import build_gan
>>> gan = build_gan("mnist_mlp")
"""

from .base import DataError, UserError

__all__ = ["UserError", "DataError"]
