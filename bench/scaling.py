"""Scaling benchmark: the same training step at world sizes 1, 2, 4, … under DDP.

Each (GAN, global batch, world size) cell runs in its own ``torchrun --standalone`` job
(``python -m torch.distributed.run --standalone --nproc-per-node N -m bench.scaling --worker``),
so the ranks are real processes joined by torch's own launcher. Every rank builds the GAN the
way training does (SyncBatchNorm for BN families, each net in DDP, per-rank batch B/N: the
global-batch rule of ``ganbench train``), runs warm-up steps, then times ``steps`` calls of the
same ``train_step`` between two barriers.

Row fields: ``images_per_s`` (global images per second), ``efficiency`` = throughput at N ÷ (N ×
throughput at 1) for the same GAN and global batch, and ``comm_s``/``comm_share``: the time DDP's
gradient all-reduce was in flight, measured by a comm hook that wraps DDP's default all-reduce and
records each bucket's start and completion (the union of those intervals over the timed steps, on
rank 0). SyncBatchNorm's and the stream's collectives are not in it. On the CPU every rank uses
gloo and one thread (``OMP_NUM_THREADS=1`` and ``torch.set_num_threads(1)``), so world size N uses
N cores; world size 1 is one process with one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from bench.contention import Probe, judge
from gans.base import UserError, atomic_write_text, read_jsonl

__all__ = [
    "SCALING_JSONL",
    "add_efficiency",
    "check_world_sizes",
    "format_scaling",
    "read_scaling",
    "run_scaling",
    "scaling_cell",
    "scaling_grid",
]

SCALING_JSONL = "scaling.jsonl"


def check_world_sizes(sizes: Sequence[int], batch_sizes: Sequence[int]) -> list[int]:
    sizes = list(dict.fromkeys(int(s) for s in sizes))
    if not sizes or any(s < 1 for s in sizes):
        raise UserError(f"--world-sizes must be positive integers, got {' '.join(map(str, sizes))}")
    for b in batch_sizes:
        for n in sizes:
            if b % n:
                raise UserError(
                    f"batch size {b} does not divide among {n} processes (the batch size is global: "
                    f"each rank gets B/N); use batch sizes that are multiples of {max(sizes)}"
                )
    return sizes


def scaling_cell(
    gan: str,
    batch_size: int,
    world: int,
    *,
    steps: int = 10,
    warmup: int = 2,
    device: str = "cpu",
    overrides: dict[str, Any] | None = None,
    timeout_s: float | None = 600,
) -> dict[str, Any]:
    """One cell: a ``torchrun`` job of ``world`` processes; the row rank 0 wrote."""
    spec = {
        "gan": gan,
        "batch_size": batch_size,
        "world_size": world,
        "steps": steps,
        "warmup": warmup,
        "device": device,
        "overrides": overrides or {},
    }
    with tempfile.TemporaryDirectory(prefix="ganbench-scaling-") as tmp:
        result = Path(tmp) / "row.json"
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--log-dir",  # inside tmp, so torchrun leaves no torchelastic_* folder behind
            str(Path(tmp) / "logs"),
            "--standalone",
            "--nproc-per-node",
            str(world),
            "-m",
            "bench.scaling",
            "--worker",
            json.dumps(spec),
            str(result),
        ]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        env.pop("WORLD_SIZE", None)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {**spec, "status": "timeout", "error": f"over {timeout_s:g} s", "wall_s": time.perf_counter() - t0}
        if proc.returncode != 0 or not result.is_file():
            lines = (proc.stderr + proc.stdout).strip().splitlines()
            errors = [ln for ln in lines if "Error" in ln and "elastic" not in ln] or lines[-3:]
            return {**spec, "status": "error", "error": errors[-1][-300:], "wall_s": time.perf_counter() - t0}
        row = json.loads(result.read_text())
    row["wall_s"] = time.perf_counter() - t0
    return row


def _worker(spec: dict[str, Any], result: str) -> int:
    import torch
    import torch.distributed as dist

    from gans.families import is_spec
    from gans.models import build_gan, load_family, train_step
    from gans.training import resolve_device, seed_everything
    from gans.training.distributed import context, has_batchnorm, reset_context, split_sync_bn

    torch.set_num_threads(1)
    if is_spec(spec["gan"]):  # a family the user typed on the parent's command line, handed to this worker
        load_family(spec["gan"])
    dctx = context(spec["device"])
    device = dctx.device(resolve_device(spec["device"]))
    overrides, dctx.sync_bn = split_sync_bn(spec["overrides"])
    per_rank = dctx.check_batch(spec["batch_size"])
    seed_everything(0)
    gan = dctx.prepare_gan(build_gan(spec["gan"], overrides, device=device))
    dctx.seed_rank(0)
    dctx.wrap(gan, comm_timer=True)
    gan.train()
    x = torch.rand((per_rank, *gan.data_shape), generator=torch.Generator().manual_seed(dctx.rank)).to(device)
    real = gan.prepare(x)
    labels = gan.sample_labels(per_rank) if gan.conditional else None

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        dctx.barrier()

    step = 0
    for _ in range(spec["warmup"]):
        train_step(gan, real, labels, step=step)
        step += 1
    sync()
    if dctx.comm is not None:
        dctx.comm.reset()
    times = []
    # contention over the timed steps, read on rank 0 for the whole job (bench.contention): its threads are the
    # world's ranks (one thread each on the CPU); CPU/wall is rank 0's own
    probe = Probe(dctx.world if device.type == "cpu" else 1, cpu_rule=device.type == "cpu")
    t_start = time.perf_counter()
    with probe:
        for _ in range(spec["steps"]):
            t0 = time.perf_counter()
            train_step(gan, real, labels, step=step)
            step += 1
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # per-step times for the median; the total below is what counts
            times.append(time.perf_counter() - t0)
            if dctx.is_writer:
                probe.tick()
        sync()
    total = time.perf_counter() - t_start
    probe.r.cpu_s *= probe.r.threads  # rank 0's CPU time stands for each rank's (same work, one thread each)
    load = judge(probe.r, times, gan=spec["gan"])
    comm_s = dctx.comm.busy_s() if dctx.comm is not None else 0.0
    if dctx.is_writer:
        row = {
            **spec,
            "status": "ok",
            "per_rank_batch_size": per_rank,
            "backend": dctx.backend,
            "threads_per_rank": torch.get_num_threads(),
            "sync_bn": dctx.sync_bn and dctx.active and (has_batchnorm(gan.G) or has_batchnorm(gan.D)),
            "images_per_s": spec["steps"] * spec["batch_size"] / total,
            "ms_per_step": 1000.0 * total / spec["steps"],
            "ms_median": 1000.0 * statistics.median(times),
            "comm_s": comm_s,
            "comm_share": comm_s / total if total > 0 else float("nan"),
            # a disturbed cell is marked, not re-measured (every rank would have to agree to run again)
            "contention": "disturbed" if load.disturbed else "clean",
            "load": load.to_dict(),
            "comm_source": "DDP comm hook (gradient all-reduce in flight, union of bucket intervals)"
            if dctx.active
            else "none (world size 1)",
        }
        atomic_write_text(result, json.dumps(row))
    if dist.is_initialized():
        dctx.barrier()
    reset_context()
    return 0


def add_efficiency(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``efficiency`` = images/s at N ÷ (N × images/s at 1), per GAN, global batch and device."""
    base = {
        (r["gan"], r["batch_size"], r.get("device", "cpu")): r["images_per_s"]
        for r in rows
        if r.get("status") == "ok" and r["world_size"] == 1 and _clean(r)
    }
    for r in rows:
        b = base.get((r["gan"], r["batch_size"], r.get("device", "cpu")))
        ok = r.get("status") == "ok" and b and _clean(r)
        r["efficiency"] = r["images_per_s"] / (r["world_size"] * b) if ok else None
    return rows


def _clean(r: dict[str, Any]) -> bool:
    return r.get("contention") != "disturbed"


def run_scaling(
    gans: Sequence[str],
    batch_sizes: Sequence[int],
    world_sizes: Sequence[int],
    out: str | os.PathLike,
    *,
    steps: int = 10,
    warmup: int = 2,
    device: str = "cpu",
    overrides: dict[str, dict[str, Any]] | None = None,
    timeout_s: float | None = 600,
    log: Callable[[str], None] = lambda s: None,
) -> list[dict[str, Any]]:
    """Every (GAN, batch, world size) cell in turn; rows appended to ``OUT/scaling.jsonl``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / SCALING_JSONL
    rows = []
    for gan in gans:
        for bs in batch_sizes:
            for n in world_sizes:
                log(f"scaling {gan} batch {bs} world {n} …")
                row = scaling_cell(
                    gan,
                    bs,
                    n,
                    steps=steps,
                    warmup=warmup,
                    device=device,
                    overrides=(overrides or {}).get(gan),
                    timeout_s=timeout_s,
                )
                row["key"] = f"{gan}|bs{bs}|{device}|world{n}"
                rows.append(row)
    add_efficiency(rows)
    with open(path, "a", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return rows


def scaling_grid(metafunc: Any, grid: tuple[list[str], list[int], list[str], list[str]]) -> None:
    """Parametrise bench/test_scaling.py from the suite's grid and ``--world-sizes`` (none: skipped)."""
    gans, batch_sizes, devices, _ = grid
    sizes = metafunc.config.getoption("--world-sizes") or []
    device = "cuda" if any(d.startswith("cuda") for d in devices) else "cpu"
    cells = [(g, b, n) for g in gans for b in batch_sizes for n in sizes if b % n == 0]
    metafunc.parametrize("device", [device])
    metafunc.parametrize(
        ("gan", "batch_size", "world_size"), cells, ids=[f"{g}-bs{b}-world{n}" for g, b, n in cells]
    )


def read_scaling(path: str | os.PathLike) -> list[dict[str, Any]]:
    return add_efficiency(list(read_jsonl(Path(path))))


def format_scaling(rows: Sequence[dict[str, Any]]) -> str:
    head = f"{'GAN':<12} {'batch':>5} {'world':>5} {'per-rank':>8} {'images/s':>10} {'efficiency':>10} {'comm %':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.get("status") != "ok":
            status = f"{r.get('status')}: {r.get('error')}"
            lines.append(f"{r['gan']:<12} {r['batch_size']:>5} {r['world_size']:>5}  {status}")
            continue
        if not _clean(r):
            why = "; ".join((r.get("load") or {}).get("reasons") or [])
            lines.append(f"{r['gan']:<12} {r['batch_size']:>5} {r['world_size']:>5}  DISTURBED ({why})")
            continue
        eff = "–" if r.get("efficiency") is None else f"{r['efficiency']:.2f}"
        lines.append(
            f"{r['gan']:<12} {r['batch_size']:>5} {r['world_size']:>5} {r['per_rank_batch_size']:>8} "
            f"{r['images_per_s']:>10.1f} {eff:>10} {100 * r['comm_share']:>6.1f}%"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scaling")
    p.add_argument("--worker", nargs=2, metavar=("SPEC", "RESULT"), required=True)
    args = p.parse_args(argv)
    return _worker(json.loads(args.worker[0]), args.worker[1])


if __name__ == "__main__":
    sys.exit(main())
