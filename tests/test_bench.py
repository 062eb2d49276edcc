"""The benchmark harness: timing core, sweeps (OOM rows, resume after a kill), pytest-benchmark output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bench.cells import Cell
from bench.limits import CellOverTime, cell_time_limit, cpu_reduction, cpu_reductions, describe_overrides
from bench.memory import MemorySampler, is_oom
from bench.sweep import append_result, format_table, read_results
from bench.timing import measure_cell, parse_slowdown, prepare_step, summarize, time_steps
from gans.base import UserError

ROOT = Path(__file__).resolve().parents[1]
# a pytest run inside a pytest-xdist worker would see PYTEST_XDIST_WORKER and switch pytest-benchmark off
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}, "PYTHONPATH": str(ROOT)}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    ENV["GANBENCH_CACHE"] = str(tmp_path / "cache")
    # one thread: on a shared 2-core machine OpenMP's spinning threads make step times swing by
    # integer factors; these tests compare times within one process
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- timing core -------------------------------------------------------------------------------


def test_summarize_known_quartiles():
    med, q25, q75 = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (med, q25, q75) == (3.0, 2.0, 4.0)
    assert summarize([7.0]) == (7.0, 7.0, 7.0)


def test_time_steps_measures_the_work():
    times = time_steps(lambda: time.sleep(0.01), 3, "cpu")
    assert len(times) == 3 and all(9.0 <= t < 200.0 for t in times)


def test_parse_slowdown_and_is_oom():
    assert parse_slowdown("mnist_mlp:1.3, dcgan:2") == {"mnist_mlp": 1.3, "dcgan": 2.0}
    assert parse_slowdown("") == {}
    for bad in ("mnist_mlp", "mnist_mlp:0.5", "x:abc"):
        with pytest.raises(UserError):
            parse_slowdown(bad)
    assert is_oom(MemoryError()) and is_oom(RuntimeError("CUDA out of memory. Tried to allocate"))
    assert is_oom(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 bytes"))
    assert not is_oom(RuntimeError("shape mismatch"))


def test_measure_cell_reports_a_trained_step():
    row = measure_cell(Cell("pattern1010", 8), steps=4, warmup=2)
    assert row.status == "ok", row.error
    assert row.steps == 4 and len(row.times_ms) == 4
    assert row.ms_q25 <= row.ms_median <= row.ms_q75
    assert row.images_per_s == pytest.approx(8 / (row.ms_median / 1000))
    # pattern1010: 3 phases; D (4→3→1) and G (1→3→4) linears, forward+backward — a small positive count
    assert row.flops_per_step and row.flops_per_step > 0
    assert row.mem_kind in ("cpu_rss_increase_peak", "cpu_rss_increase_sampled") and row.peak_mem_mb is not None
    assert row.machine["torch"] == torch.__version__


def test_measure_cell_impossible_batch_is_an_oom_row():
    row = measure_cell(Cell("mnist_mlp", 10**8), steps=1, warmup=1)  # 10^8 × 784 floats = 314 GB
    assert row.status == "oom" and "allocate" in row.error


def test_injected_slowdown_slows_the_timed_step(monkeypatch):
    """The hook sleeps twice each step's own time after it: every slow sample is 3× its step. Compared on the
    fastest sample of each run (the least disturbed when other tests share the cores), at least 1.8×."""
    base = measure_cell(Cell("mnist_mlp", 16), steps=10, warmup=2, flops=False)
    monkeypatch.setenv("GANBENCH_INJECT_SLOWDOWN", "mnist_mlp:3")
    slow = measure_cell(Cell("mnist_mlp", 16), steps=10, warmup=2, flops=False)
    assert "test hook" in slow.note
    assert min(slow.times_ms) > 1.8 * min(base.times_ms)


@pytest.mark.parametrize("use_peak_counter", [True, False])
def test_memory_sampler_sees_a_known_allocation(use_peak_counter):
    from bench.memory import rss_bytes

    with MemorySampler(use_peak_counter=use_peak_counter) as m:
        x = torch.ones(50 * 2**20)  # 200 MB of float32, written, then freed before the block ends
        time.sleep(0.05)  # the sampling thread (fallback) gets several reads in
        del x
    # peak is absolute anonymous RSS; the 200 MB are gone again by now
    assert m.kind in ("cpu_rss_increase_peak", "cpu_rss_increase_sampled")
    assert m.peak - rss_bytes() > 180 * 2**20, (m.kind, m.peak, rss_bytes())


def test_cell_time_limit_stops_a_runaway_cell():
    t0 = time.perf_counter()
    with pytest.raises(CellOverTime, match="per-cell limit of 0.2 s"):
        with cell_time_limit(0.2, "slow cell"):
            for _ in range(100):
                time.sleep(0.05)
    assert time.perf_counter() - t0 < 1.0
    with cell_time_limit(0, "no limit"):  # 0 disables it
        time.sleep(0.01)


def test_cpu_reductions_shrink_real_config_fields():
    import dataclasses

    from gans.models.core import get_gan_entry

    assert cpu_reduction("celeba_conv", "cpu") == {"channels": 16}
    assert cpu_reduction("celeba_conv", "cpu", full_size=True) == {} and cpu_reduction("celeba_conv", "cuda") == {}
    assert cpu_reduction("mnist_mlp", "cpu") == {} and cpu_reduction("dcgan", "cpu") == {}
    from gans.models import list_gans

    declared = cpu_reductions(list_gans())
    assert set(declared) == {"celeba_conv", "segan"}
    for gan, red in declared.items():
        default = get_gan_entry(gan).config_cls()
        fields = {f.name for f in dataclasses.fields(default)}
        for k, v in red.items():
            assert k in fields, f"{gan}: {k} is not a config field"
            if isinstance(v, tuple):
                assert len(v) == len(getattr(default, k)) and all(a <= b for a, b in zip(v, getattr(default, k)))
            else:
                assert v < getattr(default, k), f"{gan}: {k}={v} is not a reduction"
    assert describe_overrides({"channels": 16, "channels_last": False}) == "channels=16"
    assert describe_overrides({"enc_channels": [8, 16]}) == "enc_channels=(8, 16)"


def test_reduced_segan_window_gets_a_batch_of_its_shape():
    red = cpu_reduction("segan", "cpu")
    prep = prepare_step(Cell("segan", 2, "cpu", overrides=tuple(sorted(red.items()))))
    assert prep.real.shape[-1] == red["window"]
    prep.step()
    assert not prep.check()


# -- results file ------------------------------------------------------------------------------


def test_append_result_survives_a_torn_line(tmp_path):
    p = tmp_path / "results.jsonl"
    append_result(p, {"key": "a", "status": "ok"})
    with open(p, "a") as f:
        f.write('{"key": "b", "sta')  # a sweep killed mid-write
    append_result(p, {"key": "c", "status": "oom"})
    assert [r["key"] for r in read_results(p)] == ["a", "c"]


def test_table_groups_batch_sizes_side_by_side():
    rows = [
        {
            "key": "k1",
            "gan": "g",
            "batch_size": 96,
            "device": "cpu",
            "precision": "fp32",
            "compile": False,
            "status": "ok",
            "ms_median": 10.0,
            "ms_iqr": 1.0,
            "images_per_s": 9600.0,
            "peak_mem_mb": 50.0,
        },
        {
            "key": "k2",
            "gan": "g",
            "batch_size": 512,
            "device": "cpu",
            "precision": "fp32",
            "compile": False,
            "status": "ok",
            "ms_median": 40.0,
            "ms_iqr": 2.0,
            "images_per_s": 12800.0,
            "peak_mem_mb": 200.0,
        },
        {
            "key": "k3",
            "gan": "g",
            "batch_size": 4096,
            "device": "cpu",
            "precision": "fp32",
            "compile": False,
            "status": "oom",
            "error": "cap",
        },
    ]
    text = format_table(rows)
    line = next(ln for ln in text.splitlines() if ln.startswith("cpu fp32"))
    assert line.index("0.75") < line.index("1.00") < line.index("OOM")  # 9600/12800, best, oom


def test_table_labels_overridden_rows():
    common = {
        "gan": "celeba_conv",
        "device": "cpu",
        "precision": "fp32",
        "compile": False,
        "status": "ok",
        "ms_iqr": 1.0,
        "peak_mem_mb": 9.0,
    }
    rows = [
        {
            **common,
            "key": "a",
            "batch_size": 96,
            "ms_median": 10.0,
            "images_per_s": 9600.0,
            "overrides": {"channels": 32, "channels_last": False},
        },
        {
            **common,
            "key": "b",
            "batch_size": 512,
            "ms_median": 40.0,
            "images_per_s": 12800.0,
            "overrides": {"channels": 32, "channels_last": False},
        },
        {**common, "key": "c", "batch_size": 96, "ms_median": 20.0, "images_per_s": 4800.0, "overrides": {}},
    ]
    lines = format_table(rows).splitlines()
    reduced = next(ln for ln in lines if ln.startswith("cpu fp32 [channels=32]"))
    plain = next(ln for ln in lines if ln.startswith("cpu fp32 ") and "[" not in ln)
    assert "0.75" in reduced and "1.00" in reduced and "0.38" in plain and "not run" in plain
    assert lines[0] == "celeba_conv"  # mixed settings: the heading names no overrides
    assert format_table(rows[:2]).splitlines()[0] == "celeba_conv [channels=32]"


# -- sweeps through the CLI ----------------------------------------------------------------------


def _sweep(out, *args, **kw):
    cmd = [
        sys.executable,
        "-m",
        "ganbench",
        "sweep",
        "--gans",
        "pattern1010",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--threads",
        "1",
        "--no-flops",
        "--out",
        str(out),
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=out.parent, timeout=300, **kw)


@pytest.mark.slow  # a memory-capped sweep in subprocesses, about 18 s
def test_sweep_records_oom_under_the_memory_cap_and_goes_on(tmp_path):
    out = tmp_path / "sweep"
    # batch 10^8 of pattern1010 needs 1.6 GB for the batch alone: over a 1,000 MB cap. The cap is on address space
    # (RLIMIT_AS), which also counts what libraries map lazily and malloc's per-thread arenas (64 MB reservations
    # each): at 300 MB a 4-sample cell read oom in some runs and not others
    r = _sweep(out, "--batch-sizes", "100000000", "4", "--memory-cap-mb", "1000")
    assert r.returncode == 0, r.stderr
    rows = {row["batch_size"]: row for row in read_results(out / "results.jsonl")}
    assert rows[100000000]["status"] == "oom" and "memory cap" in rows[100000000]["error"]
    assert rows[4]["status"] == "ok" and rows[4]["ms_median"] > 0
    assert "OOM (cap 1000 MB)" in r.stdout
    assert (out / "results.csv").read_text().count("\n") == 3


@pytest.mark.slow
def test_sweep_killed_midway_resumes_without_redoing_cells(tmp_path):
    out = tmp_path / "sweep"
    out.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "ganbench",
        "sweep",
        "--gans",
        "pattern1010",
        "--batch-sizes",
        "2",
        "3",
        "4",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--threads",
        "1",
        "--no-flops",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        cmd, env=ENV, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    jsonl = out / "results.jsonl"
    try:
        deadline = time.time() + 240
        while time.time() < deadline and len(read_results(jsonl)) < 1:
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its running cell, midway
        proc.wait()
    first = read_results(jsonl)
    assert 1 <= len(first) < 3, "killed after the first cell and before the last"
    r = _sweep(out, "--batch-sizes", "2", "3", "4")
    assert r.returncode == 0, r.stderr
    assert f"resuming: {len(first)} of 3 cells" in r.stderr
    rows = read_results(jsonl)
    assert sorted(row["batch_size"] for row in rows) == [2, 3, 4]  # each cell exactly once
    assert rows[: len(first)] == first  # finished cells untouched


def test_sweep_user_errors_exit_2(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "ganbench", "sweep", "--gans", "nope", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert r.returncode == 2 and "unknown GAN 'nope'" in r.stderr and "mnist_mlp" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "ganbench", "sweep", "--gans", "dcgan", "--batch-sizes", "96", "512", "--dry-run"],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert r.returncode == 0 and "dcgan|bs=512|cpu|fp32|compile=off" in r.stdout and "nothing was measured" in r.stdout


# -- pytest-benchmark suite ----------------------------------------------------------------------


def test_pytest_bench_autosave_writes_every_cell(tmp_path):
    storage = tmp_path / "store"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(ROOT / "bench"),
        "-p",
        "no:cacheprovider",
        "-q",
        "-k",
        "test_train_step or test_reference_step",
        "--benchmark-autosave",
        f"--benchmark-storage={storage}",
        "--gans",
        "mnist_mlp",
        "pattern1010",
        "celeba_conv",
        "--batch-sizes",
        "2",
        "4",
        "--bench-threads",
        "1",
        "--cpu-cell-budget",
        "0.3",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "ganbench: per-cell settings" in r.stdout
    # the heavy conv GAN is timed reduced on the CPU, and the output says so
    assert "CPU reductions (these cells are NOT the seed-size models)" in r.stdout
    assert "celeba_conv-cpu: channels=16 (default 256)" in r.stdout and "REDUCED: channels=16" in r.stdout
    files = list(storage.glob("*/0001_*.json"))
    assert len(files) == 1, list(storage.rglob("*"))
    data = json.loads(files[0].read_text())
    every = {(e["gan"], e["batch_size"], e["variant"]): b for b in data["benchmarks"] for e in [b["extra_info"]]}
    # the seed and minimal reference loops of mnist_mlp beside ganbench's rows, at each batch size
    refs = {k for k in every if k[2] != "ganbench"}
    assert refs == {("mnist_mlp", b, v) for b in (2, 4) for v in ("seed", "minimal")}
    for b in every.values():  # MFU in every row: FLOPs per step ÷ step time ÷ the session's matmul peak
        ei = b["extra_info"]
        assert ei["peak_flops"] > 1e6 and ei["flops_per_step"] > 0
        assert ei["mfu"] == pytest.approx(ei["flops_per_step"] / (ei["ms_per_step"] / 1000) / ei["peak_flops"])
        assert 0 < ei["mfu"] < 1
    cells = {(g, bs): b for (g, bs, v), b in every.items() if v == "ganbench"}
    assert set(cells) == {(g, b) for g in ("mnist_mlp", "pattern1010", "celeba_conv") for b in (2, 4)}
    for (gan, bs), b in cells.items():
        ei = b["extra_info"]
        assert ei["device"] == "cpu" and ei["images_per_s"] == pytest.approx(
            bs / b["stats"]["median"] * ei["cycle"], rel=1e-6
        )
        assert ei["peak_mem_mb"] is not None and ei["mem_kind"] in ("cpu_rss_increase_peak", "cpu_rss_increase_sampled")
        assert ei["flops_per_step"] > 0
        assert ei["cpu_reduction"] == ("channels=16" if gan == "celeba_conv" else None)
        assert ei["overrides"].get("channels") == (16 if gan == "celeba_conv" else None)
    assert data["machine_info"]["torch"]["version"] == torch.__version__
    assert "cudnn" in data["machine_info"]["torch"] and "tf32_matmul" in data["machine_info"]["torch"]


# -- the step that is timed is the step that trains -------------------------------------------------


def test_train_step_log_flag_changes_only_the_grad_norms():
    """log=False skips the grad norms and nothing else: same update, same other scalars."""
    from gans.models.core import build_gan, train_step

    out = {}
    for log in (True, False):
        torch.manual_seed(0)
        gan = build_gan("mnist_mlp")
        real = torch.rand(8, 784)
        torch.manual_seed(1)
        scalars = [train_step(gan, real, step=i, log=log) for i in range(3)]
        out[log] = (scalars, [p.detach().clone() for p in gan.parameters()])
    (s_on, w_on), (s_off, w_off) = out[True], out[False]
    assert all(torch.equal(a, b) for a, b in zip(w_on, w_off))
    assert {"grad/d", "grad/g"} <= set(s_on[0]) and not any(k.startswith("grad/") for k in s_off[0])
    assert all(torch.equal(s_on[i][k], s_off[i][k]) for i in range(3) for k in s_off[i])


def test_report_casts_and_averages_only_when_needed():
    from gans.models.core import StepContext

    ctx = StepContext(real=torch.zeros(2, 3), labels=None, step=0)
    scalar = torch.tensor(0.25)
    ctx.report("a", scalar)
    ctx.report("b", torch.tensor([1.0, 2.0, 6.0], dtype=torch.bfloat16))
    assert ctx.scalars["a"].data_ptr() == scalar.data_ptr()  # a float32 scalar is stored as it is
    assert ctx.scalars["b"].dtype == torch.float32 and ctx.scalars["b"].item() == 3.0


def test_loop_logs_grad_norms_on_every_flushed_interval(tmp_path):
    from gans.training.loop import TrainConfig, train

    cfg = TrainConfig(gan="pattern1010", dataset="fake", batch_size=1, steps=12, log_every=5)
    train(cfg, tmp_path / "run", progress=False)
    recs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    scalars = [r for r in recs if r.get("type") == "scalars"]
    assert [r["step"] for r in scalars] == [5, 10, 12]
    assert all(r.get("grad/d", -1) >= 0 and r.get("grad/g", -1) >= 0 for r in scalars)


def test_seed_loader_reads_the_images_through_torchvision_as_the_notes_do(tmp_path):
    """The epoch comparison's seed row loads data as the notes' load_dataset does: torchvision's
    dataset class with ToTensor over files in its layout. Known answer: the written pixels / 255."""
    import warnings

    from torchvision import datasets  # imported here: a 2.5 s import the other tests do without

    from bench.references import mnist_mlp_seed

    g = torch.Generator().manual_seed(0)
    train_u8 = torch.randint(0, 256, (10, 1, 28, 28), dtype=torch.uint8, generator=g)
    train_y = torch.arange(10) % 10
    test_u8, test_y = train_u8[:3].clone(), train_y[:3].clone()
    mnist_mlp_seed.write_torchvision_layout(str(tmp_path), train_u8, train_y, test_u8, test_y)
    loader = mnist_mlp_seed.load_dataset(4, str(tmp_path), num_workers=0, drop_last=True)
    assert isinstance(loader.dataset, datasets.FashionMNIST)
    assert loader.num_workers == 0 and len(loader) == 2  # 10 images, batches of 4, partial one dropped
    seen = torch.cat([img for img, _ in loader])
    assert seen.shape == (8, 1, 28, 28) and seen.dtype == torch.float32
    assert torch.equal(loader.dataset.data, train_u8[:, 0]) and torch.equal(loader.dataset.targets, train_y)
    x, label = loader.dataset[7]
    assert torch.equal(x, train_u8[7].float() / 255.0) and label == 7
    with warnings.catch_warnings():  # on a machine with fewer than 4 cores torch warns about them
        warnings.simplefilter("ignore", UserWarning)
        assert mnist_mlp_seed.load_dataset(96, str(tmp_path)).num_workers == 4  # the notes' 4 workers
