"""The machine a number ran on, and its measured peak FLOP/s (the denominator of MFU)."""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import torch

__all__ = ["machine_facts", "cuda_sync", "peak_flops", "mfu"]


def cuda_sync(device: torch.device | str) -> None:
    """Wait for the GPU (no-op on the CPU): put this around a timed region, never inside a loop."""
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def machine_facts(device: torch.device | str | None = None) -> dict[str, Any]:
    """The machine a number ran on: CPU, threads, load, torch, CUDA, cuDNN, GPU, TF32 flags."""
    facts: dict[str, Any] = {
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_cuda": torch.version.cuda,
    }
    try:
        facts["loadavg_1m"] = round(os.getloadavg()[0], 2)  # a busy machine makes numbers noisy
    except OSError:
        pass
    if torch.cuda.is_available():
        dev = (
            torch.device(device)
            if device is not None and torch.device(device).type == "cuda"
            else torch.device("cuda", 0)
        )
        props = torch.cuda.get_device_properties(dev)
        facts.update(
            gpu=props.name,
            gpu_memory_gb=round(props.total_memory / 2**30, 1),
            gpu_capability=f"{props.major}.{props.minor}",
            gpu_count=torch.cuda.device_count(),
            cudnn=torch.backends.cudnn.version(),
            cudnn_benchmark=torch.backends.cudnn.benchmark,
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
            tf32_cudnn=torch.backends.cudnn.allow_tf32,
            float32_matmul_precision=torch.get_float32_matmul_precision(),
        )
    return facts


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


_PEAK_N = {"cpu": 1536, "cuda": 8192}  # CPU: 1024² varied ±25 % between calls at load 2, 1536² ±3 %


def peak_flops(
    device: torch.device | str = "cpu", precision: str = "fp32", *, n: int | None = None, repeats: int = 5
) -> float:
    """This device's matmul peak right now, in FLOP/s: the fastest of ``repeats`` n×n matmuls.

    Same device, same precision (bf16 → bfloat16 operands, fp32 → float32, TF32 as configured)
    and the current torch thread count, so that ``achieved FLOP/s / peak_flops`` (MFU) compares a
    step with what this process could do on this machine in the same run. The fastest call is
    the least disturbed by background load.
    """
    dev = torch.device(device)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    n = n or _PEAK_N.get(dev.type, 1024)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(dev, dtype)
    b = torch.randn(n, n, generator=g).to(dev, dtype)
    a @ b  # warm-up: thread pools, kernels
    cuda_sync(dev)
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        a @ b
        cuda_sync(dev)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


def mfu(flops_per_step: float | None, step_s: float | None, peak: float | None) -> float | None:
    """Model FLOP utilisation: (FLOPs per step ÷ step time) ÷ peak FLOP/s; None when a factor is missing."""
    if not flops_per_step or not step_s or not peak or step_s <= 0 or peak <= 0:
        return None
    return flops_per_step / step_s / peak
