"""Nearest-neighbour distances, histogram comparisons and an image cue, as pure functions of tensors.

:mod:`diagnostics.evaluate` builds its duplicate, memorisation, mode and cluster scores from these:
:func:`nn_distances` (each row to its nearest other row), :func:`nn_distances_to` (each row of one set to the
nearest row of another), :func:`histogram_kl`, :func:`two_histogram_p` (Pearson's χ² test of two histograms)
and :func:`sharpness` (mean |Laplacian| of images). Every pass over pairs is blockwise (O(block) memory).
"""

from __future__ import annotations

import math

import torch

__all__ = ["sharpness", "nn_distances", "nn_distances_to", "histogram_kl", "two_histogram_p"]


def sharpness(x: torch.Tensor) -> float | None:
    """Mean absolute 4-neighbour Laplacian of images (N, C, H, W) in [0, 1]; None for vectors.

    Blur lowers it, pixel noise raises it: the quality verdict compares it with the real images'.
    """
    if x.ndim != 4 or x.shape[-1] < 3 or x.shape[-2] < 3:
        return None
    g = x.float().mean(dim=1)
    lap = 4 * g[:, 1:-1, 1:-1] - g[:, :-2, 1:-1] - g[:, 2:, 1:-1] - g[:, 1:-1, :-2] - g[:, 1:-1, 2:]
    return float(lap.abs().mean())


def nn_distances(x: torch.Tensor) -> torch.Tensor:
    """Distance from each row to its nearest other row (float64, blockwise)."""
    x = x.double()
    n = x.shape[0]
    out = torch.empty(n, dtype=torch.float64)
    rows = max(1, 2**22 // max(1, n))
    for s in range(0, n, rows):
        d = torch.cdist(x[s : s + rows], x)
        idx = torch.arange(d.shape[0])
        d[idx, idx + s] = math.inf
        out[s : s + rows] = d.min(dim=1).values
    return out


def nn_distances_to(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance from each row of ``a`` to its nearest row of ``b`` (float64, blockwise: O(block) memory)."""
    a, b = a.double(), b.double()
    out = torch.empty(a.shape[0], dtype=torch.float64)
    rows = max(1, 2**22 // max(1, b.shape[0]))
    for s in range(0, a.shape[0], rows):
        out[s : s + rows] = torch.cdist(a[s : s + rows], b).min(dim=1).values
    return out


def histogram_kl(p: torch.Tensor, q: torch.Tensor, eps: float = 1e-6) -> float:
    """KL(p ‖ q) in nats of two histograms (counts or shares over the same bins), smoothed by ``eps``."""
    k = p.shape[0]
    p = (p.double() / max(1.0, float(p.sum())) + eps) / (1 + k * eps)
    q = (q.double() / max(1.0, float(q.sum())) + eps) / (1 + k * eps)
    return max(0.0, float((p * (p / q).log()).sum()))


def two_histogram_p(a: torch.Tensor, b: torch.Tensor) -> float:
    """p-value of Pearson's χ² test that two histograms (counts over the same bins) share one distribution:
    the 2 × K contingency table without continuity correction, as ``scipy.stats.chi2_contingency(table,
    correction=False)`` computes it (tested against it); the survival function of χ²(K − 1) is the regularised
    upper incomplete gamma Q((K − 1)/2, X²/2)."""
    keep = (a + b) > 0
    k = int(keep.sum())
    if k < 2:
        return 1.0
    table = torch.stack([a[keep], b[keep]]).double()
    expected = table.sum(1, keepdim=True) * table.sum(0, keepdim=True) / table.sum()
    x2 = float(((table - expected) ** 2 / expected).sum())
    f64 = torch.float64
    return float(torch.special.gammaincc(torch.tensor((k - 1) / 2.0, dtype=f64), torch.tensor(x2 / 2.0, dtype=f64)))
