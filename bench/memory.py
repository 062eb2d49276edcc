"""Peak memory of a timed region: the CUDA allocator's peak, or the CPU process's anonymous RSS.

CPU: the *increase* of the process's anonymous resident memory (RSS minus file-backed pages)
over its value just before the GAN was built, at its peak during the timed steps. Linux ≥ 4.0:
the kernel's own peak (``VmHWM``) is reset by writing ``5`` to ``/proc/self/clear_refs`` before
the timed steps and read after them (``mem_kind="cpu_rss_increase_peak"``); where that reset is
refused a thread samples ``/proc/self/statm`` every 5 ms (``"cpu_rss_increase_sampled"``, a
lower bound). CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any, Iterator

import torch

__all__ = ["rss_bytes", "reset_peak_rss", "MemorySampler", "peak_memory", "is_oom"]


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _anon(statm: bytes) -> int:
    # statm: size resident shared ... — resident minus file-backed ("shared") pages is the
    # anonymous memory (tensors, allocator arenas); library code paged in on first use of a
    # kernel is file-backed and is not memory the step needs, so it is left out
    f = statm.split()
    return (int(f[1]) - int(f[2])) * _PAGE


def rss_bytes() -> int:
    """Anonymous resident memory of this process (Linux ``/proc/self/statm``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return _anon(f.read())
    except (OSError, IndexError, ValueError):
        return 0


def _status_kb() -> dict[str, int]:
    """VmHWM, RssFile, RssShmem (kB) from ``/proc/self/status`` ({} where unreadable)."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "RssFile", "RssShmem"):
                    out[key] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return out


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process; False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return "VmHWM" in _status_kb()


class MemorySampler:
    """Peak anonymous RSS of this process over a ``with`` block; ``peak`` in bytes.

    Preferred: reset the kernel's peak counter on entry and read it on exit (``kind ==
    "cpu_rss_increase_peak"``, exact, no thread). Fallback: a background thread reading a
    kept-open ``/proc/self/statm`` every ``interval`` seconds (``"cpu_rss_increase_sampled"``).
    ``use_peak_counter=False`` forces the thread.
    """

    def __init__(self, interval: float = 0.005, *, use_peak_counter: bool = True):
        self.interval = interval
        self.use_peak_counter = use_peak_counter
        self.peak = 0
        self.kind = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fd: int | None = None

    def _read(self) -> int:
        if self._fd is None:
            return 0
        try:
            return _anon(os.pread(self._fd, 128, 0))
        except (OSError, IndexError, ValueError):
            return 0

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            v = self._read()
            if v > self.peak:
                self.peak = v

    def __enter__(self) -> "MemorySampler":
        if self.use_peak_counter and reset_peak_rss():
            self.kind = "cpu_rss_increase_peak"
            self.peak = rss_bytes()
            return self
        self.kind = "cpu_rss_increase_sampled"
        try:
            self._fd = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            self._fd = None
        self.peak = self._read()
        if self._fd is not None:
            self._thread = threading.Thread(target=self._run, name="ganbench-rss", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.kind == "cpu_rss_increase_peak":
            st = _status_kb()
            if "VmHWM" in st:  # the peak of all resident pages, minus the file-backed ones now
                hwm_anon = (st["VmHWM"] - st.get("RssFile", 0) - st.get("RssShmem", 0)) * 1024
                self.peak = max(self.peak, hwm_anon)
            self.peak = max(self.peak, rss_bytes())
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, self._read())
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def is_oom(exc: BaseException) -> bool:
    """Whether an exception is an out-of-memory error (CUDA, CPU allocator, or Python)."""
    if isinstance(exc, MemoryError):
        return True
    oom_cls = getattr(torch.cuda, "OutOfMemoryError", None) or getattr(torch, "OutOfMemoryError", None)
    if oom_cls is not None and isinstance(exc, oom_cls):
        return True
    msg = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in msg
        or "can't allocate memory" in msg
        or "cannot allocate memory" in msg
        or "std::bad_alloc" in msg
    )


@contextlib.contextmanager
def peak_memory(device: torch.device, rss_start: int) -> Iterator[dict[str, Any]]:
    """Measure the peak memory of the enclosed region into the yielded dict."""
    out: dict[str, Any] = {}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        yield out
        torch.cuda.synchronize(device)
        out["peak_mem_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        out["mem_kind"] = "cuda_max_memory_allocated"
    else:
        with MemorySampler() as sampler:
            yield out
        out["peak_mem_mb"] = max(0, sampler.peak - rss_start) / 2**20 if sampler.peak else None
        out["mem_kind"] = sampler.kind
