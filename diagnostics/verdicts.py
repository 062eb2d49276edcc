"""The mode-collapse verdict (``healthy`` / ``partial`` / ``collapsed``) and verdicts.json.

Scores are judged *relative to the real ceiling*: the same score computed for held-out real
data (the test split) against the train split. A ratio ``fake / ceiling`` of 1 means "as good
as real data"; the thresholds below are fractions of the ceiling.

Signals, strongest first:

* **modes** (ring8/grid25 toys): modes captured / the ceiling's modes captured.
* **class coverage** (labelled images, classifier features): classes covered / the ceiling's,
  plus the class-histogram KL(fake‖real) in excess of the ceiling's.
* **diversity**: mean pairwise feature distance of the fakes over that of held-out reals,
  relative to the ceiling's ratio. Always available; the one that catches a generator emitting
  one sample over and over (ratio ≈ 0).
* **PRDC coverage/recall** (relative to the ceiling): used to call ``collapsed`` only when no
  mode or class signal exists (unlabelled images), because poor-but-diverse early samples also
  score low there; otherwise they can only make the verdict ``partial``.

``collapsed`` when any collapse rule fires; ``partial`` when any partial rule fires; else
``healthy``. The sentence lists the scores that decided it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from gans.base import atomic_write_json

__all__ = [
    "CollapseThresholds",
    "CollapseVerdict",
    "collapse_verdict",
    "write_verdicts",
    "read_verdicts",
    "VERDICTS_FILE",
]

VERDICTS_FILE = "verdicts.json"


@dataclass(frozen=True)
class CollapseThresholds:
    """Fractions of the real ceiling below which a score signals collapse / partial collapse."""

    modes_collapsed: float = 0.35  # ring8: ≤ 2 of 8 modes; grid25: ≤ 8 of 25
    modes_partial: float = 0.9  # ring8: 7 of 8 is partial
    classes_collapsed: float = 0.35  # 10 classes: 3 or fewer covered
    classes_partial: float = 0.9  # 10 classes: 8 or fewer covered
    kl_excess_partial: float = 0.5  # nats of class KL above the ceiling's: a skewed class histogram
    diversity_collapsed: float = 0.25  # fakes this much less spread than held-out reals
    diversity_partial: float = 0.6
    prdc_collapsed: float = 0.15  # recall AND coverage this low (only without a mode/class signal)
    prdc_partial: float = 0.4  # recall or coverage this low


@dataclass(frozen=True)
class CollapseVerdict:
    verdict: str  # healthy | partial | collapsed
    sentence: str
    scores: dict[str, float] = field(default_factory=dict)  # the relative scores that were judged
    decided_by: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "sentence": self.sentence,
            "scores": dict(self.scores),
            "decided_by": list(self.decided_by),
        }


def _rel(metrics: Mapping[str, float], ceiling: Mapping[str, float], key: str) -> float | None:
    f, c = metrics.get(key), ceiling.get(key)
    if f is None or c is None or not (isinstance(f, (int, float)) and isinstance(c, (int, float))):
        return None
    if not (math.isfinite(f) and math.isfinite(c)) or c <= 0:
        return None
    return f / c


def _grade(
    txt: str, rel: float, collapsed_at: float, partial_below: float, collapsed: list[str], partial: list[str]
) -> None:
    """File one score (relative to the real ceiling) under collapsed (≤) or partial (<)."""
    if rel <= collapsed_at:
        collapsed.append(f"{txt} ≤ {collapsed_at:.0%}")
    elif rel < partial_below:
        partial.append(f"{txt} < {partial_below:.0%}")


def collapse_verdict(
    metrics: Mapping[str, float],
    ceiling: Mapping[str, float],
    thresholds: CollapseThresholds | None = None,
    *,
    num_classes: int | None = None,
    num_modes: int | None = None,
) -> CollapseVerdict:
    """Judge the fake scores ``metrics`` against the real ``ceiling`` (same keys)."""
    th = thresholds or CollapseThresholds()
    scores: dict[str, float] = {}
    collapsed: list[str] = []
    partial: list[str] = []

    def fmt_n(v: float | None, total: int | None) -> str:
        return f"{v * total:.0f} of {total}" if v is not None and total else f"{v:.2f}"

    modes = _rel(metrics, ceiling, "modes")
    if modes is not None:
        scores["modes_rel"] = modes
        txt = f"modes {metrics['modes']:.0f} vs real {ceiling['modes']:.0f} ({modes:.0%})"
        _grade(txt, modes, th.modes_collapsed, th.modes_partial, collapsed, partial)
    classes = _rel(metrics, ceiling, "class_coverage")
    if classes is not None:
        scores["class_coverage_rel"] = classes
        txt = (
            f"class coverage {fmt_n(metrics['class_coverage'], num_classes)} classes vs real "
            f"{fmt_n(ceiling['class_coverage'], num_classes)} ({classes:.0%})"
        )
        _grade(txt, classes, th.classes_collapsed, th.classes_partial, collapsed, partial)
        kf, kc = metrics.get("class_kl"), ceiling.get("class_kl")
        if kf is not None and kc is not None and math.isfinite(kf) and math.isfinite(kc):
            scores["class_kl_excess"] = kf - kc
            if kf - kc >= th.kl_excess_partial and not collapsed:
                partial.append(f"class KL {kf:.2f} nats vs real {kc:.2f} (excess ≥ {th.kl_excess_partial})")
    div = _rel(metrics, ceiling, "diversity")
    if div is not None:
        scores["diversity_rel"] = div
        txt = f"diversity {metrics['diversity']:.2f} vs real {ceiling['diversity']:.2f} ({div:.0%})"
        _grade(txt, div, th.diversity_collapsed, th.diversity_partial, collapsed, partial)
    rec, cov = _rel(metrics, ceiling, "recall"), _rel(metrics, ceiling, "coverage")
    if rec is not None:
        scores["recall_rel"] = rec
    if cov is not None:
        scores["coverage_rel"] = cov
    if rec is not None and cov is not None:
        txt = (
            f"PRDC recall {metrics['recall']:.2f} / coverage {metrics['coverage']:.2f} vs real "
            f"{ceiling['recall']:.2f} / {ceiling['coverage']:.2f}"
        )
        if modes is None and classes is None and max(rec, cov) <= th.prdc_collapsed:
            collapsed.append(f"{txt} (both ≤ {th.prdc_collapsed:.0%} of real)")
        elif min(rec, cov) < th.prdc_partial:
            partial.append(f"{txt} (< {th.prdc_partial:.0%} of real)")
    if collapsed:
        return CollapseVerdict("collapsed", "collapsed: " + "; ".join(collapsed), scores, tuple(collapsed))
    if partial:
        return CollapseVerdict("partial", "partial collapse: " + "; ".join(partial), scores, tuple(partial))
    judged = ", ".join(f"{k} {v:.0%}" for k, v in scores.items() if k.endswith("_rel"))
    return CollapseVerdict(
        "healthy", f"healthy: every score is close to the real ceiling ({judged or 'no scores'})", scores, ()
    )


def read_verdicts(run_dir: str | Path) -> dict[str, Any]:
    import json

    p = Path(run_dir) / VERDICTS_FILE
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return {}


def write_verdicts(
    run_dir: str | Path, *, equilibrium: dict[str, Any] | None = None, collapse: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Update verdicts.json atomically (keeps the other verdict when only one is given)."""
    cur = read_verdicts(run_dir)
    if equilibrium is not None:
        cur["equilibrium"] = equilibrium
    if collapse is not None:
        cur["collapse"] = collapse
    atomic_write_json(Path(run_dir) / VERDICTS_FILE, cur)
    return cur
