"""compare-batch: numbers equal the run directories'; the conclusion follows the data."""

from __future__ import annotations

import html as h
import json
import re
import subprocess
import sys

import pytest

from gans.training.rundir import read_metrics
from reports.compare import build_comparison, write_comparison_report
from tests.helpers.reports import write_synthetic_run

CEIL = {"fid": 2.0, "coverage": 0.97, "precision": 0.9}


def _pair(tmp_path, fid96, fid512, cov96=0.5, cov512=0.5, seed=0, tag="a"):
    r96 = write_synthetic_run(
        tmp_path / f"{tag}96s{seed}",
        batch_size=96,
        seed=seed,
        epochs=6,
        images_per_s=900.0,
        loss_g=2.0,
        evals=[{"fid": fid96 * 2, "coverage": cov96 / 2}, {"fid": fid96, "coverage": cov96}],
        ceiling=CEIL,
    )
    r512 = write_synthetic_run(
        tmp_path / f"{tag}512s{seed}",
        batch_size=512,
        seed=seed,
        epochs=6,
        images_per_s=2400.0,
        loss_g=3.0,
        evals=[{"fid": fid512 * 2, "coverage": cov512 / 2}, {"fid": fid512, "coverage": cov512}],
        ceiling=CEIL,
    )
    return [r96, r512]


def test_conclusion_flips_when_the_data_does(tmp_path):
    c1 = build_comparison(_pair(tmp_path, fid96=40.0, fid512=80.0, cov96=0.8, cov512=0.4, tag="x"))
    c2 = build_comparison(_pair(tmp_path, fid96=80.0, fid512=40.0, cov96=0.4, cov512=0.8, tag="y"))
    j1, j2 = c1.conclusion.judged, c2.conclusion.judged
    assert j1["fid at_equal_epochs"].winner == 96 and j2["fid at_equal_epochs"].winner == 512
    assert j1["coverage at_equal_epochs"].winner == 96 and j2["coverage at_equal_epochs"].winner == 512
    assert "batch 96 gave the better samples at equal epochs on 2 of 2" in c1.conclusion.headline
    assert "batch 512 gave the better samples at equal epochs on 2 of 2" in c2.conclusion.headline
    assert c1.conclusion.text != c2.conclusion.text
    # by how much: FID 40 vs 80 is 50 % lower; coverage 0.8 vs 0.4 is 100 % higher
    s = c1.conclusion.sentences
    assert any(
        x.startswith("fid at equal epochs (6): batch 96 was better — 40.0 vs 80.0 for batch 512 (50% lower)") for x in s
    ), s
    assert any(
        "coverage at equal epochs (6): batch 96 was better — 0.800 vs 0.400 for batch 512 (100% higher)" in x for x in s
    ), s
    # throughput: 2400 vs 900 images/s = 2.67×
    assert j1["images_per_s"].winner == 512
    assert any("2.67× as many" in x for x in s)
    # the notes' loss claim is stated as numbers
    assert "final G loss batch 96: 2.00, batch 512: 3.00" in " ".join(c1.conclusion.summary)


def test_equal_wall_time_point_and_eval_pauses(tmp_path):
    # batch 512 is 4x faster per image; T = batch 512's last eval; batch 96 contributes its eval nearest T
    runs = _pair(tmp_path, fid96=30.0, fid512=60.0)
    c = build_comparison(runs)
    s96, s512 = sorted(c.runs, key=lambda s: s.batch_size)
    assert c.equal_train_wall_s == pytest.approx(s512.evals[-1].train_wall_s)
    T = c.equal_train_wall_s
    want = min(s96.evals, key=lambda e: abs(e.train_wall_s - T))
    assert s96.at_equal_wall.step == want.step
    # evaluation pauses (eval_time records) are excluded from training wall time
    r = write_synthetic_run(
        tmp_path / "paused",
        batch_size=96,
        epochs=6,
        images_per_s=900.0,
        evals=[{"fid": 1.0}, {"fid": 2.0}],
        eval_pause_s=50.0,
    )
    c = build_comparison([r, runs[1]])
    sp = [s for s in c.runs if s.batch_size == 96][0]
    assert sp.evals[-1].train_wall_s == pytest.approx(s96.evals[-1].train_wall_s, rel=1e-6)
    assert sp.evals[-1].wall_s > sp.evals[-1].train_wall_s + 49


def test_seed_spread_decides_clear_wins(tmp_path):
    # FID 50±10 vs 55±10 over two seeds: within the spread → no clear winner
    runs = _pair(tmp_path, 40.0, 45.0, seed=0, tag="s") + _pair(tmp_path, 60.0, 65.0, seed=1, tag="s")
    c = build_comparison(runs)
    j = c.conclusion.judged["fid at_equal_epochs"]
    assert j.winner == 96 and j.n == 2 and not j.clear
    assert j.spread_sd == pytest.approx(14.142, rel=1e-3)
    assert "not a clear win" in " ".join(c.conclusion.sentences)
    assert "no batch size was clearly better" in c.conclusion.headline
    # FID 40/41 vs 80/81: far beyond the spread
    runs = _pair(tmp_path, 40.0, 80.0, seed=0, tag="t") + _pair(tmp_path, 41.0, 81.0, seed=1, tag="t")
    j = build_comparison(runs).conclusion.judged["fid at_equal_epochs"]
    assert j.winner == 96 and j.clear


@pytest.mark.slow
def test_compare_batch_cli_numbers_match_run_dirs(tmp_path):
    out = tmp_path / "cmp"
    env = {**__import__("os").environ, "GANBENCH_CACHE": str(tmp_path / "cache")}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "ganbench",
            "compare-batch",
            "mnist_mlp",
            "--batch-sizes",
            "96",
            "512",
            "--dataset",
            "digits",
            "--epochs",
            "2",
            "--evals",
            "2",
            "--eval-samples",
            "200",
            "--features",
            "random-conv",
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "answer:" in r.stdout and "comparison.html" in r.stdout
    comp = json.loads((out / "comparison.json").read_text())
    page = (out / "comparison.html").read_text()
    index = (out / "index.html").read_text()
    assert (
        'href="comparison.html"' in index
        and 'href="run-mnist_mlp-bs96-seed0.html"' in index
        and 'href="run-mnist_mlp-bs512-seed0.html"' in index
    )
    assert comp["batch_sizes"] == [96, 512] and comp["dataset"] == "digits"
    for s in comp["runs"]:
        rd = out / "runs" / f"mnist_mlp-bs{s['batch_size']}-seed0"
        scalars = read_metrics(rd, "scalars")
        evals = read_metrics(rd, "eval")
        assert s["steps"] == scalars[-1]["step"] == 2 * {96: 14, 512: 2}[s["batch_size"]]
        for k, v in s["final_scalars"].items():
            assert v == scalars[-1][k]
        # one definition of throughput everywhere: training images / training seconds (evaluations excluded),
        # the run's own figures from its finished event
        (fin,) = [e for e in read_metrics(rd, "event") if e.get("event") == "finished"]
        assert s["images_per_s"] == pytest.approx(fin["images_per_s"])
        assert s["train_wall_s"] == pytest.approx(fin["train_s"])
        assert len(evals) == 2 and [e["epoch"] for e in evals] == [1.0, 2.0]
        assert s["at_equal_epochs"]["metrics"] == evals[-1]["metrics"]
        for m, v in evals[-1]["metrics"].items():
            if m in comp["metrics"]:  # the HTML shows the same number
                cell = re.search(
                    rf'data-measure="{m}" data-point="at_equal_epochs" data-batch="{s["batch_size"]}" '
                    r'data-value="([^"]+)"',
                    page,
                )
                assert cell and float(h.unescape(cell.group(1))) == pytest.approx(v)


def test_comparison_report_files(tmp_path):
    runs = _pair(tmp_path, 40.0, 80.0)
    comp = write_comparison_report(runs, tmp_path / "out", plan={"diagnostics": True})
    page = (tmp_path / "out" / "comparison.html").read_text()
    for sid in (
        "config",
        "conclusion",
        "curves-epochs",
        "curves-wall",
        "quality",
        "throughput",
        "verdicts",
        "samples",
        "sources",
    ):
        assert f'data-section="{sid}"' in page, sid
    assert h.escape(comp.conclusion.headline) in page
    assert (
        json.loads((tmp_path / "out" / "comparison.json").read_text())["conclusion"]["headline"]
        == comp.conclusion.headline
    )
    assert (tmp_path / "out" / "index.html").is_file()


def test_compare_batch_dry_run_and_user_errors(tmp_path, capsys):
    from ganbench.cli import main

    assert main(["compare-batch", "mnist_mlp", "--batch-sizes", "96", "--dry-run"]) == 2
    assert "at least two different sizes" in capsys.readouterr().err
    assert main(["compare-batch", "mnist_mlp", "--batch-sizes", "96", "512", "--epochs", "0"]) == 2
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "ganbench",
            "compare-batch",
            "mnist_mlp",
            "--batch-sizes",
            "96",
            "512",
            "--dry-run",
            "--out",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    comp = json.loads((tmp_path / "d" / "comparison.json").read_text())
    assert [s["steps"] for s in comp["runs"]] == [2, 2] and comp["dataset"] == "fake"


def test_time_budget_stops_each_run_within_one_log_interval(tmp_path):
    """compare-batch's runs are ordinary run directories of the one loop, which stops at the first
    logged step at or past the budget: the last logged train_s is ≥ S and the one before is < S."""
    from bench.compare_batch import compare_batch

    budget = 2.0
    runs = compare_batch(
        "mnist_mlp",
        [16, 64],
        out=tmp_path / "tb",
        time_budget=budget,
        dataset="digits",
        device="cpu",
        diagnostics=False,
        progress=False,
        evals=1,
        log=lambda m: None,
    )
    for rd in runs.run_dirs:
        assert (rd / "config.json").is_file() and (rd / "checkpoint.pt").is_file()
        scalars = read_metrics(rd, "scalars")
        train_s = [r["train_s"] for r in scalars]
        assert len(train_s) >= 2, train_s
        assert train_s[-1] >= budget > train_s[-2], train_s[-3:]
        interval = train_s[-1] - train_s[-2]
        assert train_s[-1] - budget <= interval
        assert any(r.get("event") == "finished" for r in read_metrics(rd, "event"))
    comp = write_comparison_report(runs.run_dirs, tmp_path / "tb", plan=runs.plan)
    assert comp.plan["time_budget_s"] == budget
    assert "of training per run" in (tmp_path / "tb" / "comparison.html").read_text()
