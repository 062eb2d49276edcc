"""Diagnostics during training: callbacks for ``gans.training.train``.

* :class:`EquilibriumCallback` feeds each scalar log to an
  :class:`~diagnostics.equilibrium.EquilibriumTracker`; every verdict change becomes an
  ``event`` record (``event: "verdict", kind: "equilibrium"``) in metrics.jsonl, the verdict is
  shown in the progress bar (``eq=…``), and verdicts.json is written at the end.
* :class:`EvalCallback` scores ``eval_samples`` generated samples against the data (see
  :func:`diagnostics.evaluate.evaluate_gan`) at each ``--eval-every`` and at the end of the run,
  appends an ``eval`` record and updates verdicts.json with the collapse verdict.

The feature extractor is resolved at the start of training (a missing inception weight file
stops the run before its first step, and the classifier is trained — or loaded from the cache —
once, not at the first evaluation).
"""

from __future__ import annotations

import math
import time
from typing import Any

from gans.base import UserError

from .equilibrium import EquilibriumThresholds, EquilibriumTracker
from .verdicts import write_verdicts

__all__ = ["EquilibriumCallback", "EvalCallback", "training_callbacks"]


class EquilibriumCallback:
    def __init__(self, thresholds: EquilibriumThresholds | None = None):
        self.thresholds = thresholds
        self.tracker: EquilibriumTracker | None = None

    def on_start(self, run: Any) -> None:
        self.tracker = EquilibriumTracker(run.gan.kind, run.gan.loss_kind, self.thresholds)
        if run.step > 0:  # resumed: rebuild the verdict from the logs so far, without new events
            from gans.training.rundir import read_metrics

            for rec in read_metrics(run.dir, "scalars"):
                if int(rec.get("step", 0)) <= run.step:
                    self.tracker.update(int(rec["step"]), {k: v for k, v in rec.items() if isinstance(v, (int, float))})
            if self.tracker.current is not None:
                run.postfix["eq"] = self.tracker.current.verdict

    def on_scalars(self, run: Any, step: int, means: dict[str, float]) -> None:
        if self.tracker is None:
            self.on_start(run)
        assert self.tracker is not None
        span = self.tracker.update(step, means)
        if span is not None:
            run.event("verdict", span.sentence, kind="equilibrium", verdict=span.verdict, since_step=span.since_step)
            run.postfix["eq"] = span.verdict

    def summary(self) -> dict[str, Any] | None:
        cur = self.tracker.current if self.tracker is not None else None
        if cur is None:
            return None
        numbers = {k: (v if math.isfinite(v) else str(v)) for k, v in cur.numbers.items()}
        return {"verdict": cur.verdict, "since_step": cur.since_step, "sentence": cur.sentence, "numbers": numbers}

    def on_end(self, run: Any) -> None:
        s = self.summary()
        if s is not None:
            write_verdicts(run.dir, equilibrium=s)


class EvalCallback:
    def __init__(self, eval_samples: int = 2000, features: str = "auto"):
        if eval_samples <= 0:
            raise UserError(f"--eval-samples must be a positive integer, got {eval_samples}")
        self.eval_samples, self.features = int(eval_samples), features
        self.extractor = None
        self._t0 = time.perf_counter()
        self._wall_offset = 0.0
        self.last = None

    def on_start(self, run: Any) -> None:
        from .features import get_extractor

        self._t0 = time.perf_counter()
        if run.step > 0:
            from gans.training.rundir import read_metrics

            walls = [r.get("wall_s", 0.0) for r in read_metrics(run.dir, "scalars")]
            self._wall_offset = float(walls[-1]) if walls else 0.0
        if run.data.name == "fake" and self.features == "auto":
            return  # dry runs on random tensors: nothing meaningful to score
        self.extractor = get_extractor(self.features, run.data, shape=tuple(run.data.shape), device=run.device)

    def on_eval(self, run: Any, step: int) -> None:
        from .evaluate import evaluate_gan

        if self.extractor is None:
            return
        try:
            result = evaluate_gan(run.gan, run.data, n=self.eval_samples, features=self.extractor, seed=run.cfg.seed)
        except UserError as e:  # e.g. NaN samples: recorded, the run goes on
            run.event("eval_failed", str(e))
            return
        spe = max(1, run.data.steps_per_epoch(run.cfg.batch_size))
        record = result.to_record(
            step=step, epoch=step / spe, wall_s=self._wall_offset + time.perf_counter() - self._t0
        )
        run.write(record)
        self.last = result
        run.postfix["collapse"] = result.verdict.verdict
        if result.quality is not None:
            run.postfix["quality"] = result.quality.verdict
        write_verdicts(
            run.dir,
            collapse={
                "verdict": result.verdict.verdict,
                "sentence": result.verdict.sentence,
                "scores": dict(result.verdict.scores),
                "step": step,
                "metrics": dict(result.metrics),
                "ceiling": dict(result.ceiling),
                "intervals": result.intervals,
            },
            quality=None
            if result.quality is None
            else {
                "verdict": result.quality.verdict,
                "sentence": result.quality.sentence,
                "scores": dict(result.quality.scores),
                "step": step,
            },
            memorisation=None if result.memorisation is None else {**result.memorisation.to_dict(), "step": step},
        )


def training_callbacks(
    *, eval_samples: int = 2000, features: str = "auto", equilibrium: bool = True, evaluate: bool = True
) -> list:
    """The diagnostics ``ganbench train`` plugs into the loop."""
    out: list = []
    if equilibrium:
        out.append(EquilibriumCallback())
    if evaluate:
        out.append(EvalCallback(eval_samples=eval_samples, features=features))
    return out
