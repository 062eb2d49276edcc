"""Number of statistically different bins (NDB, Richardson & Weiss 2018)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ._common import ArrayLike, _as_features, _check_positive_int, _check_same_dim, _row_block


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


def nearest_center(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
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
        from sklearn.cluster import KMeans  # only for the fit: importing sklearn costs ~1 s

        km = KMeans(n_clusters=k, n_init=_NDB_N_INIT, random_state=seed).fit(ref_np)
        assign = km.predict
    else:
        cen = _as_features(centers, "k-means centre", metric, min_samples=k).cpu().numpy()
        if cen.shape != (k, ref_np.shape[1]):
            raise ValueError(f"{metric}: centers must have shape ({k}, {ref_np.shape[1]}), got {cen.shape}")
        assign = lambda a: nearest_center(a, cen)  # noqa: E731
    n1, n2 = ref_np.shape[0], other_np.shape[0]
    c1 = np.bincount(assign(ref_np), minlength=k)
    c2 = np.bincount(assign(other_np), minlength=k)
    p1 = c1 / n1
    p2 = c2 / n2
    pooled = (c1 + c2) / (n1 + n2)
    se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    z = np.divide(p1 - p2, se, out=np.zeros(k), where=se > 0)
    # 2 Φ(−|z|) = erfc(|z| / √2), in float64 (scipy.stats.norm.sf gives the same; importing it costs ~2 s)
    p_values = torch.special.erfc(torch.from_numpy(np.abs(z)) / math.sqrt(2.0)).numpy()
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
