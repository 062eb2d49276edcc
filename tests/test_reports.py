"""Run reports: built from a tiny real run; every image decodes, every section is there, no network, verdicts match."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from reports.load import load_run
from reports.run_report import RUN_SECTIONS, build_run_report
from tests.helpers.reports import check_self_contained, write_synthetic_run


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """mnist_mlp on digits for 12 steps through gans.training.train, with diagnostics when importable."""
    import os

    from gans.training.loop import TrainConfig, train

    tmp = tmp_path_factory.mktemp("runrep")
    old = os.environ.get("GANBENCH_CACHE")
    os.environ["GANBENCH_CACHE"] = str(tmp / "cache")
    try:
        from diagnostics.live import training_callbacks

        callbacks = training_callbacks(eval_samples=200, features="random-conv")
        cfg = TrainConfig(
            gan="mnist_mlp",
            dataset="digits",
            batch_size=32,
            steps=12,
            device="cpu",
            seed=0,
            log_every=2,
            eval_every=6,
            sample_every=4,
        )
        res = train(cfg, tmp / "run", callbacks=callbacks, progress=False)
    finally:
        if old is None:
            os.environ.pop("GANBENCH_CACHE", None)
        else:
            os.environ["GANBENCH_CACHE"] = old
    assert res.status == "finished"
    return tmp / "run", bool(callbacks)


def test_run_report_from_real_run(real_run):
    run_dir, with_diag = real_run
    html = build_run_report(run_dir)
    n = check_self_contained(html)
    for sid in (*RUN_SECTIONS, "sources"):
        assert f'data-section="{sid}"' in html, sid
    # the data set is named prominently, and every source file is listed
    assert '<span class="dataset">digits</span>' in html
    assert str(run_dir / "config.json") in html and str(run_dir / "metrics.jsonl") in html
    samples = sorted((run_dir / "samples").glob("*.png"))
    assert len(samples) == 3  # steps 4, 8, 12
    for s in samples:
        assert s.name in html
    # loss plot + D plot + timing plot + 3 grids (+ quality plot with diagnostics)
    assert n >= 6 + (1 if with_diag else 0)
    run = load_run(run_dir)
    if with_diag:
        assert run.evals, "diagnostics evaluated at steps 6 and 12"
        assert "real-data ceiling" in html
        v = json.loads((run_dir / "verdicts.json").read_text())
        for name, entry in v.items():
            assert _sentence(html, name) == entry["sentence"]
    # timing numbers are the medians of the logged intervals
    ips = sorted(r["time/images_per_s"] for r in run.scalars)[1:] if len(run.scalars) > 2 else []
    assert run.timing()["images_per_s"] is not None and ips


def _sentence(html: str, name: str) -> str:
    import html as h

    m = re.search(rf'<span class="verdict-sentence" data-verdict="{re.escape(name)}">(.*?)</span>', html, re.S)
    assert m, f"no sentence for {name}"
    return h.unescape(m.group(1))


def test_verdicts_and_quality_from_metrics_then_verdicts_json(tmp_path):
    sent_eq = "D dominates since step 30: mean D(x)=0.95, D(G(z))=0.04 (threshold 0.8/0.2)"
    sent_col = "partial collapse: 6 of 10 classes covered"
    run = write_synthetic_run(
        tmp_path / "r",
        batch_size=96,
        epochs=3,
        evals=[{"fid": 80.0, "coverage": 0.3}, {"fid": 40.0, "coverage": 0.5}],
        ceiling={"fid": 3.0, "coverage": 0.95},
        verdicts=[(1, "balanced", "balanced since step 1"), (30, "d_dominates", sent_eq)],
        collapse=("partial", sent_col),
    )
    html = build_run_report(run)
    check_self_contained(html)
    assert _sentence(html, "equilibrium") == sent_eq  # the last verdict event in metrics.jsonl
    assert _sentence(html, "collapse") == sent_col  # the last eval record's verdict
    # the verdict timeline lists both changes; the quality table carries final values and ceilings
    assert "balanced since step 1" in html and html.count('class="verdict v-d_dominates"') >= 2
    q = html[html.index('data-section="quality"') : html.index('data-section="samples"')]
    assert "<img" in q and ">40<" in q and ">3<" in q and ">0.95<" in q
    # verdicts.json, when present, wins
    (run / "verdicts.json").write_text(
        json.dumps(
            {
                "equilibrium": {"verdict": "balanced", "since_step": 9, "sentence": "balanced since step 9: final"},
                "collapse": {"verdict": "healthy", "sentence": "healthy: all 10 classes"},
            }
        )
    )
    html = build_run_report(run)
    assert _sentence(html, "equilibrium") == "balanced since step 9: final"
    assert _sentence(html, "collapse") == "healthy: all 10 classes"
    assert str(run / "verdicts.json") in html


def test_critic_report_plots_gap_not_probabilities(tmp_path):
    run = write_synthetic_run(
        tmp_path / "w", batch_size=64, epochs=2, gan="dcgan", gan_kind="critic", loss_kind="wasserstein"
    )
    html = build_run_report(run)
    check_self_contained(html)
    assert "critic gap" in html.lower()
    assert 'alt="D(x) and D(G(z)) with verdict bands"' not in html  # no probability panel for critics
    assert "no 0.5 line" in html


def test_report_without_metrics_is_still_a_page(tmp_path):
    run = write_synthetic_run(tmp_path / "r", batch_size=96, epochs=1)
    (run / "metrics.jsonl").unlink()
    html = build_run_report(run)
    assert "No scalars logged" in html and "No quality evaluations" in html


def test_cli_report_index_and_errors(real_run, tmp_path, capsys):
    run_dir, _ = real_run
    other = shutil.copytree(run_dir, tmp_path / "copy")
    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "-m", "ganbench", "report", str(run_dir), str(other), "-o", f"{out}/"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    index = (out / "index.html").read_text()
    assert 'href="run.html"' in index and 'href="copy.html"' in index
    assert (out / "run.html").stat().st_size > 10_000
    from ganbench.cli import main

    assert main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.strip().startswith("ganbench: error:") and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["index", str(out)]) == 0
