"""Sweeps beyond one process: shards of the grid, merging shards, and one cell per GPU at a time.

* ``--shard K/N`` keeps every N-th cell of the grid in key order, starting at the K-th (K = 1 … N):
  a pure function of the grid, so N machines (a Slurm array, a CI matrix) that run the same
  command with K = 1 … N cover the grid exactly once, with shard sizes differing by at most one.
* :func:`merge_results` combines the shards' ``results.jsonl`` files into one folder (the format
  ``bench-report`` reads); a cell present in several shards keeps its ``ok`` row, else the first.
* :func:`run_sweep_by_device` runs the cells of each device in their own thread: one cell per
  device at a time, devices in parallel (``--devices cuda:0 cuda:1``). Each cell stays a
  subprocess, so the resume and OOM-as-data behaviour of :func:`bench.sweep.run_sweep` hold.
"""

from __future__ import annotations

import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence, TypeVar

from gans.base import UserError
from gans.lock import FolderLock

from .sweep import (
    RESULTS_CSV,
    RESULTS_JSONL,
    STOP_CELLS,
    append_result,
    read_results,
    run_sweep,
    stop_cells,
    write_csv,
)

__all__ = ["parse_shard", "shard_cells", "merge_results", "run_sweep_by_device"]

T = TypeVar("T")


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` → ``(K, N)`` with 1 ≤ K ≤ N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m:
        raise UserError(f"--shard expects K/N (e.g. 2/8), got {text!r}")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= k <= n:
        raise UserError(f"--shard {text}: need 1 ≤ K ≤ N")
    return k, n


def shard_cells(cells: Sequence[T], k: int, n: int) -> list[T]:
    """Shard K of N: every N-th cell in key order from the K-th, returned in the grid's order."""
    order = sorted(range(len(cells)), key=lambda i: getattr(cells[i], "key", str(cells[i])))
    keep = {i for pos, i in enumerate(order) if pos % n == k - 1}
    return [c for i, c in enumerate(cells) if i in keep]


def merge_results(out: str | os.PathLike, sources: Sequence[str | os.PathLike]) -> list[dict[str, Any]]:
    """Merge shard folders (or results.jsonl files) into ``OUT/results.jsonl`` + ``results.csv``."""
    out = Path(out)
    rows: dict[str, dict[str, Any]] = {}
    for src in sources:
        path = Path(src)
        path = path / RESULTS_JSONL if path.is_dir() else path
        if not path.is_file():
            raise UserError(f"{src}: no {RESULTS_JSONL} here")
        odd = 0
        for row in read_results(path):
            key = row.get("key")
            if key is None:
                continue
            if not isinstance(key, str):  # a cell's key is its name: a row keyed by an object or a list is not one
                odd += 1
                continue
            if key not in rows or (rows[key].get("status") != "ok" and row.get("status") == "ok"):
                rows[key] = row
        if odd:
            print(f"sweep-merge: {path}: {odd} row(s) whose key is not a string were left out", file=sys.stderr)
    if not rows:
        raise UserError("nothing to merge: the shards hold no rows")
    with FolderLock(out, "sweep-merge"):  # one writer per merged folder
        target = out / RESULTS_JSONL
        existing = {r.get("key") for r in read_results(target) if isinstance(r.get("key"), str)}
        for key, row in rows.items():
            if key not in existing:
                append_result(target, row)
        merged = [r for r in read_results(target) if isinstance(r.get("key"), str)]
        write_csv(out / RESULTS_CSV, merged)
    return merged


def run_sweep_by_device(cells: Sequence[Any], out_dir: str | os.PathLike, **kwargs: Any) -> list[dict[str, Any]]:
    """:func:`run_sweep` with one thread per device: each device runs one cell at a time. SIGINT/SIGTERM in the
    calling thread (``gans.signals.signals_raise``) stop every device's cell (:func:`bench.sweep.stop_cells`)."""
    STOP_CELLS.clear()  # a new sweep (an earlier stopped one in this process must not stop it)
    groups: dict[str, list[Any]] = {}
    for c in cells:
        groups.setdefault(c.device, []).append(c)
    if len(groups) <= 1 or any(not d.startswith("cuda") for d in groups):
        return run_sweep(cells, out_dir, **kwargs)
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        futures = [pool.submit(run_sweep, group, out_dir, **kwargs) for group in groups.values()]
        try:
            by_key = {r["key"]: r for f in futures for r in f.result()}
        except BaseException:  # a signal in this thread (or a failed device): stop every device's cell, then end
            stop_cells()
            raise
    write_csv(Path(out_dir) / RESULTS_CSV, read_results(Path(out_dir) / RESULTS_JSONL))
    return [by_key[c.key] for c in cells if c.key in by_key]
