"""Sweeps: GAN × batch size × device × precision × compile, one row per cell, resumable.

Every cell runs in its own subprocess (``python -m bench.sweep --cell JSON --result FILE``) so
that (1) one cell's memory, compiled graphs and allocator caches never leak into the next,
(2) a crash (segfault, the kernel's OOM killer) costs one row, not the sweep, and (3) a
memory cap can be enforced honestly on the CPU: with ``--memory-cap-mb MB`` the child sets
``RLIMIT_AS`` to its current address space plus MB *before* building the GAN, so any
allocation beyond it fails for real (``DefaultCPUAllocator: can't allocate memory`` or
``MemoryError``); that error is caught and recorded as ``status="oom"``. On CUDA a real
``torch.cuda.OutOfMemoryError`` is recorded the same way. The sweep goes on either way.

Results: ``OUT/results.jsonl`` gets one JSON line per finished cell, appended with a single
``write`` + ``fsync`` (a kill mid-write leaves at most one torn last line, which readers skip
and the next append starts on a fresh line). A restarted sweep skips every cell whose key is
already in the file. ``OUT/results.csv`` is rewritten atomically after every cell.

Timing data: the ``fake`` source (random ``[0, 1]`` tensors of the GAN's data shape), prepared
and already on the device; only ``train_step`` is timed (see :mod:`bench.timing`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import pandas as pd

from gans.base import atomic_write_text, read_jsonl
from gans.contention import LIMITS_TEXT
from gans.signals import Interrupted

from .cells import Cell, CellResult
from .limits import describe_overrides
from .machine import machine_facts
from .references import references_for
from .timing import measure_cell

__all__ = [
    "plan_cells",
    "run_sweep",
    "run_cell_subprocess",
    "read_results",
    "append_result",
    "write_csv",
    "format_table",
    "results_frame",
    "RESULTS_JSONL",
    "RESULTS_CSV",
]

RESULTS_JSONL = "results.jsonl"
RESULTS_CSV = "results.csv"
CSV_FIELDS = [
    "key",
    "gan",
    "variant",
    "batch_size",
    "device",
    "precision",
    "compile",
    "channels_last",
    "status",
    "ms_median",
    "ms_q25",
    "ms_q75",
    "ms_iqr",
    "images_per_s",
    "peak_mem_mb",
    "mem_kind",
    "flops_per_step",
    "peak_flops",
    "mfu",
    "steps",
    "warmup",
    "timer",
    "contention",
    "remeasured",
    "load_1m",
    "others_running",
    "cpu_per_wall",
    "spread",
    "error",
    "note",
    "wall_s",
]
LOAD_FIELDS = ("load_1m", "others_running", "cpu_per_wall", "spread")  # columns from the row's `load` readings


def plan_cells(
    gans: Sequence[str],
    batch_sizes: Sequence[int],
    devices: Sequence[str],
    precisions: Sequence[str],
    compiles: Sequence[bool],
    overrides: dict[str, dict[str, Any]] | None = None,
    *,
    references: bool = True,
) -> list[Cell]:
    """The grid in the order it runs: per GAN, per device, precision, compile, batch size.

    ``references``: after each GAN's cells, its ``minimal`` and ``seed`` reference loops
    (:mod:`bench.references`, where they exist) at every device and batch size — fp32,
    uncompiled, seed size, so only when fp32 is in the grid and the GAN has no ``--set``.
    """
    cells = []
    for gan in gans:
        ov = tuple(sorted((overrides or {}).get(gan, {}).items()))
        for dev, prec, comp, bs in itertools.product(devices, precisions, compiles, batch_sizes):
            cells.append(Cell(gan, int(bs), dev, prec, bool(comp), None, ov))
        if references and "fp32" in precisions and not ov:
            for kind, dev, bs in itertools.product(references_for(gan), devices, batch_sizes):
                cells.append(Cell(gan, int(bs), dev, "fp32", False, None, (), kind))
    return cells


# --------------------------------------------------------------------------------------------
# Results file


def read_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a results.jsonl (a torn last line from a killed sweep is skipped)."""
    try:
        return list(read_jsonl(path))
    except FileNotFoundError:
        return []


def append_result(path: str | os.PathLike, row: dict[str, Any]) -> None:
    """Append one row as one line with a single write, then fsync (atomic per line)."""
    data = (json.dumps(row, default=str) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size:
            # a torn last line (killed mid-write) must not swallow this row
            with open(path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    data = b"\n" + data
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def results_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a DataFrame with every CSV column present (missing values NaN/None)."""
    rows = list(rows)
    df = pd.DataFrame(rows)
    for k in LOAD_FIELDS:  # the readings of the measurement reported, flat (bench.contention)
        df[k] = [(r.get("load") or {}).get(k) if isinstance(r.get("load"), dict) else None for r in rows]
    for col in CSV_FIELDS + ["overrides", "memory_cap_mb"]:
        if col not in df.columns:
            df[col] = None
    df["variant"] = df["variant"].fillna("ganbench")
    return df


def write_csv(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, results_frame(rows)[CSV_FIELDS].to_csv(index=False))


# --------------------------------------------------------------------------------------------
# Running cells


#: the environment variable that tells a cell subprocess its sweep's PID (it dies with it)
CELL_PARENT_ENV = "GANBENCH_SWEEP_PID"
#: set when a sweep is stopped (SIGINT/SIGTERM in the main thread): no further cell starts, running ones are killed
STOP_CELLS = threading.Event()
_LIVE_CELLS: set[Any] = set()
_LIVE_LOCK = threading.Lock()


@contextmanager
def tracked_cell(proc: Any) -> Iterator[None]:
    """Register a running cell subprocess so that :func:`stop_cells` can kill it from another thread."""
    with _LIVE_LOCK:
        _LIVE_CELLS.add(proc)
    try:
        yield
    finally:
        with _LIVE_LOCK:
            _LIVE_CELLS.discard(proc)


def stop_cells() -> None:
    """Stop the sweep in every thread: no further cell starts and every running cell subprocess is killed (each
    thread then removes its cell's temporary file and ends with :class:`gans.signals.Interrupted`)."""
    STOP_CELLS.set()
    with _LIVE_LOCK:
        live = list(_LIVE_CELLS)
    for proc in live:
        try:
            proc.kill()
        except OSError:
            pass


def run_cell_subprocess(
    cell: Cell,
    *,
    steps: int,
    warmup: int,
    memory_cap_mb: float | None = None,
    max_seconds: float | None = None,
    timeout_s: float | None = None,
    threads: int | None = None,
    flops: bool = True,
) -> dict[str, Any]:
    """Measure one cell in a fresh Python process; a crash or timeout becomes a row too."""
    spec = {
        "cell": cell.to_dict(),
        "steps": steps,
        "warmup": warmup,
        "memory_cap_mb": memory_cap_mb,
        "max_seconds": max_seconds,
        "threads": threads,
        "flops": flops,
    }
    fd, result_path = tempfile.mkstemp(prefix="ganbench-cell-", suffix=".json")
    os.close(fd)
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.sweep", "--cell", json.dumps(spec), "--result", result_path],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, CELL_PARENT_ENV: str(os.getpid())},  # the cell dies with this process
        )
        try:
            with tracked_cell(proc):  # a sweep stopped in another thread kills it (stop_cells)
                output, _ = proc.communicate(timeout=timeout_s)
            if STOP_CELLS.is_set():
                raise Interrupted(signal.SIGTERM, "the sweep was stopped")
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return _failed_row(cell, "timeout", f"cell took longer than {timeout_s:g} s and was stopped", t0)
        except BaseException:  # Ctrl-C or a kill of the sweep: do not leave the cell running
            proc.kill()
            proc.wait()
            raise
        text = Path(result_path).read_text(encoding="utf-8") if os.path.getsize(result_path) else ""
        if text:
            return json.loads(text)
        if proc.returncode < 0:
            sig = signal.Signals(-proc.returncode).name
            why = f"killed by {sig}" + (" (possibly the kernel's OOM killer)" if sig == "SIGKILL" else "")
        else:
            why = f"exit code {proc.returncode}"
        tail = " | ".join((output or "").strip().splitlines()[-3:])
        return _failed_row(cell, "crashed", f"{why}: {tail[-300:]}", t0)
    finally:
        os.unlink(result_path)


def _failed_row(cell: Cell, status: str, error: str, t0: float) -> dict[str, Any]:
    row = CellResult(
        cell.key, cell.gan, cell.batch_size, cell.device, cell.precision, cell.compile, status, error=error
    )
    row.overrides = dict(cell.overrides)
    row.machine = machine_facts()
    row.wall_s = time.perf_counter() - t0
    row.time = time.time()
    return row.to_dict()


def _child(spec: dict[str, Any], result_path: str) -> int:
    """The subprocess side: cap memory, measure, write the row."""
    import torch

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    cell = Cell.from_dict(spec["cell"])
    from gans.families import is_spec

    if is_spec(cell.gan):  # a family the user typed on `ganbench sweep`'s command line, handed to this cell
        from gans.models import load_family

        load_family(cell.gan)
    # start the thread pools before capping, so their stacks are not charged to the cell
    (torch.ones(64, 64) @ torch.ones(64, 64)).sum()
    if spec.get("flops", True):
        # library code is not the cell's memory either: importing the FLOP counter maps ~190 MB of address space
        # (RLIMIT_AS counts mappings), which left a 300 MB cap too little for a 4-sample cell
        import torch.utils.flop_counter  # noqa: F401
    if cell.device.startswith("cuda") and torch.cuda.is_available():
        torch.zeros(1, device=cell.device)
    cap = spec.get("memory_cap_mb")
    if cap:
        import resource

        with open("/proc/self/statm") as f:
            vm_now = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = vm_now + int(float(cap) * 2**20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    row = measure_cell(
        cell,
        steps=int(spec["steps"]),
        warmup=int(spec["warmup"]),
        max_seconds=spec.get("max_seconds"),
        flops=bool(spec.get("flops", True)),
    )
    d = row.to_dict()
    if cap:
        d["memory_cap_mb"] = float(cap)
        d["note"] = (
            d["note"] + "; " if d["note"] else ""
        ) + f"CPU address space capped at +{float(cap):g} MB (RLIMIT_AS)"
    if cap and d["status"] == "oom":
        d["error"] = f"over the memory cap of {float(cap):g} MB: " + (d["error"] or "")
    # write the result before anything else can fail (the cap stays in force)
    with open(result_path, "w", encoding="utf-8") as f:
        f.write(json.dumps(d, default=str))
    return 0


# --------------------------------------------------------------------------------------------
# The sweep


DEFAULT_CELL_TIMEOUT_S = 900.0  # a cell that hangs (e.g. under a tiny memory cap) is stopped after this


def run_sweep(
    cells: Sequence[Cell],
    out_dir: str | os.PathLike,
    *,
    steps: int,
    warmup: int,
    memory_cap_mb: float | None = None,
    max_seconds: float | None = None,
    timeout_s: float | None = None,
    threads: int | None = None,
    flops: bool = True,
    log: Callable[[str], None] = print,
    runner: Callable[..., dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Run every cell not already in ``OUT/results.jsonl``; return all rows for these cells."""
    timeout_s = DEFAULT_CELL_TIMEOUT_S if timeout_s is None else timeout_s
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / RESULTS_JSONL
    done = {r.get("key"): r for r in read_results(jsonl)}
    runner = runner or run_cell_subprocess
    todo = [c for c in cells if c.key not in done]
    if len(todo) < len(cells):
        log(f"resuming: {len(cells) - len(todo)} of {len(cells)} cells already in {jsonl}, skipped")
    t_start = time.perf_counter()
    walls: dict[str, list[float]] = {}  # GAN -> wall seconds of its cells finished in this sweep
    for i, cell in enumerate(todo, 1):
        if STOP_CELLS.is_set():  # stopped in another thread: start no further cell
            raise Interrupted(signal.SIGTERM, "the sweep was stopped")
        log(f"[{i}/{len(todo)}] {cell.key} …")
        row = runner(
            cell,
            steps=steps,
            warmup=warmup,
            memory_cap_mb=memory_cap_mb,
            max_seconds=max_seconds,
            timeout_s=timeout_s,
            threads=threads,
            flops=flops,
        )
        append_result(jsonl, row)
        done[row["key"]] = row
        write_csv(out / RESULTS_CSV, read_results(jsonl))
        walls.setdefault(cell.gan, []).append(float(row.get("wall_s") or 0.0))
        if row["status"] == "ok" and row.get("contention") == "disturbed":
            why = "; ".join((row.get("load") or {}).get("reasons") or [])
            log(
                f"    DISTURBED, measured twice ({why}): no clean figure for this cell (the median was "
                f"{row['ms_median']:.3f} ms/step); rerun it on a quieter machine or with fewer --threads"
            )
        elif row["status"] == "ok":
            mfu = f", MFU {row['mfu'] * 100:.1f} %" if row.get("mfu") else ""
            again = " (re-measured: the first measurement was disturbed)" if row.get("remeasured") else ""
            log(
                f"    {row['ms_median']:.3f} ms/step (IQR {row['ms_iqr']:.3f}), {row['images_per_s']:.1f} "
                f"images/s, peak {_fmt_mb(row.get('peak_mem_mb'))}{mfu}, {row['steps']} steps{again}"
            )
        else:
            log(f"    {row['status']}: {row.get('error')}")
        left = eta_seconds(todo[i:], walls)
        if left is not None:
            log(
                f"    cell took {row.get('wall_s') or 0:.1f} s; {time.perf_counter() - t_start:.0f} s so far, "
                f"about {_fmt_s(left)} left ({len(todo) - i} cells)"
            )
    write_csv(out / RESULTS_CSV, read_results(jsonl))
    return [done[c.key] for c in cells if c.key in done]


def eta_seconds(remaining: Sequence[Cell], walls: dict[str, list[float]]) -> float | None:
    """Seconds the remaining cells should take: each at the mean wall time of its GAN's finished
    cells (of all finished cells for a GAN not seen yet); None before any cell finished."""
    if not remaining:
        return 0.0
    all_walls = [w for ws in walls.values() for w in ws]
    if not all_walls:
        return None
    overall = sum(all_walls) / len(all_walls)
    return sum((sum(walls[c.gan]) / len(walls[c.gan])) if walls.get(c.gan) else overall for c in remaining)


def _fmt_s(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _fmt_mb(v: Any) -> str:
    return "–" if v is None else (f"{v / 1024:.2f} GB" if v >= 1024 else f"{v:.0f} MB")


def _fmt_num(v: float | None) -> str:
    if v is None:
        return "–"
    if v >= 1e5:
        return f"{v / 1e3:.0f}k"
    if v >= 1e4:
        return f"{v / 1e3:.1f}k"
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _label(r: pd.Series) -> str:
    """The row a result belongs to: device, precision, compile, channels_last, overrides, variant."""
    ov = r["ov_label"]
    return (
        f"{r['device']} {r['precision']}"
        + (" compiled" if bool(r["compile"]) else "")
        + (" channels_last" if r["channels_last"] is True else "")
        + (f" [{ov}]" if ov else "")
        + (f" · {r['variant']} loop" if r["variant"] != "ganbench" else "")
    )


def _cell(r: pd.Series) -> str:
    if r["status"] != "ok":
        cap = r.get("memory_cap_mb")
        return str(r["status"]).upper() + (f" (cap {cap:g} MB)" if r["status"] == "oom" and not _missing(cap) else "")
    if r.get("contention") == "disturbed":
        return "DISTURBED"
    iqr = 0.0 if _missing(r.get("ms_iqr")) else r["ms_iqr"]
    ms = f"{_fmt_num(r['ms_median'])}±{_fmt_num(iqr / 2)}"
    ratio = f"{r['images_per_s'] / r['best']:.2f}" if not _missing(r["best"]) and r["best"] else "–"
    mfu = "–" if _missing(r.get("mfu")) else f"{r['mfu'] * 100:.0f}%"
    peak = None if _missing(r.get("peak_mem_mb")) else r["peak_mem_mb"]
    return f"{ms:>14} {_fmt_num(r['images_per_s']):>7} {_fmt_mb(peak):>8} {ratio:>6} {mfu:>6}"


def _is_disturbed(r: dict[str, Any]) -> bool:
    return r.get("contention") == "disturbed"


def _disturbed_note(r: dict[str, Any]) -> str:
    load = r.get("load") if isinstance(r.get("load"), dict) else {}
    return (
        f"{r['key']}: DISTURBED twice ({'; '.join(load.get('reasons') or [])}; load {load.get('load_1m')}); "
        f"median {r['ms_median']:.3f} ms/step, not a clean figure"
    )


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Per GAN, one line per setting (device, precision, compile, channels_last, overrides, reference
    loop), batch sizes side by side — a pandas pivot of the rows.

    Config overrides (``--set``) are part of the row label — ``cpu fp32 [channels=32]`` — and,
    when every row of a GAN shares them, of the GAN's heading (``celeba_conv [channels=32]``),
    so a reduced model is never mistaken for the seed-size one. The reference loops get their
    own lines (``cpu fp32 · minimal loop``). Each batch column shows ms/step (± half the IQR),
    images/s, peak memory, ×best — the cell's images/s divided by the best images/s of that GAN's
    ganbench cells (1.00 = the fastest setting) — and MFU.
    """
    if not rows:
        return "(no results)"
    df = results_frame(rows)
    df["ov_label"] = df["overrides"].map(lambda o: describe_overrides(o) if isinstance(o, dict) else "")
    df["channels_last"] = df["channels_last"].map(lambda v: v is True)
    df["setting"] = df.apply(_label, axis=1)
    ok_ganbench = df[(df["status"] == "ok") & (df["variant"] == "ganbench") & (df["contention"] != "disturbed")]
    df["best"] = df["gan"].map(ok_ganbench.groupby("gan")["images_per_s"].max())
    df["cell"] = df.apply(_cell, axis=1)
    df["batch"] = df["batch_size"].astype(int)
    lines = []
    for gan, g in df.groupby("gan", sort=True):
        shared = set(g["ov_label"])
        title = gan + (f" [{next(iter(shared))}]" if len(shared) == 1 and next(iter(shared)) else "")
        order = sorted(set(g["setting"]), key=lambda x: (" · " in x, x))  # ganbench lines first
        table = g.pivot_table(index="setting", columns="batch", values="cell", aggfunc="first")
        table = table.reindex(order).fillna("not run")
        table.columns = [f"batch {b}" for b in table.columns]
        table.index.name = None
        lines += [title, table.to_string(justify="right")]
        notes = sorted(
            set(g.loc[g["note"].fillna("") != "", "note"])
            | {f"{r.key}: {r.error}" for r in g.itertuples() if r.status != "ok" and not _missing(r.error)}
            | {_disturbed_note(r) for r in g.to_dict("records") if r["status"] == "ok" and _is_disturbed(r)}
        )
        lines += [f"  note: {n}" for n in notes]
        lines.append("")
    lines.append(
        "each cell: ms/step (median ± half the inter-quartile range), img/s (batch / median), peak memory, ×best "
        "(images/s relative to the GAN's fastest ganbench cell), MFU (FLOPs per step ÷ step time ÷ this device's "
        "matmul peak, measured in the same cell)."
    )
    if (df["contention"] == "disturbed").any():
        lines.append(
            f"DISTURBED: measured twice, both times while other work competed for the cores ({LIMITS_TEXT}); the "
            "medians are in the notes and results files, never a clean figure."
        )
    again = sorted(df.loc[df["remeasured"].fillna(False).astype(bool) & (df["contention"] != "disturbed"), "key"])
    if again:
        lines.append("cells re-measured once after a disturbed first measurement: " + ", ".join(again) + ".")
    if (df["ov_label"] != "").any():
        lines.append("[k=v]: GAN config fields changed for those cells (--set): not the family's default model.")
    if (df["variant"] != "ganbench").any():
        lines.append(
            "· minimal loop / · seed loop: the reference loops of bench/references/ (the shortest loop with the same "
            "maths; the course notes' own loop), timed the same way."
        )
    mem_kinds = set(df["mem_kind"].dropna())
    if "cpu_rss_increase_peak" in mem_kinds:
        lines.append(
            "peak (CPU): increase of the process's anonymous RSS over its value before the GAN was built, at "
            "its peak during the timed steps (kernel peak counter, reset before them)."
        )
    if "cpu_rss_increase_sampled" in mem_kinds:
        lines.append(
            "peak (CPU, sampled): the same increase, sampled every 5 ms during the timed steps (a lower bound)."
        )
    if "cuda_max_memory_allocated" in mem_kinds:
        lines.append(
            "peak (CUDA): torch.cuda.max_memory_allocated over the timed steps (model, optimiser state, "
            "batch, activations)."
        )
    lines.append(
        "Timed: gans.models.train_step only, on a prepared random batch already on the device (the `fake` "
        "source); warm-up excluded."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the per-cell subprocess (the user-facing command is ``ganbench sweep``)."""
    p = argparse.ArgumentParser(
        prog="python -m bench.sweep", description="internal: measure one cell (used by `ganbench sweep`)"
    )
    p.add_argument("--cell", required=True, help="JSON spec")
    p.add_argument("--result", required=True, help="file to write the row to")
    a = p.parse_args(argv)
    parent = os.environ.get(CELL_PARENT_ENV, "")
    if parent.isdigit():  # a killed sweep (even by SIGKILL) takes its cell with it: no orphan keeps measuring
        from gans.signals import die_with_parent

        die_with_parent(signal.SIGKILL, parent=int(parent))
    return _child(json.loads(a.cell), a.result)


if __name__ == "__main__":
    sys.exit(main())
