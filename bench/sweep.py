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
import csv
import io
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from gans.base import atomic_write_text, read_jsonl

from .timing import Cell, CellResult, describe_overrides, machine_facts, measure_cell

__all__ = [
    "plan_cells",
    "run_sweep",
    "run_cell_subprocess",
    "read_results",
    "append_result",
    "write_csv",
    "format_table",
    "RESULTS_JSONL",
    "RESULTS_CSV",
]

RESULTS_JSONL = "results.jsonl"
RESULTS_CSV = "results.csv"
CSV_FIELDS = [
    "key",
    "gan",
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
    "steps",
    "warmup",
    "timer",
    "error",
    "note",
    "wall_s",
]


def plan_cells(
    gans: Sequence[str],
    batch_sizes: Sequence[int],
    devices: Sequence[str],
    precisions: Sequence[str],
    compiles: Sequence[bool],
    overrides: dict[str, dict[str, Any]] | None = None,
) -> list[Cell]:
    """The grid in the order it runs: per GAN, per device, precision, compile, batch size."""
    cells = []
    for gan, dev, prec, comp, bs in itertools.product(gans, devices, precisions, compiles, batch_sizes):
        ov = tuple(sorted((overrides or {}).get(gan, {}).items()))
        cells.append(Cell(gan, int(bs), dev, prec, bool(comp), None, ov))
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


def write_csv(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k) for k in CSV_FIELDS})
    atomic_write_text(path, buf.getvalue())


# --------------------------------------------------------------------------------------------
# Running cells


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
        )
        try:
            output, _ = proc.communicate(timeout=timeout_s)
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
    # start the thread pools before capping, so their stacks are not charged to the cell
    (torch.ones(64, 64) @ torch.ones(64, 64)).sum()
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
    for i, cell in enumerate(todo, 1):
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
        if row["status"] == "ok":
            log(
                f"    {row['ms_median']:.3f} ms/step (IQR {row['ms_iqr']:.3f}), {row['images_per_s']:.1f} "
                f"images/s, peak {_fmt_mb(row.get('peak_mem_mb'))}, {row['steps']} steps"
            )
        else:
            log(f"    {row['status']}: {row.get('error')}")
    write_csv(out / RESULTS_CSV, read_results(jsonl))
    return [done[c.key] for c in cells if c.key in done]


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


def _setting(r: dict[str, Any]) -> tuple[str, str, bool, bool, str]:
    """The row a result belongs to: device, precision, compile, channels_last, overrides label."""
    return (
        r["device"],
        r["precision"],
        bool(r["compile"]),
        bool(r.get("channels_last")),
        describe_overrides(r.get("overrides")),
    )


def _label(setting: tuple[str, str, bool, bool, str]) -> str:
    dev, prec, comp, cl, ov = setting
    return (
        f"{dev} {prec}" + (" compiled" if comp else "") + (" channels_last" if cl else "") + (f" [{ov}]" if ov else "")
    )


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Per GAN, one line per setting (device, precision, compile, channels_last, overrides), batch sizes side by side.

    Config overrides (``--set``) are part of the row label — ``cpu fp32 [channels=32]`` — and,
    when every row of a GAN shares them, of the GAN's heading (``celeba_conv [channels=32]``),
    so a reduced model is never mistaken for the seed-size one. Each batch column shows
    ms/step (± half the IQR), images/s, peak memory and ×best — the cell's images/s divided by
    the best images/s of that GAN (1.00 = the fastest setting).
    """
    if not rows:
        return "(no results)"
    lines = []
    batch_sizes = sorted({int(r["batch_size"]) for r in rows})
    for gan in sorted({r["gan"] for r in rows}):
        grows = [r for r in rows if r["gan"] == gan]
        best = max(
            (r["images_per_s"] for r in grows if r.get("status") == "ok" and r.get("images_per_s")), default=None
        )
        settings = sorted({_setting(r) for r in grows})
        shared = {s[4] for s in settings}
        title = gan + (f" [{next(iter(shared))}]" if len(shared) == 1 and next(iter(shared)) else "")
        width = max([22] + [len(_label(s)) for s in settings])
        bss = [b for b in batch_sizes if any(int(r["batch_size"]) == b for r in grows)]
        header = f"{'':<{width}}" + "".join(f" | {'batch ' + str(b):^40}" for b in bss)
        sub = f"{'setting':<{width}}" + "".join(
            f" | {'ms/step':>14} {'img/s':>7} {'peak':>8} {'×best':>6}" for _ in bss
        )
        lines += [title, header, sub, "-" * len(sub)]
        for setting in settings:
            line = f"{_label(setting):<{width}}"
            for b in bss:
                r = next((r for r in grows if _setting(r) == setting and int(r["batch_size"]) == b), None)
                if r is None:
                    cell = "not run"
                elif r.get("status") != "ok":
                    cell = r["status"].upper() + (
                        f" (cap {r['memory_cap_mb']:g} MB)" if r.get("memory_cap_mb") and r["status"] == "oom" else ""
                    )
                else:
                    ms = f"{_fmt_num(r['ms_median'])}±{_fmt_num((r.get('ms_iqr') or 0.0) / 2)}"
                    ratio = f"{r['images_per_s'] / best:.2f}" if best else "–"
                    cell = f"{ms:>14} {_fmt_num(r['images_per_s']):>7} {_fmt_mb(r.get('peak_mem_mb')):>8} {ratio:>6}"
                line += f" | {cell:>40}"
            lines.append(line)
        notes = sorted(
            {r["note"] for r in grows if r.get("note")}
            | {f"{r['key']}: {r['error']}" for r in grows if r.get("status") != "ok" and r.get("error")}
        )
        lines += [f"  note: {n}" for n in notes]
        lines.append("")
    lines.append(
        "ms/step: median ± half the inter-quartile range; img/s: batch / median; ×best: images/s relative to "
        "the GAN's fastest cell."
    )
    if any(_setting(r)[4] for r in rows):
        lines.append("[k=v]: GAN config fields changed for those cells (--set): not the family's default model.")
    mem_kinds = {r.get("mem_kind") for r in rows if r.get("mem_kind")}
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
    return _child(json.loads(a.cell), a.result)


if __name__ == "__main__":
    sys.exit(main())
