"""The equilibrium verdict for your own training loop: :class:`EquilibriumMonitor`.

``ganbench train`` sums D's outputs on the device every step and reads them once per log interval (the only
GPU sync), then feeds the interval means to :class:`~diagnostics.equilibrium.EquilibriumTracker`. The monitor
does exactly that for a loop ganbench does not run, so the verdicts are the CLI's own::

    monitor = EquilibriumMonitor()                      # probability D (sigmoid), log every 50 steps
    for real in loader:
        ...                                             # your D and G updates
        monitor.update(d_real=torch.sigmoid(real_logits), d_fake=torch.sigmoid(fake_logits))
    monitor.flush()                                     # the last partial interval, as train does at the end
    v = monitor.verdict()                               # v.state, v.message, v.since_step, v.numbers

Critics (WGAN) pass the critic's scores as ``d_real``/``d_fake`` with ``kind="critic"``; ``logits=True`` takes
D's pre-sigmoid outputs. The losses may be given too (``loss_d``: the mean of D's real and fake BCE terms,
``loss_g``); the verdict quotes ``loss_d`` against its equilibrium value. ``update`` accepts device tensors of
any shape (their mean is taken on the device, detached) or Python numbers, and never reads a tensor back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from gans.base import UserError
from gans.training.stream import ScalarStream

from .equilibrium import EquilibriumThresholds, EquilibriumTracker, VerdictSpan

__all__ = ["EquilibriumMonitor", "EquilibriumVerdict"]

_KEYS = {"d_real": "d/real", "d_fake": "d/fake", "loss_d": "loss/d", "loss_g": "loss/g"}


@dataclass(frozen=True)
class EquilibriumVerdict:
    """The current equilibrium verdict: ``state`` is one of balanced, d_dominates, g_dominates, oscillating,
    diverged, drifting, or ``undecided`` before the first verdict (a window needs several logs)."""

    state: str
    message: str
    since_step: int | None
    numbers: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, span: VerdictSpan | None, logs: int, needed: int) -> "EquilibriumVerdict":
        if span is None:
            return cls("undecided", f"no verdict yet: {logs} log(s) of D's outputs, a verdict needs {needed}", None)
        return cls(span.verdict, span.sentence, span.since_step, dict(span.numbers))


class EquilibriumMonitor:
    """D/G equilibrium verdicts from D's outputs, one :meth:`update` per training step.

    ``kind``: ``"probability"`` (D ends in a sigmoid; target D(x) = D(G(z)) = 0.5) or ``"critic"`` (WGAN: the
    gap E[C(x)] − E[C(G(z))] and its trend). ``loss``: ``"bce"``, ``"mse"`` (least squares against 0/1) or
    ``"wasserstein"``. ``log_every``: steps per logged interval (``ganbench train --log-every``, default 50).
    """

    def __init__(
        self,
        kind: str = "probability",
        *,
        loss: str | None = None,
        log_every: int = 50,
        logits: bool = False,
        thresholds: EquilibriumThresholds | None = None,
    ) -> None:
        if kind not in ("probability", "critic"):
            raise UserError(f"EquilibriumMonitor: kind must be 'probability' or 'critic', got {kind!r}")
        loss = loss or ("wasserstein" if kind == "critic" else "bce")
        if loss not in ("bce", "mse", "wasserstein"):
            raise UserError(f"EquilibriumMonitor: loss must be 'bce', 'mse' or 'wasserstein', got {loss!r}")
        if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1:
            raise UserError(f"EquilibriumMonitor: log_every must be a positive int, got {log_every!r}")
        if logits and kind == "critic":
            raise UserError("EquilibriumMonitor: logits=True is for a probability D; a critic's scores are raw")
        self.kind, self.loss, self.log_every, self.logits = kind, loss, log_every, logits
        self.tracker = EquilibriumTracker(kind, loss, thresholds)
        self.step = 0  # steps seen
        self.logs = 0  # intervals flushed
        self._stream = ScalarStream()  # the loop's own accumulator: sums on the device, one read per interval
        self._pending = 0

    # -- per step ---------------------------------------------------------------------------------------
    def update(self, *, d_real: Any = None, d_fake: Any = None, loss_d: Any = None, loss_g: Any = None) -> None:
        """Record one training step. Tensors stay on their device (no sync); the verdict is recomputed every
        ``log_every`` steps, from the interval's means."""
        if d_real is None and d_fake is None and loss_d is None and loss_g is None:
            raise UserError("EquilibriumMonitor.update needs d_real and d_fake (D's outputs), or the losses")
        scalars = {}
        for arg, value in (("d_real", d_real), ("d_fake", d_fake), ("loss_d", loss_d), ("loss_g", loss_g)):
            if value is None:
                continue
            key = _KEYS[arg]
            value = _mean(value, arg, sigmoid=self.logits and arg in ("d_real", "d_fake"))
            scalars[key] = value
        self._stream.add(scalars)
        self.step += 1
        self._pending += 1
        if self._pending >= self.log_every:
            self.flush()

    def flush(self) -> EquilibriumVerdict:
        """Read the pending interval back (one sync) and update the verdict; call it once at the end of
        training for the last partial interval, as ``ganbench train`` does."""
        if self._pending:
            self.tracker.update(self.step, self._stream.flush(self.step))
            self.logs += 1
            self._pending = 0
        return self.verdict()

    # -- reading ----------------------------------------------------------------------------------------
    def verdict(self) -> EquilibriumVerdict:
        """The verdict as of the last flushed interval (pending steps are not read: that would sync)."""
        th = self.tracker.th
        return EquilibriumVerdict.of(self.tracker.current, self.logs, max(1, min(th.min_logs, th.window)))

    @property
    def history(self) -> list[EquilibriumVerdict]:
        """Every verdict so far, oldest first (each with the step it began)."""
        return [EquilibriumVerdict.of(s, self.logs, 0) for s in self.tracker.spans]



def _mean(value: Any, arg: str, *, sigmoid: bool = False) -> torch.Tensor:
    """The mean (of the sigmoid, for logits) as a 0-d float32 tensor: a tensor's on its own device (detached,
    no sync); an array's or a number's on the CPU."""
    if not isinstance(value, torch.Tensor):
        if not (hasattr(value, "__array__") or (isinstance(value, (int, float)) and not isinstance(value, bool))):
            what = type(value).__name__
            raise UserError(f"EquilibriumMonitor.update: {arg} must be a tensor, an array or a number, got {what}")
        import numpy as np

        value = torch.from_numpy(np.asarray(value, dtype=np.float32).copy())
    value = value.detach().float()
    if value.numel() == 0:
        raise UserError(f"EquilibriumMonitor.update: {arg} is empty")
    return (torch.sigmoid(value) if sigmoid else value).mean()


