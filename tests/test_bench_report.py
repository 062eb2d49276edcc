"""Benchmark report from two autosaved pytest-benchmark runs (standard JSON) and a sweep.

A planted slowdown is flagged.
"""

from __future__ import annotations

import json
import re

import pytest

from reports.bench_report import bench_rows, build_bench_report, find_changes
from reports.load import load_benchmarks
from tests.helpers.reports import check_self_contained, write_benchmark_json


def _bench(name, gan, bs, median, iqr):
    return {
        "name": name,
        "median": median,
        "iqr": iqr,
        "group": "train_step",
        "params": {"gan": gan, "batch_size": bs},
        "extra_info": {"gan": gan, "batch_size": bs, "device": "cpu", "precision": "fp32"},
    }


def _two_runs(root):
    m = root / "Linux-CPython-3.11-64bit"
    write_benchmark_json(
        m / "0001_aaaa1111_20250101_120000.json",
        number=1,
        datetime="2025-01-01T12:00:00",
        commit="aaaa1111" * 5,
        benchmarks=[
            _bench("test_step[mnist_mlp-96]", "mnist_mlp", 96, 0.010, 0.0005),
            _bench("test_step[mnist_mlp-512]", "mnist_mlp", 512, 0.040, 0.002),
            _bench("test_step[dcgan-128]", "dcgan", 128, 0.200, 0.020),
        ],
    )
    write_benchmark_json(
        m / "0002_bbbb2222_20250102_120000.json",
        number=2,
        datetime="2025-01-02T12:00:00",
        commit="bbbb2222" * 5,
        benchmarks=[
            _bench("test_step[mnist_mlp-96]", "mnist_mlp", 96, 0.0102, 0.0005),  # +2 %: noise
            _bench("test_step[mnist_mlp-512]", "mnist_mlp", 512, 0.056, 0.002),  # +40 %: the planted slowdown
            _bench("test_step[dcgan-128]", "dcgan", 128, 0.230, 0.020),
        ],
    )  # +15 % but < 2 × IQR: noise
    return root


def test_files_it_cannot_read_are_named_not_dropped_silently(tmp_path, capsys):
    root = _two_runs(tmp_path / ".benchmarks")
    m = root / "Linux-CPython-3.11-64bit"
    (m / "0003_broken.json").write_text('{"benchmarks": [')  # a run cut short while being written
    (m / "0004_other_tool.json").write_text(json.dumps({"results": []}))
    good = json.loads((m / "0002_bbbb2222_20250102_120000.json").read_text())
    good["benchmarks"] += [1, {"stats": {}}]  # two entries that are not benchmarks
    (m / "0005_junk_entries.json").write_text(json.dumps(good))
    told: list[str] = []
    html = build_bench_report(root, log=told.append)
    assert [t.split(": ")[1] for t in told] == [
        str(m / f) for f in ("0003_broken.json", "0004_other_tool.json", "0005_junk_entries.json")
    ]
    assert "not read: not valid JSON" in told[0] and "no 'benchmarks' list" in told[1]
    assert "2 of its entries have no benchmark name" in told[2]
    assert "Files not read in full (3)" in html and "0004_other_tool.json" in html
    runs = load_benchmarks(root)
    assert [r.number for r in runs] == [1, 2, 5] and len(runs[-1].benchmarks) == 3  # the readable parts are kept

    from ganbench.cli import main

    capsys.readouterr()
    assert main(["bench-report", str(root), "-o", str(tmp_path / "r.html")]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(tmp_path / "r.html") and err.splitlines() == told  # the CLI says it on stderr


def test_changes_beyond_noise(tmp_path):
    runs = load_benchmarks(_two_runs(tmp_path / ".benchmarks"))
    assert [r.number for r in runs] == [1, 2]
    rows = bench_rows(runs)
    r96 = [r for r in rows if r["short"] == "test_step[mnist_mlp-96]" and r["run"].startswith("0001")][0]
    assert r96["images_per_s"] == 96 / 0.010  # batch / median when extra_info has no images_per_s
    changes = {c["name"].split("::")[1]: c for c in find_changes(rows)}
    assert changes["test_step[mnist_mlp-512]"]["flagged"] and changes["test_step[mnist_mlp-512]"]["kind"] == "slowdown"
    assert abs(changes["test_step[mnist_mlp-512]"]["rel"] - 0.4) < 1e-9
    assert not changes["test_step[mnist_mlp-96]"]["flagged"]  # below the relative threshold
    assert not changes["test_step[dcgan-128]"]["flagged"]  # below 2 × IQR


def test_bench_report_page(tmp_path):
    root = _two_runs(tmp_path / ".benchmarks")
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    rows = [
        {
            "gan": "mnist_mlp",
            "batch_size": 96,
            "device": "cpu",
            "precision": "fp32",
            "compile": False,
            "status": "ok",
            "ms_median": 10.0,
            "ms_iqr": 0.4,
            "images_per_s": 9600.0,
        },
        {
            "gan": "mnist_mlp",
            "batch_size": 512,
            "device": "cpu",
            "precision": "fp32",
            "status": "ok",
            "ms_median": 40.0,
        },  # no images_per_s: derived
        {"gan": "dcgan", "batch_size": 4096, "device": "cuda", "precision": "bf16", "status": "oom"},
    ]
    (sweep / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    html = build_bench_report(root, [sweep])
    for sid in ("machines", "throughput", "history", "sweep", "sources"):
        assert f'data-section="{sid}"' in html
    check_self_contained(html)
    # the planted slowdown is highlighted, and only it
    assert html.count('<tr class="regression">') == 2  # the slowdown row + the oom sweep row
    slow = re.search(r'<tr class="regression"><td>([^<]*)</td>', html)
    assert slow and "mnist_mlp-512" in slow.group(1)
    assert "<b>1 slowdown(s)</b>" in html and "+40.0%" in html
    # machine and sources shown; the derived sweep throughput is 512 / 40 ms = 12,800 images/s
    assert "Test CPU @ 3.0GHz" in html and "0002_bbbb2222_20250102_120000.json" in html and "results.jsonl" in html
    assert "12,800" in html


def test_bench_report_cli(tmp_path, capsys):
    from ganbench.cli import main

    root = _two_runs(tmp_path / ".benchmarks")
    out = tmp_path / "bench.html"
    assert main(["bench-report", str(root), "-o", str(out)]) == 0
    assert "slowdown" in out.read_text()
    assert main(["bench-report", str(root), "--dry-run"]) == 0
    assert main(["bench-report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganbench: error:") and "Traceback" not in err


@pytest.mark.slow
def test_bench_report_reads_real_sweep_and_benchmark_files(tmp_path):
    """Columns filled from the files the tools really write: a tiny `ganbench sweep` and a reduced
    `pytest bench --benchmark-autosave` run (mnist_mlp with its seed and minimal loops, batch 4)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import pandas as pd

    from reports.bench_report import bench_frame, reference_ratios

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "GANBENCH_CACHE": str(tmp_path / "cache")}
    env.pop("GANBENCH_INJECT_SLOWDOWN", None)
    for key in [k for k in env if k.startswith("PYTEST_XDIST")]:  # else pytest-benchmark switches itself off
        env.pop(key)
    storage = tmp_path / ".benchmarks"
    r = subprocess.run(
        [sys.executable, "-m", "pytest", str(root / "bench" / "test_steps.py"), "-p", "no:cacheprovider", "-q",
         "--benchmark-autosave", f"--benchmark-storage={storage}", "--gans", "mnist_mlp", "--batch-sizes", "4",
         "--bench-threads", "1", "--cpu-cell-budget", "0.2"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    sweep = tmp_path / "sweep"
    r = subprocess.run(
        [sys.executable, "-m", "ganbench", "sweep", "--gans", "mnist_mlp", "--batch-sizes", "4", "--steps", "2",
         "--warmup", "1", "--threads", "1", "--out", str(sweep)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "left (" in r.stderr and "[3/3]" in r.stderr  # per-cell progress with a time estimate

    frame = bench_frame(load_benchmarks(storage))
    assert set(frame["variant"]) == {"ganbench", "seed", "minimal"}
    for col in ("images_per_s", "peak_mem_mb", "flops_per_step", "mfu"):
        assert frame[col].notna().all(), (col, frame[col].tolist())
    ratios = reference_ratios(frame).set_index(["gan", "batch_size", "device"])
    assert ratios.loc[("mnist_mlp", 4, "cpu"), ["vs_minimal", "vs_seed"]].gt(0).all()

    rows = pd.read_csv(sweep / "results.csv")
    assert set(rows["variant"]) == {"ganbench", "seed", "minimal"} and (rows["status"] == "ok").all()
    for col in ("peak_mem_mb", "flops_per_step", "mfu"):
        assert rows[col].notna().all(), col

    html = build_bench_report(storage, [sweep])
    check_self_contained(html)
    # every ok row shows its peak memory, FLOPs and MFU: 3 benchmark rows + 3 sweep rows; a row measured twice under
    # contention ("disturbed") shows no MFU, never a number (2-step cells can read disturbed on their spread)
    disturbed = sum(int((t.get("contention", pd.Series(dtype=str)) == "disturbed").sum()) for t in (frame, rows))
    assert html.count(" MiB</td>") >= 6 and html.count(" GFLOP</td>") >= 6
    assert html.count(" %</td>") >= 6 - disturbed, (html.count(" %</td>"), disturbed)
    assert html.count("×</td>") >= 4  # ganbench ÷ minimal and ÷ seed, in both sections


def test_sweep_rows_from_elsewhere_are_checked(tmp_path):
    """A results.jsonl with junk lines, values that are not numbers, and nothing at all."""
    import warnings

    from gans.base import UserError

    row = {"gan": "mnist_mlp", "device": "cpu", "precision": "fp32", "status": "ok", "ms_median": 10.0}
    lines = [
        json.dumps({**row, "batch_size": 96, "images_per_s": 9600.0}),
        json.dumps({**row, "batch_size": "x", "images_per_s": "fast"}),  # a row, but its numbers are text
        json.dumps({**row, "batch_size": 512, "images_per_s": -5, "peak_mem_mb": "NaN"}),  # negative: not a rate
        "[1, 2]",
        json.dumps({"gan": 5}),
        "not json",
    ]
    sw = tmp_path / "sw"
    sw.mkdir()
    (sw / "results.jsonl").write_text("\n".join(lines) + "\n")
    told: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. matplotlib's "cannot be log-scaled" on a negative rate
        html = build_bench_report(None, [sw], log=told.append)
    assert told == [f"bench-report: {sw / 'results.jsonl'}: 3 of its 6 lines are not result rows; they were left out"]
    assert "Files not read in full (1)" in html
    body = re.sub(r"<[^>]+>", " ", html)
    assert "9,600" in body or "9600" in body
    assert "fast" not in body and "-5" not in body  # shown as missing, never as a value
    # the 512 row's rate comes from its step time instead: 512 images in 10 ms
    assert "51,200" in body or "51200" in body

    (sw / "results.jsonl").write_text("[1]\n\n")
    with pytest.raises(UserError, match="no result rows"):
        build_bench_report(None, [sw])
