"""Helpers shared by the robustness and hardening tests (tests/robustness/): in-process CLI calls, one-line error
checks, folder snapshots, planted pickles, tiny training configs, and ``ganbench`` subprocesses with their own cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from ganbench.cli import main
from gans.training import TrainConfig

CUDA = torch.cuda.is_available()
ROOT = Path(__file__).resolve().parents[2]


def cli(argv, capsys) -> tuple[int, str, str]:
    """``ganbench ARGV`` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own exits
        rc = e.code if isinstance(e.code, int) else 2
    out, err = capsys.readouterr()
    return rc, out, err


def one_error_line(err: str, *, contains: str | None = None) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert lines[0].startswith("ganbench: error:"), err
    if contains is not None:
        assert contains in lines[0], (contains, lines[0])
    return lines[0]


def snapshot(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def assert_kept(before: dict[str, str], root: Path) -> None:
    after = snapshot(root)
    changed = [k for k, v in before.items() if after.get(k) != v]
    assert not changed, f"changed or lost: {changed}"


class Payload:
    """A pickle that writes ``marker`` when unpickled by anything that runs code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def plant_checkpoint(path: Path, marker: Path) -> None:
    torch.save({"step": 1, "gan": Payload(marker), "optim": {}, "rng": {}}, path)


def tiny_cfg(**kw) -> TrainConfig:
    base = dict(
        gan="mnist_mlp", dataset="fake", batch_size=4, steps=4, device="cpu", seed=1, log_every=1, checkpoint_every=2
    )
    base.update(kw)
    return TrainConfig(**base)


def _fill(argv, tmp: Path, run: Path | None = None):
    return [str(a).replace("{tmp}", str(tmp)).replace("{run}", str(run) if run else "") for a in argv]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["GANBENCH_CACHE"] = str(tmp_path / "cache")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _ganbench(args: list[str], tmp_path: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ganbench", *args],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _run(args: list[str], tmp_path: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    p = _ganbench(args, tmp_path)
    out, err = p.communicate(timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def _wait_for(pred, timeout: float = 90.0, proc: subprocess.Popen | None = None, every: float = 0.2) -> None:
    t0 = time.monotonic()
    while not pred():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended early (exit {proc.returncode}): {proc.stderr.read()[-2000:]}")
        if time.monotonic() - t0 > timeout:
            raise AssertionError("timed out waiting")
        time.sleep(every)


def _reap(p: subprocess.Popen) -> None:
    """A process a failed test left running is killed (never left behind)."""
    if p.poll() is None:
        p.kill()
        p.communicate()


def _holder(folder: Path, tmp_path: Path) -> subprocess.Popen:
    """A process that holds ``folder``'s lock until killed (prints 'held' once it does)."""
    code = (
        "import sys, time\nfrom gans.lock import FolderLock\n"
        f"FolderLock({str(folder)!r}, 'test').acquire()\nprint('held', flush=True)\ntime.sleep(600)\n"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(tmp_path), stdout=subprocess.PIPE, text=True
    )
    assert p.stdout.readline().strip() == "held"
    return p


def _scalar_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
            if json.loads(line).get("type") == "scalars"]


def _write(rel: str, data: bytes):
    def f(run: Path):
        p = run / rel
        if p.is_dir():
            shutil.rmtree(p)
        p.write_bytes(data)

    return f


def _edit_config(edit):
    def f(run: Path):
        c = json.loads((run / "config.json").read_text())
        edit(c)
        (run / "config.json").write_text(json.dumps(c))

    return f


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
