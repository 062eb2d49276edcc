"""The stored-baseline regression check: normalised step times against a committed baseline.

CI's pass/fail gate is ``ganbench regress --against REV`` (:mod:`bench.ab_gate`), which times the change and
its base side by side in one sitting. This module's stored baseline is a trend record from another day: on
unchanged code GANs were measured at fixed offsets of up to ±23 % from it, so ``--trend`` reports the changes
and exits 0 (CI's fallback when a shallow clone has no parent commit). Every value a baseline holds is
checked against :data:`BOUNDS` when it is loaded.

CI machines are noisy and differ from run to run, so absolute step times from another machine
mean little. Instead every GAN's step time is divided by the time of a fixed *calibration
workload* (a matmul, a small conv and a run of tiny element-wise ops — BLAS, conv and
dispatch overhead, the three things GAN steps on a CPU spend their time on) measured
**interleaved** with it in the same run: calibration, GAN a, calibration, GAN b, calibration, …
for several rounds (the GAN order rotates each round). A GAN's *normalised step time* is the
median over rounds of ``step time / mean(calibration just before, just after)``, each time
the fastest call of its block (the least disturbed by background load). Machine speed
and background load move both numbers together and cancel.

The gate fails (exit 1) when any GAN's normalised step time is more than ``threshold``
(default 15 %) above the baseline stored in ``bench/baseline.json``. A GAN over the threshold
is measured a second time, independently, and fails only if the same signal (below) is over
again — an injected 30 % slowdown fails both times, a one-off burst of background load does not.
``--update-baseline`` rewrites the baseline (per mode: ``quick`` and ``full`` are stored apart).

A second, machine-independent signal: for every GAN with a ``minimal`` reference loop
(:mod:`bench.references`), that loop is timed interleaved with the GAN too, and ``vs_minimal``
= ganbench's step time ÷ the minimal loop's (median over rounds) is stored in the baseline.
The gate also fails when ganbench falls more than ``threshold`` further behind the minimal
loop than recorded (``vs_minimal`` more than 15 % above the baseline's): overhead added to
``train_step`` or the optimisers shows there even where the calibration ratio hides it.

A GAN (or a whole mode) without a baseline is an error (exit 2), never a pass: the committed
baseline holds the ``quick`` mode, the CI form (``ganbench regress --quick``); the full mode
must be recorded on the CI machine class first (``ganbench regress --update-baseline``).

On the CPU the gate runs single-threaded by default (``--threads 1``): with two cores shared
with other jobs, OpenMP's spinning threads make multi-threaded step times swing by integer
factors, single-threaded ones by a few per cent. Baselines from one kind of machine transfer
only roughly to another (the calibration mix cannot match every GAN's mix of work); when CI
moves to different hardware, regenerate the baseline there with ``--update-baseline``.

Test hook: ``GANBENCH_INJECT_SLOWDOWN=gan:1.3`` slows the timed step of ``gan`` by 30 %
(see :mod:`bench.timing`); tests/test_regress.py uses it to show the gate fails.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from gans.base import UserError, atomic_write_json
from gans.models.core import get_gan_entry, list_gans
from gans.training.runtime import resolve_device

from .cells import Cell
from .machine import cuda_sync, machine_facts
from .references import references_for
from .timing import PreparedStep, ReferencePrepared, prepare_step, time_steps

__all__ = [
    "DEFAULT_BASELINE",
    "DEFAULT_THRESHOLD",
    "GATE_DEFAULTS",
    "Calibration",
    "gan_settings",
    "measure_normalised",
    "compare",
    "format_report",
    "baseline_problem",
    "load_baseline",
    "update_baseline",
    "run_gate",
]

DEFAULT_BASELINE = Path(__file__).with_name("baseline.json")
DEFAULT_THRESHOLD = 0.15  # 15 %: well above run-to-run noise of the ratio (~3-5 %), well below 30 %

# Each family declares its gate settings (``GAN.gate``: mode → batch size and config overrides); a mode it
# does not name takes these. Batches large enough that the small GANs' steps are compute-bound, not
# Python-bound: their ratio to the calibration workload then moves < 10 % between runs (at batch 8 it
# moved 25 %). Heavy families declare small batches (dcgan 2, celeba_mlp 1) or narrower widths
# (celeba_conv 32 channels) so every registered GAN fits in a couple of minutes on a 2-core CPU.
GATE_DEFAULTS: dict[str, dict[str, Any]] = {"quick": {"batch_size": 64}, "full": {"batch_size": 32}}


def gan_settings(gan: str, quick: bool) -> dict[str, Any]:
    """The gate's batch size and config overrides for ``gan`` in the quick or full mode, from its family."""
    from gans.models.core import get_gan_entry

    mode = "quick" if quick else "full"
    s = dict(GATE_DEFAULTS[mode])
    s.update(get_gan_entry(gan).cls.gate.get(mode, {}))
    s["overrides"] = dict(s.get("overrides") or {})
    return s


class Calibration:
    """A fixed workload whose time measures this machine's speed right now."""

    def __init__(self, device: torch.device):
        g = torch.Generator().manual_seed(1234)
        # sized to a few ms per call on a CPU core: long enough that timer and scheduler
        # granularity do not dominate, short enough to interleave finely
        self.a = torch.randn(320, 320, generator=g).to(device)
        self.x = torch.randn(8, 32, 32, 32, generator=g).to(device)
        self.w = torch.randn(32, 32, 3, 3, generator=g).to(device)
        self.v = torch.randn(16384, generator=g).to(device)

    def __call__(self) -> None:
        self.a @ self.a  # BLAS
        F.conv2d(self.x, self.w, padding=1)  # convolution
        s = self.v
        for _ in range(64):  # dispatcher-bound small ops, like a small GAN's step
            s = s * 1.0001 + 0.001
        return None


def _time_block(fn: Callable[[], Any], n: int, device: torch.device) -> float:
    """Milliseconds per call over a block of n calls: the fastest call.

    Under bursts of background load, medians of the calibration and of a GAN's step move by
    different amounts (their sensitivity to a shared cache and core differs); the fastest call
    of a block is the least disturbed estimate of each, and a real slowdown (every call
    slower) moves it fully.
    """
    return min(time_steps(fn, n, device))


def measure_normalised(
    gans: Sequence[str],
    *,
    quick: bool = True,
    rounds: int = 5,
    device: str = "cpu",
    settings: dict[str, dict[str, Any]] | None = None,
    target_block_s: float | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, dict[str, Any]]:
    """Normalised step time of each GAN (step time / calibration time, interleaved).

    ``settings`` (from a baseline) fixes each GAN's batch size, overrides and steps per block so
    that the comparison is like for like; missing GANs get :func:`gan_settings` and a block
    length chosen from a probe step (about ``target_block_s`` seconds per block).
    """
    dev = resolve_device(device)
    target = target_block_s if target_block_s is not None else (0.12 if quick else 0.5)
    cal = Calibration(dev)
    for _ in range(3):
        cal()
    cuda_sync(dev)
    cal_ms = _time_block(cal, 5, dev)
    cal_n = max(3, min(50, math.ceil(target / max(cal_ms / 1000.0, 1e-6))))
    preps: dict[str, PreparedStep] = {}
    refs: dict[str, ReferencePrepared] = {}  # the minimal reference loops, where they exist
    ref_steps: dict[str, int] = {}
    info: dict[str, dict[str, Any]] = {}
    for gan in gans:
        s = dict((settings or {}).get(gan) or gan_settings(gan, quick))
        t0 = time.perf_counter()
        prep = prepare_step(
            Cell(gan, int(s["batch_size"]), device, "fp32", False, None, tuple(sorted(s.get("overrides", {}).items())))
        )
        for _ in range(2):  # warm-up
            prep.run_cycle()
        cuda_sync(dev)
        probe_ms = _time_block(prep.run_cycle, 1, dev)
        if not s.get("steps"):
            s["steps"] = max(1, min(50, math.ceil(target / max(probe_ms / 1000.0, 1e-6))))  # samples (cycles) per block
        preps[gan] = prep
        if "minimal" in references_for(gan) and not s.get("overrides"):
            ref = ReferencePrepared(Cell(gan, int(s["batch_size"]), device, "fp32", False, None, (), "minimal"))
            for _ in range(2):
                ref.run_cycle()
            ref_probe = _time_block(ref.run_cycle, 1, dev)
            refs[gan] = ref
            ref_steps[gan] = max(1, min(50, math.ceil(target / max(ref_probe / 1000.0, 1e-6))))
        info[gan] = {
            "batch_size": int(s["batch_size"]),
            "overrides": s.get("overrides", {}),
            "steps": int(s["steps"]),
            "cycle": prep.cycle,
            "ratios": [],
            "step_ms": [],
            "cal_ms": [],
            "vs_minimal": [],
        }
        log(
            f"  {gan}: batch {s['batch_size']}, {s['steps']} samples per block, probe "
            f"{probe_ms / prep.cycle:.2f} ms/step ({time.perf_counter() - t0:.1f} s to build and warm up)"
        )
    order = list(gans)
    for r in range(rounds):
        k = r % len(order) if order else 0
        rot = order[k:] + order[:k]
        before = _time_block(cal, cal_n, dev)
        for gan in rot:
            prep = preps[gan]
            step_ms = _time_block(prep.run_cycle, info[gan]["steps"], dev) / prep.cycle
            if gan in refs:  # the minimal loop right after the GAN: ganbench's step ÷ the minimal one
                ref_ms = _time_block(refs[gan].run_cycle, ref_steps[gan], dev) / refs[gan].cycle
                info[gan]["vs_minimal"].append(step_ms / ref_ms)
            after = _time_block(cal, cal_n, dev)
            c = (before + after) / 2
            info[gan]["ratios"].append(step_ms / c)
            info[gan]["step_ms"].append(step_ms)
            info[gan]["cal_ms"].append(c)
            before = after
    out = {}
    for gan in gans:
        d = info[gan]
        problems = preps[gan].check()
        if problems:
            raise RuntimeError(f"{gan}: correctness check failed after timing: {'; '.join(problems)}")
        out[gan] = {
            "ratio": statistics.median(d["ratios"]),
            "ratio_spread": (max(d["ratios"]) - min(d["ratios"])) / statistics.median(d["ratios"]),
            "step_ms": statistics.median(d["step_ms"]),
            "cal_ms": statistics.median(d["cal_ms"]),
            "batch_size": d["batch_size"],
            "overrides": d["overrides"],
            "steps": d["steps"],
            "rounds": rounds,
        }
        if d["vs_minimal"]:
            out[gan]["vs_minimal"] = statistics.median(d["vs_minimal"])
        preps[gan].release()
    return out


def compare(
    current: dict[str, dict[str, Any]], baseline: dict[str, dict[str, Any]], threshold: float
) -> list[dict[str, Any]]:
    """Rows of (gan, current, baseline, change, verdict); verdict "slower" fails the gate.

    Two signals, each against the baseline: ``change`` of the calibration ratio and
    ``change_vs_minimal`` of ganbench's step ÷ the minimal loop's (only where both the baseline
    and this run measured it; otherwise that signal cannot tell and does not vote). Either one
    more than ``threshold`` above its baseline makes the GAN "slower"; ``why`` names which.
    """
    rows = []
    for gan in sorted(set(current) | set(baseline)):
        cur, base = current.get(gan), baseline.get(gan)
        if cur is None:
            rows.append({"gan": gan, "verdict": "not measured", "baseline": base["ratio"]})
            continue
        if base is None:
            rows.append({"gan": gan, "verdict": "new (no baseline)", **_cur(cur)})
            continue
        change = cur["ratio"] / base["ratio"] - 1.0
        row = {"gan": gan, "change": change, "baseline": base["ratio"], **_cur(cur)}
        why = ["calibration"] if change > threshold else []
        if cur.get("vs_minimal") and base.get("vs_minimal"):
            row["baseline_vs_minimal"] = base["vs_minimal"]
            row["change_vs_minimal"] = cur["vs_minimal"] / base["vs_minimal"] - 1.0
            if row["change_vs_minimal"] > threshold:
                why.append("minimal")
        faster = change < -threshold
        row["verdict"] = "slower" if why else ("faster" if faster else "ok")
        row["why"] = why
        rows.append(row)
    return rows


def _confirmed(row: dict[str, Any], threshold: float) -> list[str]:
    """The signals over ``threshold`` in both the first measurement and the re-measurement.

    A finding is confirmed only when the *same* signal repeats it: two independent noise bursts,
    one on each signal, are not a regression (each signal alone has a few per cent of noise, and a
    real slowdown moves the signal it moves every time).
    """
    repeat = {"calibration": row.get("confirm"), "minimal": row.get("confirm_vs_minimal")}
    return [w for w in row.get("why", []) if repeat.get(w) is not None and repeat[w] > threshold]


def _cur(cur: dict[str, Any]) -> dict[str, Any]:
    keys = ("ratio", "step_ms", "cal_ms", "batch_size", "ratio_spread", "vs_minimal")
    return {k: cur[k] for k in keys if k in cur}


def format_report(rows: Sequence[dict[str, Any]], threshold: float) -> str:
    head = (
        f"{'GAN':<13} {'batch':>5} {'step ms':>9} {'calib ms':>9} {'normalised':>10} {'baseline':>9} "
        f"{'change':>8} {'÷minimal':>9} {'baseline':>9} {'change':>8}  verdict"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        f = lambda k, fmt: fmt.format(r[k]) if r.get(k) is not None else "–"  # noqa: E731
        verdict = r["verdict"].upper() if r["verdict"] == "slower" else r["verdict"]
        if r.get("why"):
            verdict += f" ({' and '.join('vs ' + w for w in r['why'])})"
        if r.get("confirm") is not None:
            verdict += f" (re-measured: {r['confirm']:+.1%})"
        lines.append(
            f"{r['gan']:<13} {f('batch_size', '{:d}'):>5} {f('step_ms', '{:.3f}'):>9} {f('cal_ms', '{:.3f}'):>9} "
            f"{f('ratio', '{:.3f}'):>10} {f('baseline', '{:.3f}'):>9} {f('change', '{:+.1%}'):>8} "
            f"{f('vs_minimal', '{:.3f}'):>9} {f('baseline_vs_minimal', '{:.3f}'):>9} "
            f"{f('change_vs_minimal', '{:+.1%}'):>8}  {verdict}"
        )
    lines.append(
        "normalised = step time / calibration time; ÷minimal = step time / the minimal reference loop's step time "
        f"(both interleaved in this run); a GAN fails when either is > {threshold:.0%} above its baseline."
    )
    return "\n".join(lines)


def _positive(v: Any, *, integer: bool = False) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
        return False
    return math.isfinite(v) and v > 0


#: Bounds on what a stored baseline may hold (documented in ``ganbench regress --help``). A baseline is data
#: from elsewhere: a value outside them would switch the gate off (a threshold of 0.99, a ratio of 1e300) or
#: make it measure something absurd (a batch of 2**24 images, hidden_g=1e8), so it is refused on load.
BOUNDS: dict[str, Any] = {
    "threshold": (0.0, 0.5),  # exclusive low, inclusive high: 0.15 is 15 %
    "ratio": (1e-6, 1e6),  # normalised step time and ÷minimal: a step is not a million calibrations
    "ms": (0.0, 1e7),  # step_ms, cal_ms (informational), exclusive low
    "batch_size": 4096,  # the quick and full settings use ≤ 256
    "steps": 1000,  # samples per block; the gate chooses ≤ 50
    "override_number": 65536,  # |value| of a numeric config override (channels=32, lr=1e-4, n_critic=5)
    "override_keys": 32,
    "file_bytes": 1_000_000,
}


def _override_problem(gan: str, overrides: dict[str, Any]) -> str | None:
    """What is wrong with a stored GAN's config overrides (plain values within bounds; for a registered
    GAN, only its config's fields, each of its type). Names are looked up only among the registered GANs:
    a name in a file never loads code."""
    if len(overrides) > BOUNDS["override_keys"]:
        return f"{len(overrides)} overrides (at most {BOUNDS['override_keys']})"
    fields: dict[str, Any] | None = None
    if gan in list_gans():
        from gans.models.core import get_gan_entry

        config = get_gan_entry(gan).default_config()
        fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    most = BOUNDS["override_number"]
    for key, value in overrides.items():
        if isinstance(value, bool) or value is None or isinstance(value, str):
            pass
        elif isinstance(value, (int, float)):
            if not (math.isfinite(value) and abs(value) <= most):
                return f"override {key}={value!r} is outside ±{most:,}"
        else:
            return f"override {key}={value!r} is not a plain value (a number, a string, true/false)"
        if isinstance(value, str) and len(value) > 200:
            return f"override {key!r} is a string of {len(value):,} characters"
        if fields is not None:
            if key not in fields:
                return f"{key!r} is not a config field of {gan} (fields: {', '.join(fields)})"
            current = fields[key]
            same = (
                current is None
                or type(value) is type(current)
                or (isinstance(current, float) and type(value) is int)
            )
            if not same:
                return f"override {key}={value!r} is not a {type(current).__name__} like {gan}'s {key}"
    return None


def baseline_problem(data: Any) -> str | None:
    """What makes ``data`` (a parsed baseline file) unusable, in words; None when it is sound.

    A baseline is data from elsewhere (a commit, a colleague): every field the gate reads is
    checked against :data:`BOUNDS` before anything is measured, so a hand-edited or truncated file
    is one clear error, never a crash halfway, and never a silent pass (a GAN entry that is
    ``null`` would otherwise read as "no baseline", a threshold of 100 or a ratio of 1e300 would
    disable the gate, a batch of 2**24 or hidden_g=1e8 would run out of memory).
    """
    if not isinstance(data, dict) or not isinstance(data.get("modes"), dict):
        return "not a ganbench baseline (no 'modes' table)"
    lo, hi = BOUNDS["threshold"]
    if "threshold" in data and not (_positive(data["threshold"]) and lo < data["threshold"] <= hi):
        return f"threshold {data['threshold']!r} is not a fraction between {lo:g} and {hi:g} (0.15 is 15 %)"
    for mode, section in data["modes"].items():
        if mode not in ("quick", "full"):
            return f"unknown mode {mode!r} (quick or full)"
        if not isinstance(section, dict) or not isinstance(section.get("gans"), dict):
            return f"mode {mode!r} has no 'gans' table"
        if not isinstance(section.get("device", "cpu"), str):
            return f"mode {mode!r}: device {section.get('device')!r} is not a device name"
        for gan, entry in section["gans"].items():
            where = f"{mode} / {gan}"
            if not isinstance(entry, dict):
                return f"{where}: {entry!r} is not a measurement"
            rlo, rhi = BOUNDS["ratio"]
            for key in ("ratio", "vs_minimal"):
                if key not in entry and key == "vs_minimal":
                    continue
                v = entry.get(key)
                if not _positive(v):
                    return f"{where}: {key} {v!r} is not a positive number"
                if not rlo <= v <= rhi:
                    return f"{where}: {key} {v!r} is outside {rlo:g} … {rhi:g}"
            for key in ("step_ms", "cal_ms"):
                if key in entry and not (_positive(entry[key]) and entry[key] <= BOUNDS["ms"][1]):
                    return f"{where}: {key} {entry[key]!r} is not a positive number of ms ≤ {BOUNDS['ms'][1]:g}"
            for key in ("batch_size", "steps"):
                most = BOUNDS[key]
                if key in entry and not (_positive(entry[key], integer=True) and entry[key] <= most):
                    return f"{where}: {key} {entry[key]!r} is not a positive integer ≤ {most:,}"
            if not isinstance(entry.get("overrides", {}), dict):
                return f"{where}: overrides {entry['overrides']!r} is not a table"
            problem = _override_problem(gan, entry.get("overrides", {}))
            if problem:
                return f"{where}: {problem}"
    return None


def load_baseline(path: str | Path) -> dict[str, Any]:
    """The baseline at ``path`` (an empty one when there is no file); a file that is not a sound
    baseline is a :class:`UserError` saying what is wrong with it."""
    path = Path(path)
    if not path.exists():
        return {"version": 1, "modes": {}}
    fix = "delete it (or fix it) and record a new one with `ganbench regress [--quick] --update-baseline`"
    try:
        if path.stat().st_size > BOUNDS["file_bytes"]:
            size = path.stat().st_size
            raise UserError(f"{path}: {size:,} bytes, more than a baseline's {BOUNDS['file_bytes']:,}; {fix}")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not a JSON baseline ({e}); {fix}") from None
    except RecursionError:
        raise UserError(f"{path}: JSON nested too deeply to be a baseline; {fix}") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read it ({e.strerror or e})") from None
    problem = baseline_problem(data)
    if problem:
        raise UserError(f"{path}: {problem}; {fix}")
    return data


def update_baseline(
    path: str | Path,
    mode: str,
    measured: dict[str, dict[str, Any]],
    *,
    device: str,
    threads: int | None,
    threshold: float,
) -> dict[str, Any]:
    data = load_baseline(path)
    data["version"] = 1
    data["threshold"] = threshold
    data["about"] = (
        "Normalised step times (step time / calibration time, interleaved in one run) for `ganbench regress`. "
        "Regenerate with `ganbench regress [--quick] --update-baseline` on the CI machine class."
    )
    m = machine_facts(device)
    old = data["modes"].get(mode, {})
    kept = old.get("gans", {}) if old.get("device") == device else {}  # a --gans subset updates only those
    data["modes"][mode] = {
        "device": device,
        "threads": threads,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {k: m.get(k) for k in ("cpu", "cpu_count", "torch", "gpu", "loadavg_1m") if k in m},
        "gans": {
            **kept,
            **{
                g: {
                    k: round(v, 6) if isinstance(v, float) else v
                    for k, v in d.items()
                    if k in ("ratio", "step_ms", "cal_ms", "batch_size", "overrides", "steps", "vs_minimal")
                }
                for g, d in measured.items()
            },
        },
    }
    atomic_write_json(path, data)
    return data


def run_gate(
    *,
    gans: Sequence[str] | None = None,
    quick: bool = False,
    baseline_path: str | Path = DEFAULT_BASELINE,
    threshold: float | None = None,
    update: bool = False,
    rounds: int | None = None,
    device: str = "cpu",
    threads: int | None = 1,
    log: Callable[[str], None] = print,
) -> tuple[int, list[dict[str, Any]]]:
    """Measure, compare, report. Returns (exit code, rows): 0 pass, 1 a GAN got slower."""
    mode = "quick" if quick else "full"
    names = list(gans) if gans else list_gans()
    for g in names:
        get_gan_entry(g)  # registered or loaded from what the user typed; unknown names list the valid ones
    base = load_baseline(baseline_path)
    section = base.get("modes", {}).get(mode, {})
    base_gans = section.get("gans", {}) if section.get("device", device) == device else {}
    missing = [g for g in names if g not in base_gans]
    if missing and not update:
        what = (
            f"no {mode}-mode baseline for {device}"
            if not base_gans
            else f"no {mode}-mode baseline for {', '.join(missing)}"
        )
        hint = " (CI runs `ganbench regress --quick`)" if mode == "full" else ""
        raise UserError(
            f"{what} in {baseline_path}: nothing to compare with{hint}; record one on this machine class with "
            f"`ganbench regress{' --quick' if quick else ''} --update-baseline`"
        )
    thr = threshold if threshold is not None else float(base.get("threshold", DEFAULT_THRESHOLD))
    rounds = rounds or (5 if quick else 9)
    old_threads = torch.get_num_threads()
    if threads and resolve_device(device).type == "cpu":
        torch.set_num_threads(threads)
    try:
        settings = None if update else {g: base_gans[g] for g in names if g in base_gans}
        log(
            f"ganbench regress ({mode}, {device}, {torch.get_num_threads()} thread(s), {rounds} rounds): "
            f"{', '.join(names)}"
        )
        current = measure_normalised(names, quick=quick, rounds=rounds, device=device, settings=settings, log=log)
        if update:
            update_baseline(baseline_path, mode, current, device=device, threads=threads, threshold=thr)
            rows = compare(current, current, thr)
            log(format_report(rows, thr))
            log(f"baseline ({mode}) written to {baseline_path}")
            return 0, rows
        rows = compare(current, {g: base_gans[g] for g in names if g in base_gans}, thr)
        slow = [r["gan"] for r in rows if r["verdict"] == "slower"]
        if slow:  # confirm: a GAN fails only when an independent re-measurement is slower too
            log(f"over the threshold: {', '.join(slow)}; measuring them again to rule out noise …")
            again = measure_normalised(
                slow, quick=quick, rounds=rounds, device=device, settings={g: base_gans[g] for g in slow}, log=log
            )
            for r in rows:
                if r["gan"] in again:
                    a = again[r["gan"]]
                    r["confirm"] = a["ratio"] / r["baseline"] - 1.0
                    if a.get("vs_minimal") and r.get("baseline_vs_minimal"):
                        r["confirm_vs_minimal"] = a["vs_minimal"] / r["baseline_vs_minimal"] - 1.0
                    confirmed = _confirmed(r, thr)
                    if confirmed:
                        r["why"] = confirmed
                    else:
                        r["verdict"] = "ok (noise: not confirmed)"
        log(format_report(rows, thr))
        failed = [r["gan"] for r in rows if r["verdict"] == "slower"]
        if failed:
            log(
                f"REGRESSION: {', '.join(failed)} got more than {thr:.0%} slower (normalised, or relative to the "
                f"minimal loop) than {baseline_path}"
            )
            return 1, rows
        log("regression gate passed")
        return 0, rows
    finally:
        torch.set_num_threads(old_threads)
