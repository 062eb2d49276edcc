"""The same training step under DDP at each ``--world-sizes`` N (skipped unless the option is given).

``pytest bench/test_scaling.py --gans mnist_mlp dcgan --batch-sizes 16 --world-sizes 1 2``

Each case is one torchrun job (``bench.scaling``); its rank 0 times the steps between barriers, so
the numbers are the workers' own (not pytest-benchmark's timer around a process launch). The
terminal summary lists images/s, the scaling efficiency against world size 1, and the share of
time DDP's gradient all-reduce was in flight.
"""

from __future__ import annotations

from bench.harness import record_summary
from bench.scaling import add_efficiency, scaling_cell

_ROWS: list[dict] = []


def test_scaling(gan: str, batch_size: int, world_size: int, device: str) -> None:
    row = scaling_cell(gan, batch_size, world_size, steps=10, warmup=2, device=device)
    assert row["status"] == "ok", row.get("error")
    assert row["images_per_s"] > 0 and row["per_rank_batch_size"] * world_size == batch_size
    assert (row["comm_s"] > 0) == (world_size > 1)  # DDP's all-reduce ran exactly when there is more than one rank
    _ROWS.append(row)
    add_efficiency(_ROWS)
    eff = row.get("efficiency")
    record_summary(
        f"scaling {gan} bs{batch_size} world {world_size}: {row['images_per_s']:.1f} images/s, efficiency "
        f"{'–' if eff is None else f'{eff:.2f}'}, all-reduce {100 * row['comm_share']:.1f}% of the time"
    )
