"""The main job end to end: compare-batch with its defaults draws digits of most classes (slow)."""

from __future__ import annotations

import json

import pytest

from tests.helpers.digits import recognised_classes


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.xfail(
    strict=False,
    reason="the seed's MLP GAN at batch 96 draws 6 classes (0 3 5 6 8 9) at ≥ 2 % with confidence ≥ 0.9: at 10, 15, "
    "20 and 30 epochs, for seeds 0 and 1, and on every glyph recipe tried (thinner strokes, no elastic, sans fonts, "
    "one font: 5); the classifier is as sure about uniform noise (53 %) as about the samples (59 %)",
)
def test_main_job_winning_batch_draws_digits_of_seven_classes(tmp_path):
    from bench.compare_batch import compare_batch
    from reports.compare import write_comparison_report

    # the main job's defaults: glyphs, 10 epochs, 5 evaluations of 1,000 samples (cached data and classifier)
    runs = compare_batch("mnist_mlp", [96, 512], out=tmp_path / "cmp", dataset="glyphs", progress=False)
    comp = write_comparison_report(runs.run_dirs, tmp_path / "cmp", plan=runs.plan)
    fid = comp["conclusion"]["judged"]["fid at_equal_epochs"]
    assert fid["winner"] is not None, comp["conclusion"]["text"]
    assert not comp["conclusion"]["all_poor"], comp["conclusion"]["text"]
    winner = next(d for d in runs.run_dirs if f"-bs{fid['winner']}-" in d.name)
    verdicts = json.loads((winner / "verdicts.json").read_text())
    assert verdicts["collapse"]["verdict"] in ("healthy", "partial"), verdicts
    if "quality" in verdicts:
        assert verdicts["quality"]["verdict"] != "poor", verdicts
    seen = recognised_classes(winner, n=1000)
    assert seen["classifier_test_accuracy"] > 0.95
    assert len(seen["classes"]) >= 7, seen
    assert seen["recognised_share"] >= seen["noise_share"] + 0.3, seen
