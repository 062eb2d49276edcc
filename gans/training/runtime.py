"""Devices, seeding, RNG state and version facts for training runs and benchmarks."""

from __future__ import annotations

import os
import platform
import random
from typing import Any

import numpy as np
import torch

from ..base import UserError

__all__ = [
    "resolve_device",
    "seed_everything",
    "rng_state",
    "set_rng_state",
    "rng_isolated",
    "versions",
    "autocast_dtype",
]


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a precision name from :data:`gans.base.PRECISIONS` (None: fp32)."""
    from ..base import PRECISIONS

    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    name = PRECISIONS[precision]
    return None if name is None else getattr(torch, name)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without a GPU is a user error."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(
                f"--device {name} was asked for but no CUDA GPU is available to this torch "
                f"(torch {torch.__version__}); use --device cpu or --device auto"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) present")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"unsupported device {name!r}; use auto, cpu or cuda")
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every global RNG state, for checkpoints (resume continues the same random stream).

    Only tensors and plain Python values, so a checkpoint loads with ``torch.load(weights_only=True)``.
    """
    py_version, py_internal, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [int(py_version), [int(x) for x in py_internal], py_gauss],
        "numpy": [
            str(np_name),
            torch.from_numpy(np_keys.astype(np.int64)),
            int(np_pos),
            int(np_has_gauss),
            float(np_cached),
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned; a malformed state is a :class:`UserError`."""
    try:
        py_version, py_internal, py_gauss = state["python"]
        np_name, np_keys, np_pos, np_has_gauss, np_cached = state["numpy"]
        keys = np_keys.numpy() if isinstance(np_keys, torch.Tensor) else np.asarray(np_keys)
        py = (int(py_version), tuple(int(x) for x in py_internal), py_gauss)
        nps = (str(np_name), keys.astype(np.uint32), int(np_pos), int(np_has_gauss), float(np_cached))
        random.setstate(py)
        np.random.set_state(nps)
        torch.set_rng_state(state["torch"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
        raise UserError(f"the checkpoint's RNG state is malformed ({type(e).__name__}: {e})") from None
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def host() -> dict[str, int | None]:
    """The machine's CPU count and this process's torch threads: what a load average is read against."""
    return {"cpus": os.cpu_count(), "threads": torch.get_num_threads()}


def versions() -> dict[str, str]:
    """Library and machine facts recorded in every run's config."""
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("ganbench", "torch", "torchvision", "torchmetrics", "numpy", "scipy", "scikit-learn"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    out["cuda"] = str(torch.version.cuda)
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
        out["cudnn"] = str(torch.backends.cudnn.version())
    return out


def rng_isolated(fn: Any, *args: Any) -> Any:
    """Call ``fn`` with the global RNG state saved before and restored after (training's stream is untouched)."""
    if fn is None:
        return None
    state = rng_state()
    try:
        return fn(*args)
    finally:
        set_rng_state(state)
