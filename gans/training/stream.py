"""The scalar stream: cheap per-step reporting, one GPU sync per log interval.

``train_step`` returns named scalars as detached device tensors. :class:`ScalarStream` adds them
into on-device running sums (no ``.item()``), and :meth:`ScalarStream.flush` moves every mean to
the host in one transfer and hands ``(step, {name: mean})`` to its subscribers (the metrics
file writer, the equilibrium tracker, the progress bar).
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

import torch

__all__ = ["ScalarStream", "Subscriber"]

Subscriber = Callable[[int, dict[str, float]], None]


class ScalarStream:
    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        self._subscribers: list[Subscriber] = []
        #: applied to the stacked sums at each flush before the host transfer (DDP: mean over ranks)
        self.reduce: Callable[[torch.Tensor], torch.Tensor] | None = None

    def subscribe(self, fn: Subscriber) -> None:
        self._subscribers.append(fn)

    def add(self, scalars: Mapping[str, torch.Tensor]) -> None:
        """Accumulate one step's scalars (device tensors; never synchronises)."""
        for name, value in scalars.items():
            if name in self._sums:
                self._sums[name] += value.detach().float()
                self._counts[name] += 1
            else:
                self._sums[name] = value.detach().float().clone()
                self._counts[name] = 1

    @property
    def pending(self) -> bool:
        return bool(self._sums)

    def flush(self, step: int) -> dict[str, float]:
        """Means since the last flush (one host transfer), sent to every subscriber."""
        if not self._sums:
            return {}
        names = list(self._sums)
        stacked = torch.stack([self._sums[n] for n in names])
        if self.reduce is not None:
            stacked = self.reduce(stacked)
        values = stacked.cpu().tolist()
        means = {n: v / self._counts[n] for n, v in zip(names, values)}
        self._sums.clear()
        self._counts.clear()
        for fn in self._subscribers:
            fn(step, means)
        return means

    @staticmethod
    def finite(means: Mapping[str, float]) -> bool:
        return all(math.isfinite(v) for v in means.values())
