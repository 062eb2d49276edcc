"""The comparison's typed result: :class:`Comparison` and its parts, keyed by int batch size.

``Comparison.to_json()`` is ``comparison.json``'s layout (batch sizes become string keys there, as JSON keys are;
the curve data, sample grids and source files the page needs are left out of the file).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = [
    "Stats",
    "EvalPoint",
    "RunSummary",
    "Measure",
    "Judgement",
    "RunQuality",
    "LoadChange",
    "Conclusion",
    "Comparison",
    "finite",
]

POINTS = ("at_equal_epochs", "at_equal_wall")  # the two comparison points of the quality measures


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@dataclass
class Stats:
    """One figure over the runs of one batch size (one per seed)."""

    mean: float | None = None
    sd: float | None = None  # None with fewer than two values
    n: int = 0
    values: list[float] = field(default_factory=list)


@dataclass
class EvalPoint:
    """One evaluation of one run, as the comparison reads it."""

    step: float = 0
    epoch: float | None = None
    wall_s: float | None = None
    train_wall_s: float | None = None  # training wall time at this step (evaluation pauses excluded)
    metrics: dict[str, float] = field(default_factory=dict)
    ceiling: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, list[float]] = field(default_factory=dict)  # the fakes' bootstrap intervals
    quality: str | None = None  # the quality verdict recorded with the evaluation (good / poor), if any


@dataclass
class RunSummary:
    """One run: identity, timing, the machine while it trained, its evaluations and verdicts."""

    name: str = ""
    dir: str = ""
    gan: str = "?"
    dataset: str = "?"
    batch_size: int | None = None
    seed: int | None = None
    status: str = "incomplete"
    steps: int = 0
    epochs: float | None = None
    train_wall_s: float | None = None
    images_per_s: float | None = None
    ms_per_step: float | None = None
    load_1m: float | None = None
    cpu_per_wall: float | None = None
    contention: str | None = None  # clean | disturbed | None: the machine while this run trained
    contention_why: list[str] = field(default_factory=list)
    cpus: int | None = None
    threads: int | None = None
    final_scalars: dict[str, float] = field(default_factory=dict)
    evals: list[EvalPoint] = field(default_factory=list)
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → {verdict, sentence}
    at_equal_epochs: EvalPoint | None = None
    at_equal_wall: EvalPoint | None = None
    # what the page draws (not in comparison.json): loss curves, sample grids, the files read
    curves: dict[str, dict[str, tuple[list[float], list[float]]]] = field(default_factory=dict)  # key → x → (xs, ys)
    samples: list[tuple[int, Path]] = field(default_factory=list)
    steps_per_epoch: int | None = None
    sources: list[Path] = field(default_factory=list)

    def at(self, point: str) -> EvalPoint | None:
        return self.at_equal_epochs if point == "at_equal_epochs" else self.at_equal_wall


@dataclass
class Measure:
    """One quality measure at one comparison point (or the throughput), per batch size."""

    metric: str
    point: str  # at_equal_epochs | at_equal_wall | throughput
    better: str | None  # lower | higher | target | None (not ranked)
    target: float | None
    by_batch: dict[int, Stats]
    intervals: dict[int, list[float]] = field(default_factory=dict)  # per batch, the union of its runs' intervals


@dataclass
class Judgement:
    """Winner and runner-up of one measure, the gap, and whether it beats the spread."""

    winner: int | None
    runner_up: int | None
    winner_mean: float
    runner_mean: float
    tie: bool = False
    no_signal: bool = False  # equal values that carry no signal (e.g. both coverages 0): no tie
    clear: bool = False
    abs_diff: float | None = None
    rel_diff: float | None = None
    spread_sd: float | None = None
    n: int = 1
    intervals_separate: bool | None = None


@dataclass
class RunQuality:
    """Whether one run's samples are poor (True / False / None: cannot tell), by the quality verdict."""

    poor: bool | None
    why: list[str] = field(default_factory=list)


@dataclass
class LoadChange:
    """Whether the machine's load changed between the runs (None: not recorded), and runs starved of CPU."""

    changed: bool | None
    why: str = ""
    starved: list[int] = field(default_factory=list)


@dataclass
class Conclusion:
    headline: str
    summary: list[str]
    sentences: list[str]
    judged: dict[str, Judgement]
    quality: dict[str, RunQuality]  # run name → its quality
    all_poor: bool
    load: LoadChange
    text: str


@dataclass
class Comparison:
    gan: str
    dataset: str
    batch_sizes: list[int]
    seeds: list[int]
    equal_epochs: float | None
    equal_train_wall_s: float | None
    metrics: list[str]  # the quality metrics every run has at equal epochs
    ceiling: dict[str, float]
    runs: list[RunSummary]
    measures: dict[str, Measure]  # "fid at_equal_epochs", …, "images_per_s"
    final_scalars: dict[str, dict[int, Stats]]  # loss/d, loss/g, … at the end, per batch
    plan: dict[str, Any]
    conclusion: Conclusion
    is_critic: bool = False
    loss_kind: str = "bce"

    def to_json(self) -> dict[str, Any]:
        """``comparison.json``: plain JSON values (non-finite numbers as null)."""
        out = _plain(self, skip=("is_critic", "loss_kind"))
        out["conclusion"]["quality"] = {
            s.name: {"batch_size": s.batch_size, **_plain(self.conclusion.quality[s.name])} for s in self.runs
        }
        return out


_PAGE_ONLY = ("curves", "samples", "steps_per_epoch", "sources")


def _plain(x: Any, skip: tuple[str, ...] = ()) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "__dataclass_fields__"):
        drop = skip + (_PAGE_ONLY if isinstance(x, RunSummary) else ())
        return {f.name: _plain(getattr(x, f.name)) for f in fields(x) if f.name not in drop}
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    return x
