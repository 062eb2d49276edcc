"""Fréchet distance (FID, Heusel et al. 2017) and kernel inception distance (KID, Bińkowski et al. 2018)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import torch
from torch import nn

from ._common import ArrayLike, _as_features, _check_positive_int, _check_same_dim, _to_tensor


@dataclass(frozen=True)
class FIDResult:
    """Fréchet distance between Gaussian fits of real and fake features.

    ``extractor`` names the feature space (FID values are only comparable within
    one feature extractor); ``weights_hash`` identifies its weights when known.
    """

    fid: float
    n_real: int
    n_fake: int
    extractor: str = "features"
    weights_hash: str | None = None


@dataclass(frozen=True)
class KIDResult:
    """Kernel inception distance: the unbiased MMD² with the cubic polynomial kernel."""

    kid: float
    n_real: int
    n_fake: int


def _sym(m: torch.Tensor) -> torch.Tensor:
    return 0.5 * (m + m.transpose(-1, -2))


def _sqrt_psd(m: torch.Tensor) -> torch.Tensor:
    """Symmetric PSD square root via eigen-decomposition.

    Eigenvalues slightly below zero are round-off on a PSD matrix (e.g. a
    rank-deficient sample covariance with N <= D), so they are clipped to 0.
    """
    w, v = torch.linalg.eigh(_sym(m))
    return (v * w.clamp_min(0).sqrt()) @ v.transpose(-1, -2)


def gaussian_stats(features: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of ``features`` (N, D), float64, on the input device.

    The covariance uses the ``N - 1`` normaliser, matching torchmetrics and
    pytorch-fid, so cached statistics are interchangeable with theirs.
    Centring before the outer product avoids the cancellation of the
    ``E[xx^T] - mu mu^T`` form.
    """
    x = _as_features(features, "input", "gaussian_stats", min_samples=2)
    mu = x.mean(dim=0)
    xc = x - mu
    sigma = xc.transpose(0, 1) @ xc / (x.shape[0] - 1)
    return mu, sigma


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    r"""Squared Fréchet (2-Wasserstein) distance between two Gaussians.

    .. math::
        d^2 = \lVert\mu_1 - \mu_2\rVert^2
              + \operatorname{tr}\Sigma_1 + \operatorname{tr}\Sigma_2
              - 2\,\operatorname{tr}\big(\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2}\big)^{1/2}

    (Dowson & Landau 1982; used as FID by Heusel et al. 2017, "GANs Trained by
    a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium").

    ``tr (Σ1 Σ2)^{1/2}`` is computed as the sum of square roots of the
    eigenvalues of the *symmetric* PSD matrix ``Σ1^{1/2} Σ2 Σ1^{1/2}`` (same
    spectrum as ``Σ1 Σ2``) in float64.  Unlike ``scipy.linalg.sqrtm`` of the
    non-symmetric product this needs no complex arithmetic or eps-regularisation
    for singular covariances (N <= D).  A tiny negative result from round-off is
    clipped to 0 since the true value is non-negative.
    """
    name = "frechet_distance"
    m1 = _to_tensor(mu1, f"{name}: mu1").to(torch.float64)
    m2 = _to_tensor(mu2, f"{name}: mu2").to(torch.float64)
    s1 = _to_tensor(sigma1, f"{name}: sigma1").to(torch.float64)
    s2 = _to_tensor(sigma2, f"{name}: sigma2").to(torch.float64)
    if m1.ndim != 1 or m2.ndim != 1:
        raise ValueError(f"{name}: means must be 1-D (D,), got shapes {tuple(m1.shape)} and {tuple(m2.shape)}")
    d = m1.shape[0]
    if m2.shape[0] != d:
        raise ValueError(f"{name}: mean dimensions differ ({d} vs {m2.shape[0]})")
    for label, s in (("sigma1", s1), ("sigma2", s2)):
        if tuple(s.shape) != (d, d):
            raise ValueError(f"{name}: {label} must have shape ({d}, {d}) to match the means, got {tuple(s.shape)}")
    for label, t in (("mu1", m1), ("mu2", m2), ("sigma1", s1), ("sigma2", s2)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name}: {label} contains NaN/Inf")
    s2 = s2.to(s1.device)
    m2 = m2.to(m1.device)
    root1 = _sqrt_psd(s1)
    middle = _sym(root1 @ s2 @ root1)
    tr_covmean = torch.linalg.eigvalsh(middle).clamp_min(0).sqrt().sum()
    diff = (m1 - m2).square().sum()
    value = diff + torch.trace(s1) + torch.trace(s2) - 2.0 * tr_covmean
    return max(float(value), 0.0)


def fid_from_stats(
    real_mu: ArrayLike,
    real_sigma: ArrayLike,
    fake_mu: ArrayLike,
    fake_sigma: ArrayLike,
    *,
    n_real: int,
    n_fake: int,
    extractor: str = "features",
    weights_hash: str | None = None,
) -> FIDResult:
    """FID from precomputed Gaussian statistics (see :func:`gaussian_stats`).

    Lets a caller cache the real-data statistics once per feature extractor and
    compare many fake sets against them.  ``n_real``/``n_fake`` are the sample
    counts the statistics were estimated from (FID is biased upwards at small
    N, so they are recorded with the value).
    """
    n_real = _check_positive_int(n_real, "n_real", "fid_from_stats", minimum=2)
    n_fake = _check_positive_int(n_fake, "n_fake", "fid_from_stats", minimum=2)
    value = frechet_distance(real_mu, real_sigma, fake_mu, fake_sigma)
    return FIDResult(value, n_real, n_fake, extractor, weights_hash)


def module_weights_hash(module: nn.Module) -> str:
    """SHA-256 over a module's ``state_dict`` (names, dtypes, shapes, bytes).

    Identifies the exact feature-extractor weights an FID was computed with.
    """
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def fid_from_features(
    real: ArrayLike,
    fake: ArrayLike,
    *,
    extractor: str = "features",
    weights_hash: str | None = None,
) -> FIDResult:
    """FID between precomputed ``real`` and ``fake`` features (N, D), in float64.

    The Fréchet distance (:func:`frechet_distance`) between the Gaussian fits
    (:func:`gaussian_stats`) of the two sets; ``extractor`` and ``weights_hash`` label the
    feature space in the result.
    """
    metric = "FID"
    r = _as_features(real, "real", metric, min_samples=2)
    f = _as_features(fake, "fake", metric, min_samples=2, device=r.device)
    _check_same_dim(r, f, metric)
    value = frechet_distance(*gaussian_stats(r), *gaussian_stats(f))
    if not math.isfinite(value):
        raise ValueError("FID evaluated to a non-finite value; the feature covariances are numerically degenerate")
    return FIDResult(value, r.shape[0], f.shape[0], extractor, weights_hash)


def polynomial_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """KID's kernel ``k(x, y) = (x·y / D + 1)³`` (Bińkowski et al. 2018), float64."""
    return (a @ b.transpose(0, 1) / a.shape[1] + 1.0) ** 3


def mmd2_unbiased(
    k_rr: torch.Tensor,
    k_ff: torch.Tensor,
    k_rf: torch.Tensor,
    idx_r: torch.Tensor | None = None,
    idx_f: torch.Tensor | None = None,
) -> float:
    r"""Unbiased MMD² from kernel matrices, optionally of the rows ``idx_r``/``idx_f`` (a bootstrap draw).

    .. math::
        \widehat{\mathrm{MMD}}^2 = \frac{1}{m(m-1)}\sum_{i\ne j} k(x_i,x_j)
          + \frac{1}{n(n-1)}\sum_{i\ne j} k(y_i,y_j) - \frac{2}{mn}\sum_{i,j} k(x_i,y_j)

    With index lists (drawn with replacement), pairs that repeat one original sample are left
    out of the within-set sums, so a bootstrap draw stays an unbiased U-statistic.
    """
    if idx_r is not None:
        k_rr = k_rr[idx_r][:, idx_r]
        k_rf = k_rf[idx_r]
    if idx_f is not None:
        k_ff = k_ff[idx_f][:, idx_f]
        k_rf = k_rf[:, idx_f]

    def within(k: torch.Tensor, idx: torch.Tensor | None) -> float:
        n = k.shape[0]
        same = torch.eye(n, dtype=torch.bool) if idx is None else idx.unsqueeze(0) == idx.unsqueeze(1)
        keep = ~same
        return float(k[keep].sum() / keep.sum().clamp_min(1))

    return within(k_rr, idx_r) + within(k_ff, idx_f) - 2.0 * float(k_rf.mean())


def kid_from_features(real: ArrayLike, fake: ArrayLike) -> KIDResult:
    """KID (Bińkowski et al. 2018, "Demystifying MMD GANs"): unbiased MMD² with the cubic kernel.

    Computed on the full sets (no subsets), so the estimate is unbiased at any N ≥ 2 — unlike
    FID, its expected value for two samples of one distribution is 0 whatever N is.
    """
    metric = "KID"
    r = _as_features(real, "real", metric, min_samples=2)
    f = _as_features(fake, "fake", metric, min_samples=2, device=r.device)
    _check_same_dim(r, f, metric)
    value = mmd2_unbiased(polynomial_kernel(r, r), polynomial_kernel(f, f), polynomial_kernel(r, f))
    return KIDResult(value, r.shape[0], f.shape[0])
