"""Feature clusters of the real data: the collapse evidence for images without labels.

Without labels or known modes, :mod:`diagnostics.evaluate` fits k-means to the real reference features and reads
how the fakes fall into those clusters (the held-out real set, the ceiling, is read the same way). k grows with
the compared set: about ``CLUSTER_PER_BIN`` fakes per cluster, at least ``CLUSTER_MIN_REF`` reference samples per
cluster (so a cluster's real share is measured, not guessed), at most ``CLUSTER_MAX``. With more clusters each
one holds fewer kinds of image: at 20 clusters the contrastive features' clusters mixed kinds and styles, so one
Fashion-MNIST class spread over half of them.

Scores (keys of the evaluation's metrics):

=============  =====================================================================================================
clusters       clusters the set reaches: holding at least ``CAPTURE_SHARE`` of their real share (and at least one)
cluster_mass   the real data's mass in the clusters the set reaches at ≥ ``REACH_SHARE`` of their real share: the
               share of the real data the set covers, weighted by how much data each cluster holds (one kind of
               ten: ~10 % with clusters that follow kinds; held-out real ~100 %)
cluster_tv     total variation between the two cluster histograms (the share of the set that would have to move)
=============  =====================================================================================================

:mod:`diagnostics.evaluate` adds ``cluster_kl`` (KL(set ‖ real) of the histograms) and ``cluster_p`` (Pearson's χ²
test that both share one distribution) from the same counts.
"""

from __future__ import annotations

import torch

from . import metrics as M

__all__ = [
    "CLUSTER_PER_BIN",
    "CLUSTER_MIN_REF",
    "CLUSTER_MAX",
    "CAPTURE_SHARE",
    "REACH_SHARE",
    "cluster_bins",
    "cluster_counts",
    "captured",
    "reached_mass",
    "cluster_scores",
]

CLUSTER_PER_BIN = 10  # about this many fakes per cluster …
CLUSTER_MIN_REF = 10  # … at least this many reference samples per cluster (as NDB's bins) …
CLUSTER_MAX = 100  # … and at most this many clusters
CAPTURE_SHARE = 0.25  # a found mode or cluster counts as captured at ≥ 25 % of its real share
REACH_SHARE = CAPTURE_SHARE  # cluster_mass: the real share of the clusters the set reaches (as ``clusters``)


def cluster_bins(m: int, n_ref: int) -> int:
    """k-means clusters of ``n_ref`` real features for a compared set of ``m`` samples (at least 2)."""
    return int(max(2, min(CLUSTER_MAX, m // CLUSTER_PER_BIN, n_ref // CLUSTER_MIN_REF)))


def cluster_counts(feats: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """How many rows of ``feats`` fall nearest each centre (float64 counts)."""
    nearest = torch.from_numpy(M.nearest_center(feats.double().numpy(), centers.double().numpy()))
    return torch.bincount(nearest, minlength=centers.shape[0]).double()


def captured(counts: torch.Tensor, shares: torch.Tensor, n: int) -> float:
    """Modes (or clusters) holding at least CAPTURE_SHARE of their real share of ``n`` samples (and at least one)."""
    return float((counts.double() >= torch.clamp(CAPTURE_SHARE * shares * n, min=1.0)).sum())


def reached_mass(counts: torch.Tensor, shares: torch.Tensor, reach: float = REACH_SHARE) -> float:
    """The real share held by the clusters where the set's share is at least ``reach`` × the real share."""
    own = counts.double() / max(1.0, float(counts.sum()))
    return float(shares.double()[own >= reach * shares.double()].sum())


def cluster_scores(counts: torch.Tensor, shares: torch.Tensor) -> dict[str, float]:
    """``clusters``, ``cluster_mass`` and ``cluster_tv`` of one set's cluster ``counts`` against the real ``shares``."""
    n = float(counts.sum())
    return {
        "clusters": captured(counts, shares, int(n)),
        "cluster_mass": reached_mass(counts, shares),
        "cluster_tv": 0.5 * float((counts.double() / max(1.0, n) - shares.double()).abs().sum()),
    }
