"""Signals end every command with its promised code, and child processes never outlive their parent.

* :class:`Interrupted` is the exception a command ends with when SIGINT or SIGTERM stopped it; the command
  line exits ``128 + signum`` (130 for Ctrl-C, 143 for SIGTERM) and prints its one-line message.
* :func:`signals_raise` turns SIGINT/SIGTERM into :class:`Interrupted` in the main thread for the commands
  that run other work (``compare-batch``, ``sweep``), so ``finally`` blocks run: cell subprocesses are
  killed and temporary files removed. (The training loop installs its own handlers while it trains, which
  stop after the step in flight with a checkpoint.)
* :func:`die_with_parent` makes the calling process receive a signal when its parent dies (Linux
  ``PR_SET_PDEATHSIG``): sweep cells and ``--nproc`` ranks never outlive a killed launcher.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator

__all__ = ["Interrupted", "signals_raise", "die_with_parent"]


class Interrupted(KeyboardInterrupt):
    """A command stopped by a signal: exit ``128 + signum``; ``message`` says what was kept."""

    def __init__(self, signum: int, message: str = "") -> None:
        super().__init__(message)
        self.signum = int(signum)
        self.message = message

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextmanager
def signals_raise() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM raise :class:`Interrupted` in the main thread (elsewhere: no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    old = {}
    for s in (signal.SIGINT, signal.SIGTERM):
        try:
            old[s] = signal.signal(s, handler)
        except (ValueError, OSError):
            pass
    try:
        yield
    finally:
        for s, h in old.items():
            try:
                signal.signal(s, h)
            except (ValueError, OSError, TypeError):
                pass


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only; False elsewhere).

    ``parent``: the PID the parent had; when the parent is already gone (this process was re-parented
    before the request), ``sig`` is sent at once.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        if libc.prctl(pr_set_pdeathsig, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return True
