"""Was a timed measurement disturbed by other work on the machine? Readings, judgement, test hook.

A step time measured while other processes compete for the cores can be many times the quiet
figure (mnist_mlp at batch 96: 6 ms quiet, 439 ms beside a load of 5 on 2 cores, 2 threads).
Every timed cell therefore records, over its own measurement (:class:`Probe`):

``load_1m``
    the 1-minute load average at the end of the measurement (what ``uptime`` shows; it lags,
    so it is recorded, not judged).
``others_running``
    the mean, over readings taken between timed samples (never inside one), of the machine's
    runnable tasks (``/proc/loadavg`` field 4) less this measurement's own threads: the cores
    other work wanted while the cell ran. (Own threads may be idle at a reading, so this can
    under-count others by up to ``threads - 1``; it never counts the cell's own threads.)
``cpu_per_wall``
    the process's CPU time (user + system, every thread) ÷ wall time ÷ torch threads: 1.0 when each
    of the cell's threads had a core for the whole measurement, 0.5 when they had half of one.
``spread``
    inter-quartile range ÷ median of the timed samples.

On CUDA cells the CPU/wall rule is not applied (the host thread waits for the GPU by design); the
other two are. :func:`judge` applies the limits of :mod:`gans.contention` (other work beyond the idle cores + 0.5,
CPU/wall per thread under 0.8, IQR/median over 0.25).

A disturbed cell is measured once more; if the second measurement is disturbed too the cell is
reported as ``disturbed`` (console, results.csv/jsonl, bench-report), its numbers kept only as
data, never shown as a clean figure.

Test hook
    ``GANBENCH_INJECT_CONTENTION="gan:N[,gan2:M]"``: for the named GAN the first ``N``
    measurements in a process read as disturbed (others running ``cpus + 2``, CPU/wall 0.3) and
    every later one as quiet (others 0, CPU/wall 1.0, spread 0), whatever the machine is doing,
    so that tests of the re-measure logic are deterministic on a busy machine. Like
    ``GANBENCH_INJECT_SLOWDOWN`` it lives in the bench code only, and rows say when it was active.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from gans.base import UserError
from gans.contention import CPU_PER_WALL_MIN, LOAD_SLACK, SPREAD_MAX, disturbance_reasons

__all__ = [
    "CONTENTION_ENV",
    "LOAD_SLACK",
    "CPU_PER_WALL_MIN",
    "SPREAD_MAX",
    "Probe",
    "Readings",
    "judge",
    "parse_injection",
    "runnable_tasks",
    "contention_fields",
]

CONTENTION_ENV = "GANBENCH_INJECT_CONTENTION"

_INJECTED: dict[str, int] = {}  # gan -> measurements judged so far in this process (test hook)


def parse_injection(text: str | None = None) -> dict[str, int]:
    """Parse ``GANBENCH_INJECT_CONTENTION`` (``"gan:1,other:2"``) into ``{gan: disturbed measurements}``."""
    text = os.environ.get(CONTENTION_ENV, "") if text is None else text
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, count = part.partition(":")
        if not sep or not count.strip().isdigit():
            raise UserError(f"{CONTENTION_ENV}: expected GAN:N with N ≥ 0 disturbed measurements, got {part!r}")
        out[name.strip()] = int(count)
    return out


def runnable_tasks() -> int | None:
    """Runnable tasks on the machine right now (``/proc/loadavg`` field 4, ``running/total``); None off Linux."""
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def _cpu_seconds() -> float:
    """CPU time of this process, every thread, user + system (``CLOCK_PROCESS_CPUTIME_ID``)."""
    return time.process_time()


@dataclass
class Readings:
    """What a :class:`Probe` saw over one measurement, and the judgement on it."""

    threads: int
    cpus: int
    wall_s: float = 0.0
    cpu_s: float = 0.0
    load_1m: float | None = None
    others_running: float | None = None
    spread: float | None = None
    injected: bool = False
    cpu_rule: bool = True  # judge CPU/wall (CPU cells); on CUDA the host thread waits for the GPU by design
    reasons: list[str] = field(default_factory=list)

    @property
    def cpu_per_wall(self) -> float | None:
        """CPU seconds per wall second per thread (1.0 = every thread always on a core)."""
        if self.wall_s <= 0:
            return None
        return self.cpu_s / self.wall_s / max(1, self.threads)

    @property
    def disturbed(self) -> bool:
        return bool(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        cpw = self.cpu_per_wall
        return {
            "load_1m": None if self.load_1m is None else round(self.load_1m, 2),
            "others_running": None if self.others_running is None else round(self.others_running, 2),
            "cpu_per_wall": None if cpw is None else round(cpw, 3),
            "spread": None if self.spread is None else round(self.spread, 3),
            "threads": self.threads,
            "cpus": self.cpus,
            "disturbed": self.disturbed,
            "reasons": list(self.reasons),
            **({"injected": True} if self.injected else {}),
        }


class Probe:
    """Readings over one measurement: ``with Probe(threads) as p: … p.tick() between samples …``.

    ``tick()`` reads the runnable-task count; call it between timed samples (never inside one: it
    reads a file). Entering and leaving also read it.
    """

    def __init__(self, threads: int, cpus: int | None = None, *, cpu_rule: bool = True):
        self.r = Readings(threads=max(1, int(threads)), cpus=int(cpus or os.cpu_count() or 1), cpu_rule=cpu_rule)
        self._running: list[int] = []

    def tick(self) -> None:
        n = runnable_tasks()
        if n is not None:
            self._running.append(n)

    def __enter__(self) -> "Probe":
        self.tick()
        self._t0, self._c0 = time.perf_counter(), _cpu_seconds()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.r.wall_s = time.perf_counter() - self._t0
        self.r.cpu_s = _cpu_seconds() - self._c0
        self.tick()
        if self._running:
            mean = sum(self._running) / len(self._running)
            self.r.others_running = max(0.0, mean - self.r.threads)
        try:
            self.r.load_1m = os.getloadavg()[0]
        except (OSError, AttributeError):
            pass


def judge(r: Readings, times: list[float] | None = None, *, gan: str | None = None) -> Readings:
    """Fill ``r.spread`` from the samples and ``r.reasons`` (empty = clean) from the limits above.

    With the test hook active for ``gan`` the readings are replaced first (see the module docstring).
    """
    if times and len(times) > 1:
        med = statistics.median(times)
        q = statistics.quantiles(times, n=4, method="inclusive")
        r.spread = (q[2] - q[0]) / med if med > 0 else None
    injected = parse_injection()
    if gan is not None and gan in injected:
        seen = _INJECTED.get(gan, 0)
        _INJECTED[gan] = seen + 1
        r.injected = True
        if seen < injected[gan]:
            r.others_running, r.cpu_s = float(r.cpus + 2), 0.3 * r.wall_s * r.threads
        else:
            r.others_running, r.cpu_s, r.spread = 0.0, 1.0 * r.wall_s * r.threads, 0.0
    cpw = r.cpu_per_wall if r.wall_s > 0.05 and r.cpu_rule else None  # too short to say how the CPU was shared
    r.reasons = disturbance_reasons(
        cpus=r.cpus, threads=r.threads, others=r.others_running, cpu_per_wall=cpw, spread=r.spread
    )
    return r


def contention_fields(first: Readings, final: Readings | None) -> dict[str, Any]:
    """Row fields: ``contention`` clean | disturbed, ``remeasured``, the final readings and the first's."""
    last = final or first
    return {
        "contention": "disturbed" if last.disturbed else "clean",
        "remeasured": final is not None,
        "load": last.to_dict(),
        **({"load_first": first.to_dict()} if final is not None else {}),
    }
