"""The timer's own cost: N steps bare vs the same N steps through the timing core.

Interleaved repetitions (bare, timed, bare, timed, …) of the same prepared mnist_mlp step
(batch 96, a few ms on a CPU — short steps make any per-step overhead most visible). "Timed"
is everything the harness adds per cell: :func:`bench.timing.time_steps` (a perf_counter pair
or a CUDA event pair per step) *and* the RSS sampler thread. The ratio of the median total
times must stay under 1 % plus a noise allowance measured from the bare runs themselves
(the spread between bare repetitions), capped so that the test cannot pass on a real 5 %
overhead.
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch

from bench.timing import Cell, MemorySampler, cuda_sync, prepare_step, time_steps

N_STEPS = 20
REPEATS = 11


def _bare(prep, n: int) -> float:
    dev = prep.device
    cuda_sync(dev)
    t0 = time.perf_counter()
    for _ in range(n):
        prep.step()
    cuda_sync(dev)
    return time.perf_counter() - t0


def _through_timer(prep, n: int) -> float:
    dev = prep.device
    t0 = time.perf_counter()
    with MemorySampler():
        time_steps(prep.step, n, dev)  # synchronises before and after
    return time.perf_counter() - t0


def test_timer_overhead_under_one_percent(benchmark) -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)  # the timer's cost does not depend on threads; 1 thread is steadier on shared CPUs
    try:
        prep = prepare_step(Cell("mnist_mlp", 96, device))
        for _ in range(5):
            prep.step()
        bare: list[float] = [_bare(prep, N_STEPS)]
        timed: list[float] = []

        def one_pair() -> None:  # timed, then bare: every timed run sits between two bare runs
            timed.append(_through_timer(prep, N_STEPS))
            bare.append(_bare(prep, N_STEPS))

        benchmark.pedantic(one_pair, rounds=REPEATS, iterations=1, warmup_rounds=0)
        ratios = [t / ((bare[i] + bare[i + 1]) / 2) for i, t in enumerate(timed)]
        ratio = statistics.median(ratios)
        # noise: the same bracketed statistic for bare runs alone (bare[i] against its neighbours)
        bare_ratios = [bare[i] / ((bare[i - 1] + bare[i + 1]) / 2) for i in range(1, len(bare) - 1)]
        mad = statistics.median(abs(r - statistics.median(bare_ratios)) for r in bare_ratios)
        stderr = 1.2533 * 1.4826 * mad / len(ratios) ** 0.5  # standard error of a median
        allowance = 2 * stderr
        benchmark.extra_info.update(ratio=ratio, allowance=allowance, steps=N_STEPS, repeats=REPEATS, device=device,
                                    bare_median_s=statistics.median(bare), timed_median_s=statistics.median(timed))
        print(f"\ntimer overhead: timed/bare = {ratio:.4f} (median of {len(ratios)} bracketed runs of {N_STEPS} steps; "
              f"noise allowance {allowance:.2%})")
        if allowance > 0.04:
            pytest.skip(f"machine too noisy to resolve 1 % right now (allowance {allowance:.1%}); ratio was {ratio:.3f}")
        assert ratio < 1.01 + allowance, f"timing adds {ratio - 1:.2%} over a bare loop (allowance {allowance:.2%})"
        assert not prep.check()
    finally:
        torch.set_num_threads(threads)
