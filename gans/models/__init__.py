"""The GAN families, one file each, and what they share.

``core`` holds the :class:`GAN` base class (the contract every family, built-in or a user's own, follows),
phases and ``train_step`` (the one step that training and the benchmarks both run); ``registry`` finds
families through the ``ganbench.gans`` entry points (ganbench's own are declared in its ``pyproject.toml``)
or through a ``PATH.py:CLASS`` / ``MODULE:CLASS`` spec the user typed. Importing this package loads no
family.
"""

from .core import GAN, Phase, StepContext, standard_bce_phases, train_step
from .registry import (
    GANEntry,
    apply_overrides,
    build_gan,
    check_family,
    get_gan_entry,
    iter_entries,
    list_gans,
    load_family,
)

__all__ = [
    "GAN",
    "GANEntry",
    "Phase",
    "StepContext",
    "apply_overrides",
    "build_gan",
    "check_family",
    "get_gan_entry",
    "iter_entries",
    "list_gans",
    "load_family",
    "standard_bce_phases",
    "train_step",
]
