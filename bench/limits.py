"""Limits on what a benchmark cell may cost: CPU size reductions and a per-cell wall-clock limit."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator

import torch

__all__ = ["cpu_reduction", "cpu_reductions", "describe_overrides", "CellOverTime", "cell_time_limit"]


def cpu_reduction(gan: str, device: str, *, full_size: bool = False) -> dict[str, Any]:
    """The config overrides ``pytest bench`` applies to this GAN on this device ({} = its own size): the
    family's declared ``cpu_reduction`` on a CPU, unless ``full_size``.

    The built-in reductions keep every family's batch-96 and batch-512 cells within minutes on a 2-core CPU
    (same layers, losses and phase schedule; only widths shrink). Measured on a loaded 2-core EPYC:
    celeba_conv at 256 channels takes minutes per step (32 channels: 8–20 s at batch 96), at 16 channels
    0.7–2 s at batch 96 and 7–22 s at 512; segan's window 4096 (enc 16…128) 8–15 s at batch 96, at window
    1024 (enc 8…64) 0.4–1.4 s at 96 and 2–8 s at 512. dcgan runs at its own size (2–8 s per step at batch 96),
    celeba_mlp 1–4 s and 3–13 s, the MLP GANs tens of ms.
    """
    from gans.models.core import get_gan_entry

    if full_size or torch.device(device).type != "cpu":
        return {}
    return dict(get_gan_entry(gan).cls.cpu_reduction)


def cpu_reductions(gans: list[str]) -> dict[str, dict[str, Any]]:
    """``{gan: reduction}`` for the GANs among ``gans`` that declare one (for the benchmark header)."""
    return {g: r for g in gans if (r := cpu_reduction(g, "cpu"))}


def describe_overrides(overrides: dict[str, Any] | None, *, skip: tuple[str, ...] = ("channels_last",)) -> str:
    """``"ngf=32, ndf=32"`` — overrides as a label (``channels_last`` is shown apart, so skipped)."""
    items = [(k, v) for k, v in (overrides or {}).items() if k not in skip]
    return ", ".join(f"{k}={tuple(v) if isinstance(v, list) else v}" for k, v in items)


class CellOverTime(Exception):
    """A benchmark cell ran past its wall-clock limit (see :func:`cell_time_limit`)."""


@contextlib.contextmanager
def cell_time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Raise :class:`CellOverTime` in the main thread once ``seconds`` of wall time have passed.

    SIGALRM: the handler runs between two Python bytecodes, i.e. after the torch op in flight
    returns, so a cell stops within one op of the limit. A no-op off the main thread, without
    ``setitimer``, or when another alarm is already armed (e.g. pytest-timeout's): that one
    is left alone.
    """
    if (
        not seconds
        or seconds <= 0
        or not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
        or signal.getitimer(signal.ITIMER_REAL)[0] > 0
    ):
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise CellOverTime(f"{what} ran past the per-cell limit of {seconds:g} s (--cell-limit; 0 disables it)")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
