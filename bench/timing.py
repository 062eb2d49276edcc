"""The timing core: one prepared training step, timed so that users can trust the number.

What is timed
    :func:`gans.models.train_step` — the same function the training loop runs — on one batch that
    is already on the device and already ``gan.prepare``-d (random ``[0, 1]`` tensors of the
    GAN's data shape, i.e. the ``fake`` data source; conditional GANs get random labels). Data
    loading and host→device copies are deliberately *not* inside the timed region.

How it is timed
    * CUDA: a pair of CUDA events is recorded around every timed step and the host synchronises
      once, after the last step (``torch.cuda.synchronize``), so all GPU work is inside the
      measured interval and the loop itself never waits on the GPU.
    * CPU: ``time.perf_counter`` around every step (CPU ops are synchronous).
    * Warm-up steps run first in every cell (new shapes retune cudnn.benchmark and recompile
      torch.compile graphs) and are never reported.
    * A "sample" is one *cycle* of the GAN's phase schedule: WGAN-style critics update G only
      every ``n_critic`` steps, so a sample covers ``lcm(phase.every)`` steps and ms/step is the
      cycle time divided by its length — every phase is in every sample.

What is reported (:class:`CellResult`)
    ms/step median and inter-quartile range over the samples, images/s (batch / median step
    time), peak memory, FLOPs per step and the machine it ran on.

    * Contention (:mod:`bench.contention`): the load, the CPU time per wall second per thread and
      the samples' spread over the timed steps. A disturbed measurement is repeated once (same
      prepared step); ``contention`` is ``disturbed`` when the repeat is disturbed too, and
      ``remeasured`` says a repeat happened (``load_first`` keeps the first one's readings).
    * MFU: FLOPs per step ÷ median step time ÷ the matmul peak of this process (same device,
      precision, threads), the faster of one peak measurement before the timed steps and one
      after. MFU above 100 % means the peak itself was measured while disturbed (the bug behind
      "MFU 1.1e+02 %" at load 2: the peak was one 50 ms burst of 1024² matmuls after the cell, as
      exposed to a burst of other work as anything); it is never reported as a number: ``mfu`` is
      None and the row's note says why.

    * Peak memory, CUDA: ``torch.cuda.max_memory_allocated`` over the timed steps after
      ``reset_peak_memory_stats`` — tensors held by the allocator, including the model,
      optimiser state, the batch and activations (not the allocator's cached-but-free blocks).
    * Peak memory, CPU: the *increase* of the process's anonymous resident memory (RSS minus
      file-backed pages) over its value just before the GAN was built, at its peak during the
      timed steps. Linux ≥ 4.0: the kernel's own peak (``VmHWM`` in ``/proc/self/status``) is
      reset by writing ``5`` to ``/proc/self/clear_refs`` before the timed steps and read after
      them, minus the file-backed pages then (``mem_kind="cpu_rss_increase_peak"``): exact, and
      free — no thread runs during the steps. Where that reset is refused, a background thread
      samples ``/proc/self/statm`` every 5 ms (``"cpu_rss_increase_sampled"``; a lower bound, and
      on a loaded machine its GIL hand-offs cost the step a few per cent). It includes the
      model, optimiser state, batch, activations and whatever the allocator keeps; library code
      paged in on first use is excluded. (``ru_maxrss`` is not used: it is the process-lifetime
      peak, polluted by earlier cells.)
    * FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` around one step (the first warm-up
      step, run eagerly even for compiled cells); ``None`` when counting fails.

Test hook
    ``GANBENCH_INJECT_SLOWDOWN="gan:1.3[,gan2:2]"`` makes the *timed step* of the named GAN that
    many times slower (it sleeps ``(factor - 1) ×`` the step's own duration after each step).
    It exists only so the regression gate can be tested (tests/test_regress.py); it lives here
    in the bench code, never in the models.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import statistics
import time
from typing import Any, Callable

import torch

from gans.base import PRECISIONS, UserError
from gans.models.core import GAN, build_gan, get_gan_entry, train_step
from gans.training.loop import TrainConfig
from gans.training.runtime import autocast_dtype, resolve_device, seed_everything

from .cells import Cell, CellResult
from .contention import CONTENTION_ENV, Probe, Readings, contention_fields, judge
from .machine import cuda_sync, machine_facts, mfu, peak_flops
from .memory import is_oom, peak_memory, rss_bytes

__all__ = [
    "SLOWDOWN_ENV",
    "PreparedStep",
    "prepare_step",
    "time_steps",
    "summarize",
    "measure_cell",
    "count_flops",
    "parse_slowdown",
]

SLOWDOWN_ENV = "GANBENCH_INJECT_SLOWDOWN"
#: the training loop's default log interval: timed steps log (compute grad norms) as often as training does
LOG_EVERY = TrainConfig.log_every


def parse_slowdown(text: str | None = None) -> dict[str, float]:
    """Parse ``GANBENCH_INJECT_SLOWDOWN`` (``"gan:1.3,other:2"``) into ``{gan: factor}``."""
    text = os.environ.get(SLOWDOWN_ENV, "") if text is None else text
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, factor = part.partition(":")
        try:
            value = float(factor)
        except ValueError:
            value = float("nan")
        if not sep or not math.isfinite(value) or value < 1.0:
            raise UserError(f"{SLOWDOWN_ENV}: expected GAN:FACTOR with FACTOR ≥ 1 (e.g. mnist_mlp:1.3), got {part!r}")
        out[name.strip()] = value
    return out


# --------------------------------------------------------------------------------------------
# A prepared step


def _compile_nets(gan: GAN) -> None:
    """torch.compile G's and D's ``forward`` and, where present, ``logits`` (what phases call).

    Families call ``self.D.logits(x)`` directly, which a compiled module's ``__call__`` would
    not cover, so the bound methods are replaced on the instances. Must run before the phase
    closures are built (they capture the bound methods).
    """
    for net in (gan.G, gan.D):
        for attr in ("forward", "logits"):
            fn = getattr(net, attr, None)
            if callable(fn):
                setattr(net, attr, torch.compile(fn))


class PreparedStep:
    """A GAN, its batch on the device and a ``step()`` that runs one ``train_step``.

    Build it with :func:`prepare_step`. ``step()`` never synchronises (unless the slowdown test
    hook is active for this GAN); :meth:`check` asserts afterwards that the losses are finite
    and the parameters changed.
    """

    def __init__(self, cell: Cell, gan: GAN, real: torch.Tensor, labels: torch.Tensor | None, device: torch.device):
        self.cell, self.gan, self.real, self.labels, self.device = cell, gan, real, labels, device
        self.autocast = autocast_dtype(cell.precision)
        self.i = 0  # global step counter (phases with `every` > 1 depend on it)
        self.last: dict[str, torch.Tensor] = {}
        self.cycle = math.lcm(*[max(1, p.every) for p in gan.cached_phases()]) if gan.cached_phases() else 1
        self._before = [p.detach().clone() for p in gan.parameters() if p.requires_grad]
        self.slowdown = parse_slowdown().get(cell.gan, 1.0)

    def step(self) -> dict[str, torch.Tensor]:
        """One training step (the loop's ``train_step``) on the prepared batch."""
        if self.slowdown > 1.0:  # test hook, see the module docstring
            t0 = time.perf_counter()
            out = self._step()
            cuda_sync(self.device)
            time.sleep((self.slowdown - 1.0) * (time.perf_counter() - t0))
            return out
        return self._step()

    def _step(self) -> dict[str, torch.Tensor]:
        log = (self.i + 1) % LOG_EVERY == 0  # as in training: grad norms only on logged steps
        out = train_step(self.gan, self.real, self.labels, step=self.i, autocast_dtype=self.autocast, log=log)
        self.i += 1
        self.last = out
        return out

    def run_cycle(self) -> None:
        """One sample: ``cycle`` steps, so that every phase runs once."""
        for _ in range(self.cycle):
            self.step()

    def check(self) -> list[str]:
        """Problems found after training steps (empty = fine): non-finite losses, frozen weights."""
        problems = []
        if not self.last:
            return ["no step ran"]
        vals = {k: float(v) for k, v in self.last.items()}  # one sync, after timing
        bad = {k: v for k, v in vals.items() if not math.isfinite(v) and k.startswith("loss/")}
        if bad:
            problems.append(f"non-finite losses {bad}")
        after = [p for p in self.gan.parameters() if p.requires_grad]
        changed = {id(a) for a, b in zip(after, self._before) if not torch.equal(a.detach(), b)}
        for name, net in (("G", self.gan.G), ("D", self.gan.D)):
            params = [p for p in net.parameters() if p.requires_grad]
            if params and not any(id(p) in changed for p in params):
                problems.append(f"{name}'s parameters did not change")
        return problems

    def release(self) -> None:
        self._before = []


def prepare_step(cell: Cell, *, seed: int = 0) -> PreparedStep:
    """Build the cell's GAN on its device with its batch (random data, prepared, on device)."""
    device = resolve_device(cell.device)
    if cell.precision not in PRECISIONS:
        raise UserError(f"unknown precision {cell.precision!r}; valid: {', '.join(PRECISIONS)}")
    if cell.batch_size <= 0:
        raise UserError(f"batch size must be a positive integer, got {cell.batch_size}")
    entry = get_gan_entry(cell.gan)
    overrides = dict(cell.overrides)
    fields = {f.name for f in dataclasses.fields(entry.config_cls)}
    if "channels_last" in fields and "channels_last" not in overrides:
        cl = cell.channels_last if cell.channels_last is not None else device.type == "cuda"
        overrides["channels_last"] = cl
    seed_everything(seed)
    gan = build_gan(cell.gan, overrides, device=device)
    gan.train()
    if cell.compile:
        _compile_nets(gan)
    g = torch.Generator().manual_seed(seed)
    # the instance's shape: some families size their data from the config (segan's window)
    shape = tuple(getattr(gan, "data_shape", None) or entry.cls.data_shape)
    x01 = torch.rand((cell.batch_size, *shape), generator=g).to(device)
    real = gan.prepare(x01)
    labels = gan.sample_labels(cell.batch_size, device=device) if gan.conditional else None
    prep = PreparedStep(cell, gan, real, labels, device)
    prep.overrides = overrides  # type: ignore[attr-defined]
    return prep


# --------------------------------------------------------------------------------------------
# Timing


def time_steps(
    fn: Callable[[], Any], n: int, device: torch.device | str, between: Callable[[], Any] | None = None
) -> list[float]:
    """Run ``fn`` ``n`` times; the milliseconds each call took, GPU work included.

    CUDA: events recorded around every call, one synchronize after the last (the loop never
    waits for the GPU). CPU: ``perf_counter`` around every call. ``between`` (e.g. a
    :class:`bench.contention.Probe`'s ``tick``) runs between two calls, outside both timed intervals.
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
        torch.cuda.synchronize(dev)  # nothing from before the region is counted
        for i in range(n):
            starts[i].record()
            fn()
            ends[i].record()
            if between is not None:
                between()
        torch.cuda.synchronize(dev)
        return [s.elapsed_time(e) for s, e in zip(starts, ends)]
    out = [0.0] * n
    clock = time.perf_counter
    for i in range(n):
        t0 = clock()
        fn()
        out[i] = (clock() - t0) * 1000.0
        if between is not None:
            between()
    return out


def summarize(times_ms: list[float]) -> tuple[float, float, float]:
    """(median, q25, q75) of a list of times."""
    if len(times_ms) == 1:
        return times_ms[0], times_ms[0], times_ms[0]
    q = statistics.quantiles(times_ms, n=4, method="inclusive")
    return statistics.median(times_ms), q[0], q[2]


def count_flops(prep: "PreparedStep | ReferencePrepared") -> float | None:
    """FLOPs per training step (forward, backward, optimiser) by FlopCounterMode.

    Runs one phase cycle of real steps (they also serve as warm-up steps) and divides by its
    length, so WGAN-style schedules count their generator step too. Compiled functions are run
    eagerly here so the counter sees every op.
    """
    from torch.utils.flop_counter import FlopCounterMode

    stance = (
        torch.compiler.set_stance("force_eager")
        if prep.cell.compile and hasattr(torch.compiler, "set_stance")
        else contextlib.nullcontext()
    )
    try:
        with stance, FlopCounterMode(display=False) as counter:
            prep.run_cycle()
        return float(counter.get_total_flops()) / prep.cycle
    except Exception:  # counting is best effort; the step itself is re-run below by callers
        return None


class ReferencePrepared:
    """A reference loop (:mod:`bench.references`) behind :class:`PreparedStep`'s interface."""

    slowdown = 1.0

    def __init__(self, cell: Cell):
        from .references import build_reference

        self.cell = cell
        self.device = resolve_device(cell.device)
        if cell.precision != "fp32" or cell.compile or cell.overrides:
            raise UserError(f"{cell.key}: reference loops run in fp32, uncompiled, at the GAN's seed size only")
        self.ref = build_reference(cell.gan, cell.variant, cell.batch_size, self.device)
        self.cycle = self.ref.cycle
        self.overrides: dict[str, Any] = {}

    def step(self) -> None:
        self.ref.step()

    def run_cycle(self) -> None:
        self.ref.step()

    def check(self) -> list[str]:
        return []

    def release(self) -> None:
        pass


def _timed(
    prep: "PreparedStep | ReferencePrepared", samples: int, device: torch.device, rss_start: int, threads: int
) -> tuple[list[float], dict[str, Any], Readings]:
    """One measurement: per-step times of ``samples`` cycles, peak memory, judged contention readings."""
    with peak_memory(device, rss_start) as mem, Probe(threads, cpu_rule=device.type == "cpu") as probe:
        times = time_steps(prep.run_cycle, samples, device, between=probe.tick)
    per = [t / prep.cycle for t in times]
    return per, mem, judge(probe.r, per, gan=prep.cell.gan)


def _join(note: str, more: str) -> str:
    return f"{note}; {more}" if note else more


def measure_cell(
    cell: Cell,
    *,
    steps: int = 20,
    warmup: int = 3,
    max_seconds: float | None = None,
    flops: bool = True,
    seed: int = 0,
    check: bool = True,
    peak: bool = True,
) -> CellResult:
    """Build, warm up and time one cell; an out-of-memory error becomes ``status="oom"``.

    ``steps`` timed steps (rounded up to whole phase cycles) after ``warmup`` warm-up steps.
    ``max_seconds``: cap the timed steps so the cell's timed region takes about that long
    (at least one sample) — for heavy cells on slow machines; the row records the steps
    actually timed. ``cell.variant`` ``seed``/``minimal`` times that reference loop instead of
    ``train_step``. ``peak``: measure this device's matmul peak afterwards for the MFU column.
    """
    t_cell = time.perf_counter()
    row = CellResult(
        cell.key, cell.gan, cell.batch_size, cell.device, cell.precision, cell.compile, "ok", warmup=warmup
    )
    row.overrides = dict(cell.overrides)  # also on rows that fail before the GAN is built
    prep = None
    try:
        device = resolve_device(cell.device)
        row.machine = machine_facts(device)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        rss_start = rss_bytes()
        prep = prepare_step(cell, seed=seed) if cell.variant == "ganbench" else ReferencePrepared(cell)
        row.variant = cell.variant
        row.overrides = dict(getattr(prep, "overrides", {}))
        row.channels_last = bool(row.overrides.get("channels_last", False))
        row.cycle = prep.cycle
        # warm-up, the first step counted by FlopCounterMode
        n_warm = max(1, warmup)
        t_warm = time.perf_counter()
        if flops:
            row.flops_per_step = count_flops(prep)
        for _ in range(n_warm - (1 if flops else 0)):
            prep.run_cycle() if cell.variant != "ganbench" else prep.step()
        cuda_sync(device)
        per_step_s = (time.perf_counter() - t_warm) / n_warm  # sizes --max-seconds cells
        samples = max(1, math.ceil(steps / prep.cycle))
        if max_seconds is not None and per_step_s:
            samples = max(1, min(samples, int(max_seconds / (per_step_s * prep.cycle))))
        threads = torch.get_num_threads() if device.type == "cpu" else 1
        peak_before = peak_flops(device, cell.precision) if peak else None

        per_step, mem, first = _timed(prep, samples, device, rss_start, threads)
        final = None
        if first.disturbed:  # measured once more; the second measurement is the cell's
            per_step, mem, final = _timed(prep, samples, device, rss_start, threads)
        row.__dict__.update(contention_fields(first, final))
        med, q25, q75 = summarize(per_step)
        row.times_ms = [round(t, 4) for t in per_step]
        row.ms_median, row.ms_q25, row.ms_q75, row.ms_iqr = med, q25, q75, q75 - q25
        row.images_per_s = cell.batch_size / (med / 1000.0) if med > 0 else None
        row.peak_mem_mb, row.mem_kind = mem.get("peak_mem_mb"), mem.get("mem_kind")
        row.samples, row.steps = samples, samples * prep.cycle
        if peak:
            # same process, device, precision and threads; the faster of a measurement before the timed
            # steps and one after, so one disturbed moment cannot shrink the denominator
            row.peak_flops = max(peak_before or 0.0, peak_flops(device, cell.precision))
            row.mfu = mfu(row.flops_per_step, med / 1000.0, row.peak_flops)
            if row.mfu is not None and row.mfu > 1.0:  # above the measured peak: the peak was disturbed
                row.note = _join(row.note, f"MFU not shown: the step beat the measured matmul peak ({row.mfu:.0%})")
                row.mfu = None
        row.timer = "cuda_events" if device.type == "cuda" else "perf_counter"
        if check:
            problems = prep.check()
            if problems:
                row.status, row.error = "error", "correctness check failed after timing: " + "; ".join(problems)
        if prep.slowdown > 1.0:
            row.note = _join(row.note, f"{SLOWDOWN_ENV} active: step slowed ×{prep.slowdown} (test hook)")
        if first.injected:
            row.note = _join(row.note, f"{CONTENTION_ENV} active: contention readings injected (test hook)")
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 — every failure becomes a row; OOM is the common one
        row.status = "oom" if is_oom(e) else "error"
        row.error = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
    finally:
        if prep is not None:
            prep.release()
        del prep
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    row.wall_s = time.perf_counter() - t_cell
    row.time = time.time()
    return row
