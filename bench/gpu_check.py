"""One self-contained CUDA check: ``python -m bench.gpu_check --out DIR``.

On a CUDA machine it checks and times everything CUDA-specific in the harness, each part in
its own try/except (a failure is recorded as an error and the next part runs):

1. event timing vs synchronize timing agree (same steps timed both ways, interleaved);
2. bf16 autocast trains (finite losses, weights change) and how fast it is against fp32;
3. channels_last for dcgan and celeba_conv: the batch and conv weights really are
   channels_last, training works, and its speed against contiguous;
4. torch.compile of G and D for one GAN (mnist_mlp): trains, compile time, speed vs eager;
5. memory peaks: ``max_memory_allocated`` grows with the batch and exceeds the parameters;
6. ganbench's ``FusedAdam`` against ``torch.optim.Adam(fused=True)`` on the GPU: bit for bit the
   same weights and states after 20 steps, and the time of one ``step()`` each way;
7. the sweep for dcgan and mnist_mlp at batch 96 and 512 in fp32 and bf16 (in-process cells).

Prints a table and writes ``DIR/gpu_check.json`` (and the sweep's rows to ``DIR/sweep.jsonl``).
Budget: well under 6 minutes on an H100 including compile. Without CUDA it writes a JSON saying
so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import torch

from gans.base import atomic_write_json

from .cells import Cell
from .machine import cuda_sync, machine_facts
from .sweep import format_table
from .timing import measure_cell, prepare_step, time_steps


def _part(results: dict[str, Any], name: str, fn: Callable[[], dict[str, Any]]) -> None:
    t0 = time.perf_counter()
    print(f"== {name} …", flush=True)
    try:
        out = fn()
        out.setdefault("ok", True)
    except Exception as e:  # noqa: BLE001 — record and go on
        out = {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-2000:]}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    results[name] = out
    print(
        f"   {'ok' if out.get('ok') else 'FAILED'} ({out['seconds']} s): "
        + json.dumps({k: v for k, v in out.items() if k not in ("traceback", "rows")}, default=str)[:600],
        flush=True,
    )


def events_vs_sync() -> dict[str, Any]:
    prep = prepare_step(Cell("dcgan", 96, "cuda"))
    for _ in range(5):
        prep.step()
    ev, sy = [], []
    for _ in range(5):
        ev.append(statistics.median(time_steps(prep.step, 10, "cuda")))
        cuda_sync(prep.device)
        ts = []
        for _ in range(10):
            t0 = time.perf_counter()
            prep.step()
            torch.cuda.synchronize()
            ts.append((time.perf_counter() - t0) * 1000)
        sy.append(statistics.median(ts))
    e, s = statistics.median(ev), statistics.median(sy)
    problems = prep.check()
    # a synchronize per step adds launch latency the events do not see: events ≤ sync, within 15 %
    agree = e <= s * 1.02 and abs(s - e) / s < 0.15
    return {"ok": agree and not problems, "events_ms": e, "sync_ms": s, "rel_diff": (s - e) / s, "problems": problems}


def _speed(cell: Cell, steps: int = 20) -> tuple[float, Any]:
    row = measure_cell(cell, steps=steps, warmup=5, flops=False)
    if row.status != "ok":
        raise RuntimeError(f"{cell.key}: {row.status}: {row.error}")
    return row.ms_median, row


def bf16() -> dict[str, Any]:
    out = {}
    for gan in ("mnist_mlp", "dcgan"):
        fp32, _ = _speed(Cell(gan, 256, "cuda", "fp32"))
        b16, _ = _speed(Cell(gan, 256, "cuda", "bf16"))
        prep = prepare_step(Cell(gan, 64, "cuda", "bf16"))
        with torch.autocast("cuda", dtype=torch.bfloat16):
            fake = prep.gan.generate(prep.gan.latent(4))
        for _ in range(3):
            prep.step()
        out[gan] = {
            "fp32_ms": fp32,
            "bf16_ms": b16,
            "speedup": fp32 / b16,
            "autocast_output_dtype": str(fake.dtype),
            "problems": prep.check(),
        }
    out["ok"] = all(
        v["autocast_output_dtype"] == "torch.bfloat16" and not v["problems"]
        for v in out.values()
        if isinstance(v, dict)
    )
    return out


def channels_last() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for gan in ("dcgan", "celeba_conv"):
        bs = 64 if gan == "dcgan" else 16
        prep = prepare_step(Cell(gan, bs, "cuda", "fp32", False, True))
        convs = [m.weight for m in prep.gan.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
        cl_weights = all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
        cl_batch = prep.real.is_contiguous(memory_format=torch.channels_last)
        for _ in range(3):
            prep.step()
        problems = prep.check()
        del prep
        on, _ = _speed(Cell(gan, bs, "cuda", "bf16", False, True))
        off, _ = _speed(Cell(gan, bs, "cuda", "bf16", False, False))
        out[gan] = {
            "weights_channels_last": cl_weights,
            "batch_channels_last": cl_batch,
            "problems": problems,
            "bf16_ms_channels_last": on,
            "bf16_ms_contiguous": off,
            "speedup": off / on,
            "batch": bs,
        }
    out["ok"] = all(
        v["weights_channels_last"] and v["batch_channels_last"] and not v["problems"]
        for v in out.values()
        if isinstance(v, dict)
    )
    return out


def compile_check() -> dict[str, Any]:
    t0 = time.perf_counter()
    row_c = measure_cell(Cell("mnist_mlp", 512, "cuda", "fp32", True), steps=30, warmup=5, flops=True)
    t_compile = time.perf_counter() - t0
    eager, _ = _speed(Cell("mnist_mlp", 512, "cuda", "fp32", False), steps=30)
    ok = row_c.status == "ok"
    return {
        "ok": ok,
        "status": row_c.status,
        "error": row_c.error,
        "compiled_ms": row_c.ms_median,
        "eager_ms": eager,
        "speedup": (eager / row_c.ms_median) if ok else None,
        "cell_wall_s_incl_compile": t_compile,
        "flops_per_step": row_c.flops_per_step,
    }


def memory_peaks() -> dict[str, Any]:
    peaks = {}
    for bs in (96, 512):
        row = measure_cell(Cell("dcgan", bs, "cuda"), steps=5, warmup=2, flops=False)
        peaks[bs] = row.peak_mem_mb
    prep = prepare_step(Cell("dcgan", 8, "cuda"))
    param_mb = sum(p.numel() * p.element_size() for p in prep.gan.parameters()) / 2**20
    del prep
    ok = peaks[512] is not None and peaks[96] is not None and peaks[512] > peaks[96] > param_mb
    return {"ok": ok, "peak_mb_bs96": peaks[96], "peak_mb_bs512": peaks[512], "param_mb": param_mb}


def fused_adam_check(device: str = "cuda", steps: int = 20) -> dict[str, Any]:
    """FusedAdam vs Adam(fused=True) on ``device``: equal updates bit for bit, and µs per ``step()``."""
    import torch.nn as nn

    from gans.models.core import FusedAdam

    dev = torch.device(device)
    nets = []
    for _ in range(2):  # the same weights twice: mnist_mlp's D
        torch.manual_seed(0)
        nets.append(nn.Sequential(nn.Linear(784, 200), nn.LeakyReLU(), nn.LayerNorm(200), nn.Linear(200, 1)).to(dev))
    opts = [
        torch.optim.Adam(nets[0].parameters(), lr=1e-4, betas=(0.5, 0.999), fused=True),
        FusedAdam(nets[1].parameters(), lr=1e-4, betas=(0.5, 0.999)),
    ]
    g = torch.Generator(device=dev).manual_seed(1)
    for _ in range(steps):
        x = torch.randn(96, 784, device=dev, generator=g)
        for net, opt in zip(nets, opts):
            opt.zero_grad(set_to_none=True)
            net(x).square().mean().backward()
            opt.step()
    same = all(torch.equal(a, b) for a, b in zip(nets[0].parameters(), nets[1].parameters()))
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        sa, sb = opts[0].state[a], opts[1].state[b]
        same = same and all(torch.equal(sa[k], sb[k]) for k in ("step", "exp_avg", "exp_avg_sq"))
    us = {}
    for name, opt in zip(("torch_adam_fused", "ganbench_fused_adam"), opts):
        t = time_steps(opt.step, 200, device)  # gradients stay from the last backward
        us[name] = statistics.median(t) * 1000.0
    return {"ok": same, "bit_identical": same, "us_per_step": us, "steps_compared": steps}


def sweep(out_dir: Path) -> dict[str, Any]:
    from .sweep import append_result

    rows = []
    path = out_dir / "sweep.jsonl"
    for gan in ("dcgan", "mnist_mlp"):
        for prec in ("fp32", "bf16"):
            for bs in (96, 512):
                row = measure_cell(Cell(gan, bs, "cuda", prec), steps=30, warmup=5).to_dict()
                append_result(path, row)
                rows.append(row)
    table = format_table(rows)
    print(table, flush=True)
    return {"ok": all(r["status"] == "ok" for r in rows), "rows": rows, "table": table}


def _failure(v: dict[str, Any]) -> str:
    """The first 300 characters of a failed check's error (or of its fields, when it gave no error)."""
    return str(v.get("error") or {k: x for k, x in v.items() if k not in ("rows", "table", "traceback")})[:300]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for gpu_check.json and sweep.jsonl")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "machine": machine_facts("cuda" if torch.cuda.is_available() else None),
        "started": time.time(),
    }
    if not torch.cuda.is_available():
        results["skipped"] = "no CUDA GPU: nothing to check"
        atomic_write_json(out / "gpu_check.json", results)
        print(results["skipped"])
        return 0
    torch.backends.cudnn.benchmark = True  # the harness's GPU setting; recorded in machine facts
    results["machine"] = machine_facts("cuda")
    t0 = time.perf_counter()
    _part(results, "events_vs_sync", events_vs_sync)
    _part(results, "bf16_autocast", bf16)
    _part(results, "channels_last", channels_last)
    _part(results, "torch_compile", compile_check)
    _part(results, "memory_peaks", memory_peaks)
    _part(results, "fused_adam", fused_adam_check)
    _part(results, "sweep", lambda: sweep(out))
    results["total_seconds"] = round(time.perf_counter() - t0, 1)
    atomic_write_json(out / "gpu_check.json", results)
    print("\nsummary:")
    for k, v in results.items():
        if isinstance(v, dict) and "ok" in v:
            print(f"  {k:<16} {'ok' if v['ok'] else 'FAILED: ' + _failure(v)}")
    print(f"total {results['total_seconds']} s; JSON: {out / 'gpu_check.json'}")
    return 0 if all(v.get("ok") for v in results.values() if isinstance(v, dict) and "ok" in v) else 1


if __name__ == "__main__":
    sys.exit(main())
