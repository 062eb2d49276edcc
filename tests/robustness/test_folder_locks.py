"""Hardening: one writer per run folder. Real processes: a second writer beside a live ``train`` is refused
with the holder's PID, and the live run's records stay whole and in order.

Every test here failed on the code before the fix it names (checked where cheap) and passes after.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from gans.base import UserError, safe_torch_load
from gans.lock import LOCK_NAME, FolderLock, still_written_note, writer_pid
from tests.helpers.robust import (
    _ganbench,
    _holder,
    _run,
    _scalar_steps,
    _wait_for,
)

# --------------------------------------------------------------------------------------------
# 1. one writer per run folder


def test_second_train_and_resume_beside_a_live_run_are_refused_with_its_pid(tmp_path):
    run = tmp_path / "run"
    a = _ganbench(
        ["train", "mnist_mlp", "--dataset", "fake", "--steps", "100000", "--batch-size", "16", "--seed", "1",
         "--log-every", "10", "--checkpoint-every", "20", "--no-diagnostics", "--quiet", "--out", str(run)],
        tmp_path,
    )
    try:
        _wait_for(lambda: (run / "checkpoint.pt").is_file() and len(_scalar_steps(run)) >= 2, proc=a)
        b = _run(["train", "mnist_mlp", "--dataset", "fake", "--steps", "50", "--batch-size", "32", "--seed", "2",
                  "--no-diagnostics", "--quiet", "--out", str(run)], tmp_path)
        assert b.returncode == 2, b.stderr
        assert b.stderr.count("\n") == 1 and f"process {a.pid}" in b.stderr, b.stderr
        r = _run(["train", "--resume", str(run), "--quiet", "--no-diagnostics"], tmp_path)
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and f"process {a.pid}" in r.stderr, r.stderr
        assert writer_pid(run) == a.pid
        assert f"process {a.pid}" in (still_written_note(run) or "")
    finally:
        a.send_signal(signal.SIGTERM)
        a.communicate(timeout=120)
    assert a.returncode == 143
    assert writer_pid(run) is None  # the lock died with its process
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = _scalar_steps(run)
    assert steps == sorted(set(steps)) and all(s % 10 == 0 for s in steps[:-1])  # whole, in order, one run
    # (the last flush is at the step the signal stopped)
    assert [r["event"] for r in recs if r.get("type") == "event"] == ["start", "interrupted"]
    config = json.loads((run / "config.json").read_text())
    ckpt = safe_torch_load(run / "checkpoint.pt")
    assert config["train"]["seed"] == 1 and config["train"]["batch_size"] == 16
    assert ckpt["train_config"]["seed"] == 1 and ckpt["train_config"]["batch_size"] == 16
    assert ckpt["step"] == steps[-1]


def test_a_killed_writer_never_blocks_and_a_failed_train_leaves_no_folder(tmp_path):
    folder = tmp_path / "run"
    p = _holder(folder, tmp_path)
    with pytest.raises(UserError, match=f"process {p.pid}"):
        FolderLock(folder, "train").acquire()
    p.kill()
    p.wait()
    assert (folder / LOCK_NAME).exists() and writer_pid(folder) is None and still_written_note(folder) is None
    with FolderLock(folder, "train") as lock:
        assert lock.held and writer_pid(folder) == os.getpid()
    fresh = tmp_path / "new"
    r = _run(["train", "mnist_mlp", "--dataset", "no-such-set", "--out", str(fresh)], tmp_path)
    assert r.returncode == 2 and not fresh.exists(), r.stderr


def test_compare_batch_and_sweep_refuse_a_folder_another_process_writes(tmp_path):
    out = tmp_path / "cmp"
    p = _holder(out, tmp_path)
    try:
        r = _run(["compare-batch", "mnist_mlp", "--batch-sizes", "2", "4", "--dry-run", "--out", str(out)], tmp_path)
        assert r.returncode == 2 and f"process {p.pid}" in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert not (out / "runs").exists()
    finally:
        p.kill()
        p.wait()
    sw = tmp_path / "sweep"
    p = _holder(sw, tmp_path)
    try:
        r = _run(["sweep", "--gans", "mnist_mlp", "--batch-sizes", "2", "--steps", "1", "--warmup", "0",
                  "--out", str(sw)], tmp_path)
        assert r.returncode == 2 and f"process {p.pid}" in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert not (sw / "results.jsonl").exists()
    finally:
        p.kill()
        p.wait()


def test_report_reads_a_run_being_written_without_its_lock_and_says_so(tmp_path, capsys):
    from ganbench.cli import main
    from tests.helpers.reports import write_synthetic_run

    run = tmp_path / "run"
    write_synthetic_run(run, batch_size=96)
    p = _holder(run, tmp_path)  # a live writer
    try:
        assert main(["report", str(run), "-o", str(tmp_path / "r.html")]) == 0  # never waits for the lock
        assert f"still being written by process {p.pid}" in capsys.readouterr().err
        assert writer_pid(run) == p.pid  # and never took it
    finally:
        p.kill()
        p.wait()
    assert main(["report", str(run), "-o", str(tmp_path / "r2.html")]) == 0
    assert "still being written" not in capsys.readouterr().err
