"""Every number of the batch-size comparison, from runs already read (:func:`compare`).

Comparison points
-----------------
* **Equal epochs**: the evaluation nearest the largest epoch every run reached (with
  ``--epochs`` this is the final one: all runs see the data the same number of times).
* **Equal wall time**: T is the shortest run's *training* wall time at its last evaluation; each
  run contributes the evaluation whose training wall time is nearest T. Training wall time
  excludes the time spent evaluating (measured around each evaluation and logged as
  ``{"type": "eval_time"}`` records), so the slower evaluation of one run does not count against it.

Training wall time comes from the loop itself: each scalars record carries ``train_s``, wall
time less the evaluations' pauses (older runs: ``wall_s`` less the logged ``eval_time`` records).

A measure is ranked in the direction the metric registry (:mod:`diagnostics.metric_registry`) gives it: lower,
higher, or closest to the real data's value (its ceiling, else the registry's default target); a metric the
registry does not rank, or does not know, is shown but not ranked.
"""

from __future__ import annotations

import statistics
from typing import Any, Protocol, Sequence

from gans.base import UserError

from .. import metric_registry as registry
from .judging import conclusion
from .model import POINTS, Comparison, EvalPoint, Measure, RunSummary, Stats, finite

__all__ = ["compare", "summarise", "train_wall", "RunLike", "LOSS_KEYS"]

LOSS_KEYS = ("loss/d", "loss/g", "d/real", "d/fake", "critic/gap")


class RunLike(Protocol):
    """What the comparison reads of a run (``reports.load.RunData`` is one)."""

    path: Any
    scalars: list[dict[str, Any]]
    evals: list[dict[str, Any]]
    other: list[dict[str, Any]]
    samples: list[tuple[int, Any]]
    sources: list[Any]

    name: str
    gan: str
    dataset: str
    batch_size: int | None
    seed: int | None
    status: str
    last_step: int
    steps_per_epoch: int | None
    is_critic: bool
    loss_kind: str

    def timing(self) -> dict[str, Any]: ...

    def final_verdicts(self) -> dict[str, dict[str, Any]]: ...

    def series(self, key: str, x: str = "step") -> tuple[list[float], list[float]]: ...


def _paused_before(run: RunLike, step: Any) -> float:
    """Seconds the run spent evaluating before ``step`` (its ``eval_time`` records)."""
    return sum(
        float(r["eval_s"])
        for r in run.other
        if r.get("type") == "eval_time" and finite(r.get("eval_s")) and int(r.get("step", 0)) < step
    )


def train_wall(run: RunLike) -> dict[Any, float]:
    """Training wall time at each logged step: the loop's ``train_s``, else wall time less the evaluation pauses."""
    out: dict[Any, float] = {}
    for r in run.scalars:
        step = r.get("step")
        if finite(r.get("train_s")):
            out[step] = float(r["train_s"])
        elif finite(r.get("wall_s")) and step not in out:
            out[step] = max(0.0, float(r["wall_s"]) - _paused_before(run, step))
    return out


def _at(walls: dict[Any, float], run: RunLike, step: Any, raw_wall: Any) -> float | None:
    if step in walls:
        return walls[step]
    if not finite(raw_wall):
        return None
    return max(0.0, float(raw_wall) - _paused_before(run, step))


def _quality_field(rec: dict[str, Any]) -> str | None:
    """An evaluation record's quality verdict (``good`` / ``poor`` …), wherever the record keeps it."""
    verdict = rec.get("verdict") if isinstance(rec.get("verdict"), dict) else {}
    for q in (rec.get("quality"), verdict.get("quality")):
        if isinstance(q, dict):
            q = q.get("verdict")
        if isinstance(q, str) and q:
            return q
    return None


def _curves(run: RunLike, walls: dict[Any, float]) -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """Each logged loss/D-output series against epochs and against training wall time."""
    out = {}
    for k in LOSS_KEYS:
        if not run.series(k)[1]:
            continue
        xs, ys = [], []
        for rec in run.scalars:
            if finite(rec.get(k)) and rec.get("step") in walls:
                xs.append(walls[rec.get("step")])
                ys.append(float(rec[k]))
        out[k] = {"epoch": run.series(k, "epoch"), "train_wall_s": (xs, ys)}
    return out


def summarise(run: RunLike) -> RunSummary:
    """One run as the comparison reads it."""
    tm = run.timing()
    spe = run.steps_per_epoch or 0
    walls = train_wall(run)
    evals = []
    for r in run.evals:
        step = r.get("step", 0)
        evals.append(
            EvalPoint(
                step=step,
                epoch=r.get("epoch", step / spe if spe else None),
                wall_s=r.get("wall_s"),
                train_wall_s=_at(walls, run, step, r.get("wall_s")),
                metrics=dict(r.get("metrics") or {}),
                ceiling=dict(r.get("ceiling") or {}),
                intervals=dict((r.get("intervals") or {}).get("fake") or {}),
                quality=_quality_field(r),
            )
        )
    last = run.scalars[-1] if run.scalars else {}
    return RunSummary(
        dir=str(run.path),
        name=run.name,
        gan=run.gan,
        dataset=run.dataset,
        batch_size=run.batch_size,
        seed=run.seed,
        status=run.status,
        steps=run.last_step,
        epochs=(run.last_step / spe) if spe else None,
        train_wall_s=tm["train_s"],  # the run's one training wall time (RunData.train_seconds), as on its report
        images_per_s=tm["images_per_s"],
        ms_per_step=tm["ms_per_step"],
        load_1m=tm.get("load_1m"),
        cpu_per_wall=tm.get("cpu_per_wall"),
        contention=tm.get("contention"),
        contention_why=list(tm.get("contention_why") or []),
        cpus=tm.get("cpus"),
        threads=tm.get("threads"),
        final_scalars={k: last[k] for k in LOSS_KEYS if finite(last.get(k))},
        evals=evals,
        verdicts={
            k: {"verdict": v.get("verdict"), "sentence": v.get("sentence")} for k, v in run.final_verdicts().items()
        },
        curves=_curves(run, walls),
        samples=list(run.samples),
        steps_per_epoch=run.steps_per_epoch,
        sources=list(run.sources),
    )


def _nearest(evals: list[EvalPoint], key: str, target: float) -> EvalPoint | None:
    cands = [e for e in evals if finite(getattr(e, key))]
    if not cands:
        return None
    return min(cands, key=lambda e: (abs(getattr(e, key) - target), -getattr(e, key)))


def _stats(xs: list[Any]) -> Stats:
    vals = [float(x) for x in xs if finite(x)]
    if not vals:
        return Stats()
    return Stats(statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else None, len(vals), vals)


def _batch_intervals(runs: list[RunSummary], bss: list[int], m: str, point: str) -> dict[int, list[float]]:
    """Per batch size, the union of its runs' bootstrap intervals of metric ``m`` (where every run has one)."""
    out: dict[int, list[float]] = {}
    for b in bss:
        ivs = [((s.at(point) or EvalPoint()).intervals or {}).get(m) for s in runs if s.batch_size == b]
        if ivs and all(isinstance(iv, (list, tuple)) and len(iv) == 2 and all(finite(x) for x in iv) for iv in ivs):
            out[b] = [min(float(iv[0]) for iv in ivs), max(float(iv[1]) for iv in ivs)]
    return out


def compare(runs: Sequence[RunLike], plan: dict[str, Any] | None = None) -> Comparison:
    """Every number of the comparison, and its conclusion, from the runs (each read once by the caller)."""
    runs = sorted(runs, key=lambda r: (r.batch_size or 0, r.seed or 0))
    if len(runs) < 2:
        raise UserError("a comparison needs at least two run directories")
    summaries = [summarise(r) for r in runs]
    bss = sorted({s.batch_size for s in summaries if s.batch_size is not None})
    if len(bss) < 2:
        raise UserError("the runs to compare all have the same batch size")
    with_evals = [s for s in summaries if s.evals]
    eq_epoch = min((max((e.epoch or 0) for e in s.evals) for s in with_evals), default=None)
    eq_wall = min((max((e.train_wall_s or 0) for e in s.evals) for s in with_evals), default=None)
    for s in summaries:
        s.at_equal_epochs = _nearest(s.evals, "epoch", eq_epoch) if eq_epoch is not None else None
        s.at_equal_wall = _nearest(s.evals, "train_wall_s", eq_wall) if eq_wall is not None else None
    names: list[str] = []
    for s in with_evals:
        for e in s.evals:
            names += [k for k, v in e.metrics.items() if finite(v) and k not in names]
    names = [m for m in names if all(s.at_equal_epochs and finite(s.at_equal_epochs.metrics.get(m)) for s in summaries)]
    ceiling: dict[str, float] = {}
    for s in with_evals:
        for m, v in s.evals[-1].ceiling.items():
            if finite(v):
                ceiling.setdefault(m, v)

    def per_batch(getter) -> dict[int, Stats]:
        return {b: _stats([getter(s) for s in summaries if s.batch_size == b]) for b in bss}

    measures: dict[str, Measure] = {}
    for m in names:
        # a measure is ranked only in a known direction: an unranked metric, or a target with no real value, is not
        better = registry.direction(m)
        target = ceiling.get(m, registry.default_target(m)) if better == "target" else None
        if better == "target" and not finite(target):
            better, target = None, None
        for point in POINTS:
            vals = per_batch(lambda s, m=m, p=point: (s.at(p) or EvalPoint()).metrics.get(m))
            ivs = _batch_intervals(summaries, bss, m, point)
            measures[f"{m} {point}"] = Measure(m, point, better, target, vals, ivs)
    ips = per_batch(lambda s: s.images_per_s)
    measures["images_per_s"] = Measure("images_per_s", "throughput", "higher", None, ips)
    facts = {k: per_batch(lambda s, k=k: s.final_scalars.get(k)) for k in LOSS_KEYS}
    facts = {k: v for k, v in facts.items() if any(x.n for x in v.values())}
    comp = Comparison(
        gan=summaries[0].gan,
        dataset=summaries[0].dataset,
        batch_sizes=bss,
        seeds=sorted({s.seed for s in summaries if s.seed is not None}),
        equal_epochs=eq_epoch,
        equal_train_wall_s=eq_wall,
        metrics=names,
        ceiling=ceiling,
        runs=summaries,
        measures=measures,
        final_scalars=facts,
        plan=dict(plan or {}),
        conclusion=None,  # type: ignore[arg-type]  # computed from the rest just below
        is_critic=bool(runs[0].is_critic),
        loss_kind=str(runs[0].loss_kind),
    )
    comp.conclusion = conclusion(comp)
    return comp
