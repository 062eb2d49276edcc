"""Training: the one loop, the run directory it writes, the scalar stream and sample grids."""

from .loop import EXIT_DIVERGED, EXIT_INTERRUPTED, Callback, RunResult, TrainConfig, train
from .rundir import CHECKPOINT, CONFIG, METRICS, Run, load_checkpoint, load_run_gan, read_metrics
from .runtime import autocast_dtype, resolve_device, rng_state, seed_everything, set_rng_state, versions
from .stream import ScalarStream

__all__ = [
    "EXIT_DIVERGED",
    "EXIT_INTERRUPTED",
    "Callback",
    "RunResult",
    "TrainConfig",
    "train",
    "CHECKPOINT",
    "CONFIG",
    "METRICS",
    "Run",
    "load_checkpoint",
    "load_run_gan",
    "read_metrics",
    "autocast_dtype",
    "resolve_device",
    "rng_state",
    "seed_everything",
    "set_rng_state",
    "versions",
    "ScalarStream",
]
