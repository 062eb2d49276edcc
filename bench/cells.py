"""Benchmark cells (one point of a grid) and result rows (what was measured for a cell)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Cell", "CellResult"]


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
    variant: str = "ganbench"  # ganbench (train_step) | seed | minimal (bench.references)

    @property
    def key(self) -> str:
        """Identity of the cell in results.jsonl (a resumed sweep skips keys already present)."""
        ov = ",".join(f"{k}={v}" for k, v in self.overrides)
        cl = "" if self.channels_last is None else f"|cl={'on' if self.channels_last else 'off'}"
        return (
            f"{self.gan}|bs={self.batch_size}|{self.device}|{self.precision}|"
            f"compile={'on' if self.compile else 'off'}{cl}"
            + (f"|{ov}" if ov else "")
            + (f"|ref={self.variant}" if self.variant != "ganbench" else "")
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
    flops_per_step: float | None = None  # FlopCounterMode over one phase cycle ÷ its steps; None if not countable
    peak_flops: float | None = None  # this device's matmul FLOP/s in the same process (bench.machine.peak_flops)
    mfu: float | None = None  # flops_per_step / median step time / peak_flops
    variant: str = "ganbench"  # ganbench | seed | minimal
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
    # contention over the timed steps (bench.contention): clean | disturbed (after one re-measure), "" = not timed
    contention: str = ""
    remeasured: bool = False  # the first measurement was disturbed and the cell was timed once more
    load: dict[str, Any] = field(default_factory=dict)  # readings of the measurement reported (Readings.to_dict)
    load_first: dict[str, Any] | None = None  # readings of the disturbed first measurement, when re-measured
    wall_s: float = 0.0  # wall time of the whole cell including build and warm-up
    time: float = 0.0  # unix time the row was written

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
