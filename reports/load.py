"""Reading what reports are built from: run directories, sweep results, ``.benchmarks`` JSON.

Reports are rebuilt from files only, so every reader here is tolerant: a run without eval
records, a sweep row without ``flops``, a torn last line of ``metrics.jsonl`` — each simply
yields less to show, never a crash. A path that is not what it should be is a
:class:`gans.base.UserError` naming the path.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gans.base import UserError, read_jsonl
from gans.bounds import load_json_bounded
from gans.contention import disturbance_reasons
from gans.runfolder import CONFIG, METRICS, read_config, run_status

__all__ = ["RunData", "load_run", "SweepRow", "load_sweep", "BenchRun", "load_benchmarks", "finite", "median"]


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def median(xs: list[float]) -> float | None:
    xs = [x for x in xs if finite(x)]
    return statistics.median(xs) if xs else None


@dataclass
class RunData:
    """Everything a report shows about one run directory."""

    path: Path
    config: dict[str, Any]
    scalars: list[dict[str, Any]]
    events: list[dict[str, Any]]
    evals: list[dict[str, Any]]
    verdicts: dict[str, Any] | None
    samples: list[tuple[int, Path]]  # (step, png) sorted by step
    sources: list[Path] = field(default_factory=list)  # every file read
    other: list[dict[str, Any]] = field(default_factory=list)  # records of other types (e.g. eval_time)

    # ---- identity -------------------------------------------------------------------------
    @property
    def options(self) -> dict[str, Any]:
        return self.config.get("train") or {}

    @property
    def gan(self) -> str:
        return str(self.config.get("gan") or self.options.get("gan") or "?")

    @property
    def dataset(self) -> str:
        return str(self.config.get("dataset") or self.options.get("dataset") or "?")

    @property
    def batch_size(self) -> int | None:
        return self.options.get("batch_size")

    @property
    def seed(self) -> int | None:
        return self.options.get("seed")

    @property
    def gan_kind(self) -> str:
        return str(self.config.get("gan_kind") or "probability")

    @property
    def loss_kind(self) -> str:
        return str(self.config.get("loss_kind") or "bce")

    @property
    def is_critic(self) -> bool:
        return self.gan_kind == "critic" or self.loss_kind == "wasserstein"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def steps_per_epoch(self) -> int | None:
        return self.config.get("steps_per_epoch")

    # ---- series ---------------------------------------------------------------------------
    def series(self, key: str, x: str = "step") -> tuple[list[float], list[float]]:
        """(x, value) of a scalar over training; x is ``step``, ``epoch`` or ``wall_s``."""
        xs, ys = [], []
        for r in self.scalars:
            v = r.get(key)
            if finite(v) and finite(r.get(x)):
                xs.append(float(r[x]))
                ys.append(float(v))
        return xs, ys

    def eval_series(self, metric: str, x: str = "step", ceiling: bool = False) -> tuple[list[float], list[float]]:
        xs, ys = [], []
        for r in self.evals:
            v = (r.get("ceiling" if ceiling else "metrics") or {}).get(metric)
            if finite(v) and finite(r.get(x)):
                xs.append(float(r[x]))
                ys.append(float(v))
        return xs, ys

    def eval_metric_names(self) -> list[str]:
        names: list[str] = []
        for r in self.evals:
            for k, v in (r.get("metrics") or {}).items():
                if k not in names and finite(v):
                    names.append(k)
        return names

    @property
    def final_eval(self) -> dict[str, Any] | None:
        return self.evals[-1] if self.evals else None

    @property
    def last_step(self) -> int:
        steps = [r.get("step", 0) for r in self.scalars + self.events + self.evals if finite(r.get("step"))]
        return int(max(steps)) if steps else 0

    @property
    def status(self) -> str:
        """finished, interrupted, diverged or incomplete (gans.runfolder.run_status: the one definition)."""
        return run_status(self.events) or "incomplete"

    def train_wall_s(self) -> float | None:
        """Wall time of the whole run: the ``finished`` event's, else the last record's."""
        for e in reversed(self.events):
            if e.get("event") == "finished" and finite(e.get("wall_s")):
                return float(e["wall_s"])
        walls = [r["wall_s"] for r in self.scalars + self.evals if finite(r.get("wall_s"))]
        return float(max(walls)) if walls else None

    def train_seconds(self) -> tuple[float | None, float | None, int]:
        """(training images, training wall time in s, steps): the run's one definition, used by every page.

        Training wall time excludes evaluations: the ``finished`` event's ``train_s``, else the last
        scalars record's ``train_s``, else (older runs) its ``wall_s`` less the logged ``eval_time``
        pauses before it. Images: the same point's ``images``, else steps × batch size.
        """
        fin = next((e for e in reversed(self.events) if e.get("event") == "finished"), None)
        last = next((r for r in reversed(self.scalars) if finite(r.get("step")) and r.get("step", 0) > 0), None)
        if fin is not None and finite(fin.get("train_s")) and finite(fin.get("step")) and fin["step"] > 0:
            step = int(fin["step"])
            t: float | None = float(fin["train_s"])
            images = float(last["images"]) if last and last.get("step") == step and finite(last.get("images")) else None
        elif last is not None:
            step, images, t = int(last["step"]), last.get("images"), last.get("train_s")
            images = float(images) if finite(images) else None
            if not finite(t) and finite(last.get("wall_s")):
                paused = sum(
                    float(r["eval_s"])
                    for r in self.other
                    if r.get("type") == "eval_time" and finite(r.get("eval_s")) and r.get("step", 0) < step
                )
                t = float(last["wall_s"]) - paused
            t = float(t) if finite(t) else None
        else:
            return None, None, 0
        if images is None and self.batch_size:
            images = float(step * self.batch_size)
        return images, t, step

    def timing(self) -> dict[str, Any]:
        """The run's timing figures, one definition each, the same on every page.

        * ``images_per_s``: training images ÷ training wall time (:meth:`train_seconds`; evaluations
          excluded); ``ms_per_step``: training wall time ÷ steps; ``train_s``: that training wall time.
        * ``interval_images_per_s``: the median over the loop's logged intervals (the first dropped when
          there are more than two: it holds the warm-up), a different figure, shown only under that name.
        * ``wall_s``: wall time of the whole run, evaluations included (:meth:`train_wall_s`).
        * The machine while it trained: the median 1-minute load average, the median CPU time per wall
          second of the process (all threads), the CPU count and torch threads of the last start or resume
          event (None for older runs), and ``contention``: ``clean`` / ``disturbed`` by the limits of
          :mod:`gans.contention` (others = load − threads; CPU/wall per thread), with ``contention_why``.
        """
        images, t, steps = self.train_seconds()
        ips = ms = None
        if images is not None and t is not None and t > 0 and steps > 0:
            ips, ms = images / t, 1000.0 * t / steps
        recs = [r for r in self.scalars if finite(r.get("time/images_per_s"))]
        if len(recs) > 2:
            recs = recs[1:]
        interval_ips = median([r["time/images_per_s"] for r in recs])
        if ips is None:  # runs without a step count: only the intervals are known
            ips, ms = None, median([r.get("time/ms_per_step") for r in recs])
        load, cpw = median([r.get("load_1m") for r in self.scalars]), median(
            [r.get("time/cpu_per_wall") for r in self.scalars]
        )
        cpus, threads = self._host("cpus"), self._host("threads")
        why: list[str] = []
        if cpus and threads:
            why = disturbance_reasons(
                cpus=cpus,
                threads=threads,
                others=None if load is None else max(0.0, load - threads),
                cpu_per_wall=None if cpw is None else cpw / threads,
            )
        return {
            "images_per_s": ips,
            "ms_per_step": ms,
            "train_s": t,
            "interval_images_per_s": interval_ips,
            "wall_s": self.train_wall_s(),
            "steps": self.last_step,
            "load_1m": load,
            "cpu_per_wall": cpw,
            "cpus": cpus,
            "threads": threads,
            "contention": ("disturbed" if why else "clean") if cpus and threads and (load or cpw) else None,
            "contention_why": why,
        }

    def _host(self, key: str) -> int | None:
        """``cpus`` or ``threads`` from the last start or resume event that logged it (None for older runs)."""
        for e in reversed(self.events):
            if e.get("event") in ("start", "resume") and finite(e.get(key)) and e[key] >= 1:
                return int(e[key])
        return None

    # ---- verdicts -------------------------------------------------------------------------
    def equilibrium_timeline(self) -> tuple[list[dict[str, Any]], str]:
        """Verdict changes ``[{since_step, verdict, message}]`` and where they came from."""
        out = []
        for e in self.events:
            if e.get("event") == "verdict" and e.get("kind", "equilibrium") == "equilibrium" and e.get("verdict"):
                since = e.get("since_step", e.get("step", 0))
                out.append(
                    {
                        "since_step": since,
                        "verdict": str(e["verdict"]),
                        "message": str(e.get("message") or e.get("sentence") or ""),
                    }
                )
        if out:
            return out, "verdict events in metrics.jsonl"
        offline = _offline_equilibrium(self)
        if offline:
            return offline, "computed now by diagnostics.equilibrium from the logged scalars"
        return [], "none (no verdict events, and diagnostics.equilibrium is not available)"

    def final_verdicts(self) -> dict[str, dict[str, Any]]:
        """``{name: {verdict, sentence, source}}`` — verdicts.json first, else the last events/evals."""
        out: dict[str, dict[str, Any]] = {}
        if isinstance(self.verdicts, dict):
            for name, v in self.verdicts.items():
                if isinstance(v, dict) and (v.get("verdict") or v.get("sentence")):
                    out[name] = {
                        "verdict": v.get("verdict"),
                        "sentence": v.get("sentence") or v.get("message") or "",
                        "source": "verdicts.json",
                        "since_step": v.get("since_step"),
                    }
        if "equilibrium" not in out:
            timeline, src = self.equilibrium_timeline()
            if timeline:
                last = timeline[-1]
                out["equilibrium"] = {
                    "verdict": last["verdict"],
                    "sentence": last["message"],
                    "source": "metrics.jsonl (last verdict event)" if src.startswith("verdict events") else src,
                    "since_step": last["since_step"],
                }
        if "collapse" not in out:
            for r in reversed(self.evals):
                v = r.get("verdict")
                if isinstance(v, dict) and (v.get("collapse") or v.get("sentence")):
                    out["collapse"] = {
                        "verdict": v.get("collapse") or v.get("verdict"),
                        "sentence": v.get("sentence") or "",
                        "source": f"metrics.jsonl (eval at step {r.get('step')})",
                    }
                    break
        for e in self.events:
            if e.get("event") == "diverged" and "diverged" not in out:
                out["divergence"] = {
                    "verdict": "diverged",
                    "sentence": str(e.get("message") or ""),
                    "source": "metrics.jsonl (diverged event)",
                }
        return out


def _offline_equilibrium(run: RunData) -> list[dict[str, Any]]:
    """Verdict changes recomputed with ``diagnostics.equilibrium`` from the logged scalars."""
    from diagnostics.equilibrium import equilibrium_verdicts

    try:
        result = equilibrium_verdicts(run.scalars, run.gan_kind, run.loss_kind)
    except (ValueError, TypeError, KeyError):  # scalars from a damaged or foreign file
        return []
    out = []
    for v in result or []:
        get = (lambda k, d=None: v.get(k, d)) if isinstance(v, dict) else (lambda k, d=None: getattr(v, k, d))
        verdict = get("verdict")
        if not verdict:
            continue
        since = get("since_step")
        since = get("step", 0) if since is None else since
        msg = get("message") or get("sentence") or ""
        if out and out[-1]["verdict"] == str(verdict):
            continue  # keep changes only
        out.append({"since_step": since, "verdict": str(verdict), "message": str(msg)})
    return out


def is_inside(f: Path, root: Path) -> bool:
    """``f`` is a regular file, not a symbolic link, whose real path lies inside ``root``."""
    try:
        if f.is_symlink() or not f.is_file():
            return False
        real, base = f.resolve(strict=True), root.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return real.is_relative_to(base)


def load_run(path: str | os.PathLike) -> RunData:
    """Read a run directory (config.json + metrics.jsonl, optional verdicts.json and samples/)."""
    p = Path(path)
    config = read_config(p)  # the one reader of config.json (gans.runfolder)
    cfg_path, met_path = p / CONFIG, p / METRICS
    sources = [cfg_path]
    records: list[dict[str, Any]] = []
    if met_path.is_file():
        records = list(read_jsonl(met_path))
        sources.append(met_path)
    verdicts = None
    vpath = p / "verdicts.json"
    if vpath.is_file():
        try:
            verdicts = json.loads(vpath.read_text(encoding="utf-8"))
            sources.append(vpath)
        except (json.JSONDecodeError, UnicodeDecodeError, OSError, RecursionError):
            verdicts = None
    samples = []
    for s in sorted((p / "samples").glob("*.png")):
        if not is_inside(s, p):
            continue  # a link, or not a regular file: reports embed only the run's own files
        m = re.search(r"(\d+)", s.stem)
        samples.append((int(m.group(1)) if m else 0, s))
    samples.sort()
    return RunData(
        path=p,
        config=config,
        scalars=[r for r in records if r.get("type") == "scalars"],
        events=[r for r in records if r.get("type") == "event"],
        evals=[r for r in records if r.get("type") == "eval"],
        verdicts=verdicts,
        samples=samples,
        sources=sources,
        other=[r for r in records if r.get("type") not in ("scalars", "event", "eval")],
    )


# ---- sweep results ----------------------------------------------------------------------------

SWEEP_FIELDS = (
    "gan",
    "batch_size",
    "device",
    "precision",
    "compile",
    "status",
    "ms_median",
    "ms_iqr",
    "images_per_s",
    "peak_mem_bytes",
    "flops",
)


@dataclass
class SweepRow:
    row: dict[str, Any]
    source: Path

    def get(self, k: str, default: Any = None) -> Any:
        return self.row.get(k, default)

    @property
    def images_per_s(self) -> float | None:
        v = self.row.get("images_per_s")
        if finite(v) and v > 0:
            return float(v)
        ms, bs = self.row.get("ms_median"), self.row.get("batch_size")
        if finite(ms) and finite(bs) and ms > 0 and bs > 0 and finite(1000.0 * bs / ms):
            return 1000.0 * bs / ms
        return None


def load_sweep(path: str | os.PathLike, *, skipped: list[tuple[Path, str]] | None = None) -> list[SweepRow]:
    """Rows of a sweep: a folder holding ``results.jsonl`` (searched one level down too) or the file.

    Lines that are not result rows (torn, not JSON, no GAN name) are left out and counted in
    ``skipped`` as (file, why); a sweep without a single row is a :class:`UserError`."""
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("results.jsonl")) or sorted(p.glob("*/results.jsonl")) or sorted(p.glob("*.jsonl"))
    elif p.is_file():
        files = [p]
    else:
        raise UserError(f"--sweep {p}: no such file or folder")
    if not files:
        raise UserError(f"--sweep {p}: no results.jsonl here (run `ganbench sweep` first)")
    rows: list[SweepRow] = []
    for f in files:
        try:
            lines = sum(1 for line in f.read_bytes().splitlines() if line.strip())
        except OSError as e:
            raise UserError(f"--sweep {f}: cannot read it ({e.strerror or e})") from None
        got = [SweepRow(r, f) for r in read_jsonl(f) if isinstance(r.get("gan"), str)]
        if lines > len(got) and skipped is not None:
            skipped.append((f, f"{lines - len(got)} of its {lines} lines are not result rows; they were left out"))
        rows += got
    if not rows:
        raise UserError(
            f"--sweep {p}: no result rows in {', '.join(str(f) for f in files)} (run `ganbench sweep` first)"
        )
    return rows


# ---- pytest-benchmark saved runs --------------------------------------------------------------


@dataclass
class BenchRun:
    """One saved pytest-benchmark run (``.benchmarks/<machine>/NNNN_*.json``)."""

    path: Path
    machine_dir: str
    number: int
    datetime: str
    machine_info: dict[str, Any]
    commit_info: dict[str, Any]
    benchmarks: list[dict[str, Any]]

    @property
    def label(self) -> str:
        commit = (self.commit_info.get("id") or "")[:8]
        return f"{self.number:04d}" + (f" @{commit}" if commit else "")

    @property
    def machine(self) -> str:
        mi = self.machine_info
        cpu = mi.get("cpu") or {}
        cpu_name = cpu.get("brand_raw") or cpu.get("brand") or mi.get("processor") or ""
        parts = [mi.get("node") or "", cpu_name, mi.get("system") or "", mi.get("python_version") or ""]
        gpu = (self.benchmarks[0].get("extra_info") or {}).get("device_name") if self.benchmarks else None
        if gpu:
            parts.append(str(gpu))
        return " · ".join(str(x) for x in parts if x) or self.machine_dir


def _plain_entries(entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Benchmark entries whose object fields are objects (a list or string there reads as empty), and how many
    needed that."""
    out, odd = [], 0
    for b in entries:
        bad = [k for k in ("extra_info", "params", "stats", "options") if b.get(k) is not None
               and not isinstance(b.get(k), dict)]
        if bad:
            odd += 1
            b = {**b, **{k: {} for k in bad}}
        out.append(b)
    return out, odd


def _plain_info(key: str, value: Any) -> dict[str, Any]:
    """``machine_info`` / ``commit_info`` as an object of the kinds the report reads: the commit id a string,
    ``cpu`` an object (a bare string is taken as the CPU's name)."""
    if not isinstance(value, dict):
        return {}
    value = dict(value)
    if key == "commit_info" and value.get("id") is not None and not isinstance(value["id"], str):
        value["id"] = str(value["id"]) if isinstance(value["id"], (int, float)) else None
    if key == "machine_info" and "cpu" in value and not isinstance(value["cpu"], dict):
        value["cpu"] = {"brand_raw": value["cpu"]} if isinstance(value["cpu"], str) else {}
    return value


def load_benchmarks(folder: str | os.PathLike, *, skipped: list[tuple[Path, str]] | None = None) -> list[BenchRun]:
    """Every saved run under a ``.benchmarks`` folder, oldest first.

    Files that are not pytest-benchmark runs (broken JSON, another tool's JSON) and entries of a
    run that are not benchmarks are left out; each is appended to ``skipped`` as (path, why), so
    that the report can say what it did not read.
    """
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"{root}: no such .benchmarks folder (save runs with `pytest bench --benchmark-autosave`)")
    skipped = skipped if skipped is not None else []
    runs = []
    for f in sorted(root.rglob("*.json")):
        try:  # size and nesting bounded before parsing (gans.bounds): a 150 MB or 100,000-deep file is named
            d = load_json_bounded(f, "benchmark file")
        except UserError as e:
            skipped.append((f, f"not read: {str(e).removeprefix(f'{f}: ')}"))
            continue
        except OSError as e:
            skipped.append((f, f"not read: {e.strerror or e}"))
            continue
        if not isinstance(d, dict) or not isinstance(d.get("benchmarks"), list):
            skipped.append((f, "not read: not a pytest-benchmark run (no 'benchmarks' list)"))
            continue
        entries = [b for b in d["benchmarks"] if isinstance(b, dict) and isinstance(b.get("name"), str)]
        if len(entries) < len(d["benchmarks"]):
            skipped.append(
                (f, f"{len(d['benchmarks']) - len(entries)} of its entries have no benchmark name; they were left out")
            )
        entries, odd = _plain_entries(entries)
        if odd:
            skipped.append((f, f"{odd} of its entries have fields of the wrong kind (extra_info, params, stats, "
                               "options must be objects); those fields were read as empty"))
        m = re.match(r"(\d+)", f.name)
        info = lambda k: _plain_info(k, d.get(k))  # noqa: E731
        runs.append(
            BenchRun(
                f,
                f.parent.name,
                int(m.group(1)) if m else 0,
                str(d.get("datetime") or ""),
                info("machine_info"),
                info("commit_info"),
                entries,
            )
        )
    if not runs:
        raise UserError(f"{root}: no pytest-benchmark JSON files found (expected <machine>/NNNN_*.json)")
    runs.sort(key=lambda r: (r.datetime, r.number, str(r.path)))
    return runs
