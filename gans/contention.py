"""When is a timing disturbed by other work on the machine? The limits, in one place, for every timed figure.

Used by the benchmark cells (:mod:`bench.contention`, which also takes the readings), by ``ganbench train``'s
images/s and by the reports, which read the readings back from the files.

A measurement is **disturbed** when any of these holds:

* other work wanted more cores than the measurement left idle: ``others > cpus - threads + LOAD_SLACK``
  (``LOAD_SLACK`` = 0.5 core, so a shell or a short-lived process does not count);
* its threads were off the CPU more than a fifth of the time: CPU seconds ÷ wall seconds ÷ threads
  under ``CPU_PER_WALL_MIN`` (0.8);
* its samples disagree: inter-quartile range ÷ median above ``SPREAD_MAX`` (0.25; quiet cells on a
  2-core VM measure 0.01–0.05).
"""

from __future__ import annotations

import math

__all__ = ["LOAD_SLACK", "CPU_PER_WALL_MIN", "SPREAD_MAX", "LIMITS_TEXT", "disturbance_reasons"]

LOAD_SLACK = 0.5
CPU_PER_WALL_MIN = 0.8
SPREAD_MAX = 0.25
LIMITS_TEXT = (
    f"disturbed = other work wanting more than the idle cores + {LOAD_SLACK:g}, CPU/wall per thread under "
    f"{CPU_PER_WALL_MIN:g}, or IQR/median over {SPREAD_MAX:g}"
)


def _ok(v: float | None) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def disturbance_reasons(
    *,
    cpus: int,
    threads: int,
    others: float | None = None,
    cpu_per_wall: float | None = None,
    spread: float | None = None,
) -> list[str]:
    """Why a measurement is disturbed (empty: clean). ``cpu_per_wall`` is per thread; missing readings are skipped."""
    out = []
    idle = cpus - threads
    if _ok(others) and others > idle + LOAD_SLACK:
        out.append(f"other work wanted {others:.1f} cores, {max(0, idle)} left idle")
    if _ok(cpu_per_wall) and cpu_per_wall < CPU_PER_WALL_MIN:
        out.append(f"CPU/wall per thread {cpu_per_wall:.2f} < {CPU_PER_WALL_MIN}")
    if _ok(spread) and spread > SPREAD_MAX:
        out.append(f"IQR/median {spread:.2f} > {SPREAD_MAX}")
    return out
