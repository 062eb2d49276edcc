"""Modes captured on 2-D Gaussian mixtures (VEEGAN / PacGAN protocol), with the toys' centres."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gans.data.toys import (  # noqa: F401  (re-exported: the metric counts modes of these mixtures)
    GRID25_SPACING,
    GRID25_STD,
    RING8_RADIUS,
    RING8_STD,
    check_mixture_centers,
    grid25_centers,
    ring8_centers,
)

from ._common import ArrayLike, _as_features, _row_block


@dataclass(frozen=True)
class ModeResult:
    """Modes captured by samples of a known Gaussian mixture (2-D toys)."""

    modes_captured: int
    num_modes: int
    high_quality_fraction: float
    per_mode_counts: tuple[int, ...]
    n: int
    min_count: int
    threshold_sigmas: float


def mixture_modes(
    samples: ArrayLike,
    centers: ArrayLike,
    std: float,
    *,
    threshold_sigmas: float = 3.0,
    min_fraction: float = 0.01,
) -> ModeResult:
    """Modes captured and high-quality fraction on a Gaussian-mixture toy.

    Protocol of VEEGAN (Srivastava et al. 2017, "VEEGAN: Reducing Mode
    Collapse in GANs using Implicit Variational Learning") and PacGAN (Lin et
    al. 2018, "PacGAN: The power of two samples in generative adversarial
    networks") for the 2-D ring and grid mixtures:

    * a sample is *high quality* if its Euclidean distance to the nearest mode
      centre is at most ``threshold_sigmas * std`` (default 3 sigma);
    * each high-quality sample is credited to its nearest mode;
    * a mode is *captured* if it is credited with at least
      ``min_count = max(1, ceil(min_fraction * n))`` high-quality samples.

    The papers differ in the minimum count per mode; the rule implemented here
    is the configurable ``min_fraction`` (default 1 % of the samples, i.e. 25
    of 2,500), which ignores a handful of stray samples near an otherwise
    dropped mode.  ``min_fraction=0`` gives "at least one high-quality sample".
    """
    metric = "mixture_modes"
    c = _as_features(centers, "centre", metric, min_samples=1)
    x = _as_features(samples, "sample", metric, min_samples=1, device=c.device)
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"{metric}: samples have D={x.shape[1]} but centres have D={c.shape[1]}")
    try:
        std = float(std)
    except (TypeError, ValueError):
        raise ValueError(f"{metric}: std must be a positive number, got {std!r}") from None
    if not (math.isfinite(std) and std > 0):
        raise ValueError(f"{metric}: std must be a positive finite number, got {std!r}")
    if not (math.isfinite(threshold_sigmas) and threshold_sigmas > 0):
        raise ValueError(f"{metric}: threshold_sigmas must be positive, got {threshold_sigmas}")
    if not (0.0 <= min_fraction <= 1.0):
        raise ValueError(f"{metric}: min_fraction must lie in [0, 1], got {min_fraction}")

    n, num_modes = x.shape[0], c.shape[0]
    # Few centres: the exact (non-Gram) distance is cheap and avoids
    # cancellation right at the 3-sigma boundary (0.06 at radius 2).
    min_d = torch.empty(n, dtype=torch.float64, device=x.device)
    nearest = torch.empty(n, dtype=torch.int64, device=x.device)
    rows = _row_block(num_modes)
    for s in range(0, n, rows):
        d = torch.cdist(x[s : s + rows], c, compute_mode="donot_use_mm_for_euclid_dist")
        min_d[s : s + rows], nearest[s : s + rows] = d.min(dim=1)
    high_quality = min_d <= threshold_sigmas * std
    counts = torch.bincount(nearest[high_quality], minlength=num_modes).cpu()
    # subtract a hair so that e.g. 0.01 * 2500 = 25.000000000000004 -> 25
    min_count = max(1, math.ceil(min_fraction * n - 1e-9))
    return ModeResult(
        modes_captured=int((counts >= min_count).sum()),
        num_modes=num_modes,
        high_quality_fraction=float(high_quality.double().mean()),
        per_mode_counts=tuple(int(v) for v in counts),
        n=n,
        min_count=min_count,
        threshold_sigmas=float(threshold_sigmas),
    )


@dataclass(frozen=True)
class FoundModes:
    """Modes of a real 2-D (low-dimensional) set found by single-linkage clustering."""

    centers: torch.Tensor  # (K, D) cluster means
    radius: float  # a sample within this distance of a real point of a mode belongs to it
    shares: tuple[float, ...]  # each mode's share of the real set
    labels: torch.Tensor  # mode index of each real point (−1: outlier cluster)
    points: torch.Tensor  # the real points the labels refer to


def find_modes(real: ArrayLike, *, min_share: float = 0.01, max_points: int = 3000, seed: int = 0) -> FoundModes:
    """Modes of ``real`` without knowing the mixture: single-linkage clusters of the real points.

    The linkage is cut at 4× the 99th percentile of the nearest-neighbour distance, so a cluster
    is a region of the data the points chain through without a gap; clusters holding less than
    ``min_share`` of the points are outliers. A unimodal set gives one mode. For ring8 / grid25
    this finds exactly their 8 / 25 modes (tested). At most ``max_points`` points (a seeded subset).
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    x = _as_features(real, "real", "find_modes", min_samples=4)
    if x.shape[0] > max_points:
        g = torch.Generator().manual_seed(seed)
        x = x[torch.randperm(x.shape[0], generator=g)[:max_points]]
    d = torch.cdist(x, x)
    d.fill_diagonal_(math.inf)
    nn1 = d.min(dim=1).values
    cut = 4.0 * float(torch.quantile(nn1, 0.99))
    z = linkage(x.cpu().numpy(), method="single")
    lab = torch.from_numpy(fcluster(z, t=cut, criterion="distance").astype("int64") - 1)
    counts = torch.bincount(lab)
    keep = (counts >= max(2, math.ceil(min_share * x.shape[0]))).nonzero().flatten()
    remap = torch.full((counts.shape[0],), -1, dtype=torch.int64)
    remap[keep] = torch.arange(keep.shape[0])
    labels = remap[lab]
    centers = torch.stack([x[labels == k].mean(dim=0) for k in range(keep.shape[0])])
    shares = tuple(float((labels == k).double().mean()) for k in range(keep.shape[0]))
    return FoundModes(centers, cut, shares, labels, x)


def found_mode_counts(samples: ArrayLike, modes: FoundModes) -> tuple[torch.Tensor, float]:
    """Per-mode counts of ``samples`` (each credited to the mode of its nearest real point when that
    point is within ``modes.radius``) and the share of samples so credited (near the data)."""
    s = _as_features(samples, "sample", "found_mode_counts", min_samples=1)
    near_d = torch.empty(s.shape[0], dtype=torch.float64)
    near_i = torch.empty(s.shape[0], dtype=torch.int64)
    rows = _row_block(modes.points.shape[0])
    for a in range(0, s.shape[0], rows):
        dd = torch.cdist(s[a : a + rows], modes.points)
        near_d[a : a + rows], near_i[a : a + rows] = dd.min(dim=1)
    lab = modes.labels[near_i]
    ok = (near_d <= modes.radius) & (lab >= 0)
    counts = torch.bincount(lab[ok], minlength=modes.centers.shape[0])
    return counts, float(ok.double().mean())
