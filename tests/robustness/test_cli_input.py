"""Robustness, bad CLI input: every bad flag or value is one line `ganbench: error: …`, exit 2, with nothing
written; conflicting --resume flags are named; fuzzed arguments never reach an internal error.

Commands run in-process through ``ganbench.cli.main``; runs are a few steps of a tiny GAN.
"""

from __future__ import annotations

import io
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganbench.cli import main
from tests.helpers.robust import (
    CUDA,
    _fill,
    assert_kept,
    cli,
    one_error_line,
    snapshot,
)

pytestmark = pytest.mark.usefixtures("isolated_cache")


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


# ---- fuzzing the CLI's arguments ----------------------------------------------------------------


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
