"""The steps of a run before its first training step, in the order ``gans.training.loop`` calls them.

:func:`settled_config` (the config resolved and checked once, the same on every rank; the checkpoint a resume
starts from) · :func:`build` (seeds, the GAN, its data) · :func:`plan_run` (the run's length and schedules) ·
:func:`load_state` (a resume's weights, optimisers and RNG state) · :func:`open_run` (config.json written,
metrics.jsonl cut back to the checkpoint) · :func:`start_or_resume` (the run's first event).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import UserError
from ..data import DataOptions, load_data
from ..models import build_gan, get_gan_entry
from ..runfolder import METRICS, remove_stray_temporaries, truncate_metrics, write_config
from .config import UNBOUNDED_STEPS, TrainConfig, resolve, resumed_config, schedule
from .distributed import AGREED_SETTINGS, shard_batch, split_sync_bn
from .rundir import CHECKPOINT, Run, SilentRun, load_checkpoint, load_gan_state, read_run_config
from .runtime import host, resolve_device, seed_everything, set_rng_state, versions

__all__ = ["Plan", "settled_config", "build", "plan_run", "load_state", "open_run", "start_or_resume"]


@dataclass
class Plan:
    """How long a run is, and when it logs, samples, checkpoints and evaluates."""

    cfg: TrainConfig  # the resolved config, log_every / eval_every / eval_every_s filled in
    spe: int  # steps per epoch at this batch size
    total: int  # the step cap (UNBOUNDED_STEPS for a run bounded by its time budget alone)
    bounded: bool  # bounded by steps or epochs (else by the time budget alone)
    sample_every: int  # steps between sample grids; 0: at each evaluation and at the end


def settled_config(
    cfg: TrainConfig, out: Path, dctx: Any, resume: bool, explicit: frozenset[str]
) -> tuple[TrainConfig, dict[str, Any] | None]:
    """The run's config, resolved and checked (on resume: the saved one, extended by ``cfg``'s steps or
    epochs), the same on every rank; and the checkpoint a resume starts from."""
    ckpt = None
    if resume:
        if not out.is_dir():
            raise UserError(f"--resume {out}: no such run directory")
        saved = read_run_config(out)
        if not (out / CHECKPOINT).is_file():
            raise UserError(
                f"--resume {out}: no {CHECKPOINT} (the run stopped before its first checkpoint); "
                "start it again with a new --out"
            )
        ckpt = load_checkpoint(out / CHECKPOINT)
        cfg = resumed_config(cfg, saved["train"], out, explicit)
    elif (out / CHECKPOINT).exists() or (out / METRICS).exists():
        raise UserError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    cfg = resolve(cfg)
    # every rank runs the same settings (one collective); a difference stops all of them with one line
    dctx.check_agree({k: getattr(cfg, k) for k in AGREED_SETTINGS} | {"resume": resume})
    dctx.check_batch(cfg.batch_size)
    dctx.barrier()  # every rank has checked the run directory before rank 0 writes into it
    if dctx.is_writer:
        remove_stray_temporaries(out)
    return cfg, ckpt


def build(cfg: TrainConfig, dctx: Any) -> tuple[Any, Any, Any]:
    """The device, the seeded GAN (prepared for this world) and its data source."""
    gan_overrides, dctx.sync_bn = split_sync_bn(cfg.overrides)
    device = dctx.device(resolve_device(cfg.device))
    seed_everything(cfg.seed)
    gan = dctx.prepare_gan(build_gan(cfg.gan, gan_overrides, device=device))
    dctx.seed_rank(cfg.seed)  # world > 1: z and interpolates drawn per (seed, rank)
    options = DataOptions(
        root=cfg.data_root,
        download=cfg.download,
        seed=cfg.seed,
        skip_corrupt=cfg.skip_corrupt,
        workers=cfg.workers,
        epoch_size=cfg.epoch_size,
    )
    data = load_data(cfg.dataset, gan.data_shape, options=options, device=device)
    data.check_batch_size(cfg.batch_size)
    if gan.conditional and data.num_classes is None and data.name != "fake":  # fake: the family draws labels
        raise UserError(f"{cfg.gan} is conditional and needs a labelled data set; {data.name} has no labels")
    return device, gan, data


def plan_run(cfg: TrainConfig, data: Any) -> Plan:
    """The step cap from steps, epochs or the time budget, and the logging, evaluation and sample schedules."""
    spe = data.steps_per_epoch(cfg.batch_size)
    bounded = cfg.steps is not None or cfg.epochs is not None
    total = cfg.steps if cfg.steps is not None else cfg.epochs * spe if cfg.epochs is not None else UNBOUNDED_STEPS
    cfg = schedule(cfg, total, spe, bounded)
    # sample grids: about 8 per run; a run bounded by time alone draws them at each evaluation
    sample_every = cfg.sample_every or (max(1, total // 8) if bounded else 0)
    return Plan(cfg, spe, total, bounded, sample_every)


def load_state(gan: Any, ckpt: dict[str, Any] | None, out: Path, plan: Plan) -> dict[str, Any] | None:
    """On resume: the checkpoint's weights and optimisers into ``gan``; returns its RNG state, checked now."""
    if ckpt is None:
        return None
    done = int(ckpt["step"])
    if done > plan.total:
        raise UserError(
            f"--resume {out}: the run is already at step {done}; --steps/--epochs may extend it, "
            f"not shorten it to {plan.total} steps"
        )
    load_gan_state(gan, ckpt, out / CHECKPOINT)
    try:
        set_rng_state(ckpt["rng"])  # checked now, before anything is written; restored again later
    except UserError as e:
        raise UserError(f"{out / CHECKPOINT}: {e}") from None
    return ckpt["rng"]


def open_run(
    out: Path, dctx: Any, gan: Any, data: Any, device: Any, plan: Plan, ckpt: dict[str, Any] | None
) -> tuple[Run, int]:
    """The run directory opened for this run: config.json written, metrics.jsonl cut back to the checkpoint's
    step on resume (returns how many records went). Other ranks get a run that writes nothing."""
    cfg = plan.cfg
    if dctx.is_writer:
        out.mkdir(parents=True, exist_ok=True)
    config = {
        "gan": cfg.gan,
        "gan_config": dataclasses.asdict(gan.config),
        "gan_kind": gan.kind,
        "loss_kind": gan.loss_kind,
        "seed_section": get_gan_entry(cfg.gan).seed_section,
        "train": dataclasses.asdict(cfg),
        "dataset": data.name,
        "data": data.info,
        "device": str(device),
        "steps_per_epoch": plan.spe,
        "total_steps": plan.total if plan.bounded else None,  # None: bounded by time_budget alone
        "versions": versions(),
        "command": sys.argv,
        "distributed": dctx.info(cfg.batch_size),
    }
    dropped = truncate_metrics(out, int(ckpt["step"])) if ckpt is not None and dctx.is_writer else 0
    if dctx.is_writer:
        write_config(out, config)
    if dctx.active:
        data = dataclasses.replace(data, _epoch=_sharded(data._epoch, dctx.rank, dctx.world))
    run = Run(out, gan, data, cfg, device) if dctx.is_writer else SilentRun(out, gan, data, cfg, device)
    run.step = int(ckpt["step"]) if ckpt is not None else 0
    return run, dropped


def start_or_resume(
    run: Run, dctx: Any, plan: Plan, ckpt: dict[str, Any] | None, dropped: int
) -> tuple[str | None, tuple[float, float]]:
    """The run's first event (start, or resume with every rank's RNG restored). Returns the RNG note (a
    changed world size) and the clocks' offsets (wall and training seconds before this session)."""
    cfg = plan.cfg
    if ckpt is None:
        run.event(
            "start",
            f"{cfg.gan} on {run.data.name}, batch {cfg.batch_size}, "
            f"{plan.total if plan.bounded else f'{cfg.time_budget:g} s of'} steps on {run.device}",
            dataset=run.data.name,
            **host(),
        )
        return None, (0.0, 0.0)
    rng_note = dctx.restore_rng(ckpt, cfg.seed, run.step)
    if rng_note:
        run.event("world_size_changed", rng_note, world_size=dctx.world, saved_world_size=ckpt.get("world_size", 1))
    wall_offset = float(ckpt.get("wall", 0.0))
    train_offset = float(ckpt.get("train_s", wall_offset))
    note = (
        f"; {dropped} record(s) of metrics.jsonl past the checkpoint's step were removed (they are trained again)"
        if dropped
        else ""
    )
    run.event(
        "resume",
        f"resumed at step {run.step} of {plan.total if plan.bounded else f'a {cfg.time_budget:g} s budget'}{note}",
        dropped_records=dropped,
        **host(),
    )
    return rng_note, (wall_offset, train_offset)


def _sharded(epoch_fn, rank: int, world: int):
    """A data source's epoch at the global batch size, each batch cut to this rank's slice."""

    def epoch(bs, ep, skip, dev):
        for x, y in epoch_fn(bs, ep, skip, dev):
            yield shard_batch(x, rank, world), shard_batch(y, rank, world)

    return epoch
