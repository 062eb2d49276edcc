"""A training run's settings: :class:`TrainConfig`, checked once where it enters, resolved, compared on resume.

Every way into the loop checks the config the same way, with :meth:`TrainConfig.checked`: ``ganbench train``
(its flags), ``compare-batch`` (its plan), ``--resume`` (the run's saved ``config.json``, a file from
possibly someone else) and a plug-in family's defaults (:func:`resolve` checks the config after filling them
in). Nothing downstream (the data sources, the loop) checks a field again.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..base import PRECISIONS, UserError
from ..models import get_gan_entry
from ..runfolder import CONFIG

__all__ = [
    "TrainConfig",
    "resolve",
    "schedule",
    "saved_config_problem",
    "saved_train_config",
    "first_conflict",
    "resumed_config",
    "config_problem",
    "flag_of",
    "UNBOUNDED_STEPS",
]

UNBOUNDED_STEPS = 2**62  # the step cap of a run bounded by --time-budget alone


@dataclass
class TrainConfig:
    """Everything that decides a training run besides the GAN's own config."""

    gan: str  # registered GAN name
    dataset: str | None = None  # data source; None → the family's default
    data_root: str | None = None  # folder / file for on-disk data sets
    download: bool = False  # allow downloading mnist / fashion-mnist
    batch_size: int | None = None  # None → the seed's batch size for this GAN
    epochs: int | None = None  # None → the seed's epoch count (ignored when steps is set)
    steps: int | None = None  # total training steps; overrides epochs
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    seed: int = 0  # seeds Python, NumPy, torch, the data order and the sample z
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    log_every: int = 50  # steps between scalar flushes (the only GPU sync)
    sample_every: int = 0  # steps between sample grids; 0 → about 8 grids per run
    checkpoint_every: int = 1000  # steps between checkpoints (also at the end and on Ctrl-C)
    eval_every: int = 0  # steps between evaluations by callbacks; 0 → at the end only
    overrides: dict[str, Any] = field(default_factory=dict)  # GAN config fields (--set k=v)
    skip_corrupt: bool = False  # image-folder: skip unreadable images instead of failing
    workers: int = 0  # DataLoader workers for streamed data sets
    epoch_size: int | None = None  # synthetic data sets: samples per epoch
    time_budget: float | None = None  # seconds of training (evaluations excluded); the run stops at the first
    #                                   flush at or past it, so within one log interval of the budget
    eval_every_s: float = 0.0  # seconds of training between evaluations (at the next flush); 0 → by steps only
    evals: int = 0  # evaluations at equal fractions of the run, the last at the end (sets eval_every or
    #                 eval_every_s when neither is given; whole epochs when the epochs divide evenly)

    def checked(self, source: str | os.PathLike | None = None) -> TrainConfig:
        """This config, when every field has its type and range; otherwise a :class:`UserError`.

        ``source``: the file the config was read from (a run's config.json), named in the message;
        without it the message names the command-line flag."""
        problem = config_problem(dataclasses.asdict(self), flags=source is None)
        if problem:
            raise UserError(f"{source}: not a ganbench run configuration ({problem})" if source else problem)
        return self


def resolve(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with the family's defaults filled in (data set, batch size, epochs), then checked."""
    cls = get_gan_entry(cfg.gan).cls
    return dataclasses.replace(
        cfg,
        dataset=cfg.dataset or cls.default_dataset,
        batch_size=cfg.batch_size if cfg.batch_size is not None else cls.default_batch_size,
        # a time budget alone runs until the budget is spent; otherwise the seed's epoch count
        epochs=cfg.epochs
        if cfg.epochs is not None
        else (None if cfg.time_budget is not None and cfg.steps is None else cls.default_epochs),
    ).checked()  # a plug-in family's defaults are checked like the user's flags


def schedule(cfg: TrainConfig, total: int, spe: int, bounded: bool) -> TrainConfig:
    """Resolve ``log_every=0`` (about 100 logged points, at most every 50 steps) and ``evals``."""
    log_every = cfg.log_every or (max(1, min(50, total // 100)) if bounded else 50)
    eval_every, eval_every_s = cfg.eval_every, cfg.eval_every_s
    if cfg.evals and not eval_every and not eval_every_s:
        if not bounded:
            eval_every_s = cfg.time_budget / cfg.evals
        else:
            if cfg.steps is None and cfg.epochs % cfg.evals == 0:
                eval_every = spe * (cfg.epochs // cfg.evals)  # whole epochs: the same epoch points at every batch size
            else:
                eval_every = max(1, total // cfg.evals)
            eval_every = max(log_every, eval_every // log_every * log_every)  # evaluations land on logged steps
            if eval_every >= total:
                eval_every = 0  # at the end only
    return dataclasses.replace(cfg, log_every=log_every, eval_every=eval_every, eval_every_s=eval_every_s)


# Fields that define a run; on --resume each must match the saved run (steps and epochs may extend it).
_RUN_DEFINING = (
    "gan",
    "dataset",
    "data_root",
    "batch_size",
    "seed",
    "precision",
    "overrides",
    "device",
    "log_every",
    "sample_every",
    "checkpoint_every",
    "eval_every",
    "skip_corrupt",
    "epoch_size",
    "time_budget",
    "eval_every_s",
    "evals",
)


def _json_kind_ok(value: Any, annotation: str) -> bool:
    """Whether a JSON value fits a TrainConfig annotation (``int``, ``float | None``, ``dict[str, Any]`` …)."""
    kinds = [k.strip() for k in annotation.split("|")]
    if value is None:
        return "None" in kinds
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    for kind in kinds:
        if kind == "bool" and isinstance(value, bool):
            return True
        if kind == "int" and number and isinstance(value, int):
            return True
        if kind == "float" and number and math.isfinite(value):
            return True
        if kind == "str" and isinstance(value, str):
            return True
        if kind.startswith("dict") and isinstance(value, dict):
            return True
    return False


#: fields that must be ≥ 1 when set, and fields that must be ≥ 0
_POSITIVE_FIELDS = ("batch_size", "epochs", "steps", "epoch_size", "time_budget")
_NON_NEGATIVE_FIELDS = (
    "log_every",
    "sample_every",
    "checkpoint_every",
    "eval_every",
    "workers",
    "evals",
    "eval_every_s",
)


def config_problem(values: Any, *, flags: bool = False) -> str | None:
    """What makes a train config unusable, in words (None when it is sound): each field's JSON type, sign and
    choices. ``values``: a dict of TrainConfig fields (a run's saved ``train`` section may lack some).
    ``flags``: name the command-line flag (``--batch-size``) rather than the field (``batch_size``).

    config.json comes with a run directory, possibly from someone else: every field is checked before a value
    reaches the loop (a text batch size or a list seed would otherwise fail deep inside, a fractional log
    interval would be taken as is)."""
    if not isinstance(values, dict):
        return "the 'train' section is not an object"
    for f in dataclasses.fields(TrainConfig):
        if f.name not in values:
            continue
        v = values[f.name]
        name = flag_of(f.name) if flags else f.name
        if not _json_kind_ok(v, str(f.type)):
            return f"{name} {v!r} is not {str(f.type).replace(' | None', ' or null')}"
        if f.name == "precision" and v not in PRECISIONS:
            return f"{name} {v!r} is not one of {', '.join(PRECISIONS)}"
        if v is None or isinstance(v, (bool, str, dict)):
            continue
        if f.name in _POSITIVE_FIELDS and v <= 0:
            return f"{name} must be positive, got {v!r}" if flags else f"{name} {v!r} is not positive"
        if f.name in _NON_NEGATIVE_FIELDS and v < 0:
            return f"{name} must be ≥ 0, got {v!r}" if flags else f"{name} {v!r} is negative"
    return None


def saved_config_problem(saved: Any) -> str | None:
    """What makes a run's saved ``train`` section unusable, in words (None when it is sound)."""
    return config_problem(saved)


def flag_of(name: str) -> str:
    """The command-line flag of a TrainConfig field (fields without one are named as they are)."""
    return {
        "overrides": "--set",
        "epoch_size": "epoch_size",
        "eval_every_s": "eval_every_s",
        "gan": "GAN",
    }.get(name, "--" + name.replace("_", "-"))


def saved_train_config(saved: Any, path: Path) -> TrainConfig:
    """A run's saved ``train`` section as a :class:`TrainConfig`; anything unsound is a :class:`UserError`."""
    problem = config_problem(saved)  # types first: a dict of anything must not reach the constructor
    if problem:
        raise UserError(f"{path}: not a ganbench run configuration ({problem})")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    try:
        cfg = TrainConfig(**{k: v for k, v in saved.items() if k in known})
    except TypeError as e:
        raise UserError(f"{path}: not a ganbench run configuration ({e})") from None
    return cfg.checked(path)


def first_conflict(
    given: TrainConfig, run: TrainConfig, explicit: frozenset[str], fields: Sequence[str] = _RUN_DEFINING
) -> tuple[str, Any, Any] | None:
    """The first of ``fields`` where ``given`` asks for something else than the saved ``run``, as
    (field, asked, saved); a value equal to the default counts as asked only when it is in ``explicit``."""
    defaults = TrainConfig(gan=run.gan)
    for name in fields:
        new, old, default = getattr(given, name), getattr(run, name), getattr(defaults, name)
        if name == "gan" or new == old or (new == default and name not in explicit):
            continue
        if (name == "device" and str(new) == "auto") or (name == "log_every" and new == 0):
            continue  # "auto" and log_every 0 ask for the default the saved run already resolved
        return name, new, old
    return None


def resumed_config(
    given: TrainConfig, saved: dict[str, Any], out: Path, explicit: frozenset[str] = frozenset()
) -> TrainConfig:
    """The saved run's config, extended by ``given``'s steps/epochs; any other differing option is an error
    (a value equal to the default counts as given only when it is in ``explicit``)."""
    cfg = saved_train_config(saved, out / CONFIG)
    conflict = first_conflict(given, cfg, explicit)
    if conflict:
        name, new, old = conflict
        flag = "--set" if name == "overrides" else "--" + name.replace("_", "-")
        raise UserError(f"--resume {out}: {flag} {_show(new)} conflicts with the run's {_show(old)}; drop {flag}")
    if given.gan and given.gan != cfg.gan:
        if _same_external_class(given.gan, cfg.gan):  # the user's family file moved: train on from where it is now
            cfg = dataclasses.replace(cfg, gan=given.gan)
        else:
            raise UserError(f"--resume {out}: the GAN {given.gan!r} conflicts with the run's {cfg.gan!r}; drop it")
    if given.steps is not None or given.epochs is not None:  # resume may extend the run
        cfg = dataclasses.replace(cfg, steps=given.steps, epochs=given.epochs if given.steps is None else cfg.epochs)
    return cfg


def _same_external_class(given: str, saved: str) -> bool:
    """Two specs of one external family: the same class name in a file of the same name, or the same module
    path (a run records its family's spec; a moved checkout names the file again from its new place)."""
    if ":" not in given or ":" not in saved:
        return False
    (g_where, g_cls), (s_where, s_cls) = given.rsplit(":", 1), saved.rsplit(":", 1)
    return g_cls == s_cls and os.path.basename(g_where) == os.path.basename(s_where)


def _show(v: Any) -> str:
    if isinstance(v, dict):
        return ",".join(f"{k}={x}" for k, x in v.items()) or "(none)"
    return repr(v)
