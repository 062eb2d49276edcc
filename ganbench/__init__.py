"""ganbench: a GAN benchmark and diagnostics suite for PyTorch — the command line and the Python API.

The Python API, for your own GAN and your own training loop (every name is imported on first use, so
``import ganbench`` stays as fast as ``ganbench --help``)::

    import ganbench

    class MyGAN(ganbench.GAN): ...              # a family: train, sweep, regress, compare-batch it by
                                                # `ganbench train my_gan.py:MyGAN` (README, "Your own GAN")
    monitor = ganbench.EquilibriumMonitor()     # in your loop: monitor.update(d_real=…, d_fake=…) per step
    monitor.verdict()                           # balanced, d_dominates, g_dominates, oscillating, …
    ganbench.evaluate(fake=samples, real="fashion-mnist")   # .collapse / .quality verdicts, metrics

The names in ``__all__`` are a promise (a test holds them stable); changes are noted in README.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "GAN",
    "Phase",
    "StepContext",
    "standard_bce_phases",
    "load_family",
    "EquilibriumMonitor",
    "EquilibriumVerdict",
    "evaluate",
    "Evaluation",
    "Judgement",
    "UserError",
]

# public name → the module that defines it (imported on first access)
_HOMES = {
    "GAN": "gans.models.core",
    "Phase": "gans.models.core",
    "StepContext": "gans.models.core",
    "standard_bce_phases": "gans.models.core",
    "load_family": "gans.models.registry",
    "EquilibriumMonitor": "diagnostics.monitor",
    "EquilibriumVerdict": "diagnostics.monitor",
    "evaluate": "ganbench.api",
    "Evaluation": "ganbench.api",
    "Judgement": "ganbench.api",
    "UserError": "gans.base",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'ganbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
