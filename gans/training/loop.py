"""The one training loop (the run folder it writes is described in ``gans/runfolder.py``).

:func:`train` is a sequence of named steps (``_train``): the config settled and checked once, the GAN and
data built, the run planned, a resume's state loaded, the run folder opened and its first event written
(those steps are ``prepare.py``); then :class:`_Loop` (1) runs ``train_step`` — the same function the
benchmarks time — feeding the scalar stream, (2) flushes the stream every ``log_every`` steps (the only GPU
sync), (3) writes samples, checkpoints and callbacks' evaluations on their schedules, and (4) stops cleanly
on Ctrl-C (checkpoint written) or on a non-finite loss (the last good checkpoint is kept and the run says so).
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..base import UserError
from ..lock import LOCK_NAME, FolderLock
from ..models import train_step
from ..runfolder import METRICS
from .config import TrainConfig, first_conflict, saved_config_problem, saved_train_config
from .distributed import context as dist_context
from .distributed import leave_group
from .prepare import Plan, build, load_state, open_run, plan_run, settled_config, start_or_resume
from .rundir import CHECKPOINT, Run, fixed_sample_inputs, save_checkpoint, write_samples
from .runtime import autocast_dtype, rng_state, set_rng_state
from .runtime import rng_isolated as _isolated
from .stopping import StopRequest
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
    finally:
        # the process-wide context outlives the run: its budget check closes over the loop, and with it the GAN and
        # its optimisers (a second train() in one process held two models until the check was replaced)
        dctx.budget_check = None


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
    """One run, as its named steps in order (each rank runs them all; rank 0 alone writes)."""
    callbacks = list(callbacks or []) if dctx.is_writer else []  # rank 0 evaluates and writes
    cfg, ckpt = settled_config(cfg, out, dctx, resume, explicit)  # checked once, agreed by every rank
    device, gan, data = build(cfg, dctx)  # seeds, GAN and data
    plan = plan_run(cfg, data)  # the run's length and schedules
    resume_rng = load_state(gan, ckpt, out, plan)  # weights, optimisers; the RNG state checked before any write
    run, dropped = open_run(out, dctx, gan, data, device, plan, ckpt)  # config.json, metrics.jsonl
    rng_note, offsets = start_or_resume(run, dctx, plan, ckpt, dropped)  # RNG per rank, the first event
    loop = _Loop(run, dctx, plan, callbacks, progress and dctx.is_writer, ckpt, resume_rng, rng_note, offsets)
    return loop.train()


class _Loop:
    """The training loop of one run: its clocks and counters, and the flush, evaluation and checkpoint it runs
    on schedule between steps."""

    def __init__(
        self,
        run: Run,
        dctx: Any,
        plan: Plan,
        callbacks: list[Any],
        progress: bool,
        ckpt: dict[str, Any] | None,
        resume_rng: dict[str, Any] | None,
        rng_note: str | None,
        offsets: tuple[float, float],
    ):
        self.run, self.dctx, self.plan, self.cfg, self.callbacks = run, dctx, plan, plan.cfg, callbacks
        self.gan, self.data, self.fresh = run.gan, run.data, ckpt is None
        self.autocast = autocast_dtype(self.cfg.precision)
        self.gan.train()
        dctx.wrap(self.gan)
        self.stream = ScalarStream()
        if dctx.active:
            self.stream.reduce = dctx.reduce_scalars  # the flush all-reduces, and nothing else does
            dctx.install_signal_handlers()
        # Nothing outside the training steps draws from the training random stream: the set-up below and
        # every callback hook run between a save and a restore of the global RNG state, so a cold or warm
        # feature-extractor cache, diagnostics on or off, and a resume all train the same weights.
        train_rng = rng_state() if ckpt is None or dctx.active or rng_note else resume_rng
        self.z_fixed, self.labels_fixed = fixed_sample_inputs(self.gan, self.cfg.seed)
        self.real_ref = self.data.real(512, "test")[0] if self.data.kind == "vector" else None
        for cb in callbacks:
            _isolated(getattr(cb, "on_start", None), run)
        set_rng_state(train_rng)
        self.bar = self._progress_bar() if progress else None
        self.wall_offset, self.train_offset = offsets
        self.t_start = time.perf_counter()
        self.t_interval, self.steps_interval = time.perf_counter(), 0
        self.cpu_interval = time.process_time()  # CPU against wall time per interval: a machine shared with others
        self.last: dict[str, float] = {}
        self.last_good_step = run.step
        self.paused = 0.0  # seconds spent evaluating since t_start: not training time
        every_s = self.cfg.eval_every_s
        self.next_eval_s = (math.floor(self.train_offset / every_s) + 1) * every_s if every_s else math.inf
        self.t_s = 0.0
        self.stop = StopRequest()
        budget = self.cfg.time_budget
        dctx.budget_check = lambda: budget is not None and self.train_s() >= budget  # shared at flushes

    def _progress_bar(self) -> Any:
        from tqdm.auto import tqdm

        return tqdm(
            total=self.plan.total if self.plan.bounded else None,
            initial=self.run.step,
            desc=f"{self.cfg.gan}/{self.data.name} bs{self.cfg.batch_size}",
            unit="step",
            dynamic_ncols=True,
            file=sys.stderr,
        )

    # -- clocks ------------------------------------------------------------------------------------
    def wall_s(self) -> float:
        return self.wall_offset + time.perf_counter() - self.t_start

    def train_s(self) -> float:
        """Seconds of training in this run so far: wall time less the evaluation pauses."""
        return self.train_offset + time.perf_counter() - self.t_start - self.paused

    # -- what runs between steps -------------------------------------------------------------------
    def checkpoint(self) -> None:
        extra = self.dctx.checkpoint_extra()  # every rank's RNG (a collective)
        if self.dctx.is_writer:
            save_checkpoint(self.run, self.wall_s(), self.train_s(), extra=extra)

    def bar_postfix(self, means: dict[str, float]) -> dict[str, str]:
        """The progress bar's numbers and the diagnostics' latest verdicts (``run.postfix``)."""
        return {
            "D(x)": f"{means.get('d/real', float('nan')):.3f}",
            "D(G(z))": f"{means.get('d/fake', float('nan')):.3f}",
            "L_D": f"{means.get('loss/d', float('nan')):.3f}",
            "L_G": f"{means.get('loss/g', float('nan')):.3f}",
            **self.run.postfix,
        }

    def flush(self) -> bool:
        """Flush the stream; False when a scalar is non-finite (the run has diverged)."""
        run, bs = self.run, self.cfg.batch_size
        if not self.stream.pending:
            return True
        means = self.stream.flush(run.step)  # the one GPU sync of the interval
        now = time.perf_counter()
        dt = now - self.t_interval  # evaluations reset t_interval, so dt is training time only
        cpu_now = time.process_time()
        if self.steps_interval:
            means["time/ms_per_step"] = 1000.0 * dt / self.steps_interval
            means["time/images_per_s"] = self.steps_interval * bs / dt if dt > 0 else float("nan")
            means["time/cpu_per_wall"] = (cpu_now - self.cpu_interval) / dt if dt > 0 else float("nan")
        self.t_interval, self.steps_interval, self.cpu_interval = now, 0, cpu_now
        train_now = self.train_s()
        record = {
            "type": "scalars",
            "step": run.step,
            "epoch": run.step / self.plan.spe,
            "wall_s": self.wall_s(),
            "train_s": train_now,
            "images": run.step * bs,
            # the run's throughput so far: training images ÷ training wall time (evaluations excluded)
            "images_per_s": run.step * bs / train_now if train_now > 0 else None,
            "load_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            **means,
        }
        run.write(record)
        self.last = means
        for cb in self.callbacks:
            _isolated(getattr(cb, "on_scalars", None), run, run.step, means)
        if self.bar is not None:
            self.bar.set_postfix(self.bar_postfix(means), refresh=False)
        return ScalarStream.finite({k: v for k, v in means.items() if not k.startswith("time/")})

    def evaluate(self) -> None:
        """Run the callbacks' evaluations; their time is logged and excluded from training time."""
        if not self.callbacks:
            return
        t0, cpu0 = time.perf_counter(), time.process_time()
        state = rng_state()  # evaluation must not change the training random stream
        self.stop.immediate = True  # a signal during an evaluation stops it at once (nothing of training is lost)
        try:
            for cb in self.callbacks:
                getattr(cb, "on_eval", lambda *a: None)(self.run, self.run.step)
        finally:
            self.stop.immediate = False
            set_rng_state(state)
            self.gan.train()
            spent = time.perf_counter() - t0
            self.paused += spent
            self.t_interval += spent
            self.cpu_interval += time.process_time() - cpu0
            self.run.write({"type": "eval_time", "step": self.run.step, "eval_s": spent})

    # -- the run -----------------------------------------------------------------------------------
    def train(self) -> RunResult:
        """Train to the end (or divergence, or a signal), then close the run and say how it ended."""
        try:
            if not self.dctx.active:  # under torchrun the ranks agree on a stop at the next flush instead
                self.stop.install()
            self._steps()
            self._end()
        except KeyboardInterrupt:
            self._interrupted()
        finally:
            self._close()
        return self._result()

    def _steps(self) -> None:
        """Epoch after epoch from the run's step, until it ends ("ending"), diverges, or a signal stops it."""
        run, gan, bs = self.run, self.gan, self.cfg.batch_size
        first = True
        while run.step < self.plan.total and run.status == "running":
            epoch, skip = divmod(run.step, self.plan.spe)
            for x, y in self.data.epoch(bs, epoch, device=run.device, skip=skip):
                real = gan.prepare(x)
                if first and self.fresh:
                    gan.before_training(real, y)
                    self.dctx.sync_state(gan)  # a data-dependent init: rank 0's result everywhere
                first = False
                if not self._step(real, y):
                    break

    def _step(self, real: Any, y: Any) -> bool:
        """One training step, then what falls due after it; False when the run stops stepping."""
        run, cfg, dctx, total = self.run, self.cfg, self.dctx, self.plan.total
        nxt = run.step + 1  # grad norms are computed only on the steps whose scalars are flushed
        ckpt_step = bool(cfg.checkpoint_every and nxt % cfg.checkpoint_every == 0)
        logged = nxt % cfg.log_every == 0 or nxt >= total or ckpt_step
        if dctx.active:  # a lost peer in DDP's all-reduce: one line naming it, not a C++ traceback
            scalars = dctx.guard_step(
                lambda: train_step(self.gan, real, y, step=run.step, autocast_dtype=self.autocast, log=logged)
            )
        else:
            scalars = train_step(self.gan, real, y, step=run.step, autocast_dtype=self.autocast, log=logged)
        self.stream.add(scalars)
        run.step += 1
        self.steps_interval += 1
        if self.bar is not None:
            self.bar.update(1)
        at_end = run.step >= total
        checkpoint_due = bool(cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0)
        flushed = run.step % cfg.log_every == 0 or at_end or checkpoint_due
        if flushed:
            if not self.flush():
                run.status = "diverged"
                return False
            if dctx.stop_requested():  # Ctrl-C / SIGTERM on some rank: all stop at this step
                raise KeyboardInterrupt
            if cfg.time_budget is not None and dctx.budget_spent(self.train_s() >= cfg.time_budget):
                at_end = True  # the budget is spent: this flush ends the run
        if checkpoint_due and not at_end:
            self.checkpoint()
            self.last_good_step = run.step
        timed_eval = flushed and not at_end and self.train_s() >= self.next_eval_s
        sample_every = self.plan.sample_every
        if ((sample_every and run.step % sample_every == 0) or at_end or timed_eval) and dctx.is_writer:
            _isolated(write_samples, run, self.z_fixed, self.labels_fixed, self.real_ref)
        if not at_end and ((cfg.eval_every and run.step % cfg.eval_every == 0) or timed_eval):
            self.evaluate()
            while self.next_eval_s <= self.train_s():
                self.next_eval_s += cfg.eval_every_s
        if at_end:
            run.status = "ending"
            return False
        if self.stop.signal is not None:
            raise KeyboardInterrupt  # a step is never cut short: stop between steps
        return True

    def _end(self) -> None:
        """A diverged run says so (its last good checkpoint is kept); any other is checkpointed, evaluated and
        finished."""
        run, out = self.run, self.run.dir
        if run.status == "diverged":
            bad = ", ".join(f"{k}={v}" for k, v in self.last.items() if not math.isfinite(v))
            kept = (out / CHECKPOINT).exists()
            msg = (
                f"non-finite loss at step ≤ {run.step} ({bad}); training stopped; the last good checkpoint "
                f"(step {self.last_good_step}) is kept in {out / CHECKPOINT}"
                if kept
                else f"non-finite loss at step ≤ {run.step} ({bad}); training stopped before any checkpoint was written"
            )
            run.event("diverged", msg, last_good_step=self.last_good_step if kept else None)
            return
        self.checkpoint()
        if self.stop.signal is not None:  # a signal at the last step (or during its checkpoint): not finished
            raise KeyboardInterrupt
        run.status = "finished"
        self.evaluate()
        self.t_s = t_s = self.train_s()
        run.event(
            "finished",
            f"finished {run.step} steps",
            wall_s=self.wall_s(),
            train_s=t_s,
            images_per_s=run.step * self.cfg.batch_size / t_s if t_s > 0 else None,
        )

    def _interrupted(self) -> None:
        run = self.run
        run.status = "interrupted"
        if self.flush():
            self.checkpoint()
            run.event(
                "interrupted",
                f"interrupted at step {run.step}; checkpoint saved; continue with: ganbench train --resume {run.dir}",
            )
        else:
            run.event(
                "interrupted",
                f"interrupted at step {run.step} after a non-finite loss; the last good checkpoint (step "
                f"{self.last_good_step}) is kept",
            )

    def _close(self) -> None:
        self.stop.uninstall()
        self.dctx.restore_signal_handlers()
        if self.bar is not None:
            # the final evaluation runs after the last flush: the bar ends with its verdicts, not an earlier one's
            self.bar.set_postfix(self.bar_postfix(self.last or {}), refresh=True)
            self.bar.close()
        for cb in self.callbacks:
            _isolated(getattr(cb, "on_end", None), self.run)
        self.run.close()

    def _result(self) -> RunResult:
        run, plan = self.run, self.plan
        sig = (self.stop.signal or signal.SIGINT) if run.status == "interrupted" else None
        if run.status != "finished":  # a finished run reports the training time its finished event recorded
            self.t_s = self.train_s()
        t_s = self.t_s
        ips = run.step * self.cfg.batch_size / t_s if t_s > 0 and run.step else None
        self.dctx.barrier()  # rank 0's files are complete before any rank moves on (e.g. to --resume them)
        total = plan.total if plan.bounded else run.step
        return RunResult(run.dir, run.status, run.step, total, self.last, self.data.name, self.cfg.gan, t_s, ips, sig)
