"""The one training loop (the run directory it writes is described in ``rundir.py``).

The loop (1) builds the GAN and data, (2) runs ``train_step`` — the same function the benchmarks
time — feeding the scalar stream, (3) flushes the stream every ``log_every`` steps (the only GPU
sync), (4) writes samples, checkpoints and callbacks' evaluations on their schedules, and
(5) stops cleanly on Ctrl-C (checkpoint written) or on a non-finite loss (the last good checkpoint
is kept and the run says so).
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..base import UserError
from ..data import DataOptions, load_data
from ..lock import LOCK_NAME, FolderLock
from ..models import build_gan, get_gan_entry, train_step
from ..runfolder import METRICS, remove_stray_temporaries, truncate_metrics, write_config
from .config import (
    UNBOUNDED_STEPS,
    TrainConfig,
    first_conflict,
    resolve,
    resumed_config,
    saved_config_problem,
    saved_train_config,
    schedule,
)
from .distributed import AGREED_SETTINGS, leave_group, shard_batch, split_sync_bn
from .distributed import context as dist_context
from .rundir import (
    CHECKPOINT,
    Run,
    fixed_sample_inputs,
    load_checkpoint,
    load_gan_state,
    read_run_config,
    save_checkpoint,
    write_samples,
)
from .runtime import autocast_dtype, host, resolve_device, rng_state, seed_everything, set_rng_state, versions
from .stream import ScalarStream

__all__ = [
    "TrainConfig",
    "RunResult",
    "Callback",
    "train",
    "EXIT_DIVERGED",
    "EXIT_INTERRUPTED",
    # defined in config.py, still importable from here
    "first_conflict",
    "saved_config_problem",
    "saved_train_config",
]

EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130


@dataclass
class RunResult:
    out: Path
    status: str  # finished | interrupted | diverged
    step: int
    total_steps: int
    last: dict[str, float]
    data_name: str
    gan: str = ""
    train_s: float | None = None  # training wall time of the whole run (evaluations excluded)
    images_per_s: float | None = None  # training images ÷ train_s: the run's one throughput figure
    signal: int | None = None  # the signal that stopped an interrupted run (SIGINT or SIGTERM)

    @property
    def exit_code(self) -> int:
        if self.status == "interrupted" and self.signal is not None:
            return 128 + int(self.signal)  # 130 for Ctrl-C (SIGINT), 143 for SIGTERM
        return {"finished": 0, "interrupted": EXIT_INTERRUPTED, "diverged": EXIT_DIVERGED}[self.status]


class Callback(Protocol):
    """Optional hooks a diagnostic plugs into the loop (all methods optional)."""

    def on_start(self, run: "Run") -> None: ...
    def on_scalars(self, run: "Run", step: int, means: dict[str, float]) -> None: ...
    def on_eval(self, run: "Run", step: int) -> None: ...
    def on_end(self, run: "Run") -> None: ...


def train(
    cfg: TrainConfig,
    out: str | os.PathLike,
    *,
    resume: bool = False,
    callbacks: list[Any] | None = None,
    progress: bool = True,
    explicit: frozenset[str] = frozenset(),
) -> RunResult:
    """Train ``cfg.gan`` into run directory ``out`` (or continue it with ``resume=True``).

    ``explicit``: the config fields the user set on purpose (the CLI's given flags). On resume an explicit
    field that differs from the run is an error even when it equals the default.

    The writer (rank 0) holds ``out``'s :class:`~gans.lock.FolderLock` throughout: a second ``train`` or
    ``--resume`` of the same folder is a :class:`UserError` naming this process, before it reads or writes
    anything there. A folder this call created is removed again when it fails before writing a run."""
    out = Path(out)
    dctx = dist_context(cfg.device)  # world 1 unless launched by torchrun
    try:
        return _train_locked(cfg, out, dctx, resume, callbacks, progress, explicit)
    except BaseException:
        if dctx.active:  # leave the process group, so that a rank that stops on an error exits cleanly (no abort)
            leave_group()
        raise


def _train_locked(
    cfg: TrainConfig,
    out: Path,
    dctx: Any,
    resume: bool,
    callbacks: list[Any] | None,
    progress: bool,
    explicit: frozenset[str],
) -> RunResult:
    """The writer holds ``out``'s lock around :func:`_train`; other ranks train without it."""
    if not dctx.is_writer:
        return _train(cfg, out, dctx, resume, callbacks, progress, explicit)
    if resume and not out.is_dir():
        raise UserError(f"--resume {out}: no such run directory")
    created = not out.exists()
    lock = FolderLock(out, "train")
    try:
        lock.acquire()
        return _train(cfg, out, dctx, resume, callbacks, progress, explicit)
    except BaseException:
        if created and lock.held and not (out / METRICS).exists():
            _remove_unused_folder(out)
        raise
    finally:
        lock.release()


def _remove_unused_folder(out: Path) -> None:
    """Remove ``out`` when it holds nothing but the lock file (a run that failed before writing anything)."""
    try:
        if {p.name for p in out.iterdir()} <= {LOCK_NAME}:
            (out / LOCK_NAME).unlink(missing_ok=True)
            out.rmdir()
    except OSError:
        pass


def _train(
    cfg: TrainConfig,
    out: Path,
    dctx: Any,
    resume: bool,
    callbacks: list[Any] | None,
    progress: bool,
    explicit: frozenset[str],
) -> RunResult:
    callbacks = list(callbacks or []) if dctx.is_writer else []  # rank 0 evaluates and writes
    progress = progress and dctx.is_writer
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
    else:
        if (out / CHECKPOINT).exists() or (out / METRICS).exists():
            raise UserError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    cfg = resolve(cfg)
    # every rank runs the same settings (one collective); a difference stops all of them with one line
    dctx.check_agree({k: getattr(cfg, k) for k in AGREED_SETTINGS} | {"resume": resume})
    dctx.check_batch(cfg.batch_size)
    dctx.barrier()  # every rank has checked the run directory before rank 0 writes into it
    gan_overrides, dctx.sync_bn = split_sync_bn(cfg.overrides)
    if dctx.is_writer:
        remove_stray_temporaries(out)

    # (1) device, seeds, GAN, data ------------------------------------------------------------
    device = dctx.device(resolve_device(cfg.device))
    seed_everything(cfg.seed)
    gan = dctx.prepare_gan(build_gan(cfg.gan, gan_overrides, device=device))
    dctx.seed_rank(cfg.seed)  # world > 1: z and interpolates drawn per (seed, rank)
    data = load_data(
        cfg.dataset,
        gan.data_shape,
        options=DataOptions(
            root=cfg.data_root,
            download=cfg.download,
            seed=cfg.seed,
            skip_corrupt=cfg.skip_corrupt,
            workers=cfg.workers,
            epoch_size=cfg.epoch_size,
        ),
        device=device,
    )
    data.check_batch_size(cfg.batch_size)
    if gan.conditional and data.num_classes is None and data.name != "fake":  # fake: the family draws labels
        raise UserError(f"{cfg.gan} is conditional and needs a labelled data set; {data.name} has no labels")
    spe = data.steps_per_epoch(cfg.batch_size)
    bounded = cfg.steps is not None or cfg.epochs is not None
    total = cfg.steps if cfg.steps is not None else cfg.epochs * spe if cfg.epochs is not None else UNBOUNDED_STEPS
    # sample grids: about 8 per run; a run bounded by time alone draws them at each evaluation
    cfg = schedule(cfg, total, spe, bounded)
    sample_every = cfg.sample_every or (max(1, total // 8) if bounded else 0)

    if ckpt is not None:
        done = int(ckpt["step"])
        if done > total:
            raise UserError(
                f"--resume {out}: the run is already at step {done}; --steps/--epochs may extend it, "
                f"not shorten it to {total} steps"
            )
        load_gan_state(gan, ckpt, out / CHECKPOINT)
        resume_rng = ckpt["rng"]
        try:
            set_rng_state(resume_rng)  # checked now, before anything is written; restored again below
        except UserError as e:
            raise UserError(f"{out / CHECKPOINT}: {e}") from None
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
        "steps_per_epoch": spe,
        "total_steps": total if bounded else None,  # None: bounded by time_budget alone
        "versions": versions(),
        "command": sys.argv,
        "distributed": dctx.info(cfg.batch_size),
    }
    dropped = truncate_metrics(out, int(ckpt["step"])) if ckpt is not None and dctx.is_writer else 0
    if dctx.is_writer:
        write_config(out, config)
    if dctx.active:
        data = dataclasses.replace(data, _epoch=_sharded(data._epoch, dctx.rank, dctx.world))
    run = Run(out, gan, data, cfg, device) if dctx.is_writer else _SilentRun(out, gan, data, cfg, device)
    wall_offset = train_offset = 0.0
    rng_note = None
    if ckpt is not None:
        run.step = int(ckpt["step"])
        rng_note = note = dctx.restore_rng(ckpt, cfg.seed, run.step)
        if note:
            run.event("world_size_changed", note, world_size=dctx.world, saved_world_size=ckpt.get("world_size", 1))
        wall_offset = float(ckpt.get("wall", 0.0))
        train_offset = float(ckpt.get("train_s", wall_offset))
        note = (
            f"; {dropped} record(s) of metrics.jsonl past the checkpoint's step were removed (they are trained again)"
            if dropped
            else ""
        )
        run.event(
            "resume",
            f"resumed at step {run.step} of {total if bounded else f'a {cfg.time_budget:g} s budget'}{note}",
            dropped_records=dropped,
            **host(),
        )
    else:
        run.event(
            "start",
            f"{cfg.gan} on {data.name}, batch {cfg.batch_size}, "
            f"{total if bounded else f'{cfg.time_budget:g} s of'} steps on {device}",
            dataset=data.name,
            **host(),
        )
    autocast = autocast_dtype(cfg.precision)
    gan.train()
    dctx.wrap(gan)

    stream = ScalarStream()
    if dctx.active:
        stream.reduce = dctx.reduce_scalars  # the flush all-reduces, and nothing else does
        dctx.install_signal_handlers()
    # Nothing outside the training steps draws from the training random stream: the set-up below and
    # every callback hook run between a save and a restore of the global RNG state, so a cold or warm
    # feature-extractor cache, diagnostics on or off, and a resume all train the same weights.
    train_rng = rng_state() if ckpt is None or dctx.active or rng_note else resume_rng
    z_fixed, labels_fixed = fixed_sample_inputs(gan, cfg.seed)
    real_ref = data.real(512, "test")[0] if data.kind == "vector" else None
    for cb in callbacks:
        _isolated(getattr(cb, "on_start", None), run)
    set_rng_state(train_rng)

    # (2) the loop -----------------------------------------------------------------------------
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=total if bounded else None,
            initial=run.step,
            desc=f"{cfg.gan}/{data.name} bs{cfg.batch_size}",
            unit="step",
            dynamic_ncols=True,
            file=sys.stderr,
        )
    t_start = time.perf_counter()
    t_interval, steps_interval = time.perf_counter(), 0
    cpu_interval = time.process_time()  # CPU time against wall time per interval: shows a machine shared with others
    last: dict[str, float] = {}
    last_good_step = run.step
    paused = 0.0  # seconds spent evaluating since t_start: not training time
    next_eval_s = (math.floor(train_offset / cfg.eval_every_s) + 1) * cfg.eval_every_s if cfg.eval_every_s else math.inf

    def wall_s() -> float:
        return wall_offset + time.perf_counter() - t_start

    def train_s() -> float:
        """Seconds of training in this run so far: wall time less the evaluation pauses."""
        return train_offset + time.perf_counter() - t_start - paused

    dctx.budget_check = lambda: cfg.time_budget is not None and train_s() >= cfg.time_budget  # shared at flushes

    def checkpoint() -> None:
        extra = dctx.checkpoint_extra()  # every rank's RNG (a collective)
        if dctx.is_writer:
            save_checkpoint(run, wall_s(), train_s(), extra=extra)

    def bar_postfix(means: dict[str, float]) -> dict[str, str]:
        """The progress bar's numbers and the diagnostics' latest verdicts (``run.postfix``)."""
        return {
            "D(x)": f"{means.get('d/real', float('nan')):.3f}",
            "D(G(z))": f"{means.get('d/fake', float('nan')):.3f}",
            "L_D": f"{means.get('loss/d', float('nan')):.3f}",
            "L_G": f"{means.get('loss/g', float('nan')):.3f}",
            **run.postfix,
        }

    def flush() -> bool:
        """Flush the stream; False when a scalar is non-finite (the run has diverged)."""
        nonlocal t_interval, steps_interval, last, cpu_interval
        if not stream.pending:
            return True
        means = stream.flush(run.step)  # the one GPU sync of the interval
        now = time.perf_counter()
        dt = now - t_interval  # evaluations reset t_interval, so dt is training time only
        cpu_now = time.process_time()
        if steps_interval:
            means["time/ms_per_step"] = 1000.0 * dt / steps_interval
            means["time/images_per_s"] = steps_interval * cfg.batch_size / dt if dt > 0 else float("nan")
            means["time/cpu_per_wall"] = (cpu_now - cpu_interval) / dt if dt > 0 else float("nan")
        t_interval, steps_interval, cpu_interval = now, 0, cpu_now
        train_now = train_s()
        record = {
            "type": "scalars",
            "step": run.step,
            "epoch": run.step / spe,
            "wall_s": wall_s(),
            "train_s": train_now,
            "images": run.step * cfg.batch_size,
            # the run's throughput so far: training images ÷ training wall time (evaluations excluded)
            "images_per_s": run.step * cfg.batch_size / train_now if train_now > 0 else None,
            "load_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            **means,
        }
        run.write(record)
        last = means
        for cb in callbacks:
            _isolated(getattr(cb, "on_scalars", None), run, run.step, means)
        if bar is not None:
            bar.set_postfix(bar_postfix(means), refresh=False)
        return ScalarStream.finite({k: v for k, v in means.items() if not k.startswith("time/")})

    def evaluate() -> None:
        """Run the callbacks' evaluations; their time is logged and excluded from training time."""
        nonlocal paused, t_interval, cpu_interval
        if not callbacks:
            return
        t0, cpu0 = time.perf_counter(), time.process_time()
        state = rng_state()  # evaluation must not change the training random stream
        stop.immediate = True  # a signal during an evaluation stops it at once (nothing of training is lost)
        try:
            for cb in callbacks:
                getattr(cb, "on_eval", lambda *a: None)(run, run.step)
        finally:
            stop.immediate = False
            set_rng_state(state)
            gan.train()
            spent = time.perf_counter() - t0
            paused += spent
            t_interval += spent
            cpu_interval += time.process_time() - cpu0
            run.write({"type": "eval_time", "step": run.step, "eval_s": spent})

    stop = _StopRequest()
    try:
        if not dctx.active:  # under torchrun the ranks agree on a stop at the next flush instead
            stop.install()
        first = True
        while run.step < total and run.status == "running":
            epoch, skip = divmod(run.step, spe)
            for x, y in data.epoch(cfg.batch_size, epoch, device=device, skip=skip):
                real = gan.prepare(x)
                if first and ckpt is None:
                    gan.before_training(real, y)
                    dctx.sync_state(gan)  # a data-dependent init: rank 0's result everywhere
                first = False
                nxt = run.step + 1  # grad norms are computed only on the steps whose scalars are flushed
                ckpt_step = bool(cfg.checkpoint_every and nxt % cfg.checkpoint_every == 0)
                logged = nxt % cfg.log_every == 0 or nxt >= total or ckpt_step
                if dctx.active:  # a lost peer in DDP's all-reduce: one line naming it, not a C++ traceback
                    scalars = dctx.guard_step(
                        lambda: train_step(gan, real, y, step=run.step, autocast_dtype=autocast, log=logged)
                    )
                else:
                    scalars = train_step(gan, real, y, step=run.step, autocast_dtype=autocast, log=logged)
                stream.add(scalars)
                run.step += 1
                steps_interval += 1
                if bar is not None:
                    bar.update(1)
                at_end = run.step >= total
                flushed = False
                if (
                    run.step % cfg.log_every == 0
                    or at_end
                    or (cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0)
                ):
                    flushed = True
                    if not flush():
                        run.status = "diverged"
                        break
                    if dctx.stop_requested():  # Ctrl-C / SIGTERM on some rank: all stop at this step
                        raise KeyboardInterrupt
                    if cfg.time_budget is not None and dctx.budget_spent(train_s() >= cfg.time_budget):
                        at_end = True  # the budget is spent: this flush ends the run
                if cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0 and not at_end:
                    checkpoint()
                    last_good_step = run.step
                timed_eval = flushed and not at_end and train_s() >= next_eval_s
                if ((sample_every and run.step % sample_every == 0) or at_end or timed_eval) and dctx.is_writer:
                    _isolated(write_samples, run, z_fixed, labels_fixed, real_ref)
                if not at_end and ((cfg.eval_every and run.step % cfg.eval_every == 0) or timed_eval):
                    evaluate()
                    while next_eval_s <= train_s():
                        next_eval_s += cfg.eval_every_s
                if at_end:
                    run.status = "ending"
                    break
                if stop.signal is not None:
                    raise KeyboardInterrupt  # a step is never cut short: stop between steps
        if run.status == "diverged":
            bad = {k: v for k, v in last.items() if not math.isfinite(v)}
            msg = (
                f"non-finite loss at step ≤ {run.step} ({', '.join(f'{k}={v}' for k, v in bad.items())}); "
                f"training stopped; the last good checkpoint (step {last_good_step}) is kept in {out / CHECKPOINT}"
                if (out / CHECKPOINT).exists()
                else f"non-finite loss at step ≤ {run.step} ({', '.join(f'{k}={v}' for k, v in bad.items())}); "
                "training stopped before any checkpoint was written"
            )
            run.event("diverged", msg, last_good_step=last_good_step if (out / CHECKPOINT).exists() else None)
        else:
            checkpoint()
            if stop.signal is not None:  # a signal at the last step (or during its checkpoint): not finished
                raise KeyboardInterrupt
            run.status = "finished"
            evaluate()
            t_s = train_s()
            run.event(
                "finished",
                f"finished {run.step} steps",
                wall_s=wall_s(),
                train_s=t_s,
                images_per_s=run.step * cfg.batch_size / t_s if t_s > 0 else None,
            )
    except KeyboardInterrupt:
        run.status = "interrupted"
        if flush():
            checkpoint()
            run.event(
                "interrupted",
                f"interrupted at step {run.step}; checkpoint saved; continue with: ganbench train --resume {out}",
            )
        else:
            run.event(
                "interrupted",
                f"interrupted at step {run.step} after a non-finite loss; the last good checkpoint (step "
                f"{last_good_step}) is kept",
            )
    finally:
        stop.uninstall()
        dctx.restore_signal_handlers()
        if bar is not None:
            # the final evaluation runs after the last flush: the bar ends with its verdicts, not an earlier one's
            bar.set_postfix(bar_postfix(last or {}), refresh=True)
            bar.close()
        for cb in callbacks:
            _isolated(getattr(cb, "on_end", None), run)
        run.close()
    sig = (stop.signal or signal.SIGINT) if run.status == "interrupted" else None
    if run.status != "finished":  # a finished run reports the training time its finished event recorded
        t_s = train_s()
    ips = run.step * cfg.batch_size / t_s if t_s > 0 and run.step else None
    dctx.barrier()  # rank 0's files are complete before any rank moves on (e.g. to --resume them)
    return RunResult(out, run.status, run.step, total if bounded else run.step, last, data.name, cfg.gan, t_s, ips, sig)


class _StopRequest:
    """SIGINT and SIGTERM ask the loop to stop after the current step (checkpoint, then exit 130 / 143).

    A second signal while stopping raises :class:`KeyboardInterrupt` at once, and so does the first one during
    an evaluation (the final one included): the run then ends "interrupted" with its checkpoint, and
    ``--resume`` evaluates again.
    """

    def __init__(self) -> None:
        self.signal: int | None = None
        self.immediate = False  # set while evaluating: the first signal interrupts too
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum
        if self.immediate:
            raise KeyboardInterrupt

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for s in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[s] = signal.signal(s, self._handle)
            except (ValueError, OSError):
                pass

    def uninstall(self) -> None:
        for s, old in self._old.items():
            try:
                signal.signal(s, old)
            except (ValueError, OSError, TypeError):
                pass
        self._old.clear()


def _isolated(fn: Any, *args: Any) -> Any:
    """Call ``fn`` with the global RNG state saved before and restored after (training's stream is untouched)."""
    if fn is None:
        return None
    state = rng_state()
    try:
        return fn(*args)
    finally:
        set_rng_state(state)


class _SilentRun(Run):
    """A rank other than 0: the same run state, nothing written."""

    def __init__(self, out, gan, data, cfg, device):  # noqa: D107 - no metrics file is opened
        self.dir, self.gan, self.data, self.cfg, self.device = out, gan, data, cfg, device
        self.step = 0
        self.status = "running"
        self.postfix = {}

    def write(self, record):
        pass

    def close(self):
        pass


def _sharded(epoch_fn, rank: int, world: int):
    """A data source's epoch at the global batch size, each batch cut to this rank's slice."""

    def epoch(bs, ep, skip, dev):
        for x, y in epoch_fn(bs, ep, skip, dev):
            yield shard_batch(x, rank, world), shard_batch(y, rank, world)

    return epoch
