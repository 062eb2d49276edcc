"""Hardening, distributed: ranks fail fast and together, --nproc is bounded by the cores.

Every test here failed on the code before the fix it names (checked where cheap) and passes after.
"""

from __future__ import annotations

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
    _run,
    _scalar_steps,
    _wait_for,
)

# --------------------------------------------------------------------------------------------
# 7. distributed: fail fast and together


RANK_ARGS = """import os, sys
from ganbench.cli import main
extra = os.environ.get("RANK_ARGS_" + os.environ["RANK"], "").split()
sys.exit(main(sys.argv[1:] + extra))
"""


def _torchrun(tmp_path: Path, args: list[str], rank_args: dict[int, str], **env_extra: str) -> subprocess.Popen:
    script = tmp_path / "rank_args.py"
    script.write_text(RANK_ARGS)
    env = _env(tmp_path)
    env.pop("WORLD_SIZE", None)
    env.update({f"RANK_ARGS_{r}": a for r, a in rank_args.items()}, OMP_NUM_THREADS="1", **env_extra)
    return subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "--log-dir",
         str(tmp_path / "logs"), str(script), *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )


@pytest.mark.distributed
def test_ranks_with_different_settings_stop_together_with_one_line(tmp_path):
    run = tmp_path / "run"
    p = _torchrun(tmp_path, ["train", "mnist_mlp", "--dataset", "fake", "--steps", "4", "--batch-size", "4",
                             "--no-diagnostics", "--quiet", "--out", str(run)], {0: "--seed 1", 1: "--seed 2"})
    try:
        out, _ = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode != 0  # was 0 on both ranks, config.json saying rank 0's seed
    line = "ganbench: error: the ranks were launched with different seed (rank 0: 1, rank 1: 2)"
    assert out.count(line) == 2, out[-3000:]
    assert "terminate called" not in out and "SIGABRT" not in out
    assert not (run / "metrics.jsonl").exists()


def test_nproc_is_bounded_by_the_cores(tmp_path):
    n = len(os.sched_getaffinity(0))
    r = _run(["train", "mnist_mlp", "--nproc", str(n + 1), "--device", "cpu", "--dry-run"], tmp_path)
    assert r.returncode == 2 and f"--nproc may be at most {n}" in r.stderr and r.stderr.count("\n") == 1, r.stderr


def _rank_pid(tmp_path: Path, rank: int) -> int | None:
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes()
            env = (p / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"rank_args.py" in cmd and f"RANK={rank}".encode() in env and b"torch.distributed.run" not in cmd:
            return int(p.name)
    return None


@pytest.mark.slow  # a torchrun job that waits out a 10 s collective timeout
@pytest.mark.distributed
def test_a_stopped_peer_is_named_within_the_timeout(tmp_path):
    run = tmp_path / "run"
    p = _torchrun(tmp_path, ["train", "mnist_mlp", "--dataset", "fake", "--steps", "1000000", "--batch-size", "4",
                             "--log-every", "5", "--no-diagnostics", "--quiet", "--out", str(run)], {},
                  GANBENCH_DIST_TIMEOUT="10")
    try:
        _wait_for(lambda: (run / "metrics.jsonl").is_file() and len(_scalar_steps(run)) >= 2, proc=p, timeout=120)
        pid = _rank_pid(tmp_path, 1)
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        _wait_for(lambda: p.poll() is not None, timeout=120)  # was: blocked for good, no message
        assert time.monotonic() - t0 < 90
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert "ganbench: error: rank 0: rank 1 " in out and "did not arrive" in out and "within 10 s" in out, out[-3000:]


@pytest.mark.slow  # a torchrun job
@pytest.mark.distributed
def test_nproc_sigterm_exits_143_and_sigkill_of_the_launcher_ends_its_ranks(tmp_path):
    run = tmp_path / "run"
    args = ["train", "mnist_mlp", "--nproc", "2", "--device", "cpu", "--dataset", "fake", "--steps", "1000000",
            "--batch-size", "4", "--log-every", "5", "--no-diagnostics", "--quiet"]
    a = _ganbench([*args, "--out", str(run)], tmp_path)
    _wait_for(lambda: (run / "metrics.jsonl").is_file() and len(_scalar_steps(run)) >= 2, proc=a, timeout=120)
    a.send_signal(signal.SIGTERM)
    _, err = a.communicate(timeout=120)
    assert a.returncode == 143 and "internal error" not in err, err[-2000:]
    run2 = tmp_path / "run2"
    b = _ganbench([*args, "--out", str(run2)], tmp_path)
    _wait_for(lambda: (run2 / "metrics.jsonl").is_file() and len(_scalar_steps(run2)) >= 2, proc=b, timeout=120)
    ranks = [p for p in (int(x.name) for x in Path("/proc").iterdir() if x.name.isdigit())
             if _ppid(p) == b.pid]
    assert len(ranks) == 2
    b.kill()
    b.communicate(timeout=60)
    _wait_for(lambda: not any(_alive(r) for r in ranks), timeout=60)  # was: both ranks kept training


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
