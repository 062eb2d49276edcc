"""Robustness, kills and signals: SIGTERM/SIGINT checkpoint and resume, kill -9 then resume has each step
once, a broken pipe is quiet, Ctrl-C at start-up is one line. A subprocess only where a real signal or
pipe is needed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gans.training import train
from gans.training.rundir import read_metrics
from tests.helpers.robust import (
    ROOT,
    _edit_config,
    _write,
    cli,
    snapshot,
    tiny_cfg,
)

pytestmark = pytest.mark.usefixtures("isolated_cache")


# ---- 3. kills and signals -----------------------------------------------------------------------


def _spawn(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "ganbench", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, **kw
    )


def _wait_for_steps(run: Path, n: int, proc, timeout: float = 60) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if (
            (run / "metrics.jsonl").is_file()
            and sum(1 for r in read_metrics(run, "scalars")) >= n
            and (run / "checkpoint.pt").is_file()
        ):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("the run did not start in time")


LONG = [
    "train",
    "mnist_mlp",
    "--dataset",
    "digits",
    "--batch-size",
    "16",
    "--steps",
    "1000000",
    "--log-every",
    "1",
    "--checkpoint-every",
    "2",
    "--no-diagnostics",
    "--quiet",
]


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_run_checkpoints_and_resumes(sig, code, tmp_path):
    out = tmp_path / "r"
    proc = _spawn([*LONG, "--out", str(out)])
    _wait_for_steps(out, 3, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == code, err
    assert "Traceback" not in err and len([ln for ln in err.splitlines() if ln.strip()]) <= 1
    events = [e["event"] for e in read_metrics(out, "event")]
    assert events[-1] == "interrupted"
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ck["step"] == max(r["step"] for r in read_metrics(out, "scalars"))


def test_kill_9_then_resume_has_each_step_once(tmp_path, capsys):
    out = tmp_path / "r"
    proc = _spawn([*LONG, "--out", str(out)])
    _wait_for_steps(out, 5, proc)
    proc.kill()
    proc.communicate(timeout=30)
    (out / ".checkpoint.pt.abcd.tmp").write_bytes(b"half")  # what a kill during a checkpoint write leaves
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    target = ck["step"] + 3
    rc, _, err = cli(["train", "--resume", str(out), "--steps", str(target), "--quiet", "--no-diagnostics"], capsys)
    assert rc == 0, err
    steps = [r["step"] for r in read_metrics(out, "scalars")]
    assert steps == sorted(set(steps)) and steps[-1] == target
    assert not list(out.glob(".*.tmp")), "stray temporaries removed"


def test_broken_pipe_is_quiet(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [
            "bash",
            "-c",
            f"set -o pipefail; {sys.executable} -m ganbench list | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.stdout.strip() == "0", r.stderr
    assert r.stderr.strip() == ""


@pytest.mark.parametrize("delay", [0.7, 1.0, 1.3, 1.6, 2.0])
def test_ctrl_c_during_start_up_is_one_line(tmp_path, delay):
    """Ctrl-C while the process is still importing torch/numpy/scipy or loading data: exit 130 and one line.
    (Before imports were shielded, 1–1.5 s in gave a RecursionError inside numpy or death by SIGINT, -2.)"""
    proc = _spawn(
        ["train", "mnist_mlp", "--dataset", "digits", "--steps", "1000000", "--out", str(tmp_path / "r"), "--quiet"]
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len([ln for ln in err.splitlines() if ln.strip()]) <= 1, err


def test_stray_temporaries_removed_at_next_start(run, capsys):
    (run / ".checkpoint.pt.x1y2.tmp").write_bytes(b"partial")
    (run / "samples" / ".step_00000004.png.q.tmp").write_bytes(b"partial")
    rc, _, err = cli(["train", "--resume", str(run), "--steps", "6", "--quiet", "--no-diagnostics"], capsys)
    assert rc == 0, err
    assert not list(run.rglob(".*.tmp"))


def test_compare_batch_restarts_a_run_killed_before_its_first_checkpoint(tmp_path):
    from bench.compare_batch import compare_batch

    rd = tmp_path / "cb" / "runs" / "mnist_mlp-bs4-seed0"
    rd.mkdir(parents=True)
    (rd / "config.json").write_text("{}")
    (rd / "metrics.jsonl").write_text(json.dumps({"type": "event", "step": 0, "event": "start"}) + "\n")
    runs = compare_batch(
        "mnist_mlp",
        [4, 8],
        out=tmp_path / "cb",
        steps_per_run=2,
        dataset="fake",
        device="cpu",
        diagnostics=False,
        progress=False,
        evals=1,
        log=lambda m: None,
    )
    for d in runs.run_dirs:
        assert (d / "checkpoint.pt").is_file()
        assert [e["event"] for e in read_metrics(d, "event")][-1] == "finished"


def test_compare_batch_reuses_only_its_own_runs(tmp_path):
    """A finished run in OUT/runs is reused as it is, so it must be the very run the comparison plans:
    another length, --set, batch size (in a foreign config) or a damaged folder is one clear error."""
    from bench.compare_batch import compare_batch
    from gans.base import UserError

    kw = dict(dataset="fake", device="cpu", diagnostics=False, progress=False, evals=1)
    base = tmp_path / "base"
    compare_batch("mnist_mlp", [4, 8], out=base, steps_per_run=2, log=lambda m: None, **kw)
    rd4 = Path("runs") / "mnist_mlp-bs4-seed0"

    said: list[str] = []
    again = tmp_path / "again"
    shutil.copytree(base, again)
    compare_batch("mnist_mlp", [4, 8], out=again, steps_per_run=2, log=said.append, **kw)
    assert [m.split(" ")[0] for m in said] == ["reusing", "reusing"]  # the same plan: nothing trains

    cases = {
        "steps 2, but this comparison asks for 3": ({"steps_per_run": 3}, None),
        "--set {}, but this comparison asks for {'hidden_g': 32}": ({"overrides": {"hidden_g": 32}}, None),
        "batch size 7, but this comparison asks for 4": ({}, _edit_config(lambda c: c["train"].update(batch_size=7))),
        "GAN 'wgan', but this comparison asks for 'mnist_mlp'": ({}, _edit_config(lambda c: c.update(gan="wgan"))),
        "holds no readable run": ({}, _write("metrics.jsonl", b"garbage\n")),
        "is in the way": ({}, lambda rd: (shutil.rmtree(rd), rd.write_text("x"))),
    }
    for i, (needle, (change, damage)) in enumerate(cases.items()):
        out = tmp_path / f"case{i}"
        shutil.copytree(base, out)
        if damage is not None:
            damage(out / rd4)
        before = snapshot(out)
        args = {"steps_per_run": 2, **change}
        with pytest.raises(UserError) as e:
            compare_batch("mnist_mlp", [4, 8], out=out, log=lambda m: None, **args, **kw)
        assert needle in str(e.value) and str(out / rd4) in str(e.value), (needle, str(e.value))
        assert "choose another --out" in str(e.value)
        assert snapshot(out) == before, needle  # nothing trained, nothing deleted


def test_sigterm_in_library_run_checkpoints(tmp_path):
    class Term:
        def on_scalars(self, run, step, means):
            if step == 2:
                os.kill(os.getpid(), signal.SIGTERM)

    r = train(tiny_cfg(steps=50), tmp_path / "r", callbacks=[Term()], progress=False)
    assert r.status == "interrupted" and r.exit_code == 143 and r.step == 2
    assert torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["step"] == 2
