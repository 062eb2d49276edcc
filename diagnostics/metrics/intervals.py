"""KID and FID against a prepared real reference, weighted by bootstrap counts, and their bootstrap intervals.

``ref`` is :mod:`diagnostics.evaluate`'s reference set: a dict with ``mu``, ``sigma`` and ``sigma_root`` (the
Gaussian fit of the real features and the PSD square root of ``sigma``), ``features``, ``kid_ref`` (the reference
rows KID reads) and ``kid_rr`` (their mean off-diagonal kernel value). :func:`fid_weighted` and :func:`kid` score a
set whose rows are repeated ``counts`` times without materialising the repeats; :func:`bootstrap` turns resamples
into 90 % intervals; :func:`kid_subsets` is KID over random subsets (torch-fidelity's protocol for large sets).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from .fid import _sym, mmd2_unbiased, polynomial_kernel

__all__ = ["kid_parts", "kid", "kid_subsets", "fid_weighted", "bootstrap"]


def kid_parts(ref: dict[str, Any], feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The kernel matrix of a set and its kernel column sums against the reference (for KID)."""
    f = feats.double()
    return polynomial_kernel(f, f), polynomial_kernel(ref["kid_ref"], f).sum(dim=0)


def kid(
    ref: dict[str, Any], feats: torch.Tensor, counts: torch.Tensor | None = None, parts: tuple | None = None
) -> float:
    """Unbiased KID of ``feats`` (optionally weighted by bootstrap ``counts``) against the reference.

    With counts, pairs that repeat one original sample are left out of the within-set term, so a
    bootstrap draw stays an unbiased U-statistic (see :func:`diagnostics.metrics.mmd2_unbiased`).
    """
    k_ff, rf_sum = parts if parts is not None else kid_parts(ref, feats)
    n_r = ref["kid_ref"].shape[0]
    c = torch.ones(k_ff.shape[0], dtype=torch.float64) if counts is None else counts.double()
    m = float(c.sum())
    pairs = m * m - float((c * c).sum())
    within = float((c @ k_ff @ c - (c * c * k_ff.diagonal()).sum()) / max(pairs, 1.0))
    cross = float(rf_sum @ c) / (n_r * m)
    return ref["kid_rr"] + within - 2.0 * cross


def kid_subsets(ref: dict[str, Any], feats: torch.Tensor, *, subsets: int, size: int, seed: int = 0) -> torch.Tensor:
    """KID of ``subsets`` random subsets of ``size`` reference and ``feats`` rows (torch-fidelity's protocol for
    large sets): memory O(size²) whatever the set sizes."""
    g = torch.Generator().manual_seed(seed)
    r, f = ref["features"], feats.double()
    vals = []
    for _ in range(subsets):
        a = r[torch.randperm(r.shape[0], generator=g)[:size]]
        b = f[torch.randperm(f.shape[0], generator=g)[:size]]
        k = polynomial_kernel
        vals.append(mmd2_unbiased(k(a, a), k(b, b), k(a, b)))
    return torch.tensor(vals, dtype=torch.float64)


def fid_weighted(ref: dict[str, Any], feats: torch.Tensor, counts: torch.Tensor) -> float:
    f = feats.double()
    c = counts.double()
    m = float(c.sum())
    mu = (c @ f) / m
    cov = ((f * c.unsqueeze(1)).transpose(0, 1) @ f - m * torch.outer(mu, mu)) / (m - 1)
    root = ref["sigma_root"]
    tr = torch.linalg.eigvalsh(_sym(root @ cov @ root)).clamp_min(0).sqrt().sum()
    val = (ref["mu"] - mu).square().sum() + torch.trace(ref["sigma"]) + torch.trace(cov) - 2 * tr
    return max(float(val), 0.0)


def bootstrap(
    ref: dict[str, Any],
    pools: list[torch.Tensor],
    m: int,
    reps: int,
    g: torch.Generator,
    points: dict[str, float],
    *,
    subset_kid: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict:
    """FID/KID 90 % intervals from ``reps`` resamples (with replacement) of ``m`` rows of the pools.

    Resampling with replacement repeats samples, which biases FID upwards; the percentile interval
    is therefore shifted by (point estimate − bootstrap median), so that it is centred where the
    estimate is (FID clipped at 0). With ``subset_kid`` (a pool's KID over subsets, for sets too large for one
    kernel matrix) KID's interval is the subsets' mean ± 1.645 standard errors.
    """
    fids, kids = [], []
    subsets = subset_kid is not None  # no m × m kernel: KID's interval from its subsets
    parts = [None if subsets else kid_parts(ref, p) for p in pools]
    for r in range(reps):
        pool = pools[r % len(pools)]
        idx = torch.randint(pool.shape[0], (m,), generator=g)
        counts = torch.bincount(idx, minlength=pool.shape[0])
        fids.append(fid_weighted(ref, pool, counts))
        if not subsets:
            kids.append(kid(ref, pool, counts, parts[r % len(pools)]))

    def iv(v: list[float], key: str) -> list[float]:
        t = torch.tensor(v, dtype=torch.float64)
        shift = points[key] - float(t.median())
        lo, hi = float(torch.quantile(t, 0.05)) + shift, float(torch.quantile(t, 0.95)) + shift
        return [max(lo, 0.0), max(hi, 0.0)] if key == "fid" else [lo, hi]

    if subsets:
        vals = torch.cat([subset_kid(p) for p in pools])
        half = 1.645 * float(vals.std()) / math.sqrt(vals.shape[0])
        return {"fid": iv(fids, "fid"), "kid": [points["kid"] - half, points["kid"] + half]}
    return {"fid": iv(fids, "fid"), "kid": iv(kids, "kid")}
