"""Diversity ratio: mean pairwise distance of fake over real samples."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._common import ArrayLike, _as_features, _check_positive_int, _check_same_dim, _row_block


@dataclass(frozen=True)
class DiversityResult:
    """Mean pairwise Euclidean distance of fake samples relative to real ones."""

    ratio: float
    fake_mean_dist: float
    real_mean_dist: float
    n_real: int
    n_fake: int


def _mean_pairwise_distance(x: torch.Tensor, max_pairs: int, seed: int) -> float:
    """Mean Euclidean distance over pairs i != j (exact or sampled)."""
    n = x.shape[0]
    if n * (n - 1) // 2 <= max_pairs:
        # Exact: sum the full matrix blockwise.  The direct (non-matmul) mode is
        # used because it is exact on the diagonal and n is small here anyway.
        total = torch.zeros((), dtype=torch.float64, device=x.device)
        rows = _row_block(n)
        for s in range(0, n, rows):
            d = torch.cdist(x[s : s + rows], x, compute_mode="donot_use_mm_for_euclid_dist")
            total = total + d.sum()
        # diagonal entries are exactly 0, so dividing by n(n-1) excludes i == j
        return float(total) / (n * (n - 1))
    # Sampled: uniform i, and j uniform over the other n-1 points, drawn from a
    # seeded CPU generator so the estimate is reproducible across devices.
    g = torch.Generator().manual_seed(seed)
    i = torch.randint(0, n, (max_pairs,), generator=g)
    j = (i + torch.randint(1, n, (max_pairs,), generator=g)) % n
    total = 0.0
    chunk = _row_block(x.shape[1])
    for s in range(0, max_pairs, chunk):
        ii = i[s : s + chunk].to(x.device)
        jj = j[s : s + chunk].to(x.device)
        total += float((x[ii] - x[jj]).norm(dim=1).sum())
    return total / max_pairs


def diversity_ratio(
    real: ArrayLike,
    fake: ArrayLike,
    *,
    max_pairs: int = 100_000,
    seed: int = 0,
) -> DiversityResult:
    r"""Ratio of mean pairwise distance among fake samples to that among real ones.

    .. math::
        \bar d(X) = \frac{1}{N(N-1)} \sum_{i \ne j} \lVert x_i - x_j\rVert_2,
        \qquad \text{ratio} = \bar d(\text{fake}) / \bar d(\text{real}).

    A simple intra-set diversity statistic in the spirit of the "average
    pairwise distance" checks used to detect mode collapse: ~1 when the
    generator is as spread out as the data, -> 0 under collapse (all fake
    samples identical gives exactly 0), > 1 when samples are over-dispersed.

    When a set has more than ``max_pairs`` unordered pairs, ``max_pairs``
    random pairs (i != j) are drawn with a ``torch.Generator`` seeded by
    ``seed``, making the estimate deterministic; otherwise it is exact.
    """
    metric = "diversity_ratio"
    max_pairs = _check_positive_int(max_pairs, "max_pairs", metric)
    r = _as_features(real, "real", metric, min_samples=2)
    f = _as_features(fake, "fake", metric, min_samples=2, device=r.device)
    _check_same_dim(r, f, metric)
    real_d = _mean_pairwise_distance(r, max_pairs, seed)
    fake_d = _mean_pairwise_distance(f, max_pairs, seed)
    if real_d <= 0.0:
        raise ValueError(
            f"{metric}: all real samples are identical (mean pairwise distance 0), "
            f"so the ratio is undefined; check the real feature pipeline"
        )
    return DiversityResult(fake_d / real_d, fake_d, real_d, r.shape[0], f.shape[0])
