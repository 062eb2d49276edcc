"""Sweep shards, merging, parallel cells per GPU, and the scaling benchmark's arithmetic."""

from __future__ import annotations

import json
import threading
import time

import pytest

from bench.scaling import add_efficiency, check_world_sizes, format_scaling
from bench.shard import merge_results, parse_shard, run_sweep_by_device, shard_cells
from bench.sweep import plan_cells, read_results
from gans.base import UserError
from gans.training.distributed import CommTimer, shard_batch


def _cells():
    return plan_cells(["mnist_mlp", "dcgan", "wgan_gp"], [8, 16, 32], ["cpu", "cuda:0"], ["fp32", "bf16"], [False])


def test_shards_cover_the_grid_once_and_are_deterministic():
    cells = _cells()
    shards = [shard_cells(cells, k, 5) for k in range(1, 6)]
    keys = [c.key for s in shards for c in s]
    assert sorted(keys) == sorted(c.key for c in cells) and len(set(keys)) == len(cells)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    # the same shard of a reordered grid holds the same cells
    again = shard_cells(list(reversed(cells)), 3, 5)
    assert {c.key for c in again} == {c.key for c in shards[2]}


@pytest.mark.parametrize("bad", ["0/3", "4/3", "3", "a/b", "1/0", ""])
def test_bad_shard_is_a_user_error(bad):
    with pytest.raises(UserError):
        parse_shard(bad)
    assert parse_shard(" 2/8 ") == (2, 8)


def test_merge_keeps_each_cell_once_preferring_ok(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    rows_a = [{"key": "x", "status": "oom", "gan": "g"}, {"key": "y", "status": "ok", "gan": "g", "images_per_s": 2.0}]
    rows_b = [{"key": "x", "status": "ok", "gan": "g", "images_per_s": 5.0}, {"key": "z", "status": "ok", "gan": "g"}]
    for d, rows in (("a", rows_a), ("b", rows_b)):
        (tmp_path / d / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    merged = merge_results(tmp_path / "all", [tmp_path / "a", tmp_path / "b" / "results.jsonl"])
    by_key = {r["key"]: r for r in merged}
    assert sorted(by_key) == ["x", "y", "z"] and by_key["x"]["status"] == "ok" and by_key["x"]["images_per_s"] == 5.0
    assert (tmp_path / "all" / "results.csv").read_text().count("\n") == 4
    with pytest.raises(UserError):
        merge_results(tmp_path / "none", [tmp_path / "missing"])


def test_merged_shards_are_read_by_bench_report(tmp_path):
    from reports.bench_report import build_bench_report

    row = {"key": "mnist_mlp|bs8|cpu|fp32|eager", "gan": "mnist_mlp", "batch_size": 8, "device": "cpu",
           "precision": "fp32", "compile": False, "status": "ok", "ms_median": 1.0, "ms_q25": 0.9, "ms_q75": 1.1,
           "ms_iqr": 0.2, "images_per_s": 8000.0, "steps": 5, "warmup": 1}
    for i, bs in enumerate((8, 16)):
        d = tmp_path / f"shard-{i + 1}"
        d.mkdir()
        r = {**row, "key": row["key"].replace("bs8", f"bs{bs}"), "batch_size": bs}
        (d / "results.jsonl").write_text(json.dumps(r) + "\n")
    merge_results(tmp_path / "all", [tmp_path / "shard-1", tmp_path / "shard-2"])
    html = build_bench_report(None, [tmp_path / "all"])
    assert "mnist_mlp" in html and "8000" in html.replace(",", "")


def test_cells_run_in_parallel_one_per_gpu_at_a_time(tmp_path):
    cells = plan_cells(["mnist_mlp", "wgan_gp"], [8, 16], ["cuda:0", "cuda:1"], ["fp32"], [False])
    busy: dict[str, int] = {}
    most = {"per_device": 0, "overall": 0}
    lock = threading.Lock()

    def runner(cell, **kw):
        with lock:
            busy[cell.device] = busy.get(cell.device, 0) + 1
            most["per_device"] = max(most["per_device"], busy[cell.device])
            most["overall"] = max(most["overall"], sum(busy.values()))
        time.sleep(0.05)
        with lock:
            busy[cell.device] -= 1
        return {"key": cell.key, "status": "ok", "ms_median": 1.0, "ms_iqr": 0.1, "images_per_s": 1.0,
                "steps": 1, "device": cell.device}

    rows = run_sweep_by_device(cells, tmp_path, steps=1, warmup=0, log=lambda s: None, runner=runner)
    assert [r["key"] for r in rows] == [c.key for c in cells]
    assert most == {"per_device": 1, "overall": 2}
    assert len(read_results(tmp_path / "results.jsonl")) == len(cells)


def test_efficiency_and_world_size_checks():
    rows = [
        {"gan": "g", "batch_size": 8, "device": "cpu", "world_size": 1, "status": "ok", "images_per_s": 100.0,
         "per_rank_batch_size": 8, "comm_share": 0.0},
        {"gan": "g", "batch_size": 8, "device": "cpu", "world_size": 2, "status": "ok", "images_per_s": 150.0,
         "per_rank_batch_size": 4, "comm_share": 0.25},
        {"gan": "h", "batch_size": 8, "device": "cpu", "world_size": 2, "status": "ok", "images_per_s": 150.0,
         "per_rank_batch_size": 4, "comm_share": 0.25},
    ]
    add_efficiency(rows)
    assert [r["efficiency"] for r in rows] == [1.0, 0.75, None]  # h has no world-1 row: cannot tell
    assert "0.75" in format_scaling(rows) and "25.0%" in format_scaling(rows)
    assert check_world_sizes([1, 2, 2], [8]) == [1, 2]
    with pytest.raises(UserError, match="global"):
        check_world_sizes([1, 3], [8])
    with pytest.raises(UserError):
        check_world_sizes([0], [8])


def test_comm_timer_counts_overlapping_intervals_once():
    t = CommTimer()
    t.intervals = [(0.0, 1.0), (0.5, 1.5), (3.0, 4.0), (3.2, 3.4)]
    assert t.busy_s() == pytest.approx(2.5)


def test_shard_batch_splits_without_overlap():
    import torch

    x = torch.arange(12).reshape(6, 2)
    parts = [shard_batch(x, r, 3) for r in range(3)]
    assert torch.equal(torch.cat(parts), x) and all(p.shape[0] == 2 for p in parts)
    assert shard_batch(None, 0, 2) is None


def test_bench_report_draws_the_scaling_curve(tmp_path):
    from reports.bench_report import build_bench_report

    rows = [
        {"key": f"mnist_mlp|bs16|cpu|world{n}", "gan": "mnist_mlp", "batch_size": 16, "device": "cpu",
         "world_size": n, "per_rank_batch_size": 16 // n, "status": "ok", "images_per_s": ips, "comm_share": c,
         "backend": "gloo" if n > 1 else None}
        for n, ips, c in ((1, 1000.0, 0.0), (2, 1500.0, 0.2))
    ]
    (tmp_path / "scaling.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    html = build_bench_report(None, [tmp_path])
    assert "Scaling" in html and "scaling curve" in html
    assert "0.75" in html and "20.0%" in html  # efficiency 1500 / (2 × 1000), all-reduce share
