"""``compare-batch``: train one GAN at several batch sizes (same seed, same data) and compare them.

The course notes claim that on the MNIST GAN a batch of 512 gives worse images than 96. This
experiment answers that kind of claim from data: it trains every (batch size, seed) pair through
the one training loop with diagnostics on, evaluating at the same epochs (``evals`` points, the
last at the end). The ``ganbench compare-batch`` command then hands the run directories to
``reports.compare``, which writes each run's report, ``comparison.html`` and ``comparison.json``.

Each run is an ordinary run directory under ``OUT/runs`` (config, metrics, samples, checkpoints),
so a finished run is reused and an interrupted one resumes — when it is the run this plan asks
for (:func:`check_existing_run`: same GAN, batch size, seed, length, data, precision and ``--set``);
anything else in its place is an error before anything trains, never silently part of the comparison.

Time budget (``--time-budget S``): every run trains for S seconds of *training* time
(evaluations excluded) and the loop itself stops at the first logged step at or past S, so each
run ends within one log interval of the budget; evaluations fall at equal fractions of S.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from diagnostics.live import training_callbacks
from gans.base import UserError, check_batch_sizes
from gans.models import get_gan_entry
from gans.runfolder import CHECKPOINT, CONFIG, ENDED, read_run_config, read_status
from gans.signals import Interrupted
from gans.training import TrainConfig, train
from gans.training.config import first_conflict, saved_train_config
from gans.training.rundir import load_checkpoint

__all__ = ["ComparisonRuns", "compare_batch", "plan_runs", "DEFAULT_EPOCHS", "DEFAULT_EVALS", "DEFAULT_EVAL_SAMPLES"]

# On glyphs (60,000 training images) 10 epochs is 6,250 steps at batch 96 — where the seed's MNIST GAN
# draws digits of most classes — but only 1,170 at 512: equal epochs means equal passes over the data,
# so the large batch takes fewer, larger steps. (digits, 1,437 images, needs --epochs 400 for as many steps.)
DEFAULT_EPOCHS = 10
DEFAULT_EVALS = 5  # evaluations per run, at equal fractions of the run (the last at the end)
DEFAULT_EVAL_SAMPLES = 1000
# a run bounded by time stops at a logged step: log often enough that the overshoot stays small
BUDGET_LOG_EVERY = 10


@dataclass
class ComparisonRuns:
    """The trained runs of a comparison and the plan that produced them (shown in the report)."""

    run_dirs: list[Path]
    plan: dict[str, Any]


@contextmanager
def _cpu_threads(device: str):
    """On the CPU, train with half the cores' threads (at least one), as the classifier extractor does.

    Small matrix products scale badly across threads and collapse when the machine is shared: the
    MNIST GAN's step measured 57 ms with one thread and 820 ms with two on a busy 2-core machine.
    """
    import torch

    threads = torch.get_num_threads()
    use = threads
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        use = max(1, min(threads, (os.cpu_count() or 2) // 2))
    torch.set_num_threads(use)
    try:
        yield use
    finally:
        torch.set_num_threads(threads)


def check_existing_run(cfg: TrainConfig, rd: Path) -> None:
    """A folder already at a run's place in ``OUT/runs`` must hold that very run (finished, or to resume,
    with a checkpoint that loads safely).

    A finished run is reused as it is, so one trained with another GAN, batch size, seed, length,
    data set or ``--set`` would put a different experiment into the comparison under this one's
    name. Anything that is not this plan's run is a :class:`UserError` naming the difference.
    """
    fix = "choose another --out, or delete that folder to train it again"
    if not rd.is_dir() or rd.is_symlink():
        raise UserError(f"{rd} is in the way of this comparison's run (not a run folder); {fix}")
    status = read_status(rd)
    if status not in ENDED and not (rd / CHECKPOINT).is_file():
        return  # nothing trained to keep (empty, or stopped before its first checkpoint): it starts again
    if not (rd / CONFIG).is_file() or status is None:
        raise UserError(f"{rd} holds no readable run (no {CONFIG} or no status in metrics.jsonl); {fix}")
    config = read_run_config(rd)
    try:
        saved = saved_train_config(config["train"], rd / CONFIG)
    except UserError as e:
        raise UserError(f"{e}; {fix}") from None
    if config.get("gan") != cfg.gan:
        raise UserError(
            f"{rd} holds a run with GAN {config.get('gan')!r}, but this comparison asks for {cfg.gan!r}; {fix}"
        )
    # what the comparison sets is asked for even at its default; the data and the length only when given
    given = [f for f in ("epochs", "steps", "dataset", "data_root") if getattr(cfg, f) is not None]
    fields = ("batch_size", "seed", "precision", "overrides", "time_budget", "evals", *given)
    asked = dataclasses.replace(cfg, overrides=json.loads(json.dumps(cfg.overrides)))  # tuples as JSON keeps them
    conflict = first_conflict(asked, saved, frozenset(fields), fields)
    if conflict:
        name, new, old = conflict
        what = _LABELS.get(name, name.replace("_", " "))
        raise UserError(f"{rd} holds a run with {what} {old!r}, but this comparison asks for {new!r}; {fix}")
    if status not in ENDED:
        load_checkpoint(rd / CHECKPOINT)  # the run to resume must load safely before anything trains


_LABELS = {
    "batch_size": "batch size",
    "overrides": "--set",
    "time_budget": "time budget (s)",
    "evals": "evaluations",
    "dataset": "data set",
}


def plan_runs(gan: str, batch_sizes: Sequence[int], seeds: Sequence[int], out: Path) -> list[tuple[int, int, Path]]:
    """(batch size, seed, run directory) for every run of the comparison, seeds outermost."""
    from gans.families import folder_name

    name = folder_name(gan)  # a PATH.py:CLASS spec must not become a path
    return [(bs, seed, out / "runs" / f"{name}-bs{bs}-seed{seed}") for seed in seeds for bs in batch_sizes]


def compare_batch(
    gan: str,
    batch_sizes: Sequence[int],
    *,
    out: str | os.PathLike,
    epochs: int | None = None,
    time_budget: float | None = None,
    seeds: Sequence[int] = (0,),
    dataset: str | None = None,
    data_root: str | None = None,
    download: bool = False,
    eval_samples: int = DEFAULT_EVAL_SAMPLES,
    features: str = "auto",
    device: str = "auto",
    precision: str = "fp32",
    evals: int = DEFAULT_EVALS,
    overrides: dict | None = None,
    diagnostics: bool = True,
    progress: bool = True,
    steps_per_run: int | None = None,
    log: Callable[[str], Any] | None = None,
) -> ComparisonRuns:
    """Train every (batch size, seed) into ``out/runs``; the report is written by ``reports.compare``.

    Finished runs already in ``out/runs`` are reused (so re-running re-renders); unfinished ones resume.
    A run stopped by SIGINT/SIGTERM (checkpoint kept) ends the comparison with :class:`gans.signals.Interrupted`
    (exit 130/143): no later run trains and no comparison of a half run is written.
    ``steps_per_run`` fixes the steps of every run instead (dry runs and tests).
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    get_gan_entry(gan)
    bss = check_batch_sizes(batch_sizes, at_least=2)
    if epochs is not None and time_budget is not None:
        raise UserError("give --epochs or --time-budget, not both")
    if evals < 1:
        raise UserError("--evals must be ≥ 1")
    seeds = list(dict.fromkeys(int(s) for s in seeds)) or [0]
    if epochs is None and time_budget is None and steps_per_run is None:
        epochs = DEFAULT_EPOCHS
    out = Path(out)
    plan: dict[str, Any] = {
        "gan": gan,
        "batch_sizes": bss,
        "seeds": seeds,
        "epochs": epochs,
        "time_budget_s": time_budget,
        "evals": evals,
        "eval_samples": eval_samples,
        "features": features,
        "device": device,
        "precision": precision,
        "diagnostics": diagnostics,
    }

    def config_for(bs: int, seed: int) -> TrainConfig:
        return TrainConfig(
            gan=gan,
            dataset=dataset,
            data_root=data_root,
            download=download,
            batch_size=bs,
            epochs=epochs if steps_per_run is None else None,
            steps=steps_per_run,
            time_budget=time_budget,
            device=device,
            seed=seed,
            precision=precision,
            overrides=dict(overrides or {}),
            log_every=0 if time_budget is None else BUDGET_LOG_EVERY,
            evals=evals,
        )

    # every run's config is checked, every run already in OUT/runs must be this plan's run, and one to resume
    # must load safely, before anything trains
    for bs, seed, rd in plan_runs(gan, bss, seeds, out):
        cfg = config_for(bs, seed).checked()
        if rd.exists() or rd.is_symlink():
            check_existing_run(cfg, rd)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    run_dirs: list[Path] = []
    t_all = time.perf_counter()
    for bs, seed, rd in plan_runs(gan, bss, seeds, out):
        run_dirs.append(rd)
        status = read_status(rd)
        if status in ENDED:
            log(f"reusing {rd} ({status})")
            continue
        if rd.is_dir() and any(rd.iterdir()) and not (rd / CHECKPOINT).is_file():
            log(f"restarting {rd}: it stopped before its first checkpoint")
            shutil.rmtree(rd)
            status = None
        cfg = config_for(bs, seed)
        callbacks = list(training_callbacks(eval_samples=eval_samples, features=features)) if diagnostics else []
        what = (
            f"{time_budget:g} s of training"
            if time_budget is not None
            else f"{epochs} epochs"
            if epochs
            else f"{steps_per_run} steps"
        )
        log(f"training {gan} batch {bs} seed {seed}: {what} → {rd}")
        with _cpu_threads(device) as threads:
            plan["cpu_threads"] = threads
            result = train(cfg, rd, resume=status is not None, callbacks=callbacks, progress=progress)
        if result.status == "interrupted":  # never compare a half run as if it were whole
            raise Interrupted(
                result.signal or signal.SIGINT,
                f"interrupted: {rd} stopped at step {result.step} with its checkpoint; no comparison was written; "
                "run the same command again to resume",
            )
    plan["total_wall_s"] = time.perf_counter() - t_all
    return ComparisonRuns(run_dirs, plan)
