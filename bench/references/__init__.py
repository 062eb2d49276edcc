"""Reference training loops that every benchmark row is compared with.

For a GAN, ``seed`` is the course notes' own training loop for it, as written and moved to the
device (only where the notes have code for it), and ``minimal`` the shortest correct loop with
the same maths as ganbench's family, data preloaded. A family declares its references itself
(``GAN.references``: kind → module); the built-in ones are plain scripts here, ``<gan>_<kind>.py``.
Each module has ``make_step(real01, device) -> step()`` (one call = ``CYCLE`` loop iterations on a
batch already on the device) and a module-level ``CYCLE``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import torch

__all__ = ["KINDS", "ReferenceStep", "references_for", "build_reference"]

KINDS = ("seed", "minimal")


@dataclass
class ReferenceStep:
    gan: str
    kind: str  # seed | minimal
    step: Callable[[], None]  # one call = `cycle` loop iterations
    cycle: int

    def run_cycle(self) -> None:
        self.step()


def references_for(gan: str) -> tuple[str, ...]:
    """The reference kinds this GAN's family declares (empty when none), in :data:`KINDS` order."""
    from gans.models.core import get_gan_entry

    declared = get_gan_entry(gan).cls.references
    return tuple(k for k in KINDS if k in declared)


def build_reference(
    gan: str, kind: str, batch_size: int, device: str | torch.device, *, seed: int = 0
) -> ReferenceStep:
    """The reference loop ``kind`` of ``gan`` on a random batch of the GAN's data shape on ``device``."""
    if kind not in references_for(gan):
        raise KeyError(f"no {kind!r} reference for {gan!r}")
    from gans.models.core import get_gan_entry

    mod = importlib.import_module(get_gan_entry(gan).cls.references[kind])  # declared by the installed family
    dev = torch.device(device)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    real01 = torch.rand((batch_size, *get_gan_entry(gan).cls.data_shape), generator=g).to(dev)
    return ReferenceStep(gan, kind, mod.make_step(real01, dev), int(getattr(mod, "CYCLE", 1)))
