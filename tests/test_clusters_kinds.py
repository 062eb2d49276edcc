"""The kinds rule where the feature clusters are the kinds: a missing kind counts as missed mass and again as
misplaced fakes, so PRDC coverage (one count per real sample) must confirm collapse (known answers)."""

from __future__ import annotations

import pytest
import torch

from diagnostics.clusters import cluster_scores
from diagnostics.verdicts import CollapseThresholds, collapse_verdict

SHARES = torch.full((10,), 0.1)  # ten clusters, one per kind (digits: 11 clusters for 119 fakes)
HELD_OUT = torch.tensor([13.0, 11, 9, 12, 10, 8, 11, 9, 10, 7])  # 100 held-out images: sampling noise only
# digits' held-out ceiling as the zoo measured it (119 images against 718 reference images)
CEIL = {"fid": 0.054, "kid": 1e-5, "precision": 0.95, "recall": 0.97, "density": 1.0, "coverage": 0.51,
        "ndb": 0.03, "diversity": 1.0, "duplicates": 0.0, "cluster_p": 0.5, "cluster_kl": 0.04}
IV = {"fake": {"fid": [0.12, 0.15]}, "ceiling": {"fid": [0.044, 0.069]}}


def _kinds(drawn: int) -> torch.Tensor:
    """100 fakes spread evenly over the clusters of the first ``drawn`` kinds, none elsewhere."""
    return torch.tensor([100.0 / drawn if i < drawn else 0.0 for i in range(10)])


def _verdict(drawn: int, coverage_rel: float):
    fake = {**CEIL, **cluster_scores(_kinds(drawn), SHARES), "coverage": coverage_rel * CEIL["coverage"],
            "cluster_p": 0.0, "cluster_kl": 0.7}
    return collapse_verdict(fake, {**CEIL, **cluster_scores(HELD_OUT, SHARES)}, intervals=IV, num_clusters=10)


def test_five_of_ten_kinds_count_twice_in_the_clusters():
    ceiling = cluster_scores(HELD_OUT, SHARES)
    five = cluster_scores(_kinds(5), SHARES)
    assert five["cluster_mass"] == pytest.approx(0.5) and five["cluster_tv"] == pytest.approx(0.5)
    assert ceiling["cluster_mass"] == pytest.approx(1.0) and ceiling["cluster_tv"] == pytest.approx(0.07)
    # missed 50 % + misplaced 43 %: twice the half of the kinds that is gone
    assert _verdict(5, 0.81).scores["kinds_missed"] == pytest.approx(0.5 + 0.5 - 0.07)


@pytest.mark.parametrize(
    "drawn, coverage_rel, want",
    [
        (5, 0.81, "partial"),  # digits' 5 of 10 (zoo, case seed 1): coverage 81 % of held-out's
        (5, 0.71, "partial"),  # … seed 2: 71 %
        (2, 0.45, "collapsed"),  # digits' 2 of 10: coverage 40-45 %
        (2, 0.65, "collapsed"),  # Fashion-MNIST's 2 of 10 at its highest (n = 1,000, case seed 1)
        (1, 0.22, "collapsed"),  # digits' 1 of 10: 19-25 %
    ],
)
def test_coverage_decides_when_the_clusters_count_a_kind_twice(drawn, coverage_rel, want):
    v = _verdict(drawn, coverage_rel)
    assert v.scores["kinds_missed"] >= CollapseThresholds().kinds_collapsed  # every one of them crosses the sum
    assert v.verdict == want, v.sentence
    if want == "partial":
        assert f"but PRDC coverage {coverage_rel:.0%} of held-out real's > 68%" in v.sentence
    else:
        assert f"PRDC coverage {coverage_rel:.0%} of held-out real's ≤ 68%" in v.sentence


def test_coverage_never_calls_collapse_alone():
    # 7 of 10 kinds: 30 % missed + 23 % misplaced < 60 %; low coverage alone does not make it collapsed
    v = _verdict(7, 0.3)
    assert v.scores["kinds_missed"] < 0.6 and v.verdict == "partial", v.sentence
