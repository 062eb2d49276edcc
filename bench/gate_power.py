"""Measured power of ``ganbench regress --against``: false alarms on unchanged code, detection of planted slowdowns.

``python -m bench.gate_power`` builds a scratch git repository in a temporary folder holding a copy of
this package's ``gans`` and ``bench``, with one commit per condition, each on top of the same base:

* ``A/A``: a comment-only change (nothing the step runs changes);
* ``+5 %``, ``+10 %``, ``+20 %`` (``--plants``): real compute planted in every training step of the
  gated GANs: ``gans/models/core.py`` gains a wrapper around ``train_step`` that runs k matmuls of
  128×128 fp32 before the step (2·128³·k FLOPs). k is chosen per GAN from its step time and the matmul's
  time measured here first (single-threaded, the gate's settings), so the extra time is about the planted
  fraction of the step (both timed as this thread's CPU time); the table also shows the slowdown the gate
  itself read (median over its runs), the plant's real size.

It then runs ``--n`` gate comparisons per condition (each: a fresh temporary worktree of the base and
two fresh timing processes, exactly what ``ganbench regress --against`` does), conditions interleaved
(A/A, +5, +10, +20, then the next repetition in rotated order) so that a change in the machine's load
falls on all of them alike. A comparison *fails* when the gate fails (any GAN's interval above the
threshold). It prints, ready for README: per condition the comparisons, the failures, the rate with its
95 % Wilson interval, the per-GAN detection rate and the median ratio read; and the load average before,
during and after (this command measures whatever else the machine is doing). ``--max-minutes`` stops
starting new repetitions after that long (the table says how many ran). Results go to ``--out`` as JSON.

CPU only (the plant is CPU compute). ``--clock`` as the gate's (default: CPU time of the timing thread).
Ctrl-C stops early and still prints the table of the comparisons finished.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from gans.base import UserError, atomic_write_json

from .ab_gate import DEFAULT_AB_THRESHOLD, run_ab

__all__ = ["PLANT_M", "plant_source", "calibrate_plants", "build_scratch_repo", "wilson", "run_power", "format_power"]

PLANT_M = 128  # the planted matmul's side
DEFAULT_GANS = ("mnist_mlp", "cgan", "wgan_gp", "dcgan")  # .ci/run's gate subset


def plant_source(counts: dict[str, int]) -> str:
    """Python appended to ``gans/models/core.py``: ``counts[name]`` matmuls of PLANT_M² before each step."""
    return f'''

# planted regression (bench.gate_power): real compute in every training step of the named GANs
_PLANT_COUNTS = {dict(sorted(counts.items()))!r}
_PLANT_A = torch.randn({PLANT_M}, {PLANT_M})
_unplanted_train_step = train_step


def train_step(gan, *args, **kwargs):
    for _ in range(_PLANT_COUNTS.get(getattr(gan, "name", ""), 0)):
        _PLANT_A @ _PLANT_A
    return _unplanted_train_step(gan, *args, **kwargs)
'''


def calibrate_plants(gans: Sequence[str], settings: dict[str, dict[str, Any]], fractions: Sequence[float],
                     threads: int = 1) -> dict[str, Any]:
    """Per GAN its step time and, per fraction, the matmul count k that adds about that fraction."""
    import torch

    from .cells import Cell
    from .timing import prepare_step

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a = torch.randn(PLANT_M, PLANT_M)

        def fastest(fn, n: int, reps: int = 5) -> float:  # this thread's CPU time: steady on a loaded machine
            best = math.inf
            for _ in range(reps):
                t0 = time.thread_time()
                for _ in range(n):
                    fn()
                best = min(best, (time.thread_time() - t0) / n)
            return best * 1000.0

        mm_ms = fastest(lambda: a @ a, 200)
        out: dict[str, Any] = {"matmul_ms": mm_ms, "matmul_flops": 2 * PLANT_M**3, "gans": {}}
        for g in gans:
            s = settings[g]
            prep = prepare_step(Cell(g, int(s["batch_size"]), "cpu", "fp32", False, None,
                                     tuple(sorted((s.get("overrides") or {}).items()))))
            for _ in range(2):
                prep.run_cycle()
            step_ms = fastest(prep.run_cycle, 3) / prep.cycle
            out["gans"][g] = {"step_ms": step_ms,
                              "counts": {f"{f:g}": max(1, round(f * step_ms / mm_ms)) for f in fractions}}
    finally:
        torch.set_num_threads(old)
    return out


def _git(repo: Path, *args: str) -> str:
    r = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout.strip()


def build_scratch_repo(where: Path, plants: dict[str, dict[str, int]]) -> tuple[Path, dict[str, str]]:
    """A git repository at ``where``/repo (this checkout's committed ``gans`` and ``bench``): the base commit
    and one commit per condition on top of it."""
    src = Path(__file__).resolve().parents[1]
    repo = where / "repo"
    repo.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(src), "archive", "HEAD", "gans", "bench"], capture_output=True)
    if archive.returncode == 0:  # a checkout: its committed code (others' half-done edits stay out)
        subprocess.run(["tar", "-x", "-C", str(repo)], input=archive.stdout, check=True)
    else:  # an installed package: the files as they are
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for pkg in ("gans", "bench"):
            shutil.copytree(src / pkg, repo / pkg, ignore=ignore)
    _git(repo, "init", "-q")
    ident = ("-c", "user.name=gate_power", "-c", "user.email=gate_power@localhost")

    def commit(msg: str) -> str:
        _git(repo, "add", "-A")
        _git(repo, *ident, "commit", "-q", "-m", msg)
        return _git(repo, "rev-parse", "HEAD")

    shas = {"base": commit("base")}
    core = repo / "gans" / "models" / "core.py"
    original = core.read_text()
    for cond, counts in [("A/A", None), *plants.items()]:
        _git(repo, "checkout", "-q", "--detach", shas["base"])
        if counts is None:
            core.write_text(original + "\n# a comment-only change: nothing the step runs changes\n")
        else:
            core.write_text(original + plant_source(counts))
        shas[cond] = commit(cond)
    return repo, shas


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of k successes in n trials."""
    from scipy.stats import binomtest

    if n == 0:
        return 0.0, 1.0
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def run_power(
    *,
    n: int,
    gans: Sequence[str],
    fractions: Sequence[float],
    rounds: int,
    threshold: float,
    threads: int = 1,
    quick: bool = True,
    clock: str = "auto",
    max_minutes: float | None = None,
    log=print,
) -> dict[str, Any]:
    from .regress import gan_settings

    settings = {g: gan_settings(g, quick) for g in gans}
    t0 = time.time()
    load = {"before": os.getloadavg(), "during": [], "after": None}
    cal = calibrate_plants(gans, settings, fractions, threads)
    log(f"matmul {PLANT_M}² {cal['matmul_ms']:.3f} ms; "
        + "; ".join(f"{g} {c['step_ms']:.2f} ms/step → k {c['counts']}" for g, c in cal["gans"].items()))
    plants = {f"+{f:.0%}": {g: cal["gans"][g]["counts"][f"{f:g}"] for g in gans} for f in fractions}
    conditions = ["A/A", *plants]
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in conditions}
    with tempfile.TemporaryDirectory(prefix="ganbench-power-") as tmp:
        repo, shas = build_scratch_repo(Path(tmp), plants)
        reps_done = 0
        interrupted = False
        for i in range(n):
            if max_minutes is not None and time.time() - t0 > max_minutes * 60:
                log(f"--max-minutes {max_minutes:g} reached after {reps_done} repetitions")
                break
            order = conditions[i % len(conditions):] + conditions[: i % len(conditions)]
            for cond in order:
                _git(repo, "checkout", "-q", "--detach", shas[cond])
                t = time.time()
                try:
                    code, rows = run_ab(shas["base"], gans=gans, settings=settings, rounds=rounds,
                                        threshold=threshold, threads=threads, clock=clock, cwd=repo,
                                        log=lambda s: None)
                except (KeyboardInterrupt, SystemExit):  # keep what was measured: the table covers it
                    log("interrupted: the table covers the comparisons finished so far")
                    interrupted = True
                    break
                la = os.getloadavg()[0]
                load["during"].append(la)
                results[cond].append({
                    "failed": code == 1,
                    "seconds": time.time() - t,
                    "load1": la,
                    "gans": {r["gan"]: {k: r.get(k) for k in ("ratio", "ci_low", "ci_high", "verdict")} for r in rows},
                })
                log(f"  {i + 1}/{n} {cond:>5}: {'FAILED' if code == 1 else 'passed'} "
                    + " ".join(f"{r['gan']} {r.get('ratio', float('nan')):.3f} [{r.get('ci_low', float('nan')):.3f}, "
                               f"{r.get('ci_high', float('nan')):.3f}]" for r in rows)
                    + f" ({time.time() - t:.0f} s, load {la:.2f})")
            if interrupted:
                break
            reps_done += 1
    load["after"] = os.getloadavg()
    return {
        "n_requested": n,
        "repetitions": reps_done,
        "gans": list(gans),
        "settings": settings,
        "rounds": rounds,
        "threshold": threshold,
        "threads": threads,
        "clock": ("cpu" if threads == 1 else "wall") if clock == "auto" else clock,
        "calibration": cal,
        "plants": plants,
        "results": results,
        "load": load,
        "cpu_count": os.cpu_count(),
        "minutes": (time.time() - t0) / 60,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def format_power(res: dict[str, Any]) -> str:
    gans = res["gans"]
    lines = [
        f"gate: ganbench regress --against, {', '.join(gans)}, {res['rounds']} rounds, threshold "
        f"{res['threshold']:.0%}, {res['threads']} thread(s), {res['clock']} clock; {res['repetitions']} full "
        f"repetitions (comparisons per condition below) in "
        f"{res['minutes']:.0f} min on {res['cpu_count']} CPUs; load average (1 min) before "
        f"{res['load']['before'][0]:.2f}, during {min(res['load']['during'] or [0]):.2f}–"
        f"{max(res['load']['during'] or [0]):.2f} (median {statistics.median(res['load']['during'] or [0]):.2f}), "
        f"after {res['load']['after'][0]:.2f}",
        "",
        "| condition | comparisons | gate failed | rate (95 % Wilson) | per-GAN detection | ratio read (median) |",
        "|---|---|---|---|---|---|",
    ]
    for cond, runs in res["results"].items():
        k = sum(r["failed"] for r in runs)
        lo, hi = wilson(k, len(runs))
        per_gan = []
        ratios = []
        for g in gans:
            vs = [r["gans"].get(g, {}) for r in runs]
            slow = sum(v.get("verdict") == "slower" for v in vs)
            per_gan.append(f"{g} {slow}/{len(vs)}")
            rs = [v["ratio"] for v in vs if v.get("ratio")]
            ratios.append(f"{g} {statistics.median(rs):.3f}" if rs else f"{g} –")
        rate = f"{k / len(runs):.0%} ({lo:.0%}–{hi:.0%})" if runs else "–"
        lines.append(f"| {cond} | {len(runs)} | {k} | {rate} | {', '.join(per_gan)} | {', '.join(ratios)} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.gate_power",
        description="False-alarm and detection rates of `ganbench regress --against` on this machine, with planted "
        "real-compute slowdowns (see the module docstring).",
    )
    p.add_argument("--n", type=int, default=10, help="comparisons per condition (default 10)")
    p.add_argument("--gans", nargs="+", default=list(DEFAULT_GANS), metavar="GAN",
                   help=f"the gated GANs (default: {' '.join(DEFAULT_GANS)}, .ci/run's subset)")
    p.add_argument("--plants", nargs="+", type=float, default=[0.05, 0.10, 0.20], metavar="FRACTION",
                   help="planted slowdowns as fractions of each GAN's step (default 0.05 0.10 0.20)")
    p.add_argument("--rounds", type=int, default=12, help="the gate's rounds (default 12, as .ci/run)")
    p.add_argument("--threshold", type=float, default=DEFAULT_AB_THRESHOLD, help="the gate's threshold (default 0.05)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per side (default 1)")
    p.add_argument("--full", action="store_true", help="the gate's full settings instead of its quick ones")
    p.add_argument("--clock", choices=("auto", "cpu", "wall"), default="auto",
                   help="the gate's clock (default auto: CPU time on one CPU thread)")
    p.add_argument("--max-minutes", type=float, metavar="M",
                   help="start no new repetition after M minutes (the table says how many ran)")
    p.add_argument("--out", metavar="FILE", help="write every comparison and the summary here as JSON")
    args = p.parse_args(argv)
    try:
        from gans.models.core import get_gan_entry

        if args.n < 1 or args.rounds < 4 or not 0 < args.threshold < 1 or args.threads < 1:
            raise UserError("--n ≥ 1, --rounds ≥ 4, 0 < --threshold < 1 and --threads ≥ 1")
        if any(not 0 < f < 5 for f in args.plants):
            raise UserError("--plants are fractions of a step, e.g. 0.05 for +5 %")
        for g in args.gans:
            get_gan_entry(g)
        res = run_power(n=args.n, gans=args.gans, fractions=args.plants, rounds=args.rounds,
                        threshold=args.threshold, threads=args.threads, quick=not args.full, clock=args.clock,
                        max_minutes=args.max_minutes, log=lambda s: print(s, file=sys.stderr, flush=True))
    except UserError as e:
        print(f"gate_power: error: {e}", file=sys.stderr)
        return 2
    table = format_power(res)
    res["table"] = table
    if args.out:
        atomic_write_json(args.out, res)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
