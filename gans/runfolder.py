"""The run folder format, in one torch-free module: its files, its events and status, and the readers and
writers of ``config.json`` and ``metrics.jsonl``.

A run folder (what ``ganbench train`` writes) holds::

    config.json      fully resolved: GAN config, training options, data set actually used, versions
    metrics.jsonl    append-only, flushed per line: {"type": "scalars" | "event" | "eval" | "eval_time", "step": ...}
    samples/         PNG sample grids from a fixed z, named by step (step_00001000.png)
    checkpoint.pt    the last good state, written atomically (read by ``gans.training.rundir``, which needs torch)
    verdicts.json    the diagnostics' last verdicts

The training loop writes it (``gans.training``), and ``bench`` (compare-batch) and ``reports`` read it through
this module. An import-linter contract keeps torch, the models and the data sources out of it, so reading a
run folder never needs them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

from .base import UserError, atomic_write_bytes, atomic_write_json, read_jsonl

__all__ = [
    "CONFIG",
    "METRICS",
    "CHECKPOINT",
    "VERDICTS",
    "SAMPLES",
    "STATUS_OF_EVENT",
    "ENDED",
    "run_status",
    "read_status",
    "read_metrics",
    "read_config",
    "read_run_config",
    "write_config",
    "MetricsLog",
    "event_record",
    "truncate_metrics",
    "remove_stray_temporaries",
    "is_run_folder",
]

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
VERDICTS = "verdicts.json"
SAMPLES = "samples"

#: the events that say where a run stands, and the status each one leaves it in: a run that (re)started and
#: has not ended since is "incomplete" (being written, or killed without a word)
STATUS_OF_EVENT = {
    "start": "incomplete",
    "resume": "incomplete",
    "finished": "finished",
    "interrupted": "interrupted",
    "diverged": "diverged",
}
#: the statuses of a run that is over: it is reused as it is, never resumed
ENDED = ("finished", "diverged")


def run_status(events: Iterable[dict[str, Any]]) -> str | None:
    """Where a run stands after these event records: finished, interrupted, diverged or incomplete (its last
    start or resume has no end after it); None when no event says."""
    status = None
    for rec in events:
        status = STATUS_OF_EVENT.get(rec.get("event"), status)  # type: ignore[arg-type]
    return status


def read_status(run_dir: str | os.PathLike) -> str | None:
    """:func:`run_status` of a run folder's metrics.jsonl (None without one)."""
    if not (Path(run_dir) / METRICS).is_file():
        return None
    return run_status(read_metrics(run_dir, "event"))


def read_metrics(run_dir: str | os.PathLike, type_: str | None = None) -> list[dict[str, Any]]:
    """The records of a run's metrics.jsonl, of ``type_`` when given (a torn last line from a crash is skipped)."""
    return list(read_jsonl(Path(run_dir) / METRICS, type_))


def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """A run folder's config.json as a dict; anything else is a :class:`UserError` naming the path."""
    p = Path(run_dir)
    path = p / CONFIG
    if not p.is_dir():
        raise UserError(f"{p}: no such run directory")
    if not path.is_file():
        raise UserError(f"{p}: not a run directory (no {CONFIG}); pass the folder `ganbench train` wrote")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: nested too deep
        raise UserError(f"{path}: unreadable JSON ({e})") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror or e})") from None
    if not isinstance(config, dict):
        raise UserError(f"{path}: not a run configuration (expected a JSON object)")
    return config


def read_run_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """:func:`read_config`, for a run to train on or load: it must name its GAN and hold its train section."""
    config = read_config(run_dir)
    path = Path(run_dir) / CONFIG
    if not isinstance(config.get("train"), dict) or not config.get("gan"):
        raise UserError(f"{path}: not a ganbench run configuration (expected an object with gan and train)")
    if not isinstance(config["gan"], str) or not isinstance(config.get("gan_config", {}), (dict, type(None))):
        raise UserError(f"{path}: not a ganbench run configuration (gan must be a name, gan_config an object)")
    return config


def write_config(run_dir: str | os.PathLike, config: dict[str, Any]) -> None:
    """Write a run's config.json atomically."""
    atomic_write_json(Path(run_dir) / CONFIG, config)


def is_run_folder(p: str | os.PathLike) -> bool:
    """Whether ``p`` holds a run (its config.json and metrics.jsonl)."""
    return (Path(p) / CONFIG).is_file() and (Path(p) / METRICS).is_file()


def event_record(step: int, event: str, message: str = "", **fields: Any) -> dict[str, Any]:
    """One event line of metrics.jsonl."""
    return {"type": "event", "step": step, "event": event, "message": message, "time": time.time(), **fields}


class MetricsLog:
    """A run's metrics.jsonl, open for appending: one JSON line per record, flushed to the OS at once."""

    def __init__(self, run_dir: str | os.PathLike):
        self._file = open(Path(run_dir) / METRICS, "a", buffering=1, encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, default=_json_default, allow_nan=True) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):  # tensors and arrays, without importing either
        return o.tolist()
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    return str(o)  # paths and anything else


def truncate_metrics(run_dir: str | os.PathLike, step: int) -> int:
    """Drop metrics.jsonl records past ``step`` (logged after the checkpoint a resume starts from); returns how
    many (a torn line from a kill counts)."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return 0
    keep, dropped = [], 0
    with open(path, "rb") as f:
        for raw in f:
            try:
                rec = json.loads(raw)
            except ValueError:
                dropped += bool(raw.strip())  # a torn line from a kill
                continue
            s = rec.get("step") if isinstance(rec, dict) else None
            if isinstance(s, (int, float)) and not isinstance(s, bool) and s > step:
                dropped += 1
                continue
            keep.append(raw if raw.endswith(b"\n") else raw + b"\n")
    if dropped:
        atomic_write_bytes(path, b"".join(keep))
    return dropped


def remove_stray_temporaries(run_dir: str | os.PathLike) -> None:
    """Half-written files of an atomic write cut short by a kill (``.NAME.*.tmp``) are removed."""
    out = Path(run_dir)
    for folder in (out, out / SAMPLES):
        if not folder.is_dir() or folder.is_symlink():
            continue
        for p in folder.glob(".*.tmp"):
            try:
                if p.is_file() and not p.is_symlink():
                    p.unlink()
            except OSError:
                pass
