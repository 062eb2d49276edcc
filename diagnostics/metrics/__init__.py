"""Pure sample-quality and mode-collapse metrics, one module per metric.

Every metric is a pure function of already-computed samples or features: ``real`` and
``fake`` are 2-D float arrays of shape ``(N, D)`` (``torch.Tensor`` or ``numpy.ndarray``).
Nothing here touches a generator, a sampler or a data loader, so callers decide how features
are produced and cached, and the functions are testable against reference implementations.

Each metric returns a frozen dataclass that records the sample counts it was computed from
next to the values, because most of these estimators are biased in N and a number without
its N is not comparable across runs. Invalid input (wrong rank, mismatched feature dimension,
too few samples, NaN/Inf) raises ``ValueError`` with a message saying what is needed.

==================  ============================================================================
module              metrics
==================  ============================================================================
``fid``             :func:`frechet_distance`, :func:`gaussian_stats`, :func:`fid_from_stats`,
                    :func:`fid_from_features` (FID, Heusel et al. 2017); :func:`kid_from_features`
                    (unbiased KID, Bińkowski et al. 2018); :func:`module_weights_hash`
``diversity``       :func:`diversity_ratio` — mean pairwise distance of fake over real samples
``coverage``        :func:`class_coverage` — class-histogram coverage and KL from a classifier
``prdc``            :func:`prdc` — precision / recall / density / coverage (Naeem et al. 2020)
``ndb``             :func:`ndb`, :func:`ndb_centers` — statistically different bins
                    (Richardson & Weiss 2018)
``modes``           :func:`mixture_modes` — modes captured on the 2-D Gaussian-mixture toys
                    (VEEGAN / PacGAN protocol), with :func:`ring8_centers`, :func:`grid25_centers`
``neighbours``      nearest-neighbour distances, histogram KL and χ² p-value, image sharpness
                    (imported from the submodule: ``diagnostics.metrics.neighbours``)
``intervals``       KID and FID weighted by bootstrap counts against a prepared reference, and
                    their bootstrap intervals (``diagnostics.metrics.intervals``)
==================  ============================================================================

Labels, units, directions and where each score applies: :mod:`diagnostics.metric_registry`.
"""

from __future__ import annotations

from ._common import ArrayLike
from .coverage import CoverageResult, class_coverage
from .diversity import DiversityResult, diversity_ratio
from .fid import (
    FIDResult,
    KIDResult,
    fid_from_features,
    fid_from_stats,
    frechet_distance,
    gaussian_stats,
    kid_from_features,
    mmd2_unbiased,
    module_weights_hash,
    polynomial_kernel,
)
from .modes import (
    GRID25_SPACING,
    GRID25_STD,
    RING8_RADIUS,
    RING8_STD,
    FoundModes,
    ModeResult,
    check_mixture_centers,
    find_modes,
    found_mode_counts,
    grid25_centers,
    mixture_modes,
    ring8_centers,
)
from .ndb import NDBResult, ndb, ndb_centers, nearest_center
from .prdc import PRDCResult, prdc

__all__ = [
    "ArrayLike",
    "FIDResult",
    "KIDResult",
    "DiversityResult",
    "CoverageResult",
    "PRDCResult",
    "NDBResult",
    "ModeResult",
    "gaussian_stats",
    "frechet_distance",
    "fid_from_stats",
    "fid_from_features",
    "kid_from_features",
    "mmd2_unbiased",
    "polynomial_kernel",
    "module_weights_hash",
    "diversity_ratio",
    "class_coverage",
    "prdc",
    "ndb",
    "ndb_centers",
    "nearest_center",
    "mixture_modes",
    "FoundModes",
    "find_modes",
    "found_mode_counts",
    "ring8_centers",
    "grid25_centers",
    "check_mixture_centers",
    "RING8_RADIUS",
    "RING8_STD",
    "GRID25_SPACING",
    "GRID25_STD",
]
