"""The comparison's conclusion on known answers: failed runs, meaningless ties, load changes."""

from __future__ import annotations

import json
from pathlib import Path

from diagnostics.comparison import EvalPoint, RunQuality, RunSummary, load_change, run_quality
from reports.compare import build_comparison
from tests.helpers.reports import write_synthetic_run

FAILED = {"fid": 1100.0, "precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
CEIL = {"fid": 18.0, "precision": 0.8, "recall": 0.8, "density": 1.0, "coverage": 0.95}


def _run(path, bs, final, *, ips=1000.0, ceiling=CEIL, patch=None):
    first = {k: (v * 2 if k == "fid" else v / 2) for k, v in final.items()}
    rd = write_synthetic_run(
        path, batch_size=bs, epochs=4, evals=[first, dict(final)], ceiling=ceiling, images_per_s=ips
    )
    if patch:
        lines = [json.loads(x) for x in (Path(rd) / "metrics.jsonl").read_text().splitlines()]
        for rec in lines:
            patch(rec)
        (Path(rd) / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return rd


def test_two_failed_runs_are_called_failures_first(tmp_path):
    c = build_comparison(
        [_run(tmp_path / "a", 96, FAILED), _run(tmp_path / "b", 512, {**FAILED, "fid": 1600.0}, ips=2500.0)]
    ).conclusion
    assert c.all_poor is True
    assert c.headline.startswith("mnist_mlp on digits: both runs failed")
    assert "gave the better samples" not in c.headline
    assert c.summary[0].startswith("Every run produced poor samples: batch 96: FID 1,100, 61× the real data's 18.0")
    assert "precision, recall, density and coverage all 0" in c.summary[0]
    assert c.text.startswith(c.headline)
    # all-zero precision/recall/density/coverage are no ties: they carry no signal
    for m in ("precision", "recall", "density", "coverage"):
        j = c.judged[f"{m} at_equal_epochs"]
        assert j.tie is False and j.no_signal is True
    assert not any(": a tie (" in s for s in c.sentences)
    no_signal = "coverage at equal epochs (4): 0.000 for every batch size — no signal"
    assert any(s.startswith(no_signal) for s in c.sentences)
    # FID still ranks them (1,100 < 1,600), but as the lesser failure
    assert c.judged["fid at_equal_epochs"].winner == 96
    assert "batch 96 was less bad" in c.headline


def test_good_runs_are_not_failures_and_real_ties_count(tmp_path):
    good = {"fid": 30.0, "precision": 0.6, "recall": 0.5, "density": 0.8, "coverage": 0.7}
    c = build_comparison(
        [_run(tmp_path / "a", 96, good), _run(tmp_path / "b", 512, {**good, "fid": 60.0, "coverage": 0.7})]
    ).conclusion
    assert c.all_poor is False and not any("poor" in s for s in c.summary)
    assert c.judged["coverage at_equal_epochs"].tie is True
    assert any(s.startswith("coverage at equal epochs (4): a tie (0.700)") for s in c.sentences)
    assert "batch 96 gave the better samples at equal epochs" in c.headline


def test_one_failed_run_is_named(tmp_path):
    good = {"fid": 30.0, "precision": 0.6, "recall": 0.5, "density": 0.8, "coverage": 0.7}
    c = build_comparison([_run(tmp_path / "a", 96, good), _run(tmp_path / "b", 512, FAILED)]).conclusion
    assert c.all_poor is False
    assert any(
        s.startswith("Poor samples from batch 512 (FID 1,100") and "usable samples from batch 96" in s
        for s in c.summary
    )


def test_quality_verdict_decides_when_present(tmp_path):
    def verdict(v):
        def patch(rec):
            if rec.get("type") == "eval":
                rec["quality"] = {"verdict": v, "sentence": "…"}

        return patch

    # FID far above the ceiling, but the quality verdict says good: not a failure
    s_good = RunSummary(name="x", evals=[EvalPoint(metrics=FAILED, ceiling=CEIL, quality="good")])
    assert run_quality(s_good, CEIL).poor is False
    ok = {"fid": 30.0, "precision": 0.6, "recall": 0.5, "density": 0.8, "coverage": 0.7}
    c = build_comparison(
        [_run(tmp_path / "a", 96, ok, patch=verdict("poor")), _run(tmp_path / "b", 512, ok, patch=verdict("poor"))]
    ).conclusion
    assert c.all_poor is True and c.headline.startswith("mnist_mlp on digits: both runs failed")
    assert "quality verdict poor" in c.summary[0]


def test_cannot_tell_without_evaluations():
    assert run_quality(RunSummary(name="x", evals=[]), {}) == RunQuality(None, [])
    assert run_quality(_one({"diversity": 0.9}, {}), {}).poor is None


def test_equal_time_claims_warn_when_the_load_changed(tmp_path):
    def load(l1, cpu):
        def patch(rec):
            if rec.get("type") == "scalars":
                rec["load_1m"], rec["time/cpu_per_wall"] = l1, cpu

        return patch

    ok = {"fid": 30.0, "coverage": 0.7}
    quiet = build_comparison(
        [
            _run(tmp_path / "a", 96, ok, patch=load(0.4, 0.98)),
            _run(tmp_path / "b", 512, {**ok, "fid": 50.0}, ips=2500.0, patch=load(0.5, 0.97)),
        ]
    ).conclusion
    assert quiet.load.changed is False
    assert "Warning" not in " ".join(quiet.summary) and "not a fair timing" not in quiet.text
    busy = build_comparison(
        [
            _run(tmp_path / "c", 96, ok, patch=load(0.4, 0.98)),
            _run(tmp_path / "d", 512, {**ok, "fid": 50.0}, ips=2500.0, patch=load(6.0, 0.35)),
        ]
    ).conclusion
    assert busy.load.changed is True
    wall = next(s for s in busy.summary if s.startswith("At equal training time"))
    assert "Warning: the machine's load changed during the runs (load average 0.4 (batch 96), 6.0 (batch 512)" in wall
    assert any("trained faster" in s and "load changed" in s for s in busy.summary)
    assert any(s.startswith("images/s in throughput") and "not a fair timing" in s for s in busy.sentences)
    # the equal-epoch sentences carry no timing warning
    assert not any(s.startswith("fid at equal epochs") and "not a fair timing" in s for s in busy.sentences)
    # CPU time per wall second alone can show it
    assert (
        load_change([RunSummary(batch_size=96, cpu_per_wall=1.0), RunSummary(batch_size=512, cpu_per_wall=0.5)]).changed
        is True
    )
    assert load_change([RunSummary(batch_size=96), RunSummary(batch_size=512)]).changed is None
    # equally busy runs: no change, but the summary says the machine was busy
    starved = load_change([RunSummary(batch_size=96, cpu_per_wall=0.37), RunSummary(batch_size=512, cpu_per_wall=0.40)])
    assert starved.changed is False and starved.starved == [96, 512]
    assert not any("busy" in s for s in quiet.summary)


def test_far_fid_alone_is_not_failure_when_samples_cover_the_data():
    # one rule, the quality verdict's (precision and density against the real data's): the main job's real values
    real = {**MAIN_REAL, "fid": 7.3}
    # recognisable but noisy digits: FID 35× the ceiling, yet precision and density near the real data's
    noisy = {"fid": 255.0, "precision": 0.8, "recall": 0.37, "density": 0.52, "coverage": 0.38}
    assert run_quality(_one(noisy, real)).poor is False
    # noise blobs: density 30 % of the real data's (< 50 %), FID 154× named beside the verdict
    blobs = {"fid": 1123.0, "precision": 0.84, "recall": 0.0, "density": 0.29, "coverage": 0.013}
    q = run_quality(_one(blobs, real))
    assert q.poor is True and q.why[0].startswith("FID 1,123, 154× the real data's 7.30")
    assert q.why[-1] == "quality verdict poor: density 0.29 vs real 0.98 (30% < 50%)"
    # the comparison's ceiling fills in what an evaluation lacks
    assert run_quality(_one(blobs, {"fid": 7.3}), real).poor is True
    # FID alone is no quality verdict (it reads precision, density, modes and sharpness): cannot tell, never a
    # second rule; the run_quality of earlier versions called this poor
    assert run_quality(_one({"fid": 900.0}, {"fid": 7.3})).poor is None
    # a verdict recorded with the evaluation decides over the scores
    assert run_quality(_one(blobs, real, quality="good")) == RunQuality(False, ["quality verdict good", q.why[0]])


def _host(bs, load, cpu, *, cpus=2, threads=1):
    return RunSummary(batch_size=bs, load_1m=load, cpu_per_wall=cpu, cpus=cpus, threads=threads)


def _one(metrics, ceiling, quality=None):
    """A run with one evaluation."""
    return RunSummary(name="x", evals=[EvalPoint(metrics=metrics, ceiling=ceiling, quality=quality)])


def test_load_change_on_measured_main_jobs():
    # the main job beside a CI job on this 2-CPU machine: batch 96 got 17 % less CPU and trained 24 % slower
    beside_ci = load_change([_host(96, 2.43, 0.834), _host(512, 1.65, 0.999)])
    assert beside_ci.changed is True
    assert beside_ci.why.startswith("load average 2.4 (batch 96), 1.6 (batch 512) on 2 CPUs")
    # the same numbers from runs that did not log their CPU count and threads: the older, looser rules
    old = [_host(96, 2.43, 0.834, cpus=None, threads=None), _host(512, 1.65, 0.999, cpus=None, threads=None)]
    assert load_change(old).changed is False
    # two quiet main jobs (measured): nothing changed
    assert load_change([_host(96, 0.999, 0.9996), _host(512, 1.0, 0.9984)]).changed is False
    assert load_change([_host(96, 1.0, 0.9984), _host(512, 1.0, 0.9978)]).changed is False


def test_load_below_the_cpu_count_slows_no_one():
    # 1.0 against 1.9 on 2 CPUs: each thread still has a CPU; the looser rule without the count calls it a change
    assert load_change([_host(96, 1.0, 1.0), _host(512, 1.9, 0.99)]).changed is False
    assert load_change([_host(96, 1.0, 1.0, cpus=None), _host(512, 1.9, 0.99, cpus=None)]).changed is True
    # the same load on one CPU halves the share
    assert load_change([_host(96, 1.0, 1.0, cpus=1), _host(512, 1.9, 0.99, cpus=1)]).changed is True
    # just under and just over the share threshold: 2 / 2.15 = 0.93 (1.075×) and 2 / 2.3 = 0.87 (1.15×)
    assert load_change([_host(96, 2.15, 1.0, cpus=2), _host(512, 1.0, 1.0, cpus=2)]).changed is False
    assert load_change([_host(96, 2.3, 1.0, cpus=2), _host(512, 1.0, 1.0, cpus=2)]).changed is True
    # runs from two different machines: no one CPU count to read the loads against, so the looser rule
    assert load_change([_host(96, 1.0, 1.0, cpus=2), _host(512, 1.9, 0.99, cpus=16)]).changed is True


def test_cpu_per_wall_threshold_depends_on_threads():
    # one thread: 15 % less CPU time is a change; with 4 threads the batch size's own parallelism moves it as much
    assert load_change([_host(96, None, 0.85), _host(512, None, 1.0)]).changed is True
    assert load_change([_host(96, None, 0.95), _host(512, None, 1.0)]).changed is False
    assert load_change([_host(96, None, 3.1, threads=4), _host(512, None, 3.6, threads=4)]).changed is False
    assert load_change([_host(96, None, 2.5, threads=4), _host(512, None, 3.6, threads=4)]).changed is True
    assert load_change([_host(96, None, 0.85, threads=None), _host(512, None, 1.0, threads=None)]).changed is False


# The main job's evaluations at 10 epochs (measured: mnist_mlp on glyphs, seed 0) and the real data's own values.
MAIN_96 = {
    "fid": 250.17, "kid": 540.29, "diversity": 0.6824, "duplicates": 0.0, "class_coverage": 0.6, "class_kl": 0.3996,
    "class_max_share": 0.2235, "precision": 0.818, "recall": 0.387, "density": 0.5408, "coverage": 0.377,
    "ndb": 0.69, "ndb_js": 0.2759, "sharpness": 0.2244,
}  # fmt: skip
MAIN_512 = {
    "fid": 1140.48, "kid": 1841.55, "diversity": 0.2154, "duplicates": 0.0, "class_coverage": 0.2, "class_kl": 1.5372,
    "class_max_share": 0.6859, "precision": 0.842, "recall": 0.0, "density": 0.3402, "coverage": 0.017,
    "ndb": 0.96, "ndb_js": 0.614, "sharpness": 0.4504,
}  # fmt: skip
MAIN_REAL = {
    "fid": 7.26, "kid": -5.47, "diversity": 1.014, "duplicates": 0.0, "class_coverage": 1.0, "class_kl": 0.0116,
    "class_max_share": 0.1192, "precision": 0.949, "recall": 0.968, "density": 0.9784, "coverage": 0.966,
    "ndb": 0.05, "ndb_js": 0.0246, "sharpness": 0.2077,
}  # fmt: skip


def test_every_measure_is_ranked_in_its_own_direction(tmp_path):
    c = build_comparison(
        [_run(tmp_path / "a", 96, MAIN_96, ceiling=MAIN_REAL), _run(tmp_path / "b", 512, MAIN_512, ceiling=MAIN_REAL)]
    )
    judged = {k.split()[0]: j for k, j in c.conclusion.judged.items() if k.endswith("at_equal_epochs")}
    # KID lower; the largest class share, density and sharpness closest to the real data's: batch 96 on each
    # (a default of "higher is better" gave KID, the class share and sharpness to batch 512's collapsed, noisy samples)
    for m in ("kid", "class_max_share", "density", "sharpness", "fid", "recall", "coverage", "class_coverage"):
        assert judged[m].winner == 96 and judged[m].clear, m
    assert judged["duplicates"].tie and judged["precision"].winner == 512 and not judged["precision"].clear
    assert "At equal epochs (4): batch 96 won 12 of 14 quality measures." in c.conclusion.summary
    assert c.measures["density at_equal_epochs"].target == MAIN_REAL["density"]


def test_measures_without_a_known_direction_are_not_ranked(tmp_path):
    odd = {"fid": 30.0, "cluster_p": 0.9, "made_up": 5.0, "class_max_share": 0.3, "diversity": 0.5}
    other = {"fid": 50.0, "cluster_p": 0.1, "made_up": 1.0, "class_max_share": 0.9, "diversity": 2.0}
    # no real-data ceiling: a largest class share has no target, diversity (a ratio to the real data) aims at 1
    c = build_comparison([_run(tmp_path / "a", 96, odd, ceiling={}), _run(tmp_path / "b", 512, other, ceiling={})])
    judged = c.conclusion.judged
    for m in ("cluster_p", "made_up", "class_max_share"):
        assert c.measures[f"{m} at_equal_epochs"].better is None and f"{m} at_equal_epochs" not in judged
    assert judged["diversity at_equal_epochs"].winner == 96  # |0.5 − 1| < |2 − 1|
    assert "At equal epochs (4): batch 96 won 2 of 2 quality measures." in c.conclusion.summary
