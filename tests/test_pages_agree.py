"""One definition per figure: every page rendered from one compare-batch folder shows each run's images/s and
training wall time as the same number, and that number is training images ÷ training wall time (evaluations
excluded) from the run's own ``finished`` event — not the median over logged intervals, not the wall time with
evaluations."""

from __future__ import annotations

import html as h
import json
import os
import re
import subprocess
import sys

import pytest

from gans.training.rundir import read_metrics
from reports.html import fmt_num
from reports.load import load_run
from reports.run_report import write_run_report


def _tables(page: str) -> list[list[list[str]]]:
    """Every table of a page as rows of cell texts (tags stripped, entities decoded)."""
    out = []
    for t in re.findall(r"<table>(.*?)</table>", page, flags=re.S):
        rows = []
        for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", t, flags=re.S):
            cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, flags=re.S)
            rows.append([h.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells])
        out.append(rows)
    return out


def _column(page: str, header: str, key_col: str, key: str) -> str:
    """The cell under ``header`` in the row whose ``key_col`` cell is ``key``, in the first table that has both."""
    for t in _tables(page):
        head = t[0]
        if header in head and key_col in head:
            for row in t[1:]:
                if row[head.index(key_col)] == key:
                    return row[head.index(header)]
    raise AssertionError(f"no {header!r} for {key_col}={key!r}")


def _measure(page: str, label: str) -> str:
    """The value of a run report's measure/value row."""
    for t in _tables(page):
        for row in t[1:]:
            if row and row[0] == label:
                return row[1]
    raise AssertionError(f"no row {label!r}")


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("agree")
    out = tmp / "cmp"
    r = subprocess.run(
        [sys.executable, "-m", "ganbench", "compare-batch", "mnist_mlp", "--batch-sizes", "96", "512"]
        + ["--dataset", "digits", "--epochs", "2", "--evals", "2", "--eval-samples", "200"]
        + ["--features", "random-conv", "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "GANBENCH_CACHE": os.environ.get("GANBENCH_CACHE") or str(tmp / "cache")},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def test_every_page_shows_one_images_per_s_and_one_training_time(compared, tmp_path):
    out = compared
    comparison = (out / "comparison.html").read_text()
    comp = json.loads((out / "comparison.json").read_text())
    for s in comp["runs"]:
        rd = out / "runs" / s["name"]
        (fin,) = [e for e in read_metrics(rd, "event") if e.get("event") == "finished"]
        evals = [e for e in read_metrics(rd, "eval")]
        assert len(evals) == 2  # evaluations paused the run: wall time with them is longer
        ips, train_s = fin["images_per_s"], fin["train_s"]
        assert ips == pytest.approx(fin["step"] * s["batch_size"] / train_s)
        assert fin["wall_s"] > train_s
        # comparison.json, the comparison page (setup and throughput tables), the run report it links, and a
        # run report rendered on its own by `ganbench report`'s writer
        assert s["images_per_s"] == pytest.approx(ips) and s["train_wall_s"] == pytest.approx(train_s)
        assert _column(comparison, "training wall time (s)", "run", s["name"]) == fmt_num(train_s)
        assert _column(comparison, "images/s", "run", s["name"]) == fmt_num(ips)
        write_run_report(rd, tmp_path / f"{s['name']}.html")
        for page in ((out / f"run-{s['name']}.html").read_text(), (tmp_path / f"{s['name']}.html").read_text()):
            assert _measure(page, "images/s (training images ÷ training wall time)") == fmt_num(ips)
            assert _measure(page, "training wall time (s, evaluations excluded)") == fmt_num(train_s)
            assert _measure(page, "wall time with evaluations (s)") == fmt_num(fin["wall_s"])
            assert _measure(page, "ms/step (training wall time ÷ steps)") == fmt_num(1000 * train_s / fin["step"])
            # one judgement of the machine while it trained, on both pages
            machine = _column(comparison, "machine while training", "run", s["name"])
            assert machine.split(":")[0] in ("clean", "DISTURBED")
            assert _measure(page, "machine while training (load, CPU/wall per thread)").split(":")[0] == (
                machine.split(":")[0]
            )
        # the median over intervals is its own figure, labelled as such and computed as such
        tm = load_run(rd).timing()
        scal = [r for r in read_metrics(rd, "scalars") if "time/images_per_s" in r]
        vals = sorted(r["time/images_per_s"] for r in (scal[1:] if len(scal) > 2 else scal))
        mid = len(vals) // 2
        median = vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2
        assert tm["interval_images_per_s"] == pytest.approx(median)
        assert _measure(page, "images/s, median over logged intervals") == fmt_num(median)
    assert "median over logged intervals" not in comparison  # the comparison shows the one definition only
