"""Pure sample-quality and mode-collapse metrics.

Every metric here is a pure function of already-computed samples or features:
``real`` and ``fake`` are 2-D float arrays of shape ``(N, D)`` (``torch.Tensor``
or ``numpy.ndarray``).  Nothing in this module touches a generator, a sampler or
a data loader, so callers decide how features are produced and cached, and the
functions are trivially testable against reference implementations.

Each metric returns a frozen dataclass that records the sample counts it was
computed from (``n_real``, ``n_fake`` or ``n``) next to the values, because
most of these estimators are biased in N and a number without its N is not
comparable across runs.

Invalid input (wrong rank, mismatched feature dimension, too few samples,
NaN/Inf) raises ``ValueError`` with a message saying what is needed.

Metrics
-------
* :func:`frechet_distance`, :func:`gaussian_stats`, :func:`fid_from_stats`,
  :func:`fid_from_features`, :func:`fid_with_extractor` - Fréchet (Inception)
  Distance, Heusel et al. 2017.
* :func:`diversity_ratio` - mean pairwise distance of fake over real samples.
* :func:`class_coverage` - class-histogram coverage and KL from classifier labels.
* :func:`prdc` - precision / recall / density / coverage, Naeem et al. 2020.
* :func:`ndb` - number of statistically different bins, Richardson & Weiss 2018.
* :func:`mixture_modes` - modes captured on 2-D Gaussian-mixture toys
  (VEEGAN / PacGAN protocol), with :func:`ring8_centers` and
  :func:`grid25_centers`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Union

import numpy as np
import torch
from torch import nn

from gans.data.toys import (  # noqa: F401  (re-exported: the metric counts modes of these mixtures)
    GRID25_SPACING,
    GRID25_STD,
    RING8_RADIUS,
    RING8_STD,
    check_mixture_centers,
    grid25_centers,
    ring8_centers,
)

__all__ = [
    "ArrayLike",
    "FIDResult",
    "DiversityResult",
    "CoverageResult",
    "PRDCResult",
    "NDBResult",
    "ModeResult",
    "gaussian_stats",
    "frechet_distance",
    "fid_from_stats",
    "fid_from_features",
    "fid_with_extractor",
    "module_weights_hash",
    "diversity_ratio",
    "class_coverage",
    "prdc",
    "ndb",
    "ndb_centers",
    "mixture_modes",
    "ring8_centers",
    "grid25_centers",
    "check_mixture_centers",
    "RING8_RADIUS",
    "RING8_STD",
    "GRID25_SPACING",
    "GRID25_STD",
]

ArrayLike = Union[torch.Tensor, np.ndarray]

# Budget (number of float64 matrix entries) for one block of a pairwise-distance
# matrix.  2**22 entries = 32 MiB, so 10k x 10k PRDC never materialises the
# full 800 MB matrix (plus boolean temporaries of the same shape).
_BLOCK_ENTRIES = 2**22


# --------------------------------------------------------------------------- #
# Result types
# --------------------------------------------------------------------------- #
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
class DiversityResult:
    """Mean pairwise Euclidean distance of fake samples relative to real ones."""

    ratio: float
    fake_mean_dist: float
    real_mean_dist: float
    n_real: int
    n_fake: int


@dataclass(frozen=True)
class CoverageResult:
    """Class-histogram coverage of the fake samples, and KL(fake || real)."""

    coverage: float
    kl: float
    classes_covered: int
    num_classes: int
    fake_counts: tuple[int, ...]
    real_counts: tuple[int, ...]
    min_share: float
    n_real: int
    n_fake: int


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


@dataclass(frozen=True)
class NDBResult:
    """Number of statistically different bins (Richardson & Weiss 2018).

    ``real_proportions`` are the bin proportions of the reference (first) set,
    ``fake_proportions`` those of the compared (second) set.
    """

    num_bins: int
    num_different: int
    ndb_over_k: float
    js_divergence: float
    real_proportions: tuple[float, ...]
    fake_proportions: tuple[float, ...]
    p_values: tuple[float, ...]
    different_bins: tuple[bool, ...]
    alpha: float
    n_real: int
    n_fake: int


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


# --------------------------------------------------------------------------- #
# Input validation helpers
# --------------------------------------------------------------------------- #
def _to_tensor(x: object, name: str) -> torch.Tensor:
    """Convert a tensor / ndarray / nested sequence to a detached tensor."""
    if isinstance(x, torch.Tensor):
        return x.detach()
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)):
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    return torch.from_numpy(np.ascontiguousarray(arr))


def _as_features(
    x: object,
    role: str,
    metric: str,
    *,
    min_samples: int = 1,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Validate an ``(N, D)`` feature array and return it as float64.

    float64 throughout: these metrics subtract large, nearly-equal quantities
    (covariances, squared distances) where float32 loses several digits.
    """
    t = _to_tensor(x, f"{metric}: {role} features")
    if t.ndim != 2:
        raise ValueError(
            f"{metric} expects {role} features as a 2-D (N, D) array, got shape "
            f"{tuple(t.shape)}; flatten images or pass extracted features"
        )
    if t.shape[1] < 1:
        raise ValueError(f"{metric}: {role} features have feature dimension 0")
    if t.shape[0] < min_samples:
        raise ValueError(f"{metric} needs at least {min_samples} {role} samples, got {t.shape[0]}")
    if t.is_complex():
        raise ValueError(f"{metric}: {role} features must be real-valued, got {t.dtype}")
    t = t.to(torch.float64)
    finite = torch.isfinite(t)
    if not bool(finite.all()):
        bad_rows = int((~finite).any(dim=1).sum())
        raise ValueError(
            f"{metric}: {role} features contain non-finite values (NaN/Inf) in "
            f"{bad_rows} of {t.shape[0]} samples; drop or fix them first "
            f"(a diverged generator typically produces them)"
        )
    if device is not None:
        t = t.to(device)
    return t


def _check_same_dim(real: torch.Tensor, fake: torch.Tensor, metric: str) -> None:
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"{metric}: real features have D={real.shape[1]} but fake features have "
            f"D={fake.shape[1]}; both sets must come from the same feature extractor"
        )


def _check_positive_int(value: object, name: str, metric: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{metric}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _row_block(n_cols: int) -> int:
    """Rows per block so that a (rows, n_cols) float64 block fits the budget."""
    return max(1, _BLOCK_ENTRIES // max(1, n_cols))


# --------------------------------------------------------------------------- #
# Fréchet distance / FID
# --------------------------------------------------------------------------- #
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


class _IdentityFeatureModule(nn.Module):
    """Feature "extractor" for torchmetrics FID when features are precomputed.

    torchmetrics reads ``num_features`` to size its accumulators (otherwise it
    would probe the module with a dummy 3x299x299 image).  The module subtracts
    a fixed shift: FID is translation invariant, and torchmetrics accumulates
    the uncentred ``sum x x^T`` and later subtracts ``N mu mu^T``, which loses
    precision when features sit far from the origin.  Shifting by the real mean
    keeps that subtraction well conditioned.  Output is float64 so torchmetrics
    returns the score in float64 (it casts the result to the feature dtype).
    """

    def __init__(self, num_features: int, shift: torch.Tensor) -> None:
        super().__init__()
        self.num_features = int(num_features)
        self.register_buffer("shift", shift.to(torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(torch.float64) - self.shift


class _ExtractorAdapter(nn.Module):
    """Wraps a user extractor for torchmetrics FID.

    Supplies ``num_features`` (so torchmetrics does not probe the extractor with
    a CPU dummy image of the wrong size/device), checks the output shape and
    finiteness, and returns float64 so the score is not rounded to float32.
    """

    def __init__(self, extractor: nn.Module, num_features: int) -> None:
        super().__init__()
        self.extractor = extractor
        self.num_features = int(num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.extractor(x)
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != x.shape[0]:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"fid_with_extractor: extractor must map a batch of {x.shape[0]} images to a (N, D) tensor, got {shape}"
            )
        if out.shape[1] != self.num_features:
            raise ValueError(
                f"fid_with_extractor: extractor returned D={out.shape[1]} features, "
                f"expected {self.num_features} (as for the first batch)"
            )
        if not bool(torch.isfinite(out).all()):
            raise ValueError("fid_with_extractor: extractor produced NaN/Inf features")
        return out.to(torch.float64)


def _check_batch_size(batch_size: int | None, metric: str) -> int | None:
    if batch_size is None:
        return None
    return _check_positive_int(batch_size, "batch_size", metric)


def _run_torchmetrics_fid(
    feature: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    batch_size: int | None,
) -> float:
    # Imported lazily: torchmetrics is comparatively slow to import and most
    # users of this module (e.g. the toy-data sources) only need the centres.
    from torchmetrics.image.fid import FrechetInceptionDistance

    # normalize=False: inputs are passed to the feature module untouched (the
    # uint8 conversion only ever applies to torchmetrics' own Inception).
    metric = FrechetInceptionDistance(feature=feature, reset_real_features=True, normalize=False)
    metric = metric.to(real.device)
    real_chunks = (real,) if batch_size is None else real.split(batch_size)
    fake_chunks = (fake,) if batch_size is None else fake.split(batch_size)
    with torch.no_grad():
        for chunk in real_chunks:
            metric.update(chunk, real=True)
        for chunk in fake_chunks:
            metric.update(chunk, real=False)
        value = float(metric.compute())
    if not math.isfinite(value):
        raise ValueError(
            "FID evaluated to a non-finite value; the feature covariances are "
            "numerically degenerate (check for constant or exploding features)"
        )
    # True FID is >= 0; torchmetrics' eigvals route can return -1e-12 for identical sets.
    return max(value, 0.0)


def fid_from_features(
    real: ArrayLike,
    fake: ArrayLike,
    *,
    batch_size: int | None = None,
    extractor: str = "features",
    weights_hash: str | None = None,
) -> FIDResult:
    """FID between precomputed ``real`` and ``fake`` features (N, D).

    FID (Heusel et al. 2017) is the Fréchet distance between Gaussians fitted
    to the two feature sets (see :func:`frechet_distance`).  The computation is
    delegated to ``torchmetrics.image.fid.FrechetInceptionDistance`` with an
    identity feature module, so values match what torchmetrics users report;
    features are fed in chunks of ``batch_size`` rows (``None``: one chunk),
    which only affects memory, not the result.  ``extractor`` and
    ``weights_hash`` label the feature space in the result.

    Computation runs in float64 on the device of ``real``.
    """
    metric = "FID"
    bs = _check_batch_size(batch_size, metric)
    r = _as_features(real, "real", metric, min_samples=2)
    f = _as_features(fake, "fake", metric, min_samples=2, device=r.device)
    _check_same_dim(r, f, metric)
    module = _IdentityFeatureModule(r.shape[1], r.mean(dim=0))
    value = _run_torchmetrics_fid(module, r, f, bs)
    return FIDResult(value, r.shape[0], f.shape[0], extractor, weights_hash)


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


def _as_images(x: object, role: str, metric: str) -> torch.Tensor:
    t = _to_tensor(x, f"{metric}: {role} images")
    if t.ndim < 2:
        raise ValueError(f"{metric} expects a batch of {role} images (N, C, H, W), got shape {tuple(t.shape)}")
    if t.shape[0] < 2:
        raise ValueError(f"{metric} needs at least 2 {role} images, got {t.shape[0]}")
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{metric}: {role} images contain NaN/Inf")
    return t


def fid_with_extractor(
    real_images: ArrayLike,
    fake_images: ArrayLike,
    extractor: nn.Module,
    batch_size: int = 64,
    *,
    extractor_name: str | None = None,
    weights_hash: str | None = None,
) -> FIDResult:
    """FID of images through a feature ``extractor`` via torchmetrics.

    ``extractor`` maps float images ``(N, C, H, W)`` to features ``(N, D)``;
    it is passed (wrapped only to declare ``num_features`` and validate its
    output) as ``feature=`` to ``torchmetrics.image.fid.FrechetInceptionDistance``
    and images are fed ``batch_size`` at a time, so arbitrarily many images can
    be scored with bounded memory.  The extractor runs in eval mode under
    ``torch.no_grad()`` (its previous train/eval mode is restored) and must live
    on the same device as ``real_images``.

    ``extractor_name`` defaults to the extractor's class name and
    ``weights_hash`` to :func:`module_weights_hash` of the extractor, so the
    result records which feature space produced it.
    """
    metric = "fid_with_extractor"
    if not isinstance(extractor, nn.Module):
        raise ValueError(f"{metric}: extractor must be a torch.nn.Module, got {type(extractor)!r}")
    bs = _check_batch_size(batch_size, metric)
    real_t = _as_images(real_images, "real", metric)
    fake_t = _as_images(fake_images, "fake", metric)
    if real_t.shape[1:] != fake_t.shape[1:]:
        raise ValueError(
            f"{metric}: real images have per-sample shape {tuple(real_t.shape[1:])} but fake "
            f"images have {tuple(fake_t.shape[1:])}"
        )
    device = real_t.device
    fake_t = fake_t.to(device)
    for p in list(extractor.parameters()) + list(extractor.buffers()):
        if p.device != device:
            raise ValueError(
                f"{metric}: extractor has tensors on {p.device} but images are on {device}; "
                f"move the extractor (or the images) to one device"
            )
    name = extractor_name if extractor_name is not None else type(extractor).__name__
    digest = weights_hash if weights_hash is not None else module_weights_hash(extractor)

    was_training = extractor.training
    extractor.eval()
    try:
        with torch.no_grad():
            probe = extractor(real_t[:1])
        if not isinstance(probe, torch.Tensor) or probe.ndim != 2 or probe.shape[0] != 1:
            shape = tuple(probe.shape) if isinstance(probe, torch.Tensor) else type(probe).__name__
            raise ValueError(
                f"{metric}: extractor must map (N, C, H, W) images to (N, D) features; "
                f"for one image it returned {shape}"
            )
        adapter = _ExtractorAdapter(extractor, probe.shape[1])
        value = _run_torchmetrics_fid(adapter, real_t, fake_t, bs)
    finally:
        extractor.train(was_training)
    return FIDResult(value, real_t.shape[0], fake_t.shape[0], name, digest)


# --------------------------------------------------------------------------- #
# Diversity ratio
# --------------------------------------------------------------------------- #
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


# --------------------------------------------------------------------------- #
# Class coverage
# --------------------------------------------------------------------------- #
def _as_labels(x: object, num_classes: int, role: str, metric: str) -> np.ndarray:
    t = _to_tensor(x, f"{metric}: {role} labels")
    a = t.cpu().numpy()
    if a.ndim == 2:
        # class probabilities / logits: argmax over classes
        if a.shape[1] != num_classes:
            raise ValueError(f"{metric}: {role} probabilities have {a.shape[1]} columns but num_classes={num_classes}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{metric}: {role} probabilities contain NaN/Inf")
        labels = a.argmax(axis=1)
    elif a.ndim == 1:
        if np.issubdtype(a.dtype, np.floating):
            if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
                raise ValueError(f"{metric}: {role} labels must be integers (or pass (N, K) probabilities)")
        labels = a.astype(np.int64)
    else:
        raise ValueError(f"{metric}: {role} must be 1-D labels (N,) or 2-D probabilities (N, K), got shape {a.shape}")
    if labels.shape[0] < 1:
        raise ValueError(f"{metric} needs at least 1 {role} sample, got 0")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"{metric}: {role} labels must lie in [0, {num_classes - 1}], got range [{labels.min()}, {labels.max()}]"
        )
    return labels.astype(np.int64)


def class_coverage(
    real_probs_or_labels: ArrayLike,
    fake_probs_or_labels: ArrayLike,
    num_classes: int,
    *,
    min_share: float = 0.1,
    eps: float = 1e-6,
) -> CoverageResult:
    r"""Class coverage and class-histogram KL of fake samples, from a classifier.

    Inputs are predicted class labels ``(N,)`` or class probabilities/logits
    ``(N, K)`` (reduced by argmax).  With fake class histogram
    :math:`p_c = n_c / N_\text{fake}` over :math:`K` classes:

    * ``coverage`` = fraction of classes with at least one fake sample and
      :math:`p_c \ge \text{min\_share} / K`.  The default ``min_share=0.1``
      means a class counts as covered when it gets at least 10 % of its uniform
      share (so a single stray sample does not count at large N).
    * ``kl`` = :math:`\mathrm{KL}(p^\text{fake}\,\|\,p^\text{real}) =
      \sum_c \tilde p_c \log(\tilde p_c / \tilde q_c)` in nats, where both
      histograms are smoothed as :math:`\tilde p = (p + \varepsilon)/(1 + K\varepsilon)`
      with ``eps=1e-6`` so that a class absent from the real labels gives a
      large but finite value.

    This is the classifier-based mode-count/KL protocol of the stacked-MNIST
    experiments (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018),
    with the real label histogram as the reference instead of an assumed
    uniform one.
    """
    metric = "class_coverage"
    k = _check_positive_int(num_classes, "num_classes", metric)
    if not (0.0 <= float(min_share) <= float(k)):
        raise ValueError(f"{metric}: min_share must lie in [0, num_classes], got {min_share}")
    if not (0.0 < float(eps) < 1.0):
        raise ValueError(f"{metric}: eps must lie in (0, 1), got {eps}")
    real_labels = _as_labels(real_probs_or_labels, k, "real", metric)
    fake_labels = _as_labels(fake_probs_or_labels, k, "fake", metric)
    real_counts = np.bincount(real_labels, minlength=k)
    fake_counts = np.bincount(fake_labels, minlength=k)
    p_fake = fake_counts / fake_counts.sum()
    p_real = real_counts / real_counts.sum()
    covered = (fake_counts > 0) & (p_fake >= min_share / k)
    pf = (p_fake + eps) / (1.0 + k * eps)
    pr = (p_real + eps) / (1.0 + k * eps)
    kl = float(np.sum(pf * np.log(pf / pr)))
    return CoverageResult(
        coverage=float(covered.mean()),
        kl=max(kl, 0.0),
        classes_covered=int(covered.sum()),
        num_classes=k,
        fake_counts=tuple(int(c) for c in fake_counts),
        real_counts=tuple(int(c) for c in real_counts),
        min_share=float(min_share),
        n_real=int(real_labels.shape[0]),
        n_fake=int(fake_labels.shape[0]),
    )


# --------------------------------------------------------------------------- #
# PRDC
# --------------------------------------------------------------------------- #
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


# --------------------------------------------------------------------------- #
# NDB
# --------------------------------------------------------------------------- #
_NDB_N_INIT = 10


def _js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in nats (0 log 0 = 0); lies in [0, ln 2]."""
    m = 0.5 * (p + q)

    def _kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log(a[mask] / b[mask])))

    return max(0.5 * _kl(p, m) + 0.5 * _kl(q, m), 0.0)


def ndb_centers(real_train: ArrayLike, *, k: int = 100, seed: int = 0) -> np.ndarray:
    """The k-means centres (k, D) that :func:`ndb` fits to ``real_train`` (for its ``centers=``)."""
    from sklearn.cluster import KMeans

    k = _check_positive_int(k, "k", "NDB", minimum=2)
    ref = _as_features(real_train, "reference (train)", f"NDB with k={k}", min_samples=k)
    km = KMeans(n_clusters=k, n_init=_NDB_N_INIT, random_state=seed).fit(ref.cpu().numpy())
    return km.cluster_centers_.astype(np.float64)


def _nearest_center(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest centre for each row (exact distances, blockwise)."""
    c = torch.from_numpy(np.ascontiguousarray(centers))
    out = []
    rows = _row_block(c.shape[0])
    for s in range(0, x.shape[0], rows):
        d = torch.cdist(
            torch.from_numpy(np.ascontiguousarray(x[s : s + rows])), c, compute_mode="donot_use_mm_for_euclid_dist"
        )
        out.append(d.argmin(dim=1).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def ndb(
    real_train: ArrayLike,
    real_test_or_fake: ArrayLike,
    *,
    k: int = 100,
    alpha: float = 0.05,
    seed: int = 0,
    centers: ArrayLike | None = None,
) -> NDBResult:
    r"""Number of statistically Different Bins (Richardson & Weiss 2018).

    From "On GANs and GMMs" (NeurIPS 2018).  The reference set ``real_train``
    (N1 samples) is partitioned into ``k`` Voronoi bins by k-means
    (``sklearn.cluster.KMeans(n_clusters=k, n_init=10, random_state=seed)``,
    features used as given, so standardise beforehand if scales differ); both
    sets are assigned to the nearest centre.  For each bin the proportions
    :math:`p_1, p_2` are compared with a two-sided two-proportion z-test with
    pooled proportion :math:`\hat p = (N_1 p_1 + N_2 p_2)/(N_1 + N_2)`:

    .. math::
        z = \frac{p_1 - p_2}{\sqrt{\hat p (1 - \hat p)(1/N_1 + 1/N_2)}},\qquad
        p\text{-value} = 2\,\Phi(-|z|),

    and the bin is "different" if p-value < ``alpha`` (a bin empty in both sets
    has z = 0).  Reported: ``num_different`` (NDB), ``ndb_over_k`` = NDB/K,
    and the Jensen-Shannon divergence between the two bin histograms in nats
    (natural log; range [0, ln 2]).  Under the null (same distribution) about
    ``alpha * k`` bins come out different by chance.

    ``real_proportions`` in the result are those of ``real_train``,
    ``fake_proportions`` those of ``real_test_or_fake``.

    ``centers`` (optional, ``(k, D)``): k-means centres already fitted to
    ``real_train`` by :func:`ndb_centers` with the same ``k`` and ``seed``; the
    fit is then skipped (it dominates the cost and depends only on the
    reference set, so repeated evaluations against one reference can share it).
    Samples are assigned to the nearest centre, as ``KMeans.predict`` does.
    """
    from scipy.stats import norm
    from sklearn.cluster import KMeans

    k = _check_positive_int(k, "k", "NDB", minimum=2)
    metric = f"NDB with k={k}"
    if not (0.0 < float(alpha) < 1.0):
        raise ValueError(f"{metric}: alpha must lie in (0, 1), got {alpha}")
    ref = _as_features(real_train, "reference (train)", metric, min_samples=k)
    other = _as_features(real_test_or_fake, "compared (test/fake)", metric, min_samples=1)
    _check_same_dim(ref, other, metric)
    ref_np = ref.cpu().numpy()
    other_np = other.cpu().numpy()

    if centers is None:
        km = KMeans(n_clusters=k, n_init=_NDB_N_INIT, random_state=seed).fit(ref_np)
        assign = km.predict
    else:
        cen = _as_features(centers, "k-means centre", metric, min_samples=k).cpu().numpy()
        if cen.shape != (k, ref_np.shape[1]):
            raise ValueError(f"{metric}: centers must have shape ({k}, {ref_np.shape[1]}), got {cen.shape}")
        assign = lambda a: _nearest_center(a, cen)  # noqa: E731
    n1, n2 = ref_np.shape[0], other_np.shape[0]
    c1 = np.bincount(assign(ref_np), minlength=k)
    c2 = np.bincount(assign(other_np), minlength=k)
    p1 = c1 / n1
    p2 = c2 / n2
    pooled = (c1 + c2) / (n1 + n2)
    se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    z = np.divide(p1 - p2, se, out=np.zeros(k), where=se > 0)
    p_values = 2.0 * norm.sf(np.abs(z))
    different = p_values < alpha
    num_different = int(different.sum())
    return NDBResult(
        num_bins=k,
        num_different=num_different,
        ndb_over_k=num_different / k,
        js_divergence=_js_divergence(p1, p2),
        real_proportions=tuple(float(v) for v in p1),
        fake_proportions=tuple(float(v) for v in p2),
        p_values=tuple(float(v) for v in p_values),
        different_bins=tuple(bool(v) for v in different),
        alpha=float(alpha),
        n_real=n1,
        n_fake=n2,
    )


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
