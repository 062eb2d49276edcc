"""The claim "timing adds under 1 % over a bare loop of the same steps", shown two ways.

1. Analytically (noise-free, always asserted): what the harness adds per timed step is a pair
   of ``perf_counter`` reads (CPU) or a pair of CUDA event records (GPU) plus list bookkeeping
   (:func:`bench.timing.time_steps`; pytest-benchmark's ``pedantic`` adds the same pair of
   timer reads per round), and on the CPU the peak-memory measurement: a reset of the
   kernel's peak-RSS counter before a cell's timed steps and one read after them, once per
   cell (or, where that reset is refused, the sampler thread waking every 5 ms). Each is
   timed *alone* over many calls, where background load only inflates it (so the estimate
   errs on the safe side), and divided by the step time: ``timer cost per step / step time +
   memory cost per cell / (MIN_CELL_STEPS × step time)`` (or ``+ cost per wake-up / 5 ms``
   for the sampler thread). The
   steps are the cheapest of the default grid (pattern1010 and mnist_mlp at batch 96, one
   thread) — the shorter the step, the larger any fixed per-step overhead.

2. Empirically (asserted when the machine is quiet enough to resolve 1 %): many short blocks
   of the same prepared mnist_mlp step (batch 96), interleaved bare, timed, bare, timed, …,
   where "timed" is everything the harness adds (``time_steps`` *and* the peak-memory
   measurement, entered per block, so its cost is counted more often than in a real cell). Each
   timed block is divided by the mean of its two bare neighbours and the median of these
   ratios is the overhead estimate. The noise floor comes from the bare blocks themselves
   (each bare block against its neighbours): the test asserts ``ratio < 1.01`` only when the
   standard error of that median is small enough to resolve 1 % (2·SE ≤ 0.5 %); on a busy
   machine it skips, printing the measured numbers.
"""

from __future__ import annotations

import statistics
import threading
import time

import pytest
import torch

from bench.cells import Cell
from bench.harness import record_overhead
from bench.machine import cuda_sync
from bench.memory import MemorySampler
from bench.timing import prepare_step, time_steps

BATCH = 96
BLOCK_STEPS = 30  # steps per block (a few ms each for mnist_mlp at batch 96, one thread)
PAIRS = 40  # timed blocks, each between two bare blocks
RESOLVE = 0.005  # 2·SE of the median ratio must be at most this to assert < 1 %
TIMER_CALLS = 20000  # calls to time the timer alone
MIN_CELL_STEPS = 50  # a CPU cell of a step this short gets 50 rounds (bench/harness.py plan_rounds)


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture
def one_thread():
    """One CPU thread: the harness's costs do not depend on threads; one thread is steadier on shared CPUs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _bare(prep, n: int) -> float:
    dev = prep.device
    cuda_sync(dev)
    t0 = time.perf_counter()
    for _ in range(n):
        prep.step()
    cuda_sync(dev)
    return time.perf_counter() - t0


def _through_timer(prep, n: int) -> float:
    t0 = time.perf_counter()
    if prep.device.type == "cpu":
        with MemorySampler():
            time_steps(prep.step, n, prep.device)
    else:
        time_steps(prep.step, n, prep.device)  # synchronises before and after
    return time.perf_counter() - t0


def _step_seconds(prep, blocks: int = 7, n: int = 10) -> float:
    """Median per-step time over a few bare blocks (after warm-up)."""
    for _ in range(3):
        prep.step()
    return statistics.median(_bare(prep, n) / n for _ in range(blocks))


def _timer_cost_per_step(device: str) -> float:
    """Seconds the timer adds per step: ``time_steps`` on a no-op minus a bare loop over the no-op (best of 5)."""

    def noop() -> None:
        return None

    def bare_loop() -> float:
        t0 = time.perf_counter()
        for _ in range(TIMER_CALLS):
            noop()
        return time.perf_counter() - t0

    def timed_loop() -> float:
        t0 = time.perf_counter()
        time_steps(noop, TIMER_CALLS, device)
        return time.perf_counter() - t0

    bare = min(bare_loop() for _ in range(5))
    timed = min(timed_loop() for _ in range(5))
    return max(0.0, timed - bare) / TIMER_CALLS


def _memory_cost() -> tuple[str, float, float]:
    """(kind, seconds per cell, seconds per wake-up) of the CPU peak-memory measurement (best of 5)."""
    probe = MemorySampler()
    with probe:
        pass
    kind = probe.kind

    def per_cell() -> float:
        t0 = time.perf_counter()
        for _ in range(200):
            with MemorySampler():
                pass
        return (time.perf_counter() - t0) / 200

    cell_s = min(per_cell() for _ in range(5))
    s = MemorySampler(use_peak_counter=False)
    with s:  # opens the statm file for _read
        ev = threading.Event()

        def loop() -> float:
            t0 = time.perf_counter()
            for _ in range(2000):
                ev.wait(0)
                s._read()
            return (time.perf_counter() - t0) / 2000

        wake_s = min(loop() for _ in range(5))
    return kind, cell_s, wake_s


def test_timer_overhead_analytic(benchmark, one_thread) -> None:
    """Cost of the timer calls themselves vs the cheapest steps of the grid: must be < 1 %."""
    device = _device()
    rows = {}
    for gan in ("pattern1010", "mnist_mlp"):
        prep = prepare_step(Cell(gan, BATCH, device))
        rows[gan] = {"step_s": _step_seconds(prep)}
        assert not prep.check()
    timer_s = _timer_cost_per_step(device)
    interval = MemorySampler().interval
    kind, mem_cell_s, wake_s = _memory_cost() if device == "cpu" else ("cuda_max_memory_allocated", 0.0, 0.0)
    for gan, r in rows.items():
        r["timer_frac"] = timer_s / r["step_s"]
        if kind == "cpu_rss_increase_sampled":  # the thread's share of one core while it runs
            r["mem_frac"] = wake_s / interval
        else:  # once per cell, spread over the shortest timed region such a cell gets
            r["mem_frac"] = mem_cell_s / (MIN_CELL_STEPS * r["step_s"])
        r["total_frac"] = r["timer_frac"] + r["mem_frac"]

    def timer_alone() -> None:  # the benchmarked thing: the timer on a no-op, TIMER_CALLS times
        time_steps(lambda: None, TIMER_CALLS, device)

    benchmark.pedantic(timer_alone, rounds=5, iterations=1, warmup_rounds=1)
    worst = max(rows.values(), key=lambda r: r["total_frac"])
    benchmark.extra_info.update(
        kind="overhead",  # bench-report: its own section, not a throughput
        device=device,
        timer_us_per_step=timer_s * 1e6,
        mem_kind=kind,
        mem_us_per_cell=mem_cell_s * 1e6,
        sampler_us_per_wake=wake_s * 1e6,
        sampler_interval_ms=interval * 1e3,
        steps={g: {k: (v * 1e3 if k == "step_s" else v) for k, v in r.items()} for g, r in rows.items()},
        overhead_fraction=worst["total_frac"],
        note="step_s values are in ms; fractions are overhead / step time",
    )
    for gan, r in rows.items():
        line = (
            f"analytic ({device}): {gan} bs{BATCH} step {r['step_s'] * 1e3:.2f} ms; timer {timer_s * 1e6:.2f} µs/step "
            f"({r['timer_frac']:.4%})"
            + (
                f" + peak-RSS reset/read {mem_cell_s * 1e6:.0f} µs per cell of ≥ {MIN_CELL_STEPS} steps "
                f"({r['mem_frac']:.4%})"
                if kind == "cpu_rss_increase_peak"
                else ""
            )
            + (
                f" + RSS sampler {wake_s * 1e6:.1f} µs per {interval * 1e3:g} ms ({r['mem_frac']:.3%})"
                if kind == "cpu_rss_increase_sampled"
                else ""
            )
            + f" = {r['total_frac']:.3%} overhead"
        )
        record_overhead(line)
        print("\n" + line)
    for gan, r in rows.items():
        assert r["total_frac"] < 0.01, f"{gan}: the timer's own cost is {r['total_frac']:.2%} of a step"


def test_timer_overhead_interleaved(benchmark, one_thread) -> None:
    """Bare vs timed blocks of the same step, interleaved: the median ratio must be < 1.01 (when resolvable)."""
    device = _device()
    prep = prepare_step(Cell("mnist_mlp", BATCH, device))
    for _ in range(5):
        prep.step()
    bare: list[float] = [_bare(prep, BLOCK_STEPS)]
    timed: list[float] = []

    def one_pair() -> None:  # timed, then bare: every timed block sits between two bare blocks
        timed.append(_through_timer(prep, BLOCK_STEPS))
        bare.append(_bare(prep, BLOCK_STEPS))

    benchmark.pedantic(one_pair, rounds=PAIRS, iterations=1, warmup_rounds=0)
    while len(timed) < PAIRS:  # --benchmark-disable runs the target once
        one_pair()
    ratios = [t / ((bare[i] + bare[i + 1]) / 2) for i, t in enumerate(timed)]
    ratio = statistics.median(ratios)
    min_ratio = min(timed) / min(bare)  # least-disturbed block of each kind
    # noise floor: the same bracketed statistic for bare blocks alone
    bare_ratios = [bare[i] / ((bare[i - 1] + bare[i + 1]) / 2) for i in range(1, len(bare) - 1)]
    mad = statistics.median(abs(r - statistics.median(bare_ratios)) for r in bare_ratios)
    se = 1.2533 * 1.4826 * mad / len(ratios) ** 0.5  # standard error of a median (normal approx.)
    resolvable = 2 * se <= RESOLVE
    benchmark.extra_info.update(
        kind="overhead",  # bench-report: its own section, not a throughput
        ratio=ratio,
        min_ratio=min_ratio,
        overhead=ratio - 1,
        noise_se=se,
        noise_mad=mad,
        resolvable=resolvable,
        block_steps=BLOCK_STEPS,
        pairs=PAIRS,
        device=device,
        gan="mnist_mlp",
        batch_size=BATCH,
        bare_block_median_s=statistics.median(bare),
        timed_block_median_s=statistics.median(timed),
        step_ms=statistics.median(bare) / BLOCK_STEPS * 1e3,
    )
    line = (
        f"interleaved ({device}): mnist_mlp bs{BATCH}, {PAIRS} timed blocks of {BLOCK_STEPS} steps between bare ones: "
        f"timed/bare median {ratio:.4f} (ratio of fastest blocks {min_ratio:.4f}); noise: bare-vs-bare MAD {mad:.2%}, "
        f"SE of the median {se:.2%} → " + ("resolves 1 %" if resolvable else "too noisy to resolve 1 % (not asserted)")
    )
    record_overhead(line)
    print("\n" + line)
    assert not prep.check()
    if not resolvable:
        pytest.skip(
            f"machine too noisy to resolve 1 % (2·SE {2 * se:.2%} > {RESOLVE:.1%}); measured timed/bare {ratio:.4f}, "
            f"fastest-block ratio {min_ratio:.4f}; the analytic test holds the claim"
        )
    assert ratio < 1.01, f"timing adds {ratio - 1:.2%} over a bare loop (noise SE {se:.2%})"
