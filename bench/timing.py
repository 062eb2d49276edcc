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
import platform
import signal
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch

from gans.base import PRECISIONS, UserError
from gans.models.core import GAN, build_gan, get_gan_entry, train_step
from gans.training.runtime import autocast_dtype, resolve_device, seed_everything

__all__ = [
    "SLOWDOWN_ENV",
    "PRECISIONS",
    "Cell",
    "CellResult",
    "PreparedStep",
    "MemorySampler",
    "reset_peak_rss",
    "prepare_step",
    "time_steps",
    "summarize",
    "measure_cell",
    "count_flops",
    "is_oom",
    "parse_slowdown",
    "machine_facts",
    "cuda_sync",
    "rss_bytes",
    "CPU_REDUCTIONS",
    "cpu_reduction",
    "describe_overrides",
    "CellOverTime",
    "cell_time_limit",
]

SLOWDOWN_ENV = "GANBENCH_INJECT_SLOWDOWN"


# --------------------------------------------------------------------------------------------
# CPU reductions

#: Config changes applied on the CPU by ``pytest bench`` (unless ``--full-size``) so that every
#: registered GAN keeps its batch-96 and batch-512 cells and the default run still fits in
#: minutes on a 2-core CPU. Same layers, losses and phase schedule; only widths (and segan's
#: window) shrink. Step times measured on a loaded 2-core EPYC, seed size → reduced:
#:   celeba_conv 256 channels: minutes per step (32 channels: 8–20 s at batch 96, > 100 s at 512)
#:     → 16 channels: 0.7–2 s at batch 96, 7–22 s at 512
#:   segan window 4096, enc 16…128: 8–15 s at batch 96, > 100 s at 512
#:     → window 1024 and enc 8…64: 0.4–1.4 s at 96, 2–8 s at 512
#: Everything else runs at its seed size: dcgan (64×64, ngf=ndf=64) takes 2–8 s per step at
#: batch 96 and ~10 s at 512 with two threads, celeba_mlp (116k-wide first/last layers) 1–4 s
#: and 3–13 s — affordable with one timed round — and the MLP GANs tens of ms.
CPU_REDUCTIONS: dict[str, dict[str, Any]] = {
    "celeba_conv": {"channels": 16},
    "segan": {"window": 1024, "enc_channels": (8, 16, 16, 32, 32, 64)},
}


def cpu_reduction(gan: str, device: str, *, full_size: bool = False) -> dict[str, Any]:
    """The config overrides ``pytest bench`` applies to this GAN on this device ({} = seed size)."""
    if full_size or torch.device(device).type != "cpu":
        return {}
    return dict(CPU_REDUCTIONS.get(gan, {}))


def describe_overrides(overrides: dict[str, Any] | None, *, skip: tuple[str, ...] = ("channels_last",)) -> str:
    """``"ngf=32, ndf=32"`` — overrides as a label (``channels_last`` is shown apart, so skipped)."""
    items = [(k, v) for k, v in (overrides or {}).items() if k not in skip]
    return ", ".join(f"{k}={tuple(v) if isinstance(v, list) else v}" for k, v in items)


class CellOverTime(Exception):
    """A benchmark cell ran past its wall-clock limit (see :func:`cell_time_limit`)."""


@contextlib.contextmanager
def cell_time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Raise :class:`CellOverTime` in the main thread once ``seconds`` of wall time have passed.

    SIGALRM: the handler runs between two Python bytecodes, i.e. after the torch op in flight
    returns, so a cell stops within one op of the limit. A no-op off the main thread, without
    ``setitimer``, or when another alarm is already armed (e.g. pytest-timeout's): that one
    is left alone.
    """
    if (
        not seconds
        or seconds <= 0
        or not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
        or signal.getitimer(signal.ITIMER_REAL)[0] > 0
    ):
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise CellOverTime(f"{what} ran past the per-cell limit of {seconds:g} s (--cell-limit; 0 disables it)")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------------------------
# Cells


@dataclass(frozen=True)
class Cell:
    """One point of a benchmark grid."""

    gan: str  # registered GAN name
    batch_size: int  # images (samples) per step
    device: str = "cpu"  # cpu | cuda | cuda:N
    precision: str = "fp32"  # fp32 | bf16 (autocast around the forward passes)
    compile: bool = False  # torch.compile the G and D modules (forward and .logits)
    channels_last: bool | None = None  # None: on for CUDA when the GAN's config has the field
    overrides: tuple[tuple[str, Any], ...] = ()  # GAN config fields changed for this cell

    @property
    def key(self) -> str:
        """Identity of the cell in results.jsonl (a resumed sweep skips keys already present)."""
        ov = ",".join(f"{k}={v}" for k, v in self.overrides)
        cl = "" if self.channels_last is None else f"|cl={'on' if self.channels_last else 'off'}"
        return (
            f"{self.gan}|bs={self.batch_size}|{self.device}|{self.precision}|"
            f"compile={'on' if self.compile else 'off'}{cl}" + (f"|{ov}" if ov else "")
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["overrides"] = dict(self.overrides)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Cell":
        d = dict(d)
        d["overrides"] = tuple(sorted((d.get("overrides") or {}).items()))
        return cls(**d)


@dataclass
class CellResult:
    """One row of results: what was measured for a cell, or why nothing was."""

    key: str
    gan: str
    batch_size: int
    device: str
    precision: str
    compile: bool
    status: str  # ok | oom | error | crashed | timeout
    ms_median: float | None = None  # ms per training step (median over samples)
    ms_q25: float | None = None
    ms_q75: float | None = None
    ms_iqr: float | None = None  # q75 - q25
    images_per_s: float | None = None  # batch_size / median step time
    peak_mem_mb: float | None = None  # see the module docstring (CUDA allocator / CPU RSS increase)
    mem_kind: str | None = None  # cuda_max_memory_allocated | cpu_rss_increase_peak | cpu_rss_increase_sampled
    flops_per_step: float | None = None  # FlopCounterMode over one step; None if not countable
    steps: int = 0  # timed steps (samples × cycle)
    samples: int = 0  # timed samples (each one phase cycle)
    cycle: int = 1  # steps per sample (lcm of the phases' `every`)
    warmup: int = 0  # warm-up steps run before timing (not reported)
    channels_last: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    times_ms: list[float] = field(default_factory=list)  # per-step time of every sample
    timer: str = ""  # cuda_events | perf_counter
    data: str = "fake: torch.rand batch of the GAN's data shape, prepared and on the device before timing"
    note: str = ""
    error: str | None = None
    machine: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0  # wall time of the whole cell including build and warm-up
    time: float = 0.0  # unix time the row was written

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------
# Helpers


def cuda_sync(device: torch.device | str) -> None:
    """Wait for the GPU (no-op on the CPU): put this around a timed region, never inside a loop."""
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


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


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _anon(statm: bytes) -> int:
    # statm: size resident shared ... — resident minus file-backed ("shared") pages is the
    # anonymous memory (tensors, allocator arenas); library code paged in on first use of a
    # kernel is file-backed and is not memory the step needs, so it is left out
    f = statm.split()
    return (int(f[1]) - int(f[2])) * _PAGE


def rss_bytes() -> int:
    """Anonymous resident memory of this process (Linux ``/proc/self/statm``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return _anon(f.read())
    except (OSError, IndexError, ValueError):
        return 0


def _status_kb() -> dict[str, int]:
    """VmHWM, RssFile, RssShmem (kB) from ``/proc/self/status`` ({} where unreadable)."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "RssFile", "RssShmem"):
                    out[key] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return out


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process; False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return "VmHWM" in _status_kb()


class MemorySampler:
    """Peak anonymous RSS of this process over a ``with`` block; ``peak`` in bytes.

    Preferred: reset the kernel's peak counter on entry and read it on exit (``kind ==
    "cpu_rss_increase_peak"``, exact, no thread). Fallback: a background thread reading a
    kept-open ``/proc/self/statm`` every ``interval`` seconds (``"cpu_rss_increase_sampled"``).
    ``use_peak_counter=False`` forces the thread.
    """

    def __init__(self, interval: float = 0.005, *, use_peak_counter: bool = True):
        self.interval = interval
        self.use_peak_counter = use_peak_counter
        self.peak = 0
        self.kind = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fd: int | None = None

    def _read(self) -> int:
        if self._fd is None:
            return 0
        try:
            return _anon(os.pread(self._fd, 128, 0))
        except (OSError, IndexError, ValueError):
            return 0

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            v = self._read()
            if v > self.peak:
                self.peak = v

    def __enter__(self) -> "MemorySampler":
        if self.use_peak_counter and reset_peak_rss():
            self.kind = "cpu_rss_increase_peak"
            self.peak = rss_bytes()
            return self
        self.kind = "cpu_rss_increase_sampled"
        try:
            self._fd = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            self._fd = None
        self.peak = self._read()
        if self._fd is not None:
            self._thread = threading.Thread(target=self._run, name="ganbench-rss", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.kind == "cpu_rss_increase_peak":
            st = _status_kb()
            if "VmHWM" in st:  # the peak of all resident pages, minus the file-backed ones now
                hwm_anon = (st["VmHWM"] - st.get("RssFile", 0) - st.get("RssShmem", 0)) * 1024
                self.peak = max(self.peak, hwm_anon)
            self.peak = max(self.peak, rss_bytes())
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, self._read())
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def is_oom(exc: BaseException) -> bool:
    """Whether an exception is an out-of-memory error (CUDA, CPU allocator, or Python)."""
    if isinstance(exc, MemoryError):
        return True
    oom_cls = getattr(torch.cuda, "OutOfMemoryError", None) or getattr(torch, "OutOfMemoryError", None)
    if oom_cls is not None and isinstance(exc, oom_cls):
        return True
    msg = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in msg
        or "can't allocate memory" in msg
        or "cannot allocate memory" in msg
        or "std::bad_alloc" in msg
    )


def machine_facts(device: torch.device | str | None = None) -> dict[str, Any]:
    """The machine a number ran on: CPU, threads, load, torch, CUDA, cuDNN, GPU, TF32 flags."""
    facts: dict[str, Any] = {
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_cuda": torch.version.cuda,
    }
    try:
        facts["loadavg_1m"] = round(os.getloadavg()[0], 2)  # a busy machine makes numbers noisy
    except OSError:
        pass
    if torch.cuda.is_available():
        dev = (
            torch.device(device)
            if device is not None and torch.device(device).type == "cuda"
            else torch.device("cuda", 0)
        )
        props = torch.cuda.get_device_properties(dev)
        facts.update(
            gpu=props.name,
            gpu_memory_gb=round(props.total_memory / 2**30, 1),
            gpu_capability=f"{props.major}.{props.minor}",
            gpu_count=torch.cuda.device_count(),
            cudnn=torch.backends.cudnn.version(),
            cudnn_benchmark=torch.backends.cudnn.benchmark,
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
            tf32_cudnn=torch.backends.cudnn.allow_tf32,
            float32_matmul_precision=torch.get_float32_matmul_precision(),
        )
    return facts


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


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
        out = train_step(self.gan, self.real, self.labels, step=self.i, autocast_dtype=self.autocast)
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


def time_steps(fn: Callable[[], Any], n: int, device: torch.device | str) -> list[float]:
    """Run ``fn`` ``n`` times; the milliseconds each call took, GPU work included.

    CUDA: events recorded around every call, one synchronize after the last (the loop never
    waits for the GPU). CPU: ``perf_counter`` around every call.
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
        torch.cuda.synchronize(dev)
        return [s.elapsed_time(e) for s, e in zip(starts, ends)]
    out = [0.0] * n
    clock = time.perf_counter
    for i in range(n):
        t0 = clock()
        fn()
        out[i] = (clock() - t0) * 1000.0
    return out


def summarize(times_ms: list[float]) -> tuple[float, float, float]:
    """(median, q25, q75) of a list of times."""
    if len(times_ms) == 1:
        return times_ms[0], times_ms[0], times_ms[0]
    q = statistics.quantiles(times_ms, n=4, method="inclusive")
    return statistics.median(times_ms), q[0], q[2]


def count_flops(prep: PreparedStep) -> float | None:
    """FLOPs of one training step (forward, backward, optimiser) by FlopCounterMode.

    Runs one real step (it also serves as a warm-up step). Compiled functions are run eagerly
    here so the counter sees every op.
    """
    from torch.utils.flop_counter import FlopCounterMode

    stance = (
        torch.compiler.set_stance("force_eager")
        if prep.cell.compile and hasattr(torch.compiler, "set_stance")
        else contextlib.nullcontext()
    )
    try:
        with stance, FlopCounterMode(display=False) as counter:
            prep._step()
        return float(counter.get_total_flops())
    except Exception:  # counting is best effort; the step itself is re-run below by callers
        return None


@contextlib.contextmanager
def peak_memory(device: torch.device, rss_start: int) -> Iterator[dict[str, Any]]:
    """Measure the peak memory of the enclosed region into the yielded dict."""
    out: dict[str, Any] = {}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        yield out
        torch.cuda.synchronize(device)
        out["peak_mem_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        out["mem_kind"] = "cuda_max_memory_allocated"
    else:
        with MemorySampler() as sampler:
            yield out
        out["peak_mem_mb"] = max(0, sampler.peak - rss_start) / 2**20 if sampler.peak else None
        out["mem_kind"] = sampler.kind


def measure_cell(
    cell: Cell,
    *,
    steps: int = 20,
    warmup: int = 3,
    max_seconds: float | None = None,
    flops: bool = True,
    seed: int = 0,
    check: bool = True,
) -> CellResult:
    """Build, warm up and time one cell; an out-of-memory error becomes ``status="oom"``.

    ``steps`` timed steps (rounded up to whole phase cycles) after ``warmup`` warm-up steps.
    ``max_seconds``: cap the timed steps so the cell's timed region takes about that long
    (at least one sample) — for heavy cells on slow machines; the row records the steps
    actually timed.
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
        prep = prepare_step(cell, seed=seed)
        row.overrides = dict(getattr(prep, "overrides", {}))
        row.channels_last = bool(row.overrides.get("channels_last", False))
        row.cycle = prep.cycle
        # warm-up, the first step counted by FlopCounterMode
        n_warm = max(1, warmup)
        t_warm = time.perf_counter()
        if flops:
            row.flops_per_step = count_flops(prep)
        for _ in range(n_warm - (1 if flops else 0)):
            prep.step()
        cuda_sync(device)
        per_step_s = (time.perf_counter() - t_warm) / n_warm  # sizes --max-seconds cells
        samples = max(1, math.ceil(steps / prep.cycle))
        if max_seconds is not None and per_step_s:
            samples = max(1, min(samples, int(max_seconds / (per_step_s * prep.cycle))))
        with peak_memory(device, rss_start) as mem:
            times = time_steps(prep.run_cycle, samples, device)
        per_step = [t / prep.cycle for t in times]
        med, q25, q75 = summarize(per_step)
        row.times_ms = [round(t, 4) for t in per_step]
        row.ms_median, row.ms_q25, row.ms_q75, row.ms_iqr = med, q25, q75, q75 - q25
        row.images_per_s = cell.batch_size / (med / 1000.0) if med > 0 else None
        row.peak_mem_mb, row.mem_kind = mem.get("peak_mem_mb"), mem.get("mem_kind")
        row.samples, row.steps = samples, samples * prep.cycle
        row.timer = "cuda_events" if device.type == "cuda" else "perf_counter"
        if check:
            problems = prep.check()
            if problems:
                row.status, row.error = "error", "correctness check failed after timing: " + "; ".join(problems)
        if prep.slowdown > 1.0:
            row.note = f"{SLOWDOWN_ENV} active: step slowed ×{prep.slowdown} (test hook)"
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
