"""Precision, recall, density and coverage (PRDC, Naeem et al. 2020)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._common import ArrayLike, _as_features, _check_positive_int, _check_same_dim, _row_block


@dataclass(frozen=True)
class PRDCResult:
    """Precision, recall, density and coverage (Naeem et al. 2020)."""

    precision: float
    recall: float
    density: float
    coverage: float
    k: int
    n_real: int
    n_fake: int


def _sq_dists(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances via the Gram identity (fast matmul path).

    Both PRDC radii and cross distances come from this one function, so a
    fake point identical to a real point gets bitwise-identical distances in
    both places and ties at the ball boundary resolve consistently.
    """
    a_sq = (a * a).sum(dim=1, keepdim=True)
    return (a_sq + b_sq.unsqueeze(0) - 2.0 * (a @ b.transpose(0, 1))).clamp_min_(0.0)


def _kth_nn_sq_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Squared distance from each row of x to its k-th nearest other row."""
    n = x.shape[0]
    x_sq = (x * x).sum(dim=1)
    radii = torch.empty(n, dtype=x.dtype, device=x.device)
    rows = _row_block(n)
    for s in range(0, n, rows):
        e = min(n, s + rows)
        d = _sq_dists(x[s:e], x, x_sq)
        idx = torch.arange(e - s, device=x.device)
        d[idx, idx + s] = math.inf  # exclude self (by index, not by distance 0)
        # topk is several times faster than kthvalue on CPU for small k
        radii[s:e] = d.topk(k, dim=1, largest=False, sorted=True).values[:, k - 1]
    return radii


def prdc(real: ArrayLike, fake: ArrayLike, k: int = 5) -> PRDCResult:
    r"""Precision, recall, density and coverage (Naeem et al. 2020).

    From "Reliable Fidelity and Diversity Metrics for Generative Models"
    (ICML 2020).  With :math:`B(x, r)` the open ball of radius r,
    :math:`\mathrm{NND}_k(x)` the distance from x to its k-th nearest
    neighbour within its own set (excluding itself), real
    :math:`\{X_i\}_{i=1}^N` and fake :math:`\{Y_j\}_{j=1}^M`:

    * precision = :math:`\frac1M\sum_j 1[\exists i: Y_j \in B(X_i, \mathrm{NND}_k(X_i))]`
    * recall    = :math:`\frac1N\sum_i 1[\exists j: X_i \in B(Y_j, \mathrm{NND}_k(Y_j))]`
    * density   = :math:`\frac{1}{kM}\sum_j\sum_i 1[Y_j \in B(X_i, \mathrm{NND}_k(X_i))]`
    * coverage  = :math:`\frac1N\sum_i 1[\exists j: Y_j \in B(X_i, \mathrm{NND}_k(X_i))]`

    (precision/recall are the k-NN estimators of Kynkäänniemi et al. 2019 as
    restated by Naeem et al.).  Membership is strict (``d < r``) as in the
    authors' reference code.  Distances are Euclidean, computed in float64
    blockwise (after centring both sets on the real mean, which keeps the
    Gram-matrix identity accurate), so 10k x 10k inputs use O(block) memory.
    """
    k = _check_positive_int(k, "k", "PRDC")
    metric = f"PRDC with k={k}"
    r = _as_features(real, "real", metric, min_samples=k + 1)
    f = _as_features(fake, "fake", metric, min_samples=k + 1, device=r.device)
    _check_same_dim(r, f, metric)
    shift = r.mean(dim=0)
    r = r - shift
    f = f - shift

    real_r2 = _kth_nn_sq_radii(r, k)
    fake_r2 = _kth_nn_sq_radii(f, k)
    f_sq = (f * f).sum(dim=1)

    n, m = r.shape[0], f.shape[0]
    in_some_real_ball = torch.zeros(m, dtype=torch.bool, device=r.device)
    real_ball_count = torch.zeros(m, dtype=torch.int64, device=r.device)
    real_recalled = torch.zeros(n, dtype=torch.bool, device=r.device)
    real_covered = torch.zeros(n, dtype=torch.bool, device=r.device)
    rows = _row_block(m)
    for s in range(0, n, rows):
        e = min(n, s + rows)
        d = _sq_dists(r[s:e], f, f_sq)  # (rows, M): real i vs fake j
        inside_real = d < real_r2[s:e].unsqueeze(1)  # Y_j in B(X_i, NND_k(X_i))
        in_some_real_ball |= inside_real.any(dim=0)
        real_ball_count += inside_real.sum(dim=0)
        real_covered[s:e] = inside_real.any(dim=1)
        real_recalled[s:e] = (d < fake_r2.unsqueeze(0)).any(dim=1)  # X_i in B(Y_j, NND_k(Y_j))

    return PRDCResult(
        precision=float(in_some_real_ball.double().mean()),
        recall=float(real_recalled.double().mean()),
        density=float(real_ball_count.sum()) / (k * m),
        coverage=float(real_covered.double().mean()),
        k=k,
        n_real=n,
        n_fake=m,
    )
