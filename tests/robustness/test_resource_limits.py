"""Robustness, resource limits: bounds checked up front, write failures and out-of-memory are one line,
an internal error is one line with a log, sweep cells get a default timeout.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers.robust import (
    _fill,
    assert_kept,
    cli,
    one_error_line,
    snapshot,
)

pytestmark = pytest.mark.usefixtures("isolated_cache")


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
