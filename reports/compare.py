"""The batch-size comparison, read from run directories: analysis, conclusion and rendering.

The runs themselves are trained by ``bench/compare_batch.py`` through the one training loop;
this module only reads their files, so any old set of runs can be compared again.

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
"""

from __future__ import annotations

import math
import os
import statistics
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

from gans.base import UserError, atomic_write_json

from . import plots
from .html import (
    H,
    Markup,
    check_page_target,
    img_png,
    join,
    page,
    section,
    table,
    verdict_badge,
    write_index,
    write_page,
)
from .load import RunData, finite, load_run
from .run_report import pick_samples, write_run_report

__all__ = ["build_comparison", "conclusion", "write_comparison_report", "render_comparison"]

MIN_REL = 0.05  # with a single seed, gaps smaller than 5 % are not called wins
FAR_ABOVE_CEILING = 25.0  # an FID this many times the real data's own (held-out) FID: the samples failed
PRDC = ("precision", "recall", "density", "coverage")
ZERO = 0.005  # a precision/recall/density/coverage at or below this: no generated sample near the real data
NEAR_ZERO = 0.05  # recall and coverage below this with a far-off FID: the samples miss the real data
LOAD_CHANGE = (0.5, 1.5)  # CPU count unknown: load averages differing by ≥ 0.5 and by a factor ≥ 1.5 …
# CPU count known: the CPU share the load leaves each runnable thread, min(1, cpus ÷ load), differing by a
# factor ≥ SHARE_CHANGE; load below the CPU count slows no one, so 1.0 against 1.9 on 2 CPUs is no change …
SHARE_CHANGE = 1.1
# … or CPU time per wall second differing by a factor ≥ CPU_CHANGE. Single-threaded runs on a quiet machine
# differ by under 1 % (0.998 against 1.000 in the main job), and a run's images/s moves with its CPU share, so
# 10 % is already enough to move an equal-time verdict. A multi-threaded run's CPU use also depends on how well
# its batch size parallelises, so runs with more threads (or unknown threads) need CPU_CHANGE_THREADED.
CPU_CHANGE = 1.1
CPU_CHANGE_THREADED = 1.3
STARVED = 0.5  # a run that got under half a CPU second per wall second shared its machine with other work

LOSS_KEYS = ("loss/d", "loss/g", "d/real", "d/fake", "critic/gap")
CURVE_LABELS = {
    "loss/d": "D loss",
    "loss/g": "G loss",
    "d/real": "D(x) (probability)",
    "d/fake": "D(G(z)) (probability)",
    "critic/gap": "critic gap",
}


# ---- reading the runs back ------------------------------------------------------------------


def _eval_pauses(run: RunData) -> list[tuple[int, float]]:
    return [
        (int(r.get("step", 0)), float(r["eval_s"]))
        for r in run.other
        if r.get("type") == "eval_time" and finite(r.get("eval_s"))
    ]


def _train_wall(run: RunData, step: float, raw_wall: float | None) -> float | None:
    """Training wall time at ``step``: the loop's ``train_s``, else logged wall time less the evaluation pauses."""
    cache = run.__dict__.setdefault("_wall_cache", {})
    if not cache:
        cache["train"] = {r.get("step"): float(r["train_s"]) for r in run.scalars if finite(r.get("train_s"))}
        cache["walls"] = {r.get("step"): float(r["wall_s"]) for r in run.scalars if finite(r.get("wall_s"))}
        cache["pauses"] = sorted(_eval_pauses(run))
    if step in cache["train"]:
        return cache["train"][step]
    wall = cache["walls"].get(step, raw_wall)
    if wall is None:
        return None
    paused = sum(s for st, s in cache["pauses"] if st < step)
    return max(0.0, wall - paused)


def _run_summary(run: RunData) -> dict[str, Any]:
    tm = run.timing()
    evals = []
    spe = run.steps_per_epoch or 0
    for r in run.evals:
        step = r.get("step", 0)
        evals.append(
            {
                "step": step,
                "epoch": r.get("epoch", step / spe if spe else None),
                "wall_s": r.get("wall_s"),
                "train_wall_s": _train_wall(run, step, r.get("wall_s")),
                "metrics": dict(r.get("metrics") or {}),
                "ceiling": dict(r.get("ceiling") or {}),
                "intervals": dict((r.get("intervals") or {}).get("fake") or {}),
                "quality": _quality_field(r),
            }
        )
    last = run.scalars[-1] if run.scalars else {}
    final_wall = tm["train_s"]  # the run's one training wall time (RunData.train_seconds), as on its run report
    return {
        "dir": str(run.path),
        "name": run.name,
        "gan": run.gan,
        "dataset": run.dataset,
        "batch_size": run.batch_size,
        "seed": run.seed,
        "status": run.status,
        "steps": run.last_step,
        "epochs": (run.last_step / spe) if spe else None,
        "train_wall_s": final_wall,
        "images_per_s": tm["images_per_s"],
        "ms_per_step": tm["ms_per_step"],
        "load_1m": tm.get("load_1m"),
        "cpu_per_wall": tm.get("cpu_per_wall"),
        "contention": tm.get("contention"),  # clean | disturbed | None: the machine while this run trained
        "contention_why": tm.get("contention_why") or [],
        "cpus": tm.get("cpus"),
        "threads": tm.get("threads"),
        "final_scalars": {k: last[k] for k in LOSS_KEYS if finite(last.get(k))},
        "evals": evals,
        "verdicts": {
            k: {"verdict": v.get("verdict"), "sentence": v.get("sentence")} for k, v in run.final_verdicts().items()
        },
    }


def _quality_field(rec: dict[str, Any]) -> str | None:
    """An evaluation record's quality verdict (``good`` / ``poor`` …), wherever the record keeps it."""
    verdict = rec.get("verdict") if isinstance(rec.get("verdict"), dict) else {}
    for q in (rec.get("quality"), verdict.get("quality")):
        if isinstance(q, dict):
            q = q.get("verdict")
        if isinstance(q, str) and q:
            return q
    return None


def _nearest(evals: list[dict[str, Any]], key: str, target: float) -> dict[str, Any] | None:
    cands = [e for e in evals if finite(e.get(key))]
    if not cands:
        return None
    return min(cands, key=lambda e: (abs(e[key] - target), -e[key]))


def _stats(xs: list[float]) -> dict[str, Any]:
    xs = [float(x) for x in xs if finite(x)]
    if not xs:
        return {"mean": None, "sd": None, "n": 0, "values": []}
    return {
        "mean": statistics.fmean(xs),
        "sd": statistics.stdev(xs) if len(xs) > 1 else None,
        "n": len(xs),
        "values": xs,
    }


def build_comparison(
    run_dirs: Sequence[str | os.PathLike | RunData], plan: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every number of the comparison, from the run directories alone."""
    runs = [r if isinstance(r, RunData) else load_run(r) for r in run_dirs]
    runs.sort(key=lambda r: (r.batch_size or 0, r.seed or 0))
    if len(runs) < 2:
        raise UserError("a comparison needs at least two run directories")
    summaries = [_run_summary(r) for r in runs]
    bss = sorted({s["batch_size"] for s in summaries if s["batch_size"] is not None})
    if len(bss) < 2:
        raise UserError("the runs to compare all have the same batch size")
    # comparison points
    with_evals = [s for s in summaries if s["evals"]]
    eq_epoch = min((max((e["epoch"] or 0) for e in s["evals"]) for s in with_evals), default=None)
    eq_wall = min((max((e["train_wall_s"] or 0) for e in s["evals"]) for s in with_evals), default=None)
    for s in summaries:
        s["at_equal_epochs"] = _nearest(s["evals"], "epoch", eq_epoch) if eq_epoch is not None else None
        s["at_equal_wall"] = _nearest(s["evals"], "train_wall_s", eq_wall) if eq_wall is not None else None
    metric_names: list[str] = []
    for s in with_evals:
        for e in s["evals"]:
            for k, v in e["metrics"].items():
                if finite(v) and k not in metric_names:
                    metric_names.append(k)
    metric_names = [
        m
        for m in metric_names
        if all(s["at_equal_epochs"] and finite(s["at_equal_epochs"]["metrics"].get(m)) for s in summaries)
    ]
    ceiling = {}
    for s in with_evals:
        for m, v in (s["evals"][-1].get("ceiling") or {}).items():
            if finite(v):
                ceiling.setdefault(m, v)

    def per_batch(getter) -> dict[str, dict[str, Any]]:
        return {str(b): _stats([getter(s) for s in summaries if s["batch_size"] == b]) for b in bss}

    measures: dict[str, dict[str, Any]] = {}
    for m in metric_names:
        # a measure is ranked only in a known direction: an unknown metric, or a target with no real value, is not
        better = plots.METRIC_LABELS.get(m, (m, None))[1]
        target = ceiling.get(m, plots.DEFAULT_TARGET.get(m)) if better == "target" else None
        if better == "target" and not finite(target):
            better, target = None, None
        for point in ("at_equal_epochs", "at_equal_wall"):
            vals = per_batch(lambda s, m=m, p=point: (s[p] or {}).get("metrics", {}).get(m))
            measures[f"{m} {point}"] = {
                "metric": m,
                "point": point,
                "better": better,
                "target": target,
                "by_batch": vals,
                "intervals": _batch_intervals(summaries, bss, m, point),
            }
    measures["images_per_s"] = {
        "metric": "images_per_s",
        "point": "throughput",
        "better": "higher",
        "target": None,
        "by_batch": per_batch(lambda s: s["images_per_s"]),
    }
    facts = {k: per_batch(lambda s, k=k: s["final_scalars"].get(k)) for k in LOSS_KEYS}
    facts = {k: v for k, v in facts.items() if any(x["n"] for x in v.values())}
    comp = {
        "gan": summaries[0]["gan"],
        "dataset": summaries[0]["dataset"],
        "batch_sizes": bss,
        "seeds": sorted({s["seed"] for s in summaries if s["seed"] is not None}),
        "equal_epochs": eq_epoch,
        "equal_train_wall_s": eq_wall,
        "metrics": metric_names,
        "ceiling": ceiling,
        "runs": summaries,
        "measures": measures,
        "final_scalars": facts,
        "plan": plan or {},
    }
    comp["conclusion"] = conclusion(comp)
    return comp


def _batch_intervals(summaries: list[dict[str, Any]], bss: list[int], m: str, point: str) -> dict[str, list[float]]:
    """Per batch size, the union of its runs' bootstrap intervals of metric ``m`` (where every run has one)."""
    out: dict[str, list[float]] = {}
    for b in bss:
        ivs = [((s[point] or {}).get("intervals") or {}).get(m) for s in summaries if s["batch_size"] == b]
        if ivs and all(isinstance(iv, (list, tuple)) and len(iv) == 2 and all(finite(x) for x in iv) for iv in ivs):
            out[str(b)] = [min(float(iv[0]) for iv in ivs), max(float(iv[1]) for iv in ivs)]
    return out


def _judge(meas: dict[str, Any]) -> dict[str, Any] | None:
    """Winner and runner-up of one measure, with the size of the gap and whether it beats the spread."""
    vals = {b: v for b, v in meas["by_batch"].items() if v["mean"] is not None}
    better, target = meas["better"], meas.get("target")
    if len(vals) < 2 or better is None:
        return None
    key = {
        "lower": lambda b: vals[b]["mean"],
        "higher": lambda b: -vals[b]["mean"],
        "target": lambda b: abs(vals[b]["mean"] - target),
    }[better]
    order = sorted(vals, key=key)
    w, r = order[0], order[1]
    wm, rm = vals[w]["mean"], vals[r]["mean"]
    if key(w) == key(r):
        if not (_meaningful(meas["metric"], wm) and _meaningful(meas["metric"], rm)):
            # equal values that carry no signal (e.g. both coverages 0: no sample near the real data) are no tie
            return {
                "winner": None,
                "runner_up": None,
                "tie": False,
                "no_signal": True,
                "clear": False,
                "winner_mean": wm,
                "runner_mean": rm,
            }
        return {"winner": None, "runner_up": None, "tie": True, "winner_mean": wm, "runner_mean": rm}
    rel = abs(wm - rm) / abs(rm) if rm else None
    sds = [vals[b]["sd"] for b in (w, r) if vals[b]["sd"] is not None]
    spread = max(sds) if sds else None
    # One seed gives no spread: a gap under MIN_REL of the runner-up's value is then no clear win.
    clear = (abs(wm - rm) > 2 * spread) if spread is not None else (rel is None or rel >= MIN_REL)
    ivs = meas.get("intervals") or {}
    separate = None
    if w in ivs and r in ivs:  # a difference is called only when the bootstrap intervals separate
        separate = ivs[w][1] < ivs[r][0] or ivs[r][1] < ivs[w][0]
        clear = clear and separate
    return {
        "intervals_separate": separate,
        "winner": int(w),
        "runner_up": int(r),
        "winner_mean": wm,
        "runner_mean": rm,
        "abs_diff": abs(wm - rm),
        "rel_diff": rel,
        "spread_sd": spread,
        "clear": clear,
        "n": min(vals[w]["n"], vals[r]["n"]),
        "tie": False,
    }


def _meaningful(metric: str, value: float) -> bool:
    """False for values that say only that nothing matched (a precision/recall/density/coverage of 0)."""
    return not (metric in PRDC and abs(value) <= ZERO)


def run_quality(summary: dict[str, Any], ceiling: dict[str, Any], point: str = "at_equal_epochs") -> dict[str, Any]:
    """Whether one run's samples are poor at ``point``: ``{"poor": True/False/None, "why": [...]}``.

    The evaluation's quality verdict decides when present. Otherwise the samples are poor when
    precision, recall, density and coverage are all zero (no generated sample near the real
    data), or when the FID is at least FAR_ABOVE_CEILING times the real data's own and recall and
    coverage (when measured) stay below NEAR_ZERO: a high FID alone also marks samples that are
    recognisable but blurred or noisy. None: no evidence either way (cannot tell).
    """
    ev = summary.get(point) or (summary["evals"][-1] if summary.get("evals") else None)
    if ev is None:
        return {"poor": None, "why": []}
    why: list[str] = []
    m = ev.get("metrics") or {}
    fid, ceil = m.get("fid"), (ev.get("ceiling") or {}).get("fid", ceiling.get("fid"))
    fid_far = finite(fid) and finite(ceil) and ceil > 0 and fid >= FAR_ABOVE_CEILING * ceil
    if fid_far:
        why.append(f"FID {_num(fid)}, {fid / ceil:.0f}× the real data's {_num(ceil)}")
    prdc = [m.get(k) for k in PRDC if finite(m.get(k))]
    prdc_zero = len(prdc) == len(PRDC) and all(abs(v) <= ZERO for v in prdc)
    if prdc_zero:
        why.append("precision, recall, density and coverage all 0")
    q = ev.get("quality")
    if q is None and ev is (summary["evals"][-1] if summary.get("evals") else None):
        q = ((summary.get("verdicts") or {}).get("quality") or {}).get("verdict")
    if q is not None:
        return {"poor": q == "poor", "why": [f"quality verdict {q}", *why]}
    spread = [m.get(k) for k in ("recall", "coverage") if finite(m.get(k))]
    if prdc_zero or (fid_far and all(v < NEAR_ZERO for v in spread)):
        if spread and not prdc_zero:
            why.append(f"recall/coverage {' / '.join(_num(v) for v in spread)}")
        return {"poor": True, "why": why}
    if finite(fid) and finite(ceil) or prdc:
        return {"poor": False, "why": []}
    return {"poor": None, "why": []}


def load_change(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether the machine's load changed between the runs: ``{"changed": True/False/None, "why": str}``.

    From each run's median 1-minute load average and CPU time per wall second while training
    (logged by the loop), read against the machine's CPU count and the run's threads when the runs
    logged them. None when the runs did not log their load.
    """
    loads = [(s["batch_size"], s.get("load_1m")) for s in summaries if finite(s.get("load_1m"))]
    cpus = [(s["batch_size"], s.get("cpu_per_wall")) for s in summaries if finite(s.get("cpu_per_wall"))]
    if len(loads) < 2 and len(cpus) < 2:
        return {"changed": None, "why": "the runs did not record the machine's load", "starved": []}
    bits, changed = [], False
    if len(loads) >= 2:
        counts = {s.get("cpus") for s in summaries if finite(s.get("load_1m"))}
        n = counts.pop() if len(counts) == 1 else None
        lo, hi = min(v for _, v in loads), max(v for _, v in loads)
        if finite(n) and n >= 1:
            # each runnable thread gets min(1, cpus / load) of a CPU
            if min(1.0, n / max(lo, 1e-9)) >= SHARE_CHANGE * min(1.0, n / max(hi, 1e-9)):
                changed = True
        elif hi - lo >= LOAD_CHANGE[0] and hi >= LOAD_CHANGE[1] * max(lo, 1e-9):
            changed = True
        bits.append(
            "load average "
            + ", ".join(f"{v:.1f} (batch {b})" for b, v in loads)
            + (f" on {n} CPU{'s' if n != 1 else ''}" if finite(n) else "")
        )
    if len(cpus) >= 2:
        single = all(s.get("threads") == 1 for s in summaries if finite(s.get("cpu_per_wall")))
        lo, hi = min(v for _, v in cpus), max(v for _, v in cpus)
        if lo <= 0 or hi / lo >= (CPU_CHANGE if single else CPU_CHANGE_THREADED):
            changed = True
        bits.append("CPU s per wall s " + ", ".join(f"{v:.2f} (batch {b})" for b, v in cpus))
    starved = [b for b, v in cpus if v < STARVED]
    return {"changed": changed, "why": "; ".join(bits), "starved": starved}


def _epochs(x: float | None) -> str:
    return "–" if x is None else f"{x:.3g}"


def _num(x: float | None) -> str:
    if x is None:
        return "–"
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}" if a < 10 else f"{x:.1f}"
    return f"{x:.3f}"


def conclusion(comp: dict[str, Any]) -> dict[str, Any]:
    """Sentences computed from the numbers: who won each measure, by how much, and against what spread."""
    sentences: list[str] = []
    judged: dict[str, Any] = {}
    wins: dict[str, dict[int, int]] = {"at_equal_epochs": {}, "at_equal_wall": {}}
    counted: dict[str, int] = {"at_equal_epochs": 0, "at_equal_wall": 0}
    point_words = {
        "at_equal_epochs": f"at equal epochs ({_epochs(comp.get('equal_epochs'))})",
        "at_equal_wall": f"at equal training time (~{_num(comp.get('equal_train_wall_s'))} s)",
        "throughput": "in throughput",
    }
    runs = comp.get("runs") or []
    quality = {s["name"]: run_quality(s, comp.get("ceiling") or {}) for s in runs}
    load = load_change(runs)
    unreliable_time = " (the machine's load changed during the runs: not a fair timing)" if load["changed"] else ""
    for name, meas in comp["measures"].items():
        j = _judge(meas)
        if j is None:
            continue
        judged[name] = j
        m, point = meas["metric"], meas["point"]
        label = "images/s" if m == "images_per_s" else m
        if j.get("no_signal"):
            sentences.append(
                f"{label} {point_words[point]}: {_num(j['winner_mean'])} for every batch size — no signal "
                "(no generated sample near the real data), so not a tie."
            )
            continue
        if j["tie"]:
            sentences.append(f"{label} {point_words[point]}: a tie ({_num(j['winner_mean'])}).")
            if point in counted:
                counted[point] += 1
            continue
        w, r = j["winner"], j["runner_up"]
        if meas["better"] == "lower":
            how = f"{j['rel_diff'] * 100:.0f}% lower" if j["rel_diff"] is not None else "lower"
        elif meas["better"] == "higher":
            if m == "images_per_s" and j["runner_mean"]:
                how = f"{j['winner_mean'] / j['runner_mean']:.2f}× as many"
            else:
                how = f"{j['rel_diff'] * 100:.0f}% higher" if j["rel_diff"] is not None else "higher"
        else:
            how = f"closer to the real data's {_num(meas.get('target'))}"
        spread = ""
        if j["spread_sd"] is None and not j["clear"]:
            spread = f" (one seed, gap under {MIN_REL * 100:.0f}%: not a clear difference)"
        if j["spread_sd"] is not None:
            spread = f" (mean of {j['n']} seeds; run-to-run sd {_num(j['spread_sd'])}: " + (
                "the gap is larger than twice the spread)"
                if j["clear"]
                else "the gap is within twice the spread, so not a clear win)"
            )
        verb = "was better" if j["clear"] else "was ahead"
        timing_note = unreliable_time if point in ("at_equal_wall", "throughput") else ""
        sentences.append(
            f"{label} {point_words[point]}: batch {w} {verb} — {_num(j['winner_mean'])} vs "
            f"{_num(j['runner_mean'])} for batch {r} ({how}){spread}{timing_note}."
        )
        if point in wins:
            counted[point] += 1
            if j["clear"]:
                wins[point][w] = wins[point].get(w, 0) + 1
    summary = []
    poor = sorted({s["batch_size"] for s in runs if quality[s["name"]]["poor"]})
    seeds = sorted({s.get("seed") for s in runs}, key=lambda x: (x is None, x or 0))
    # with several seeds every run is named by its seed too ("batch 512 seed 1"): two runs never read alike
    good_runs = [s for s in runs if quality[s["name"]]["poor"] is False]
    good = sorted({s["batch_size"] for s in good_runs})
    good_text = (
        ", ".join(_label(s, seeds) for s in sorted(good_runs, key=lambda s: (s["batch_size"], s.get("seed") or 0)))
        if len(seeds) > 1
        else "batch " + ", ".join(map(str, good))
    )
    all_poor = bool(runs) and all(quality[s["name"]]["poor"] for s in runs)
    if all_poor:
        summary.append(
            "Every run produced poor samples: "
            + "; ".join(f"{_label(s, seeds)}: {', '.join(quality[s['name']]['why'])}" for s in runs)
            + ". The measures below rank failures, not good samples."
        )
    elif poor:
        summary.append(
            "Poor samples from "
            + "; ".join(
                f"{_label(s, seeds)} ({', '.join(quality[s['name']]['why'])})"
                for s in runs
                if quality[s["name"]]["poor"]
            )
            + (f"; usable samples from {good_text}." if good else ".")
        )
    for point in ("at_equal_epochs", "at_equal_wall"):
        if counted[point]:
            parts = [
                f"batch {b} won {n} of {counted[point]}" for b, n in sorted(wins[point].items(), key=lambda kv: -kv[1])
            ]
            summary.append(
                f"{point_words[point].capitalize()}: "
                + (
                    "; ".join(parts) + " quality measures."
                    if parts
                    else f"no clear winner on any of the {counted[point]} quality measures."
                )
                + (
                    f" Warning: the machine's load changed during the runs ({load['why']}), so equal training "
                    "time is not equal work; trust the equal-epoch comparison instead."
                    if point == "at_equal_wall" and load["changed"]
                    else ""
                )
            )
    if not comp.get("metrics"):
        summary.append(
            "No quality evaluations were found in the runs (diagnostics off or missing), so only losses and "
            "throughput are compared."
        )
    t = judged.get("images_per_s")
    disturbed = [s for s in runs if s.get("contention") == "disturbed"]
    if t and not t["tie"]:
        summary.append(
            f"Batch {t['winner']} trained faster: {_num(t['winner_mean'])} vs {_num(t['runner_mean'])} images/s"
            + (f" (measured while the machine's load changed: {load['why']})." if load["changed"] else ".")
            + (
                f" The machine was busy with other work ({load['why']}): absolute times and images/s are lower "
                "than on a quiet machine."
                if load.get("starved") and not load["changed"]
                else ""
            )
        )
    if disturbed:  # whoever won, these runs' images/s and training times are not clean figures
        summary.append(
            "Disturbed while training (gans.contention's limits), so not clean figures: "
            + "; ".join(f"{_label(s, seeds)} ({', '.join(s.get('contention_why') or [])})" for s in disturbed)
            + "."
        )
    fs = comp.get("final_scalars", {})
    loss_bits = []
    for k in ("loss/g", "loss/d"):
        if k in fs:
            vals = ", ".join(f"batch {b}: {_num(v['mean'])}" for b, v in fs[k].items() if v["mean"] is not None)
            loss_bits.append(f"final {'G' if k == 'loss/g' else 'D'} loss {vals}")
    if loss_bits:
        summary.append("Losses at the end — " + "; ".join(loss_bits) + ".")
    headline = _headline(comp, wins, counted)
    if all_poor:
        headline = (
            f"{comp['gan']} on {comp['dataset']}: "
            + ("both runs" if len(runs) == 2 else f"all {len(runs)} runs")
            + " failed — no batch size produced usable samples, so no batch size gave better samples. "
            + headline.split(": ", 1)[-1].replace("gave the better samples", "was less bad")
        )
    return {
        "headline": headline,
        "summary": summary,
        "sentences": sentences,
        "judged": judged,
        "quality": {s["name"]: {"batch_size": s["batch_size"], **quality[s["name"]]} for s in runs},
        "all_poor": all_poor,
        "load": load,
        "text": " ".join([headline, *summary, *sentences]),
    }


def _headline(comp: dict[str, Any], wins: dict[str, dict[int, int]], counted: dict[str, int]) -> str:
    point = "at_equal_epochs" if counted["at_equal_epochs"] else None
    if point is None:
        return (
            f"{comp['gan']} on {comp['dataset']}: no quality measures to compare batch sizes "
            f"{', '.join(map(str, comp['batch_sizes']))}."
        )
    w = wins[point]
    if not w:
        return f"{comp['gan']} on {comp['dataset']}: no batch size was clearly better at equal epochs."
    best = max(w.items(), key=lambda kv: kv[1])
    if list(w.values()).count(best[1]) > 1:
        return (
            f"{comp['gan']} on {comp['dataset']}: mixed result at equal epochs — "
            + ", ".join(f"batch {b} won {n}" for b, n in w.items())
            + f" of {counted[point]} quality measures."
        )
    return (
        f"{comp['gan']} on {comp['dataset']}: batch {best[0]} gave the better samples at equal epochs on "
        f"{best[1]} of {counted[point]} quality measures."
    )


# ---- the report -------------------------------------------------------------------------------


def _label(s: dict[str, Any], seeds: list[int]) -> str:
    return f"batch {s['batch_size']}" + (f" seed {s['seed']}" if len(seeds) > 1 else "")


def _curves(runs: list[RunData], summaries: list[dict[str, Any]], seeds: list[int], x: str) -> bytes | None:
    groups = []
    keys = [k for k in LOSS_KEYS if any(r.series(k)[1] for r in runs)]
    for k in keys:
        series = []
        for r, s in zip(runs, summaries):
            if x == "train_wall_s":
                xs, ys = [], []
                for rec in r.scalars:
                    if finite(rec.get(k)):
                        tw = _train_wall(r, rec.get("step"), rec.get("wall_s"))
                        if tw is not None:
                            xs.append(tw)
                            ys.append(float(rec[k]))
            else:
                xs, ys = r.series(k, x)
            series.append((xs, ys, _label(s, seeds)))
        groups.append((CURVE_LABELS.get(k, k), CURVE_LABELS.get(k, k), series))
    for m in summaries[0].get("_metric_names", []):
        series = [
            (
                [e[x] for e in s["evals"] if finite(e.get(x)) and finite(e["metrics"].get(m))],
                [e["metrics"][m] for e in s["evals"] if finite(e.get(x)) and finite(e["metrics"].get(m))],
                _label(s, seeds),
            )
            for s in summaries
        ]
        groups.append((m, plots.METRIC_LABELS.get(m, (m, ""))[0], series))
    hl = {}
    ceilings = summaries[0].get("_ceiling", {})
    ref = None if runs[0].is_critic else plots.EQUILIBRIUM_REFERENCE.get(runs[0].loss_kind)
    for i, g in enumerate(groups):
        if ref and g[0] in ("D loss", "G loss"):
            hl[i] = (ref[0], f"equilibrium {ref[1]}")
        if g[0].startswith("D(") and not runs[0].is_critic:
            hl[i] = (0.5, "equilibrium 0.5")
        if g[0] in ceilings:
            hl[i] = (ceilings[g[0]], "real-data ceiling")
    xl = {"epoch": plots.X_LABELS["epoch"], "train_wall_s": "training wall-clock time (s, evaluation pauses excluded)"}[
        x
    ]
    return plots.overlay_plot(
        groups,
        x_label=xl,
        title=f"Curves against {'epochs' if x == 'epoch' else 'wall-clock time'}",
        ncols=3,
        hlines=hl,
    )


def _quality_table(comp: dict[str, Any], point: str) -> str:
    rows = []
    for m in comp["metrics"]:
        meas = comp["measures"].get(f"{m} {point}")
        if not meas:
            continue
        j = comp["conclusion"]["judged"].get(f"{m} {point}")
        cells: list[Any] = [
            m,
            {"lower": "lower", "higher": "higher", "target": f"closer to {_num(meas.get('target'))}"}.get(
                meas["better"], "not ranked"
            ),
        ]
        for b in comp["batch_sizes"]:
            v = meas["by_batch"][str(b)]
            txt = "–" if v["mean"] is None else _num(v["mean"]) + (f" ± {_num(v['sd'])}" if v["sd"] is not None else "")
            cells.append(
                H(
                    '<span data-measure="{}" data-point="{}" data-batch="{}" data-value="{}">{}</span>',
                    m,
                    point,
                    b,
                    repr(v["mean"]),
                    txt,
                )
            )
        cells.append(_num(comp["ceiling"].get(m)) if m in comp["ceiling"] else "–")
        cells.append(
            "–"
            if j is None
            else "no signal"
            if j.get("no_signal")
            else "tie"
            if j["tie"]
            else "batch " + str(j["winner"]) + ("" if j["clear"] else " (not clear)")
        )
        rows.append([c if isinstance(c, Markup) else str(c) for c in cells])
    if not rows:
        return Markup("<p>No quality evaluations to compare.</p>")
    return table(
        ["metric", "better", *[f"batch {b}" for b in comp["batch_sizes"]], "real-data ceiling", "winner"],
        rows,
    )


def render_comparison(comp: dict[str, Any], runs: list[RunData], run_reports: dict[str, str] | None = None) -> str:
    seeds = comp["seeds"]
    summaries = comp["runs"]
    summaries[0]["_metric_names"] = comp["metrics"]
    summaries[0]["_ceiling"] = comp["ceiling"]
    parts = []
    plan = comp.get("plan") or {}
    # setup
    rows = [
        (s["name"], s["batch_size"], s["seed"], s["status"], s["steps"], s["epochs"], s["train_wall_s"])
        for s in summaries
    ]
    setup = table(["run", "batch", "seed", "status", "steps", "epochs", "training wall time (s)"], rows)
    if plan.get("time_budget_s"):
        setup += H(
            '<p class="note">Time budget {} s of training per run (evaluations '
            "excluded); the loop stops "
            "each run at the first logged step past it, so compare the actual training wall times above.</p>",
            f"{plan['time_budget_s']:g}",
        )
    if plan and not plan.get("diagnostics", True):
        setup += Markup(
            '<p class="note">diagnostics.live was not importable: the runs have no quality evaluations or verdicts.</p>'
        )
    if run_reports:
        setup += H(
            "<p>Run reports: {}</p>",
            join((H('<a href="{}">{}</a>', quote(v), k) for k, v in run_reports.items()), " · "),
        )
    parts.append(section("config", "Setup", setup))
    c = comp["conclusion"]
    body = H(
        '<div class="conclusion" id="conclusion-text"><p><b>{}</b></p>{}</div>',
        c["headline"],
        join(H("<p>{}</p>", x) for x in c["summary"]),
    )
    body += H("<ul>{}</ul>", join(H("<li>{}</li>", x) for x in c["sentences"]))
    body += Markup(
        '<p class="note">Equal epochs: the evaluation nearest the largest epoch every run reached. Equal '
        "training time: the evaluation whose "
        "training wall time (evaluation pauses excluded) is nearest the shortest run's. With several seeds, a "
        "win counts as clear only when the "
        "gap exceeds twice the larger run-to-run standard deviation; with one seed, only when it exceeds 5%.</p>"
    )
    parts.append(section("conclusion", "Conclusion", body))
    png = _curves(runs, summaries, seeds, "epoch")
    parts.append(
        section(
            "curves-epochs",
            "Curves against epochs",
            img_png(png, "curves vs epochs") if png else Markup("<p>No curves.</p>"),
        )
    )
    png = _curves(runs, summaries, seeds, "train_wall_s")
    parts.append(
        section(
            "curves-wall",
            "Curves against wall-clock time",
            img_png(png, "curves vs wall time") if png else Markup("<p>No curves.</p>"),
        )
    )
    q = (
        H("<h3>At equal epochs ({})</h3>", _epochs(comp["equal_epochs"]))
        + _quality_table(comp, "at_equal_epochs")
        + H("<h3>At equal training time (~{} s)</h3>", _num(comp["equal_train_wall_s"]))
        + _quality_table(comp, "at_equal_wall")
    )
    parts.append(section("quality", "Quality at equal epochs and at equal wall time", q))
    t = comp["measures"]["images_per_s"]["by_batch"]
    labels = [f"batch {b}" for b in comp["batch_sizes"]]
    vals = [t[str(b)]["mean"] or 0.0 for b in comp["batch_sizes"]]
    errs = [t[str(b)]["sd"] or 0.0 for b in comp["batch_sizes"]]
    png = plots.bar_chart(
        labels,
        vals,
        errors=errs,
        ylabel="throughput (images/s)",
        title="Training throughput (training images ÷ training wall time)",
    )
    rows = [
        (
            s["name"],
            s["batch_size"],
            s["seed"],
            s["images_per_s"],
            s["ms_per_step"],
            {"clean": "clean", "disturbed": "DISTURBED: " + "; ".join(s.get("contention_why") or [])}.get(
                s.get("contention") or "", "–"
            ),
        )
        for s in summaries
    ]
    note = Markup(
        '<p class="note">images/s: training images ÷ training wall time (sample writing included, '
        "evaluations excluded), as on each run's report; ms/step: training wall time ÷ steps. The runs ran one after "
        "another, so other load on the machine changes these numbers; for timings use <code>ganbench "
        "sweep</code> / <code>pytest bench</code>.</p>"
    )
    parts.append(
        section(
            "throughput",
            "Throughput",
            table(["run", "batch", "seed", "images/s", "ms/step", "machine while training"], rows)
            + (img_png(png, "throughput") if png else Markup())
            + note,
        )
    )
    rows = []
    for s in summaries:
        for k, v in s["verdicts"].items():
            rows.append(
                (
                    str(s["name"]),
                    str(k),
                    verdict_badge(v.get("verdict")),
                    H('<span class="verdict-sentence">{}</span>', v.get("sentence") or ""),
                )
            )
    parts.append(
        section(
            "verdicts",
            "Verdicts side by side",
            table(["run", "diagnostic", "verdict", "explanation"], rows)
            if rows
            else Markup("<p>No verdicts recorded.</p>"),
        )
    )
    figs = []
    for r, s in zip(runs, summaries):
        if s["seed"] != seeds[0]:
            continue
        picked = pick_samples(r, 3)
        for step, p in picked:
            figs.append(
                H(
                    "<figure>{}<figcaption>{} · step {}{}<br>{}/samples/{}</figcaption></figure>",
                    img_png(p.read_bytes(), f"{_label(s, seeds)} samples at step {step}", cls="grid"),
                    _label(s, seeds),
                    step,
                    f" · epoch {step / r.steps_per_epoch:.3g}" if r.steps_per_epoch else "",
                    r.name,
                    p.name,
                )
            )
            if p not in r.sources:
                r.sources.append(p)
        figs.append(Markup('<div style="flex-basis:100%;height:0"></div>'))
    parts.append(
        section(
            "samples",
            "Sample grids side by side",
            H('<div class="grids">{}</div>', join(figs)) if figs else Markup("<p>No sample grids.</p>"),
        )
    )
    sources = [str(p) for r in runs for p in r.sources]
    sub = H(
        '<b>{}</b> on <span class="dataset">{}</span> · batch sizes {} · seeds {}',
        comp["gan"],
        comp["dataset"],
        ", ".join(map(str, comp["batch_sizes"])),
        ", ".join(map(str, seeds)),
    )
    summaries[0].pop("_metric_names", None)
    summaries[0].pop("_ceiling", None)
    return page(
        f"Batch comparison: {comp['gan']} on {comp['dataset']}, batch {' vs '.join(map(str, comp['batch_sizes']))}",
        join(parts, "\n"),
        sources=sources,
        kind="comparison",
        subtitle=sub,
    )


def write_comparison_report(
    run_dirs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    plan: dict[str, Any] | None = None,
    run_reports: bool = True,
) -> dict[str, Any]:
    """Write ``out/comparison.html``, ``out/comparison.json``, each run's report and ``out/index.html``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("comparison.html", "index.html"):
        check_page_target(out / name)  # refuse before anything is written
    runs = [load_run(d) for d in run_dirs]
    comp = build_comparison(runs, plan)
    links = {}
    if run_reports:
        for r in runs:
            name = f"run-{r.name}.html"
            write_run_report(r.path, out / name)
            links[r.name] = name
    runs = sorted(
        (load_run(d) for d in run_dirs), key=lambda r: (r.batch_size or 0, r.seed or 0)
    )  # fresh source lists, same order
    write_page(out / "comparison.html", render_comparison(comp, runs, links))
    atomic_write_json(out / "comparison.json", _jsonable(comp))
    write_index(out, title=f"ganbench compare-batch — {comp['gan']} on {comp['dataset']}")
    return comp


def _jsonable(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x
