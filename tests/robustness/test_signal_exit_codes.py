"""Hardening: signals end every command with its promised code (train, compare-batch, sweep and its cell
subprocesses, a multi-device sweep).

Every test here failed on the code before the fix it names (checked where cheap) and passes after.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.robust import (
    ROOT,
    _alive,
    _env,
    _ganbench,
    _reap,
    _run,
    _scalar_steps,
    _wait_for,
)

# --------------------------------------------------------------------------------------------
# 4. signals end every command with its promised code


def _events(run: Path) -> list[str]:
    return [r["event"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
            if r.get("type") == "event"]


def test_sigterm_during_the_final_evaluation_is_honoured_and_resume_finishes(tmp_path):
    run = tmp_path / "run"
    a = _ganbench(["train", "mnist_mlp", "--dataset", "digits", "--steps", "6", "--batch-size", "8", "--log-every", "2",
                   "--eval-samples", "200", "--quiet", "--out", str(run)], tmp_path)
    # the final checkpoint is written just before the final evaluation (features, real statistics, ceilings:
    # about a second here); the signal lands within 20 ms of it
    try:
        _wait_for(lambda: (run / "checkpoint.pt").is_file(), proc=a, timeout=180, every=0.02)
        a.send_signal(signal.SIGTERM)
        _, err = a.communicate(timeout=120)
    finally:
        _reap(a)
    assert a.returncode == 143, err  # was 0: the evaluation ran on and the run said "finished"
    assert _events(run) == ["start", "interrupted"]
    r = _run(["train", "--resume", str(run), "--quiet", "--no-diagnostics"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert _events(run)[-1] == "finished"


def test_compare_batch_sigterm_stops_with_143_and_compares_nothing(tmp_path):
    out = tmp_path / "cmp"
    a = _ganbench(["compare-batch", "mnist_mlp", "--batch-sizes", "4", "8", "--dataset", "fake", "--time-budget",
                   "600", "--no-diagnostics", "--quiet", "--out", str(out)], tmp_path)
    first = out / "runs" / "mnist_mlp-bs4-seed0"
    try:
        _wait_for(lambda: (first / "metrics.jsonl").is_file() and len(_scalar_steps(first)) >= 1, proc=a)
        a.send_signal(signal.SIGTERM)
        _, err = a.communicate(timeout=120)
    finally:
        _reap(a)
    assert a.returncode == 143, err  # was 0 after training the second run and comparing a half run
    assert "no comparison was written" in err.strip().splitlines()[-1]
    assert not (out / "comparison.json").exists() and not (out / "runs" / "mnist_mlp-bs8-seed0").exists()
    assert _events(first)[-1] == "interrupted" and (first / "checkpoint.pt").is_file()


def _cell_pids(tmpdir: Path) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"bench.sweep" in cmd and any(str(tmpdir).encode() in c for c in cmd):
                pids.append(int(p.name))
    return pids


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill"])
def test_a_stopped_sweep_takes_its_cell_subprocess_and_temp_file_with_it(tmp_path, sig):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = _env(tmp_path)
    env["TMPDIR"] = str(tmpdir)
    a = subprocess.Popen(
        [sys.executable, "-m", "ganbench", "sweep", "--gans", "mnist_mlp", "--batch-sizes", "2", "--steps",
         "10000000", "--warmup", "0", "--no-references", "--quiet", "--out", str(tmp_path / "sw")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_for(lambda: bool(_cell_pids(tmpdir)) and bool(list(tmpdir.glob("ganbench-cell-*.json"))), proc=a)
        cells = _cell_pids(tmpdir)
        a.send_signal(sig)
        a.communicate(timeout=60)
    finally:
        _reap(a)
    assert a.returncode == (143 if sig == signal.SIGTERM else -9)
    _wait_for(lambda: not any(_alive(p) for p in cells), timeout=20)  # the cell is gone (was: left running)
    if sig == signal.SIGTERM:
        assert not list(tmpdir.glob("ganbench-cell-*.json"))  # and its result file removed



def test_a_stopped_multi_device_sweep_kills_every_devices_cell(tmp_path):
    """Several devices run their cells in threads; a signal in the main thread must stop all of them (before, the
    pool waited for every device's remaining cells)."""
    import threading

    from bench import sweep
    from bench.cells import Cell
    from bench.shard import run_sweep_by_device
    from gans.signals import Interrupted, signals_raise

    started: list[subprocess.Popen] = []

    def runner(cell, **kw):
        proc = subprocess.Popen(["sleep", "600"])
        started.append(proc)
        with sweep.tracked_cell(proc):
            proc.wait()
        if sweep.STOP_CELLS.is_set():
            raise Interrupted(signal.SIGTERM)
        return {"key": cell.key, "status": "ok"}

    cells = [Cell(gan="mnist_mlp", batch_size=b, device=d, precision="fp32", compile=False)
             for d in ("cuda:0", "cuda:1") for b in (2, 4)]
    threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
    t0 = time.monotonic()
    try:
        with pytest.raises(Interrupted) as e, signals_raise():
            run_sweep_by_device(cells, tmp_path / "sw", steps=1, warmup=0, runner=runner, log=lambda s: None)
    finally:
        # the stop is this process's: left set, every later in-process sweep of this pytest worker would stop
        # before its first cell (an Interrupted, i.e. a KeyboardInterrupt, that ended the worker)
        sweep.STOP_CELLS.clear()
    assert e.value.exit_code == 143 and time.monotonic() - t0 < 30
    assert len(started) == 2 and all(p.poll() is not None for p in started)  # one per device, both killed
    assert not (tmp_path / "sw" / "results.jsonl").exists()
