"""The comparison's judgement: who won each measure and by how much, whether the runs' samples are usable, whether
the machine's load changed between the runs, and the sentences that say so (:func:`conclusion`).

Whether a run's samples are poor has one rule, the quality verdict's (:func:`diagnostics.verdicts.quality_verdict`):
the verdict recorded with the evaluation, else computed now from the evaluation's scores and real-data ceiling
(:func:`run_quality`). How far the FID is above the real data's, and PRDC all zero, are named beside it as facts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..verdicts import quality_verdict
from .model import Conclusion, Judgement, LoadChange, Measure, RunQuality, RunSummary, finite

if TYPE_CHECKING:
    from .model import Comparison

__all__ = ["conclusion", "judge", "run_quality", "load_change", "label", "num", "epochs"]

MIN_REL = 0.05  # with a single seed, gaps smaller than 5 % are not called wins
FAR_ABOVE_CEILING = 25.0  # an FID this many times the real data's own (held-out) FID is named beside the verdict
PRDC = ("precision", "recall", "density", "coverage")
ZERO = 0.005  # a precision/recall/density/coverage at or below this: no generated sample near the real data
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


def judge(meas: Measure) -> Judgement | None:
    """Winner and runner-up of one measure, with the size of the gap and whether it beats the spread."""
    vals = {b: v for b, v in meas.by_batch.items() if v.mean is not None}
    better, target = meas.better, meas.target
    if len(vals) < 2 or better is None:
        return None
    key = {
        "lower": lambda b: vals[b].mean,
        "higher": lambda b: -vals[b].mean,
        "target": lambda b: abs(vals[b].mean - target),
    }[better]
    order = sorted(vals, key=key)
    w, r = order[0], order[1]
    wm, rm = vals[w].mean, vals[r].mean
    if key(w) == key(r):
        # equal values that carry no signal (e.g. both coverages 0: no sample near the real data) are no tie
        signal = _meaningful(meas.metric, wm) and _meaningful(meas.metric, rm)
        return Judgement(None, None, wm, rm, tie=signal, no_signal=not signal)
    rel = abs(wm - rm) / abs(rm) if rm else None
    sds = [vals[b].sd for b in (w, r) if vals[b].sd is not None]
    spread = max(sds) if sds else None
    # One seed gives no spread: a gap under MIN_REL of the runner-up's value is then no clear win.
    clear = (abs(wm - rm) > 2 * spread) if spread is not None else (rel is None or rel >= MIN_REL)
    ivs = meas.intervals or {}
    separate = None
    if w in ivs and r in ivs:  # a difference is called only when the bootstrap intervals separate
        separate = ivs[w][1] < ivs[r][0] or ivs[r][1] < ivs[w][0]
        clear = clear and separate
    return Judgement(
        int(w), int(r), wm, rm, clear=clear, abs_diff=abs(wm - rm), rel_diff=rel, spread_sd=spread,
        n=min(vals[w].n, vals[r].n), intervals_separate=separate,
    )  # fmt: skip


def _meaningful(metric: str, value: float) -> bool:
    """False for values that say only that nothing matched (a precision/recall/density/coverage of 0)."""
    return not (metric in PRDC and abs(value) <= ZERO)


def run_quality(
    summary: RunSummary, ceiling: dict[str, float] | None = None, point: str = "at_equal_epochs"
) -> RunQuality:
    """Whether one run's samples are poor at ``point`` (else at its last evaluation), by the quality verdict.

    The verdict recorded with that evaluation decides (for the last one, verdicts.json's too); an evaluation without
    one is judged now by :func:`diagnostics.verdicts.quality_verdict` on its scores against its real-data ceiling
    (``ceiling``, the comparison's, fills in what the evaluation lacks). ``poor`` is None (cannot tell) without an
    evaluation or without a score the verdict reads.
    """
    ev = summary.at(point) or (summary.evals[-1] if summary.evals else None)
    if ev is None:
        return RunQuality(None)
    real = {**(ceiling or {}), **ev.ceiling}
    facts: list[str] = []  # how far off the samples are: named beside the verdict, never a second rule
    fid, ceil = ev.metrics.get("fid"), real.get("fid")
    if finite(fid) and finite(ceil) and ceil > 0 and fid >= FAR_ABOVE_CEILING * ceil:
        facts.append(f"FID {num(fid)}, {fid / ceil:.0f}× the real data's {num(ceil)}")
    prdc = [ev.metrics.get(k) for k in PRDC if finite(ev.metrics.get(k))]
    if len(prdc) == len(PRDC) and all(abs(v) <= ZERO for v in prdc):
        facts.append("precision, recall, density and coverage all 0")
    q = ev.quality
    if q is None and summary.evals and ev is summary.evals[-1]:
        q = (summary.verdicts.get("quality") or {}).get("verdict")
    if q is not None:
        return RunQuality(q == "poor", [f"quality verdict {q}", *facts])
    v = quality_verdict(ev.metrics, real)
    if not v.scores:
        return RunQuality(None)
    if v.verdict != "poor":
        return RunQuality(False)
    return RunQuality(True, [*facts, f"quality verdict poor: {'; '.join(v.decided_by)}"])


def load_change(summaries: list[RunSummary]) -> LoadChange:
    """Whether the machine's load changed between the runs (``changed`` None: the runs did not log their load).

    From each run's median 1-minute load average and CPU time per wall second while training
    (logged by the loop), read against the machine's CPU count and the run's threads when the runs
    logged them.
    """
    loads = [(s.batch_size, s.load_1m) for s in summaries if finite(s.load_1m)]
    cpus = [(s.batch_size, s.cpu_per_wall) for s in summaries if finite(s.cpu_per_wall)]
    if len(loads) < 2 and len(cpus) < 2:
        return LoadChange(None, "the runs did not record the machine's load")
    bits, changed = [], False
    if len(loads) >= 2:
        counts = {s.cpus for s in summaries if finite(s.load_1m)}
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
        single = all(s.threads == 1 for s in summaries if finite(s.cpu_per_wall))
        lo, hi = min(v for _, v in cpus), max(v for _, v in cpus)
        if lo <= 0 or hi / lo >= (CPU_CHANGE if single else CPU_CHANGE_THREADED):
            changed = True
        bits.append("CPU s per wall s " + ", ".join(f"{v:.2f} (batch {b})" for b, v in cpus))
    starved = [b for b, v in cpus if v < STARVED]
    return LoadChange(changed, "; ".join(bits), starved)


def epochs(x: float | None) -> str:
    return "–" if x is None else f"{x:.3g}"


def num(x: float | None) -> str:
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


def label(s: RunSummary, seeds: list[int]) -> str:
    """A run's name in sentences: its batch size, and its seed when the comparison has several."""
    return f"batch {s.batch_size}" + (f" seed {s.seed}" if len(seeds) > 1 else "")


def conclusion(comp: Comparison) -> Conclusion:
    """Sentences computed from the numbers: who won each measure, by how much, and against what spread."""
    sentences: list[str] = []
    judged: dict[str, Judgement] = {}
    wins: dict[str, dict[int, int]] = {"at_equal_epochs": {}, "at_equal_wall": {}}
    counted: dict[str, int] = {"at_equal_epochs": 0, "at_equal_wall": 0}
    point_words = {
        "at_equal_epochs": f"at equal epochs ({epochs(comp.equal_epochs)})",
        "at_equal_wall": f"at equal training time (~{num(comp.equal_train_wall_s)} s)",
        "throughput": "in throughput",
    }
    runs = comp.runs or []
    quality = {s.name: run_quality(s, comp.ceiling or {}) for s in runs}
    load = load_change(runs)
    unreliable_time = " (the machine's load changed during the runs: not a fair timing)" if load.changed else ""
    for name, meas in comp.measures.items():
        j = judge(meas)
        if j is None:
            continue
        judged[name] = j
        m, point = meas.metric, meas.point
        what = "images/s" if m == "images_per_s" else m
        if j.no_signal:
            sentences.append(
                f"{what} {point_words[point]}: {num(j.winner_mean)} for every batch size — no signal "
                "(no generated sample near the real data), so not a tie."
            )
            continue
        if j.tie:
            sentences.append(f"{what} {point_words[point]}: a tie ({num(j.winner_mean)}).")
            if point in counted:
                counted[point] += 1
            continue
        w, r = j.winner, j.runner_up
        if meas.better == "lower":
            how = f"{j.rel_diff * 100:.0f}% lower" if j.rel_diff is not None else "lower"
        elif meas.better == "higher":
            if m == "images_per_s" and j.runner_mean:
                how = f"{j.winner_mean / j.runner_mean:.2f}× as many"
            else:
                how = f"{j.rel_diff * 100:.0f}% higher" if j.rel_diff is not None else "higher"
        else:
            how = f"closer to the real data's {num(meas.target)}"
        spread = ""
        if j.spread_sd is None and not j.clear:
            spread = f" (one seed, gap under {MIN_REL * 100:.0f}%: not a clear difference)"
        if j.spread_sd is not None:
            spread = f" (mean of {j.n} seeds; run-to-run sd {num(j.spread_sd)}: " + (
                "the gap is larger than twice the spread)"
                if j.clear
                else "the gap is within twice the spread, so not a clear win)"
            )
        verb = "was better" if j.clear else "was ahead"
        timing_note = unreliable_time if point in ("at_equal_wall", "throughput") else ""
        sentences.append(
            f"{what} {point_words[point]}: batch {w} {verb} — {num(j.winner_mean)} vs "
            f"{num(j.runner_mean)} for batch {r} ({how}){spread}{timing_note}."
        )
        if point in wins:
            counted[point] += 1
            if j.clear:
                wins[point][w] = wins[point].get(w, 0) + 1
    summary = []
    poor = sorted({s.batch_size for s in runs if quality[s.name].poor})
    seeds = sorted({s.seed for s in runs}, key=lambda x: (x is None, x or 0))
    # with several seeds every run is named by its seed too ("batch 512 seed 1"): two runs never read alike
    good_runs = [s for s in runs if quality[s.name].poor is False]
    good = sorted({s.batch_size for s in good_runs})
    good_text = (
        ", ".join(label(s, seeds) for s in sorted(good_runs, key=lambda s: (s.batch_size, s.seed or 0)))
        if len(seeds) > 1
        else "batch " + ", ".join(map(str, good))
    )
    all_poor = bool(runs) and all(quality[s.name].poor for s in runs)
    if all_poor:
        summary.append(
            "Every run produced poor samples: "
            + "; ".join(f"{label(s, seeds)}: {', '.join(quality[s.name].why)}" for s in runs)
            + ". The measures below rank failures, not good samples."
        )
    elif poor:
        summary.append(
            "Poor samples from "
            + "; ".join(
                f"{label(s, seeds)} ({', '.join(quality[s.name].why)})"
                for s in runs
                if quality[s.name].poor
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
                    f" Warning: the machine's load changed during the runs ({load.why}), so equal training "
                    "time is not equal work; trust the equal-epoch comparison instead."
                    if point == "at_equal_wall" and load.changed
                    else ""
                )
            )
    if not comp.metrics:
        summary.append(
            "No quality evaluations were found in the runs (diagnostics off or missing), so only losses and "
            "throughput are compared."
        )
    t = judged.get("images_per_s")
    disturbed = [s for s in runs if s.contention == "disturbed"]
    if t and not t.tie:
        summary.append(
            f"Batch {t.winner} trained faster: {num(t.winner_mean)} vs {num(t.runner_mean)} images/s"
            + (f" (measured while the machine's load changed: {load.why})." if load.changed else ".")
            + (
                f" The machine was busy with other work ({load.why}): absolute times and images/s are lower "
                "than on a quiet machine."
                if load.starved and not load.changed
                else ""
            )
        )
    if disturbed:  # whoever won, these runs' images/s and training times are not clean figures
        summary.append(
            "Disturbed while training (gans.contention's limits), so not clean figures: "
            + "; ".join(f"{label(s, seeds)} ({', '.join(s.contention_why or [])})" for s in disturbed)
            + "."
        )
    fs = comp.final_scalars
    loss_bits = []
    for k in ("loss/g", "loss/d"):
        if k in fs:
            vals = ", ".join(f"batch {b}: {num(v.mean)}" for b, v in fs[k].items() if v.mean is not None)
            loss_bits.append(f"final {'G' if k == 'loss/g' else 'D'} loss {vals}")
    if loss_bits:
        summary.append("Losses at the end — " + "; ".join(loss_bits) + ".")
    headline = _headline(comp, wins, counted)
    if all_poor:
        headline = (
            f"{comp.gan} on {comp.dataset}: "
            + ("both runs" if len(runs) == 2 else f"all {len(runs)} runs")
            + " failed — no batch size produced usable samples, so no batch size gave better samples. "
            + headline.split(": ", 1)[-1].replace("gave the better samples", "was less bad")
        )
    text = " ".join([headline, *summary, *sentences])
    return Conclusion(headline, summary, sentences, judged, quality, all_poor, load, text)


def _headline(comp: Comparison, wins: dict[str, dict[int, int]], counted: dict[str, int]) -> str:
    point = "at_equal_epochs" if counted["at_equal_epochs"] else None
    if point is None:
        return (
            f"{comp.gan} on {comp.dataset}: no quality measures to compare batch sizes "
            f"{', '.join(map(str, comp.batch_sizes))}."
        )
    w = wins[point]
    if not w:
        return f"{comp.gan} on {comp.dataset}: no batch size was clearly better at equal epochs."
    best = max(w.items(), key=lambda kv: kv[1])
    if list(w.values()).count(best[1]) > 1:
        return (
            f"{comp.gan} on {comp.dataset}: mixed result at equal epochs — "
            + ", ".join(f"batch {b} won {n}" for b, n in w.items())
            + f" of {counted[point]} quality measures."
        )
    return (
        f"{comp.gan} on {comp.dataset}: batch {best[0]} gave the better samples at equal epochs on "
        f"{best[1]} of {counted[point]} quality measures."
    )

