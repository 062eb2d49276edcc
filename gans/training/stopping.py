"""Stopping a run cleanly: SIGINT and SIGTERM ask the training loop to stop between steps."""

from __future__ import annotations

import signal
import threading
from typing import Any

__all__ = ["StopRequest"]


class StopRequest:
    """SIGINT and SIGTERM ask the loop to stop after the current step (checkpoint, then exit 130 / 143).

    A second signal while stopping raises :class:`KeyboardInterrupt` at once, and so does the first one during
    an evaluation (the final one included): the run then ends "interrupted" with its checkpoint, and
    ``--resume`` evaluates again.
    """

    def __init__(self) -> None:
        self.signal: int | None = None
        self.immediate = False  # set while evaluating: the first signal interrupts too
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum
        if self.immediate:
            raise KeyboardInterrupt

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for s in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[s] = signal.signal(s, self._handle)
            except (ValueError, OSError):
                pass

    def uninstall(self) -> None:
        for s, old in self._old.items():
            try:
                signal.signal(s, old)
            except (ValueError, OSError, TypeError):
                pass
        self._old.clear()
