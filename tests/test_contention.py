"""Timings that defend themselves: contention readings, the disturbed judgement, one re-measure, and the sweep's
console, results files and table saying "disturbed" instead of a clean number.

The fast tests inject the contention readings (``GANBENCH_INJECT_CONTENTION``) so that they give the same answer on
a quiet machine and on one that other jobs keep busy; one slow test plants real CPU hogs.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time

import pytest

from bench import contention
from bench.cells import Cell
from bench.contention import CONTENTION_ENV, Probe, Readings, judge, parse_injection
from bench.sweep import format_table, run_sweep
from bench.timing import measure_cell
from gans.base import UserError


@pytest.fixture(autouse=True)
def _fresh_injection_counter(monkeypatch):
    """The hook counts measurements per process: every test starts from zero."""
    monkeypatch.setattr(contention, "_INJECTED", {})
    monkeypatch.delenv(CONTENTION_ENV, raising=False)


# ---- the judgement, known answers ------------------------------------------------------------


def _readings(threads=1, cpus=2, wall=2.0, cpu_per_wall=1.0, others=0.0):
    return Readings(threads=threads, cpus=cpus, wall_s=wall, cpu_s=cpu_per_wall * wall * threads, others_running=others)


def test_quiet_readings_are_clean():
    r = judge(_readings(), [10.0, 10.1, 10.2, 9.9, 10.0])
    assert not r.disturbed and r.reasons == []
    assert r.spread == pytest.approx((10.1 - 10.0) / 10.0)


def test_other_work_beyond_the_idle_cores_is_disturbed():
    # one thread on two cores: one other runnable task fits on the idle core, two do not
    assert not judge(_readings(threads=1, others=1.0)).disturbed
    r = judge(_readings(threads=1, others=2.0))
    assert r.disturbed and "other work wanted 2.0 cores, 1 left idle" in r.reasons[0]
    # two threads on two cores: no idle core, so a steady other task is contention
    assert judge(_readings(threads=2, others=1.0)).disturbed


def test_cpu_per_wall_under_the_limit_is_disturbed():
    r = judge(_readings(threads=2, cpu_per_wall=0.5))
    assert r.cpu_per_wall == pytest.approx(0.5)
    assert r.disturbed and r.reasons == ["CPU/wall per thread 0.50 < 0.8"]
    assert not judge(_readings(threads=2, cpu_per_wall=0.85)).disturbed


def test_spread_above_the_limit_is_disturbed():
    # median 10, quartiles 9.5 and 13: IQR/median 0.35 > 0.25
    r = judge(_readings(), [9.0, 9.5, 10.0, 13.0, 20.0])
    assert r.spread == pytest.approx(0.35)
    assert r.reasons == ["IQR/median 0.35 > 0.25"]


def test_probe_reads_this_process_cpu_time():
    with Probe(threads=1) as p:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.3:  # busy: CPU time ≈ wall time unless the machine is contended
            pass
    assert p.r.wall_s >= 0.3
    assert 0.0 < p.r.cpu_s <= p.r.wall_s * 1.05
    assert p.r.others_running is None or p.r.others_running >= 0.0


def test_injection_hook_parses_and_refuses_malformed():
    assert parse_injection("mnist_mlp:1, dcgan:0") == {"mnist_mlp": 1, "dcgan": 0}
    with pytest.raises(UserError, match=CONTENTION_ENV):
        parse_injection("mnist_mlp")
    with pytest.raises(UserError, match=CONTENTION_ENV):
        parse_injection("mnist_mlp:-1")


# ---- measure_cell: one re-measure, then "disturbed" -------------------------------------------


CELL = Cell("mnist_mlp", 8)


def test_cell_without_disturbance_is_clean_and_measured_once(monkeypatch):
    monkeypatch.setenv(CONTENTION_ENV, "mnist_mlp:0")
    row = measure_cell(CELL, steps=4, warmup=1, peak=False)
    assert row.status == "ok", row.error
    assert (row.contention, row.remeasured, row.load_first) == ("clean", False, None)
    assert row.load["disturbed"] is False and row.load["threads"] >= 1
    assert contention._INJECTED["mnist_mlp"] == 1  # judged once
    assert CONTENTION_ENV in row.note


def test_cell_disturbed_once_is_remeasured_and_clean(monkeypatch):
    monkeypatch.setenv(CONTENTION_ENV, "mnist_mlp:1")
    row = measure_cell(CELL, steps=4, warmup=1, peak=False)
    assert row.status == "ok", row.error
    assert (row.contention, row.remeasured) == ("clean", True)
    assert row.load_first["disturbed"] is True and row.load_first["reasons"]
    assert contention._INJECTED["mnist_mlp"] == 2
    assert len(row.times_ms) == row.samples and row.ms_median > 0


def test_cell_disturbed_twice_is_reported_disturbed(monkeypatch):
    monkeypatch.setenv(CONTENTION_ENV, "mnist_mlp:2")
    row = measure_cell(CELL, steps=4, warmup=1, peak=False)
    assert (row.contention, row.remeasured) == ("disturbed", True)
    assert row.load["disturbed"] and row.load_first["disturbed"]
    assert contention._INJECTED["mnist_mlp"] == 2  # re-measured once, not more


def test_mfu_above_the_measured_peak_is_never_a_number(monkeypatch):
    import bench.timing as timing

    monkeypatch.setenv(CONTENTION_ENV, "mnist_mlp:0")
    monkeypatch.setattr(timing, "peak_flops", lambda device, precision: 1.0)  # a peak far below any step
    row = measure_cell(CELL, steps=2, warmup=1)
    assert row.flops_per_step and row.peak_flops == 1.0
    assert row.mfu is None
    assert "MFU not shown" in row.note


# ---- the sweep: console, results.csv/jsonl and the table ------------------------------------


def _in_process(cell, *, steps, warmup, flops, **_):
    return measure_cell(cell, steps=steps, warmup=warmup, flops=flops, peak=False).to_dict()


def _sweep(tmp_path, monkeypatch, injected: str, *, subprocess: bool = False):
    monkeypatch.setenv(CONTENTION_ENV, injected)  # the cell subprocess inherits it
    log: list[str] = []
    runner = None if subprocess else _in_process  # one test runs the real per-cell subprocess
    rows = run_sweep([CELL], tmp_path / "s", steps=4, warmup=1, flops=False, log=log.append, runner=runner)
    return rows, log


def test_sweep_marks_a_twice_disturbed_cell_everywhere(tmp_path, monkeypatch):
    rows, log = _sweep(tmp_path, monkeypatch, "mnist_mlp:2", subprocess=True)
    (row,) = rows
    assert row["status"] == "ok" and row["contention"] == "disturbed" and row["remeasured"] is True
    assert any("DISTURBED, measured twice" in line for line in log)
    assert not any("images/s, peak" in line for line in log)  # no clean-looking line for it
    with open(tmp_path / "s" / "results.csv", newline="") as f:
        (rec,) = list(csv.DictReader(f))
    assert rec["contention"] == "disturbed" and rec["remeasured"] == "True"
    assert float(rec["cpu_per_wall"]) == pytest.approx(0.3)
    table = format_table(rows)
    line = next(x for x in table.splitlines() if x.startswith("cpu fp32"))
    assert "DISTURBED" in line and "ms" not in line
    assert "DISTURBED twice" in table and f"{row['ms_median']:.3f} ms/step" in table
    assert "re-measured once after" not in table  # that list names only cells clean after their re-measure


def test_sweep_shows_a_clean_cell_as_a_number(tmp_path, monkeypatch):
    rows, log = _sweep(tmp_path, monkeypatch, "mnist_mlp:0")
    (row,) = rows
    assert row["contention"] == "clean" and row["remeasured"] is False
    assert any("images/s, peak" in line for line in log) and not any("DISTURBED" in line for line in log)
    assert "DISTURBED" not in format_table(rows)


def test_sweep_says_which_cells_were_remeasured(tmp_path, monkeypatch):
    rows, log = _sweep(tmp_path, monkeypatch, "mnist_mlp:1")
    assert rows[0]["contention"] == "clean" and rows[0]["remeasured"] is True
    assert any("re-measured: the first measurement was disturbed" in line for line in log)
    assert f"re-measured once after a disturbed first measurement: {CELL.key}" in format_table(rows)


# ---- a real hog -------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_cpu_hogs_make_a_sweep_cell_disturbed_and_remeasured(tmp_path):
    """Busy subprocesses on every core while a cell using every core is timed: both measurements see the hogs."""
    cpus = os.cpu_count() or 1
    hogs = [
        subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<120: pass"])
        for _ in range(cpus + 1)
    ]
    try:
        time.sleep(0.5)
        rows = run_sweep([Cell("mnist_mlp", 96)], tmp_path / "s", steps=60, warmup=2, threads=cpus, log=lambda s: None)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    (row,) = rows
    assert row["status"] == "ok", row.get("error")
    assert row["remeasured"] is True and row["load_first"]["disturbed"] is True
    assert row["contention"] == "disturbed", row["load"]
    assert row["load"]["others_running"] >= 1.0 or row["load"]["cpu_per_wall"] < 0.8


# ---- train's images/s: the machine while the run trained ---------------------------------------


def _run_with_load(tmp_path, load_1m, cpu_per_wall, host=(2, 1)):
    import json

    from reports.load import load_run
    from tests.helpers.reports import write_synthetic_run

    rd = write_synthetic_run(tmp_path / f"run-{load_1m}-{cpu_per_wall}", batch_size=96, epochs=1)
    lines = [json.loads(x) for x in (rd / "metrics.jsonl").read_text().splitlines() if x.strip()]
    for r in lines:
        if r.get("type") == "scalars":
            r.update({"load_1m": load_1m, "time/cpu_per_wall": cpu_per_wall})
    if host:
        lines.insert(0, {"type": "event", "step": 0, "event": "start", "cpus": host[0], "threads": host[1]})
    (rd / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return load_run(rd).timing()


def test_a_run_on_a_quiet_machine_reads_clean(tmp_path):
    tm = _run_with_load(tmp_path, load_1m=1.1, cpu_per_wall=0.99)  # 1 thread on 2 cores, others 0.1
    assert (tm["contention"], tm["contention_why"]) == ("clean", [])


def test_a_run_beside_other_work_reads_disturbed(tmp_path):
    # the train at load ~5 on 2 cores, one thread: others 4 > 1 idle core + 0.5; CPU/wall 0.6 < 0.8
    tm = _run_with_load(tmp_path, load_1m=5.0, cpu_per_wall=0.6)
    assert tm["contention"] == "disturbed"
    assert tm["contention_why"] == ["other work wanted 4.0 cores, 1 left idle", "CPU/wall per thread 0.60 < 0.8"]
    # two threads: CPU/wall is read per thread
    tm = _run_with_load(tmp_path, load_1m=2.0, cpu_per_wall=1.9, host=(2, 2))
    assert tm["contention"] == "clean"


def test_an_older_run_without_host_facts_is_not_judged(tmp_path):
    assert _run_with_load(tmp_path, load_1m=5.0, cpu_per_wall=0.6, host=None)["contention"] is None


# ---- pytest bench: one pedantic call per test, so the cell is marked, not re-measured ----------


class _Benchmark:
    """What bench.harness uses of pytest-benchmark's fixture: pedantic() and the rounds' times."""

    def __init__(self):
        self.stats = None

    def pedantic(self, target, rounds, iterations, warmup_rounds):
        from types import SimpleNamespace

        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            target()
            times.append(time.perf_counter() - t0)
        self.stats = SimpleNamespace(stats=SimpleNamespace(data=times))


def test_pytest_bench_cells_record_and_mark_contention(monkeypatch):
    from bench.harness import _load_info, _pedantic
    from bench.timing import prepare_step

    prep = prepare_step(Cell("mnist_mlp", 8))
    for injected, expected in (("mnist_mlp:1", "disturbed"), ("mnist_mlp:0", "clean")):
        monkeypatch.setattr(contention, "_INJECTED", {})
        monkeypatch.setenv(CONTENTION_ENV, injected)
        bench = _Benchmark()
        load = _pedantic(bench, prep.step, prep, 4, 1, 0)
        info = _load_info(load)
        assert info["contention"] == expected and info["load"]["disturbed"] is (expected == "disturbed")
        assert contention._INJECTED["mnist_mlp"] == 1  # measured once: pytest-benchmark allows one pedantic call


# ---- scaling: a disturbed world size is marked and leaves efficiency out ----------------------


def test_scaling_rows_marked_disturbed_show_no_figure(tmp_path):
    import json

    from bench.scaling import add_efficiency, format_scaling
    from reports.scaling import load_scaling, scaling_body

    base = {"gan": "mnist_mlp", "batch_size": 64, "device": "cpu", "status": "ok", "comm_share": 0.1, "backend": "gloo"}
    rows = [
        {**base, "key": "w1", "world_size": 1, "per_rank_batch_size": 64, "images_per_s": 1000.0,
         "contention": "clean"},
        {**base, "key": "w2", "world_size": 2, "per_rank_batch_size": 32, "images_per_s": 1900.0,
         "contention": "disturbed", "load": {"reasons": ["CPU/wall per thread 0.40 < 0.8"]}},
    ]
    assert [r["efficiency"] for r in add_efficiency([dict(r) for r in rows])] == [1.0, None]
    text = format_scaling(add_efficiency([dict(r) for r in rows]))
    assert "DISTURBED (CPU/wall per thread 0.40 < 0.8)" in text and "1900.0" not in text
    (tmp_path / "scaling.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded = load_scaling(tmp_path)
    assert [r["efficiency"] for r in loaded] == [1.0, None]
    body = str(scaling_body(loaded))
    assert "DISTURBED: CPU/wall per thread 0.40 &lt; 0.8" in body and "1900.0" not in body


def test_cuda_cells_are_not_judged_on_cpu_per_wall():
    r = _readings(threads=1, cpu_per_wall=0.2)
    r.cpu_rule = False  # the host thread of a CUDA cell waits for the GPU by design
    assert not judge(r).disturbed
    r = _readings(threads=1, cpu_per_wall=0.2, others=3.0)
    r.cpu_rule = False
    assert judge(r).reasons == ["other work wanted 3.0 cores, 1 left idle"]
