"""Verdict rules on hand-made scores (known answers), and the comparison's interval rule."""

from __future__ import annotations

import pytest

from diagnostics.verdicts import collapse_verdict, quality_verdict, separated

CEIL = {"fid": 2.0, "kid": 0.001, "precision": 0.8, "recall": 0.8, "density": 1.0, "coverage": 0.8, "ndb": 0.05}


def test_prdc_alarm_needs_separated_intervals():
    fake = {**CEIL, "coverage": 0.4, "recall": 0.5, "fid": 2.6}
    overlap = {"fake": {"fid": [1.9, 3.3]}, "ceiling": {"fid": [1.5, 2.5]}}
    apart = {"fake": {"fid": [2.55, 2.7]}, "ceiling": {"fid": [1.5, 2.5]}}
    assert collapse_verdict(fake, CEIL, intervals=overlap).verdict == "healthy"  # sampling noise: no alarm
    v = collapse_verdict(fake, CEIL, intervals=apart)
    assert v.verdict == "partial" and "coverage" in v.sentence and "[2.55, 2.7]" in v.sentence


def test_fid_ratio_decides_without_mode_or_class_signal():
    apart = {"fake": {"fid": [25.0, 30.0]}, "ceiling": {"fid": [1.5, 2.5]}}
    assert collapse_verdict({**CEIL, "fid": 27.0}, CEIL, intervals=apart).verdict == "collapsed"  # 13.5×
    apart = {"fake": {"fid": [5.5, 6.5]}, "ceiling": {"fid": [1.5, 2.5]}}
    assert collapse_verdict({**CEIL, "fid": 6.0}, CEIL, intervals=apart).verdict == "partial"  # 3×
    # far from the data: a quality problem, not collapse
    far = {**CEIL, "fid": 27.0, "precision": 0.1, "density": 0.05}
    apart = {"fake": {"fid": [25.0, 30.0]}, "ceiling": {"fid": [1.5, 2.5]}}
    assert collapse_verdict(far, CEIL, intervals=apart).verdict == "healthy"
    assert quality_verdict(far, CEIL).verdict == "poor"


# The seed MNIST GAN at batch 96 (10 epochs on glyphs; the classifier path: 6 of 10 classes, partial), scored
# without labels by the contrastive features: 1,000 fakes, 1,000 held-out real, 5,000 reference images.
GAN_UNLABELLED = {"fid": 0.342, "kid": 0.00111, "diversity": 0.751, "duplicates": 0.0, "precision": 0.896,
                  "recall": 0.269, "density": 0.824, "coverage": 0.262, "ndb": 0.75, "clusters": 12.0,
                  "cluster_kl": 0.685, "cluster_p": 0.0, "cluster_tv": 0.496}
REAL_UNLABELLED = {"fid": 0.0163, "kid": 2.3e-06, "diversity": 1.002, "duplicates": 0.0, "precision": 0.957,
                   "recall": 0.957, "density": 0.995, "coverage": 0.602, "ndb": 0.05, "clusters": 20.0,
                   "cluster_kl": 0.014, "cluster_p": 0.233, "cluster_tv": 0.068}
GAN_INTERVALS = {"fake": {"fid": [0.334, 0.357]}, "ceiling": {"fid": [0.0134, 0.0194]}}


def test_six_of_ten_kinds_without_labels_is_partial_not_collapsed():
    v = collapse_verdict(GAN_UNLABELLED, REAL_UNLABELLED, intervals=GAN_INTERVALS)
    assert v.verdict == "partial", v.sentence
    assert "feature clusters 12 vs real 20" in v.sentence and "50% of the fakes" not in v.sentence
    # FID 21× a tiny ceiling says the sets differ (partial), not that the kinds are gone
    assert "FID 21.0× the ceiling's" in v.sentence
    # the same set with 70 % of its mass in the wrong clusters (about 3 of 10 kinds drawn) is collapsed
    v = collapse_verdict({**GAN_UNLABELLED, "cluster_tv": 0.70}, REAL_UNLABELLED, intervals=GAN_INTERVALS)
    assert v.verdict == "collapsed" and "70% of the fakes would have to move" in v.sentence
    # … and so is one where only a third of the clusters are drawn
    v = collapse_verdict({**GAN_UNLABELLED, "clusters": 6.0}, REAL_UNLABELLED, intervals=GAN_INTERVALS)
    assert v.verdict == "collapsed" and "feature clusters 6 vs real 20 (30%)" in v.sentence
    # without any cluster signal, the FID ratio alone still calls it collapsed
    bare = {k: v for k, v in GAN_UNLABELLED.items() if not k.startswith("cluster")}
    bare_c = {k: v for k, v in REAL_UNLABELLED.items() if not k.startswith("cluster")}
    assert collapse_verdict(bare, bare_c, intervals=GAN_INTERVALS).verdict == "collapsed"


def test_a_cluster_imbalance_counts_only_where_the_chi2_test_agrees():
    # 30 held-out digits (zoo case seed 2): a KL of sampling noise, with χ² p = 0.007
    fake = {**CEIL, "clusters": 3.0, "cluster_kl": 0.19, "cluster_p": 7.3e-3, "cluster_tv": 0.288}
    ceil = {**CEIL, "clusters": 3.0, "cluster_kl": 0.03, "cluster_p": 0.5, "cluster_tv": 0.2}
    assert collapse_verdict(fake, ceil).verdict == "healthy"
    v = collapse_verdict({**fake, "cluster_p": 1e-5}, ceil)
    assert v.verdict == "partial" and "feature-cluster histogram KL 0.19" in v.sentence
    # class histograms have no such test: their KL rule stands alone
    v = collapse_verdict({**CEIL, "class_kl": 0.19}, {**CEIL, "class_kl": 0.03})
    assert v.verdict == "partial" and "class histogram KL 0.19" in v.sentence


def test_missing_modes_far_from_data_are_not_collapse():
    fake = {**CEIL, "modes": 0.0, "high_quality": 0.01, "precision": 0.01}
    ceil = {**CEIL, "modes": 8.0, "high_quality": 1.0}
    v = collapse_verdict(fake, ceil)
    assert v.verdict == "partial" and "poor quality" in v.sentence
    assert collapse_verdict({**fake, "precision": 0.8, "high_quality": 1.0}, ceil).verdict == "collapsed"


def test_missing_classes_are_named_when_they_decide():
    fake, ceil = {**CEIL, "class_coverage": 0.6}, {**CEIL, "class_coverage": 1.0}
    v = collapse_verdict(fake, ceil, num_classes=10, missing_classes=[1, 2, 4, 7])
    assert v.verdict == "partial" and "confident classes 6 of 10 vs real 10 (60%; not drawn: 1, 2, 4, 7)" in v.sentence
    names = [f"c{i}" for i in range(10)]
    v = collapse_verdict(fake, ceil, num_classes=10, missing_classes=[1, 2, 4, 7], class_names=names)
    assert "(60%; not drawn: c1, c2, c4, c7)" in v.sentence
    # 9 of 10 is close enough to healthy: the one missing class is not the verdict's reason, so not named
    v = collapse_verdict({**CEIL, "class_coverage": 0.9}, ceil, num_classes=10, missing_classes=[7])
    assert v.verdict == "healthy" and "not drawn" not in v.sentence


def test_sharpness_cues():
    assert quality_verdict({**CEIL, "sharpness": 0.05}, {**CEIL, "sharpness": 0.2}).verdict == "poor"  # blur
    assert quality_verdict({**CEIL, "sharpness": 0.5}, {**CEIL, "sharpness": 0.2}).verdict == "poor"  # noise
    assert quality_verdict({**CEIL, "sharpness": 0.21}, {**CEIL, "sharpness": 0.2}).verdict == "good"


def test_separated():
    assert separated([3, 4], [1, 2.9]) and not separated([3, 4], [1, 3.1]) and not separated(None, [1, 2])


def test_comparison_calls_a_difference_only_when_intervals_separate():
    from diagnostics.comparison import Measure, Stats, judge

    by_batch = {16: Stats(10.0, None, 1), 64: Stats(14.0, None, 1)}
    meas = Measure("fid", "at_equal_epochs", "lower", None, by_batch, {16: [8.0, 12.5], 64: [12.0, 16.0]})
    j = judge(meas)
    assert j.winner == 16 and j.intervals_separate is False and not j.clear
    meas.intervals = {16: [8.0, 11.0], 64: [12.0, 16.0]}
    j = judge(meas)
    assert j.intervals_separate is True and j.clear


# Fashion-MNIST without labels (zoo, 1,000 fakes, 100 feature clusters): the real data's share of the clusters the
# fakes reach, and how many of the fakes sit in the wrong clusters, against held-out real's
KINDS_REAL = {**CEIL, "clusters": 99.0, "cluster_mass": 0.99, "cluster_tv": 0.12, "cluster_p": 0.9, "cluster_kl": 0.01}


def test_kinds_rule_adds_the_mass_missed_and_the_fakes_misplaced():
    # 2 of 10 classes: 35 % missed + 33 % misplaced, and PRDC coverage 53 % of held-out's (as measured)
    two = {**CEIL, "clusters": 52.0, "cluster_mass": 0.64, "cluster_tv": 0.45, "cluster_p": 0.0, "cluster_kl": 0.5,
           "coverage": 0.424}
    v = collapse_verdict(two, KINDS_REAL, num_clusters=100)
    assert v.verdict == "collapsed", v.sentence
    assert "PRDC coverage 53% of held-out real's ≤ 68%" in v.sentence
    assert "holding 64% of the real data's mass (52 of 100 clusters; held-out real 99%)" in v.sentence
    assert v.scores["kinds_missed"] == pytest.approx(1 - 0.64 / 0.99 + 0.33)
    five = {**two, "cluster_mass": 0.70, "cluster_tv": 0.37, "coverage": 0.64}  # 5 of 10: 29 % + 25 % < 60 %
    v = collapse_verdict(five, KINDS_REAL, num_clusters=100)
    assert v.verdict == "partial" and "71% of held-out real's < 90%" in v.sentence
    far = {**two, "precision": 0.1}  # far from the data: a quality problem, never collapse by the kinds rule
    assert collapse_verdict(far, KINDS_REAL, num_clusters=100).verdict != "collapsed"
    # under ten clusters the kinds cannot be weighed: the clusters reached are graded as modes, and it says so
    v = collapse_verdict({**two, "clusters": 5.0}, {**KINDS_REAL, "clusters": 8.0}, num_clusters=8)
    assert "kinds_missed" not in v.scores and "too few to weigh the real data's kinds" in v.sentence
