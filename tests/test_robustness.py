"""Robustness: ganbench used adversarially, as a user with bad luck or a bad actor would.

Six categories — bad CLI input, corrupted run state, kills and signals, bad data, security and
resource limits. Every case asserts the exit code, that stderr is one line with no traceback, that
nothing already written was lost or changed, and that no planted payload ran or rendered.
Commands run in-process through ``ganbench.cli.main`` (a subprocess only where a real signal or
pipe is needed); runs are a few steps of a tiny GAN.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ganbench.cli import main
from gans.training import TrainConfig, train
from gans.training.rundir import read_metrics
from gans.training.runtime import rng_state

CUDA = torch.cuda.is_available()
ROOT = Path(__file__).resolve().parents[1]


# ---- helpers ------------------------------------------------------------------------------------


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


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """A finished 4-step run (checkpoint at step 4), copied by each test that changes it."""
    out = tmp_path_factory.mktemp("robust") / "run"
    r = train(tiny_cfg(), out, progress=False)
    assert r.status == "finished"
    return out


@pytest.fixture
def run(base_run, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(base_run, dst)
    return dst


@pytest.fixture(autouse=True)
def _isolated_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def _fill(argv, tmp: Path, run: Path | None = None):
    return [str(a).replace("{tmp}", str(tmp)).replace("{run}", str(run) if run else "") for a in argv]


# ---- 1. bad CLI input ---------------------------------------------------------------------------

TRAIN = ["train", "mnist_mlp", "--dataset", "fake", "--steps", "2", "--quiet", "--no-diagnostics", "--out", "{tmp}/o"]
BAD_TRAIN = [
    ["--batch-size", "0"],
    ["--batch-size", "-3"],
    ["--batch-size", "1.5"],
    ["--batch-size", str(2**30)],
    ["--steps", "0"],
    ["--steps", "-1"],
    ["--steps", "abc"],
    ["--seed", "-1"],
    ["--seed", str(2**70)],
    ["--set", "lr=-1"],
    ["--set", "lr=0"],
    ["--set", "lr=nan"],
    ["--set", "lr=inf"],
    ["--set", "lr=abc"],
    ["--set", "lr"],
    ["--set", "nosuch=1"],
    ["--set", "z_dim=0"],
    ["--set", "z_dim=-4"],
    ["--set", "z_dim=2.5"],
    ["--workers", "-1"],
    ["--workers", "100000"],
    ["--eval-samples", "0"],
    ["--eval-samples", str(10**9)],
    ["--log-every", "-1"],
    ["--checkpoint-every", "-5"],
    ["--sample-every", "-2"],
    ["--eval-every", "-1"],
    ["--device", "quantum"],
    ["--precision", "fp8"],
    ["--dataset", "nosuch"],
    ["--nosuchflag"],
]
if not CUDA:
    BAD_TRAIN.append(["--device", "cuda"])


@pytest.mark.parametrize("extra", BAD_TRAIN, ids=lambda a: " ".join(a))
def test_cli_bad_train_flag(extra, tmp_path, capsys):
    rc, _, err = cli(_fill(TRAIN + extra, tmp_path), capsys)
    assert rc == 2
    one_error_line(err)
    assert not (tmp_path / "o").exists(), "nothing written for a refused command"


BAD_OTHER = [
    ["nosuchcommand"],
    ["train"],
    ["train", "nosuchgan", "--out", "{tmp}/o"],
    ["list", "--nosuch"],
    ["diagnose", "--real", "digits", "--fake", "{tmp}/missing"],
    ["diagnose", "--real", "digits", "--fake", "{tmp}/missing", "--n", "0"],
    ["diagnose", "--real", "digits", "--fake", "{tmp}/missing", "--n", str(10**12)],
    ["diagnose", "--real", "digits", "--fake", "{tmp}/missing", "--seed", "-5"],
    ["sweep", "--gans", "mnist_mlp", "--out", "{tmp}/sw", "--memory-cap-mb", "64"],
    ["sweep", "--gans", "mnist_mlp", "--out", "{tmp}/sw", "--memory-cap-mb", "-1"],
    ["sweep", "--gans", "mnist_mlp", "--out", "{tmp}/sw", "--cell-timeout", "0"],
    ["sweep", "--gans", "mnist_mlp", "--out", "{tmp}/sw", "--cell-timeout", "-3"],
    ["sweep", "--gans", "mnist_mlp", "--out", "{tmp}/sw", "--cell-timeout", "nan"],
    ["sweep", "--gans", "mnist_mlp", "--out", "{tmp}/sw", "--threads", "-1"],
    ["sweep", "--gans", "mnist_mlp", "--out", "{tmp}/sw", "--threads", "5000"],  # 0 is valid: torch's default
    ["sweep", "--gans", "mnist_mlp", "--out", "{tmp}/sw", "--set", "mnist_mlp:nosuch=1"],
    ["sweep", "--gans", "mnist_mlp", "--out", "{tmp}/sw", "--set", "mnist_mlp:lr=-1"],
    ["sweep", "--gans", "mnist_mlp", "--out", "{tmp}/sw", "--set", "dcgan:lr=0.1"],
    ["sweep", "--gans", "mnist_mlp", "--out", "{tmp}/sw", "--set", "badformat"],
    ["sweep", "--gans", "mnist_mlp", "--out", "{tmp}/sw", "--steps", "0"],
    ["sweep", "--gans", "mnist_mlp", "--out", "{tmp}/sw", "--warmup", "-1"],
    ["sweep", "--gans", "mnist_mlp", "--out", "{tmp}/sw", "--batch-sizes", "0"],
    ["sweep", "--gans", "nosuch", "--out", "{tmp}/sw"],
    ["regress", "--baseline", "{tmp}/typo.json"],
    ["regress", "--quick", "--baseline", "{tmp}/typo.json"],
    ["regress", "--threshold", "-1"],
    ["regress", "--rounds", "0"],
    ["regress", "--gans", "nosuch"],
    ["compare-batch", "mnist_mlp", "--out", "{tmp}/cb", "--time-budget", "nan"],
    ["compare-batch", "mnist_mlp", "--out", "{tmp}/cb", "--time-budget", "inf"],
    ["compare-batch", "mnist_mlp", "--out", "{tmp}/cb", "--time-budget", "-1"],
    ["compare-batch", "mnist_mlp", "--out", "{tmp}/cb", "--time-budget", "0"],
    ["compare-batch", "mnist_mlp", "--out", "{tmp}/cb", "--batch-sizes", "0", "16"],
    ["compare-batch", "mnist_mlp", "--out", "{tmp}/cb", "--evals", "0"],
    ["compare-batch", "mnist_mlp", "--out", "{tmp}/cb", "--eval-samples", "0"],
    ["compare-batch", "mnist_mlp", "--out", "{tmp}/cb", "--seeds", "-1"],
    ["compare-batch", "nosuchgan", "--out", "{tmp}/cb"],
    ["report", "{tmp}/missing"],
    ["index", "{tmp}/missing"],
    ["bench-report", "{tmp}/missing"],
    ["bench-report", "--sweep", "{tmp}/missing"],
    ["bench-report", "--sweep", "{tmp}/missing", "--noise-k", "nan"],
]


@pytest.mark.parametrize("argv", BAD_OTHER, ids=lambda a: " ".join(a))
def test_cli_bad_input(argv, tmp_path, capsys):
    before = snapshot(tmp_path)
    rc, _, err = cli(_fill(argv, tmp_path), capsys)
    assert rc == 2
    one_error_line(err)
    assert_kept(before, tmp_path)
    for name in ("o", "sw", "cb"):
        assert not (tmp_path / name).exists()


RESUME_CONFLICTS = [
    (["--dry-run"], "--dry-run"),
    (["--batch-size", "8"], "--batch-size"),
    (["--seed", "3"], "--seed"),
    (["--seed", "0"], "--seed"),  # the default value, given on purpose, still conflicts with the run's seed 1
    (["--seed=0"], "--seed"),
    (["--dataset", "auto"], "--dataset"),  # the default again, against the run's fake data
    (["--dataset", "digits"], "--dataset"),
    (["--set", "lr=0.001"], "--set"),
    (["--precision", "bf16"], "--precision"),
    (["--log-every", "7"], "--log-every"),
    (["--checkpoint-every", "3"], "--checkpoint-every"),
    (["--out", "{tmp}/elsewhere"], "--out"),
    (["--steps", "1"], "step 4"),
    (["--steps", "3"], "step 4"),
]


@pytest.mark.parametrize("extra,named", RESUME_CONFLICTS, ids=lambda a: " ".join(a) if isinstance(a, list) else a)
def test_cli_resume_conflicting_flags(extra, named, run, tmp_path, capsys):
    before = snapshot(run)
    rc, _, err = cli(
        _fill(["train", "--resume", "{run}", "--quiet", "--no-diagnostics", *extra], tmp_path, run), capsys
    )
    assert rc == 2
    one_error_line(err, contains=named)
    assert_kept(before, run)  # config.json is not rewritten by a refused resume
    assert snapshot(run).keys() == before.keys()


def test_cli_resume_other_gan_name(run, tmp_path, capsys):
    before = snapshot(run)
    rc, _, err = cli(["train", "dcgan", "--resume", str(run), "--quiet", "--no-diagnostics"], capsys)
    assert rc == 2
    one_error_line(err, contains="dcgan")
    assert_kept(before, run)


# ---- 2. corrupted run state ---------------------------------------------------------------------


def _write(rel: str, data: bytes):
    def f(run: Path):
        p = run / rel
        if p.is_dir():
            shutil.rmtree(p)
        p.write_bytes(data)

    return f


def _delete(rel: str):
    return lambda run: (run / rel).unlink()


def _config_dir(run: Path):
    (run / "config.json").unlink()
    (run / "config.json").mkdir()


def _ckpt(obj):
    def f(run: Path):
        torch.save(obj() if callable(obj) else obj, run / "checkpoint.pt")

    return f


def _truncate(rel: str, n: int):
    def f(run: Path):
        p = run / rel
        p.write_bytes(p.read_bytes()[:n])

    return f


CORRUPT_CONFIG = {
    "config truncated": _truncate("config.json", 40),
    "config is a list": _write("config.json", b"[]"),
    "config is a number": _write("config.json", b"3"),
    "config not utf-8": _write("config.json", b"\xff\xfe{\x00"),
    "config without train": _write("config.json", b'{"gan": "mnist_mlp"}'),
    "config is a folder": _config_dir,
}
CORRUPT_CKPT = {
    "checkpoint truncated": _truncate("checkpoint.pt", 100),
    "checkpoint random bytes": _write("checkpoint.pt", random.Random(0).randbytes(3000)),
    # bytes the unpickler reads as NEWOBJ on an empty stack: an IndexError inside torch.load
    "checkpoint starting 0x81": _write("checkpoint.pt", b"\x81" + random.Random(1).randbytes(300)),
    "checkpoint is JSON": _write("checkpoint.pt", b"{}"),
    "checkpoint empty": _write("checkpoint.pt", b""),
    "checkpoint a list": _ckpt([1, 2, 3]),
    "checkpoint of another GAN": _ckpt(
        lambda: {"step": 2, "gan": {"w": torch.zeros(3)}, "optim": {}, "rng": rng_state()}
    ),
    "checkpoint negative step": _ckpt(lambda: {"step": -1, "gan": {}, "optim": {}, "rng": rng_state()}),
}


def _edit_config(edit):
    def f(run: Path):
        c = json.loads((run / "config.json").read_text())
        edit(c)
        (run / "config.json").write_text(json.dumps(c))

    return f


#: config.json that parses but whose fields are wrong (a hand-edited or foreign run)
CONFIG_FIELDS = {
    "batch size text": _edit_config(lambda c: c["train"].update(batch_size="big")),
    "seed a list": _edit_config(lambda c: c["train"].update(seed=[1])),
    "log interval fractional": _edit_config(lambda c: c["train"].update(log_every=0.5)),
    "time budget negative": _edit_config(lambda c: c["train"].update(time_budget=-1)),
    "overrides a list": _edit_config(lambda c: c["train"].update(overrides=[1])),
    "gan_config a list": _edit_config(lambda c: c.update(gan_config=[1])),
    "gan a number": _edit_config(lambda c: c.update(gan=5)),
}


@pytest.mark.parametrize("name", list(CONFIG_FIELDS))
def test_config_fields_checked_on_resume(name, run, capsys):
    CONFIG_FIELDS[name](run)
    before = snapshot(run)
    rc, _, err = cli(["train", "--resume", str(run), "--quiet", "--no-diagnostics", "--steps", "8"], capsys)
    assert rc == 2
    one_error_line(err, contains="config.json: not a ganbench run configuration")
    assert_kept(before, run)


@pytest.mark.parametrize(
    "edit",
    [
        lambda c: c.update(gan_config=[1]),
        lambda c: c.update(gan=5),
        lambda c: c["gan_config"].update(hidden_g=10**12),  # a G no allocator can hold
    ],
    ids=["gan_config a list", "gan a number", "gan_config huge"],
)
def test_config_fields_checked_by_diagnose(edit, run, capsys):
    _edit_config(edit)(run)
    rc, _, err = cli(["diagnose", "--real", "digits", "--fake", str(run), "--n", "32"], capsys)
    assert rc == 2
    one_error_line(err, contains="config.json")


def _bad_rng(run: Path):
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    ck["rng"] = {"python": 1, "numpy": "x", "torch": torch.zeros(2)}
    torch.save(ck, run / "checkpoint.pt")


CORRUPT_CKPT["checkpoint bad RNG state"] = _bad_rng


@pytest.mark.parametrize("name", [*CORRUPT_CONFIG, *CORRUPT_CKPT, "checkpoint missing"])
def test_corrupt_run_resume(name, run, tmp_path, capsys):
    corrupt = {**CORRUPT_CONFIG, **CORRUPT_CKPT, "checkpoint missing": _delete("checkpoint.pt")}[name]
    corrupt(run)
    before = snapshot(run)
    rc, _, err = cli(["train", "--resume", str(run), "--quiet", "--no-diagnostics", "--steps", "8"], capsys)
    assert rc == 2
    line = one_error_line(err)
    assert ("config.json" in line) if name in CORRUPT_CONFIG else ("checkpoint.pt" in line), line
    assert_kept(before, run)
    assert not any(r.get("step", 0) > 4 for r in _records(run)), "nothing trained"


def _records(run: Path):
    try:
        return read_metrics(run)
    except OSError:
        return []


@pytest.mark.parametrize(
    "name", [*CORRUPT_CONFIG, *(k for k in CORRUPT_CKPT if k != "checkpoint bad RNG state"), "checkpoint missing"]
)
def test_corrupt_run_diagnose(name, run, tmp_path, capsys):
    corrupt = {**CORRUPT_CONFIG, **CORRUPT_CKPT, "checkpoint missing": _delete("checkpoint.pt")}[name]
    corrupt(run)
    before = snapshot(run)
    rc, _, err = cli(["diagnose", "--real", "digits", "--fake", str(run), "--n", "32"], capsys)
    assert rc == 2
    one_error_line(err)
    assert_kept(before, run)


@pytest.mark.parametrize("name", [k for k in CORRUPT_CONFIG if k != "config without train"])
def test_corrupt_run_report_config(name, run, tmp_path, capsys):
    CORRUPT_CONFIG[name](run)
    before = snapshot(run)
    rc, _, err = cli(["report", str(run)], capsys)
    assert rc == 2
    one_error_line(err, contains="config.json")
    assert_kept(before, run)
    assert not (run / "report.html").exists()


def _metrics_binary(run: Path):
    with open(run / "metrics.jsonl", "ab") as f:
        f.write(b"\xff\xfe\x00garbage\n{not json\n")


def _since_step_text(run: Path):
    with open(run / "metrics.jsonl", "a") as f:
        f.write(
            json.dumps(
                {
                    "type": "event",
                    "step": 2,
                    "event": "verdict",
                    "kind": "equilibrium",
                    "verdict": "balanced",
                    "since_step": "soon",
                    "message": "m",
                }
            )
            + "\n"
        )


def _torn_last_line(run: Path):
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"type": "scalars", "step": 5, "loss/d"')


def _verdicts_garbage(run: Path):
    (run / "verdicts.json").write_bytes(b"\x00\xff not json")


def _samples_is_file(run: Path):
    shutil.rmtree(run / "samples")
    (run / "samples").write_text("x")


READABLE = {
    "metrics not utf-8": _metrics_binary,
    "since_step not a number": _since_step_text,
    "torn last line": _torn_last_line,
    "verdicts.json garbage": _verdicts_garbage,
    "gan_config a list": _edit_config(lambda c: c.update(gan_config=[1])),
    "data and versions not objects": _edit_config(lambda c: c.update(data="x", versions=[1, 2])),
    "samples is a file": _samples_is_file,
    "checkpoint missing": _delete("checkpoint.pt"),
}


@pytest.mark.parametrize("name", list(READABLE))
def test_damaged_run_still_reports(name, run, capsys):
    READABLE[name](run)
    before = snapshot(run)
    rc, out, err = cli(["report", str(run)], capsys)
    assert rc == 0, err
    assert "Traceback" not in err
    assert_kept(before, run)
    assert (run / "report.html").stat().st_size > 1000


@pytest.mark.parametrize("where", ["run folder", "sample file"])
def test_non_utf8_file_names_still_report(where, run, tmp_path, capsys):
    bad = os.fsdecode(b"run-\xff\xfe")
    if where == "run folder":
        target = tmp_path / bad
        run.rename(target)
        run = target
    else:
        (run / "samples" / os.fsdecode(b"step_00000003-\xff.png")).write_bytes(
            (run / "samples" / "step_00000004.png").read_bytes()
        )
    before = snapshot(run)
    rc, _, err = cli(["report", str(run), "-o", str(tmp_path / "r.html")], capsys)
    assert rc == 0, err
    assert "Traceback" not in err
    assert_kept(before, run)
    (tmp_path / "r.html").read_text(encoding="utf-8")  # valid UTF-8


def test_resume_truncates_metrics_past_the_checkpoint(run, capsys):
    before = snapshot(run)
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 4
    with open(run / "metrics.jsonl", "a") as f:  # a kill after step 4's checkpoint, steps 5-6 logged
        for s in (5, 6):
            f.write(json.dumps({"type": "scalars", "step": s, "loss/d": 1.0}) + "\n")
    rc, _, err = cli(["train", "--resume", str(run), "--steps", "6", "--quiet", "--no-diagnostics"], capsys)
    assert rc == 0, err
    steps = [r["step"] for r in read_metrics(run, "scalars")]
    assert steps == [1, 2, 3, 4, 5, 6]
    note = [e for e in read_metrics(run, "event") if e["event"] == "resume"][-1]
    assert note["dropped_records"] == 2 and "removed" in note["message"]
    assert before.keys() <= snapshot(run).keys()


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


# ---- 4. bad data --------------------------------------------------------------------------------


def _png(path: Path, seed: int = 0, size: int = 32) -> None:
    from PIL import Image

    a = (np.random.default_rng(seed).random((size, size, 3)) * 255).astype("uint8")
    Image.fromarray(a).save(path)


def _jpeg_bytes(seed: int = 0) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    a = (np.random.default_rng(seed).random((64, 64, 3)) * 255).astype("uint8")
    Image.fromarray(a).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _folder(tmp: Path, bad: dict[str, bytes]) -> Path:
    d = tmp / "imgs"
    d.mkdir()
    for i in range(3):
        _png(d / f"ok{i}.png", i)
    for name, data in bad.items():
        (d / name).write_bytes(data)
    return d


BAD_FOLDERS = {
    "truncated jpeg": {"bad.jpg": _jpeg_bytes()[:-600]},
    "empty jpeg": {"bad.jpg": b""},
    "text as png": {"bad.png": b"hello, not an image"},
    "html as jpg": {"bad.jpg": b"<script>alert(1)</script>"},
    "png header only": {"bad.png": b"\x89PNG\r\n\x1a\n"},
}


@pytest.mark.parametrize("name", list(BAD_FOLDERS))
def test_corrupt_image_found_by_decoding(name, tmp_path, capsys):
    d = _folder(tmp_path, BAD_FOLDERS[name])
    before = snapshot(d)
    argv = [
        "train",
        "mnist_mlp",
        "--dataset",
        "image-folder",
        "--data-root",
        str(d),
        "--steps",
        "1",
        "--batch-size",
        "2",
        "--no-diagnostics",
        "--quiet",
        "--out",
        str(tmp_path / "o"),
    ]
    rc, _, err = cli(argv, capsys)
    assert rc == 2
    one_error_line(err, contains="bad.")
    assert_kept(before, d)


@pytest.mark.parametrize("name", list(BAD_FOLDERS))
def test_skip_corrupt_skips_what_decoding_rejects(name, tmp_path):
    from gans.data import DataOptions, load_data

    d = _folder(tmp_path, BAD_FOLDERS[name])
    data = load_data("image-folder", (1, 28, 28), options=DataOptions(root=str(d), skip_corrupt=True))
    x, _ = next(iter(data.epoch(3, 0, device=torch.device("cpu"), skip=0)))
    assert x.shape[0] == 3 and torch.isfinite(x).all()


EMPTY_FOLDERS = {"no files": {}, "only text": {"a.txt": b"x"}}


@pytest.mark.parametrize("name", list(EMPTY_FOLDERS))
def test_image_folder_without_images(name, tmp_path, capsys):
    d = tmp_path / "imgs"
    d.mkdir()
    for k, v in EMPTY_FOLDERS[name].items():
        (d / k).write_bytes(v)
    rc, _, err = cli(
        [
            "train",
            "mnist_mlp",
            "--dataset",
            "image-folder",
            "--data-root",
            str(d),
            "--steps",
            "1",
            "--no-diagnostics",
            "--quiet",
            "--out",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert rc == 2
    one_error_line(err)


def _h5(path: Path, images: list[np.ndarray], group: str = "img_align_celeba") -> None:
    import h5py

    with h5py.File(path, "w") as f:
        g = f.create_group(group)
        for i, im in enumerate(images):
            g.create_dataset(f"{i}.jpg", data=im)


def test_h5_float_images_in_unit_range_are_not_divided_again(tmp_path):
    from gans.data.images import CelebAH5

    rng = np.random.default_rng(0)
    f32 = [rng.random((218, 178, 3)).astype("float32") for _ in range(2)]
    _h5(tmp_path / "f.h5", f32)
    _h5(tmp_path / "u.h5", [(im * 255).round().astype("uint8") for im in f32])
    a = CelebAH5(str(tmp_path / "f.h5"), (3, 64, 64))[0]
    b = CelebAH5(str(tmp_path / "u.h5"), (3, 64, 64))[0]
    assert a.max() > 0.5 and torch.allclose(a, b, atol=1 / 255 + 1e-6)


H5_BAD = {
    "not hdf5": lambda p: p.write_bytes(b"plain text"),
    "wrong group": lambda p: _h5(p, [np.zeros((218, 178, 3), "uint8")], group="other"),
    "wrong shape": lambda p: _h5(p, [np.zeros((10, 10, 3), "uint8")]),
    "empty group": lambda p: _h5(p, []),
}


@pytest.mark.parametrize("name", list(H5_BAD))
def test_bad_h5(name, tmp_path, capsys):
    p = tmp_path / "c.h5"
    H5_BAD[name](p)
    before = snapshot(tmp_path)
    rc, _, err = cli(
        [
            "train",
            "celeba_mlp",
            "--dataset",
            "celeba-h5",
            "--data-root",
            str(p),
            "--steps",
            "1",
            "--no-diagnostics",
            "--quiet",
            "--out",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert rc == 2
    one_error_line(err, contains="c.h5")
    assert_kept(before, tmp_path)


ARRAYS = {
    "npy wrong rank": ("x.npy", lambda p: np.save(p, np.zeros(5))),
    "npy text": ("x.npy", lambda p: p.write_text("not an array")),
    "npz empty": ("x.npz", lambda p: np.savez(p)),
    "npy strings": ("x.npy", lambda p: np.save(p, np.array([["a", "b"], ["c", "d"]]))),
    "npy dates": ("x.npy", lambda p: np.save(p, np.zeros((40, 4), dtype="datetime64[s]"))),
    "npy complex": ("x.npy", lambda p: np.save(p, np.zeros((40, 4), dtype=np.complex64))),
    "npy objects": ("x.npy", lambda p: np.save(p, np.array([[{"a": 1}]], dtype=object), allow_pickle=True)),
    "pt without tensor": ("x.pt", lambda p: torch.save({"a": 1}, p)),
    "unknown suffix": ("x.csv", lambda p: p.write_text("1,2")),
}


@pytest.mark.parametrize("name", list(ARRAYS))
def test_diagnose_bad_arrays(name, tmp_path, capsys):
    fname, make = ARRAYS[name]
    p = tmp_path / fname
    make(p)
    rc, _, err = cli(["diagnose", "--real", "digits", "--fake", str(p), "--n", "32"], capsys)
    assert rc == 2
    one_error_line(err)


# ---- 5. security --------------------------------------------------------------------------------


def test_payload_is_live(tmp_path):
    """The planted checkpoint's pickle does run code when unpickled with plain ``pickle`` (so the tests
    below can fail). It holds no tensors, so its ``data.pkl`` needs nothing from torch to unpickle."""
    import zipfile

    plant_checkpoint(tmp_path / "c.pt", tmp_path / "marker")
    with zipfile.ZipFile(tmp_path / "c.pt") as z:
        data = z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))
    pickle.loads(data)
    assert (tmp_path / "marker").exists()


def _payload_resume(run, marker, capsys):
    return cli(["train", "--resume", str(run), "--quiet", "--no-diagnostics", "--steps", "8"], capsys)


def _payload_diagnose(run, marker, capsys):
    return cli(["diagnose", "--real", "digits", "--fake", str(run), "--n", "32"], capsys)


def _payload_compare(run, marker, capsys):
    out = run.parent / "cb"
    rd = out / "runs" / "mnist_mlp-bs4-seed0"
    rd.parent.mkdir(parents=True)
    shutil.copytree(run, rd)
    (rd / "metrics.jsonl").write_text(json.dumps({"type": "event", "step": 0, "event": "start"}) + "\n")
    # the unfinished run is this comparison's own (seed 0, batch 4, 1 epoch), so that its checkpoint is loaded
    _edit_config(lambda c: c["train"].update(seed=0, epochs=1, steps=None, evals=5))(rd)
    plant_checkpoint(rd / "checkpoint.pt", marker)
    return cli(
        [
            "compare-batch",
            "mnist_mlp",
            "--batch-sizes",
            "4",
            "8",
            "--dataset",
            "fake",
            "--out",
            str(out),
            "--no-diagnostics",
            "--quiet",
            "--epochs",
            "1",
        ],
        capsys,
    )


@pytest.mark.parametrize(
    "how", [_payload_resume, _payload_diagnose, _payload_compare], ids=["resume", "diagnose", "compare-batch"]
)
@pytest.mark.parametrize("kind", ["torch.save", "pickle"])
def test_received_checkpoint_runs_no_code(how, kind, run, tmp_path, capsys):
    marker = tmp_path / "marker"
    if kind == "torch.save":
        plant_checkpoint(run / "checkpoint.pt", marker)
    else:
        with open(run / "checkpoint.pt", "wb") as f:
            pickle.dump({"step": 1, "gan": Payload(marker)}, f)
    rc, _, err = how(run, marker, capsys)
    assert rc == 2
    line = one_error_line(err, contains="checkpoint.pt")
    assert not marker.exists(), "the planted pickle ran"
    assert "weights_only" not in line  # torch's advice to load it unsafely is never passed on


def test_diagnose_payload_pt_file(tmp_path, capsys):
    marker = tmp_path / "marker"
    torch.save({"x": Payload(marker)}, tmp_path / "fake.pt")
    rc, _, err = cli(["diagnose", "--real", "digits", "--fake", str(tmp_path / "fake.pt"), "--n", "32"], capsys)
    assert rc == 2
    one_error_line(err)
    assert not marker.exists()


def test_doctored_feature_cache_runs_no_code(tmp_path, monkeypatch):
    import diagnostics.features as F
    from gans.data import load_data

    monkeypatch.setattr(F, "classifier_spec_for", lambda n: F.ClassifierSpec(width=4, feature_dim=8, epochs=1))
    data = load_data("digits", (1, 28, 28))
    F.get_extractor("classifier", data)
    caches = list((tmp_path / "cache").rglob("classifier-*.pt"))
    assert len(caches) == 1
    marker = tmp_path / "marker"
    torch.save({"state_dict": Payload(marker), "meta": {}}, caches[0])
    ex = F.get_extractor("classifier", data)  # refused and rebuilt, never run
    assert not marker.exists() and ex is not None
    torch.load(caches[0], weights_only=True)  # the rebuilt cache is plain data


def test_doctored_real_stats_cache_runs_no_code(tmp_path):
    from diagnostics.evaluate import evaluate_samples
    from gans.data import load_data

    data = load_data("ring8", (2,))
    tr, te = data.real(300, "train", seed=5)[0], data.real(300, "test", seed=5)[0]
    fake = data.real(300, "test", seed=6)[0]
    first = evaluate_samples(tr, te, fake, extractor="raw", data_kind="vector", mixture="ring8")
    caches = list((tmp_path / "cache" / "real_stats").glob("*.pt"))
    assert len(caches) == 1
    torch.load(caches[0], weights_only=True)  # what it writes is plain data
    marker = tmp_path / "marker"
    torch.save({"train": Payload(marker)}, caches[0])
    again = evaluate_samples(tr, te, fake, extractor="raw", data_kind="vector", mixture="ring8")
    assert not marker.exists(), "the planted pickle ran"
    assert again.metrics == first.metrics  # refused and recomputed


REPORT_TARGETS = ["metrics.jsonl", "config.json", "checkpoint.pt", "verdicts.json", "samples/step_00000004.png"]


@pytest.mark.parametrize("target", REPORT_TARGETS)
@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_report_never_overwrites_run_files(target, force, run, capsys):
    if target == "verdicts.json":
        (run / target).write_text("{}")
    before = snapshot(run)
    rc, _, err = cli(["report", str(run), "-o", str(run / target), *(["--force"] if force else [])], capsys)
    assert rc == 2
    one_error_line(err)
    assert_kept(before, run)


def test_report_refuses_a_users_file_unless_forced(run, tmp_path, capsys):
    mine = tmp_path / "notes.html"
    mine.write_text("<p>my notes</p>")
    rc, _, err = cli(["report", str(run), "-o", str(mine)], capsys)
    assert rc == 2
    one_error_line(err, contains="notes.html")
    assert mine.read_text() == "<p>my notes</p>"
    rc, _, err = cli(["report", str(run), "-o", str(mine), "--force"], capsys)
    assert rc == 0 and "ganbench" in mine.read_text()
    rc, _, err = cli(["report", str(run), "-o", str(mine)], capsys)  # now ours: replaced without --force
    assert rc == 0


@pytest.mark.parametrize("clash", ["index.html", "run.html"])
def test_report_folder_keeps_unrelated_pages(clash, run, tmp_path, capsys):
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / clash).write_text("<p>someone else's</p>")
    before = snapshot(folder)
    rc, _, err = cli(["report", str(run), str(run), "-o", str(folder) + "/"], capsys)
    assert rc == 2
    one_error_line(err, contains=clash)
    assert_kept(before, folder)
    assert snapshot(folder).keys() == before.keys()


def test_index_keeps_unrelated_index(tmp_path, capsys):
    (tmp_path / "index.html").write_text("<p>mine</p>")
    rc, _, err = cli(["index", str(tmp_path)], capsys)
    assert rc == 2
    one_error_line(err)
    assert (tmp_path / "index.html").read_text() == "<p>mine</p>"


def test_bench_report_keeps_users_file(tmp_path, capsys):
    sw = tmp_path / "sw"
    sw.mkdir()
    (sw / "results.jsonl").write_text(
        json.dumps({"gan": "g", "batch_size": 4, "status": "ok", "ms_median": 1.0}) + "\n"
    )
    (tmp_path / "bench.html").write_text("mine")
    rc, _, err = cli(["bench-report", "--sweep", str(sw), "-o", str(tmp_path / "bench.html")], capsys)
    assert rc == 2
    one_error_line(err)
    assert (tmp_path / "bench.html").read_text() == "mine"


@pytest.mark.parametrize("setup", ["unrelated index.html", "unrelated files"])
def test_compare_batch_out_keeps_users_folder(setup, tmp_path, capsys):
    out = tmp_path / "cb"
    out.mkdir()
    (out / ("index.html" if setup == "unrelated index.html" else "thesis.tex")).write_text("mine")
    if setup == "unrelated index.html":
        (out / "runs").mkdir()
    before = snapshot(out)
    rc, _, err = cli(
        [
            "compare-batch",
            "mnist_mlp",
            "--batch-sizes",
            "4",
            "8",
            "--dataset",
            "fake",
            "--out",
            str(out),
            "--no-diagnostics",
            "--quiet",
            "--epochs",
            "1",
        ],
        capsys,
    )
    assert rc == 2
    one_error_line(err)
    assert_kept(before, out)


@pytest.mark.parametrize("setup", ["user files", "a file", "under a file"])
def test_train_out_keeps_users_files(setup, tmp_path, capsys):
    if setup == "user files":
        out = tmp_path / "mine"
        out.mkdir()
        (out / "config.json").write_text('{"mine": 1}')
        (out / "photo.png").write_bytes(b"png")
    elif setup == "a file":
        out = tmp_path / "file"
        out.write_text("x")
    else:
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "sub"
    before = snapshot(tmp_path)
    rc, _, err = cli(
        ["train", "mnist_mlp", "--dataset", "fake", "--steps", "1", "--no-diagnostics", "--quiet", "--out", str(out)],
        capsys,
    )
    assert rc == 2
    one_error_line(err)
    assert_kept(before, tmp_path)


def test_report_embeds_no_linked_file(run, tmp_path, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-LINE")
    (run / "samples" / "step_00000099.png").symlink_to(secret)
    rc, _, err = cli(["report", str(run)], capsys)
    assert rc == 0
    html = (run / "report.html").read_text()
    assert "step_00000099" not in html and str(secret) not in html
    import base64

    assert base64.b64encode(b"TOP-SECRET-LINE").decode()[:12] not in html


def test_planted_markup_in_run_files_renders_as_text(tmp_path, capsys):
    from tests.test_report_escaping import FILE_SAFE, assert_clean, poisoned_run

    run = poisoned_run(tmp_path / FILE_SAFE, 32)
    rc, _, err = cli(["report", str(run), "-o", str(tmp_path / "r.html")], capsys)
    assert rc == 0, err
    assert_clean((tmp_path / "r.html").read_text())


# ---- 6. resource limits -------------------------------------------------------------------------

RESOURCE = [
    ["diagnose", "--real", "digits", "--fake", "digits", "--n", str(10**10)],
    ["train", "mnist_mlp", "--dataset", "fake", "--eval-samples", str(10**8), "--out", "{tmp}/o"],
    ["train", "mnist_mlp", "--dataset", "fake", "--workers", "100000", "--out", "{tmp}/o"],
    ["train", "mnist_mlp", "--dataset", "fake", "--batch-size", str(2**40), "--out", "{tmp}/o"],
    ["train", "mnist_mlp", "--dataset", "fake", "--steps", str(2**60), "--out", "{tmp}/o"],
    ["sweep", "--gans", "mnist_mlp", "--memory-cap-mb", "64", "--out", "{tmp}/sw"],
    ["sweep", "--gans", "mnist_mlp", "--cell-timeout", "0", "--out", "{tmp}/sw"],
    ["sweep", "--gans", "mnist_mlp", "--threads", "-1", "--out", "{tmp}/sw"],
    ["compare-batch", "mnist_mlp", "--time-budget", "1e15", "--out", "{tmp}/cb"],
    ["compare-batch", "mnist_mlp", "--eval-samples", str(10**9), "--out", "{tmp}/cb"],
]


@pytest.mark.parametrize("argv", RESOURCE, ids=lambda a: " ".join(a[:1] + a[-4:-2]))
def test_resource_bounds_checked_up_front(argv, tmp_path, capsys):
    t0 = time.perf_counter()
    rc, _, err = cli(_fill(argv, tmp_path), capsys)
    assert rc == 2
    one_error_line(err)
    assert time.perf_counter() - t0 < 30
    assert not any((tmp_path / n).exists() for n in ("o", "sw", "cb"))


def _enospc(*a, **k):
    raise OSError(28, "No space left on device", "/full/disk/file")


def _erofs(*a, **k):
    raise OSError(30, "Read-only file system", "/ro/file")


@pytest.mark.parametrize("err_fn", [_enospc, _erofs], ids=["disk full", "read-only"])
@pytest.mark.parametrize("cmd", ["report", "train"])
def test_write_failures_are_one_line(err_fn, cmd, run, tmp_path, capsys, monkeypatch):
    import tempfile

    before = snapshot(run)
    monkeypatch.setattr(tempfile, "mkstemp", err_fn)
    if cmd == "report":
        argv = ["report", str(run), "-o", str(tmp_path / "r.html")]
    else:
        argv = [
            "train",
            "mnist_mlp",
            "--dataset",
            "fake",
            "--steps",
            "1",
            "--no-diagnostics",
            "--quiet",
            "--out",
            str(tmp_path / "new"),
        ]
    rc, _, err = cli(argv, capsys)
    assert rc == 2
    line = one_error_line(err)
    assert "No space" in line or "Read-only" in line
    assert_kept(before, run)


def test_out_of_memory_is_one_line(run, capsys, monkeypatch):
    import reports.run_report as R

    def boom(*a, **k):
        raise MemoryError

    monkeypatch.setattr(R, "build_run_report", boom)
    rc, _, err = cli(["report", str(run)], capsys)
    assert rc == 2
    one_error_line(err, contains="out of memory")


def test_internal_error_is_one_line_with_a_log(run, tmp_path, capsys, monkeypatch):
    import reports.run_report as R

    def bug(*a, **k):
        raise ZeroDivisionError("a genuine bug")

    monkeypatch.setattr(R, "build_run_report", bug)
    rc, _, err = cli(["report", str(run)], capsys)
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and lines[0].startswith("ganbench: internal error")
    log = Path(lines[0].rsplit("details in ", 1)[1])
    assert log.is_file() and "ZeroDivisionError" in log.read_text() and "Traceback" in log.read_text()


def test_sweep_cells_get_a_default_timeout(tmp_path):
    from bench import sweep as S
    from bench.timing import Cell

    seen = {}

    def runner(cell, **kw):
        seen.update(kw)
        return S._failed_row(cell, "timeout", "stub", time.perf_counter())

    cells = S.plan_cells(["mnist_mlp"], [4], ["cpu"], ["fp32"], [False], {})
    assert cells and isinstance(cells[0], Cell)
    S.run_sweep(cells, tmp_path / "sw", steps=1, warmup=0, runner=runner, log=lambda m: None)
    assert seen.get("timeout_s") == S.DEFAULT_CELL_TIMEOUT_S > 0


# ---- fuzzing the CLI's arguments ----------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

VALUES = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.sampled_from(
        [
            "nan",
            "inf",
            "-inf",
            "0",
            "-0",
            "1e309",
            "",
            " ",
            "1.5",
            "0x10",
            "lr=-1",
            "a=b",
            "<script>",
            "../../etc/passwd",
            "\u00e9\u4e2d",
            "--",
            "-1",
        ]
    ),
    st.text(min_size=0, max_size=12),
)
FLAGS = {
    "train": [
        "--batch-size",
        "--steps",
        "--epochs",
        "--seed",
        "--set",
        "--workers",
        "--eval-samples",
        "--log-every",
        "--checkpoint-every",
        "--device",
        "--dataset",
        "--precision",
        "--features",
    ],
    "sweep": [
        "--batch-sizes",
        "--steps",
        "--warmup",
        "--cell-timeout",
        "--memory-cap-mb",
        "--threads",
        "--set",
        "--max-seconds",
    ],
    "compare-batch": ["--batch-sizes", "--time-budget", "--epochs", "--seeds", "--evals", "--eval-samples", "--set"],
    "diagnose": ["--n", "--seed", "--real", "--fake", "--features"],
    "bench-report": ["--noise-k", "--rel-threshold", "--sweep"],
}


class _WouldRun(BaseException):  # not an Exception: main() must not catch it
    pass


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(cmd=st.sampled_from(sorted(FLAGS)), data=st.data())
def test_fuzz_cli_arguments(cmd, data, tmp_path_factory):
    """Whatever the arguments: exit 0 or 2, never a traceback nor an internal error, at most one error line.

    The expensive entry points are replaced by a stub, so accepted arguments are not actually run."""
    import bench.compare_batch
    import bench.shard
    import bench.sweep
    import diagnostics.evaluate
    import gans.training

    tmp = tmp_path_factory.mktemp("fuzz")
    flags = data.draw(st.lists(st.sampled_from(FLAGS[cmd]), min_size=1, max_size=4))
    argv = [cmd] + (["mnist_mlp"] if cmd in ("train", "compare-batch") else [])
    for f in flags:
        argv += [f, data.draw(VALUES)]
    argv += {
        "train": ["--out", str(tmp / "o"), "--quiet"],
        "sweep": ["--out", str(tmp / "sw"), "--quiet"],
        "compare-batch": ["--out", str(tmp / "cb"), "--quiet"],
        "diagnose": [],
        "bench-report": [],
    }[cmd]

    def stub(*a, **k):
        raise _WouldRun

    saved = {}
    targets = [
        (gans.training, "train"),
        (bench.compare_batch, "compare_batch"),
        (bench.sweep, "run_sweep"),
        (bench.shard, "run_sweep_by_device"),
        (diagnostics.evaluate, "evaluate_samples"),
    ]
    for mod, name in targets:
        if hasattr(mod, name):
            saved[(mod, name)] = getattr(mod, name)
            setattr(mod, name, stub)
    err_buf = io.StringIO()
    out_buf = io.StringIO()
    old = sys.stderr, sys.stdout
    sys.stderr, sys.stdout = err_buf, out_buf
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code
        except _WouldRun:
            rc = 0
    finally:
        sys.stderr, sys.stdout = old
        os.chdir(cwd)
        for (mod, name), fn in saved.items():
            setattr(mod, name, fn)
    err = err_buf.getvalue()
    assert rc in (0, 2), (argv, rc, err)
    assert "Traceback" not in err and "internal error" not in err, (argv, err)
    if rc == 2:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("ganbench: error:"), (argv, err)


def test_cli_resume_with_the_runs_own_values_given_explicitly(run, tmp_path, capsys):
    """Flags that repeat the run's own values (seed 1, batch 4, fake data) are no conflict; the run extends."""
    rc, out, err = cli(
        ["train", "--resume", str(run), "--quiet", "--no-diagnostics", "--seed", "1", "--batch-size", "4",
         "--dataset", "fake", "--steps", "6"],
        capsys,
    )  # fmt: skip
    assert rc == 0, err
    assert "6/6" in out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(
        st.binary(max_size=600),
        st.binary(max_size=200).map(lambda b: b"\x80\x02" + b),  # a pickle header, then anything
        st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b),  # a zip header (torch's format), then anything
        st.binary(max_size=200).map(lambda b: b"\x81" + b),
    )
)
def test_any_bytes_as_a_checkpoint_are_one_clear_error(data):
    """Whatever a received checkpoint.pt holds, loading it is a UserError (or a sound checkpoint), never another
    exception and never a warning on stderr."""
    import tempfile
    import warnings

    from gans.base import UserError
    from gans.training.rundir import load_checkpoint

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "checkpoint.pt"
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                ckpt = load_checkpoint(path)
            except UserError as e:
                assert str(path) in str(e)
            else:
                assert {"step", "gan", "optim", "rng"} <= set(ckpt)
