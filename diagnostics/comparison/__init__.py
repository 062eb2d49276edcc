"""The batch-size comparison's analysis: ranking, ties, run quality, the machine's load and the conclusion.

:func:`compare` takes runs already read (``reports.load.RunData``, or anything with :class:`RunLike`'s fields)
and returns a typed :class:`Comparison`, keyed by int batch size; ``reports.compare`` renders it and writes
``comparison.json`` (:meth:`Comparison.to_json`). Nothing here reads files, draws or imports torch.

* :mod:`diagnostics.comparison.model` — the dataclasses;
* :mod:`diagnostics.comparison.build` — the comparison points and the measures per batch size;
* :mod:`diagnostics.comparison.judging` — who won, by how much, and whether the samples are usable (the quality
  verdict's one rule).
"""

from __future__ import annotations

from .build import LOSS_KEYS, RunLike, compare, summarise, train_wall
from .judging import conclusion, judge, load_change, run_quality
from .model import (
    Comparison,
    Conclusion,
    EvalPoint,
    Judgement,
    LoadChange,
    Measure,
    RunQuality,
    RunSummary,
    Stats,
)

__all__ = [
    "compare",
    "summarise",
    "train_wall",
    "conclusion",
    "judge",
    "run_quality",
    "load_change",
    "Comparison",
    "Conclusion",
    "EvalPoint",
    "Judgement",
    "LoadChange",
    "Measure",
    "RunQuality",
    "RunSummary",
    "Stats",
    "RunLike",
    "LOSS_KEYS",
]
