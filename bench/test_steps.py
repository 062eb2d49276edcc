"""Time one training step of every registered GAN over the grid (see bench/conftest.py).

``pytest bench --benchmark-autosave`` writes ``.benchmarks/<machine>/0001_*.json``; each entry's
extra_info holds images/s, ms/step, peak memory and FLOPs, machine_info the torch/CUDA facts.
"""

from __future__ import annotations

import math

import pytest
import torch


def test_train_step(timed_cell, batch_size: int, precision: str) -> None:
    prep = timed_cell(batch_size, precision)
    # correctness after timing (the fixture asserted finite losses and changed weights too)
    assert prep.i >= 2, "at least the warm-up step and one timed round ran"
    for name, value in prep.last.items():
        if name.startswith("loss/"):
            assert math.isfinite(float(value)), f"{name} = {float(value)}"


def test_reference_step(timed_reference, reference, batch_size: int) -> None:
    """The ``seed`` and ``minimal`` reference loops (bench/references/) of each GAN that has them."""
    prep = timed_reference(reference, batch_size)
    assert prep.cycle >= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
@pytest.mark.parametrize("gan", ["dcgan", "celeba_conv"])
def test_cuda_channels_last_bf16(benchmark, gan: str) -> None:
    """CUDA: the conv GANs in channels_last under bf16 autocast train and are timed with a sync."""
    from bench.cells import Cell
    from bench.machine import cuda_sync
    from bench.timing import prepare_step

    prep = prepare_step(Cell(gan, 64, "cuda", "bf16", False, True))
    assert prep.real.is_contiguous(memory_format=torch.channels_last)

    def step() -> None:
        prep.run_cycle()
        cuda_sync(prep.device)

    benchmark.pedantic(step, rounds=10, iterations=1, warmup_rounds=3)
    benchmark.extra_info.update(gan=gan, batch_size=64, precision="bf16", channels_last=True)
    assert not prep.check()
