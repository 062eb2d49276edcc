"""Known-answer and reference-implementation tests for diagnostics.metrics.

References are deliberately written independently of the implementation:
scipy.linalg.sqrtm for FID, scipy.spatial.distance.cdist + explicit loops for
PRDC, sklearn KMeans + scipy.stats.norm for NDB.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm
from scipy.spatial.distance import cdist, pdist
from scipy.stats import entropy, norm
from sklearn.cluster import KMeans
from torch import nn

from diagnostics.metrics import (
    GRID25_STD,
    RING8_STD,
    check_mixture_centers,
    class_coverage,
    diversity_ratio,
    fid_from_features,
    fid_from_stats,
    frechet_distance,
    gaussian_stats,
    grid25_centers,
    kid_from_features,
    mixture_modes,
    mmd2_unbiased,
    module_weights_hash,
    ndb,
    polynomial_kernel,
    prdc,
    ring8_centers,
)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- #
# FID
# --------------------------------------------------------------------------- #
def _reference_fid(x: np.ndarray, y: np.ndarray) -> float:
    """pytorch-fid style FID using scipy.linalg.sqrtm of the covariance product."""
    mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
    s1 = np.atleast_2d(np.cov(x, rowvar=False))
    s2 = np.atleast_2d(np.cov(y, rowvar=False))
    covmean = sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():  # pytorch-fid's fallback for singular products
        offset = np.eye(s1.shape[0]) * 1e-10
        covmean = sqrtm((s1 + offset) @ (s2 + offset))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


@pytest.mark.parametrize("n", [50, 200, 1000])
@pytest.mark.parametrize("d", [2, 8, 64])
def test_fid_matches_scipy_sqrtm_reference(n: int, d: int) -> None:
    rng = _rng(n * 100 + d)
    # correlated real features, shifted/rescaled fake features
    a = rng.normal(size=(d, d)) / math.sqrt(d)
    real = rng.normal(size=(n, d)) @ a + 0.5
    fake = 1.3 * rng.normal(size=(n, d)) @ a + rng.normal(size=d) * 0.3
    expected = _reference_fid(real, fake)

    via_features = fid_from_features(real, fake).fid
    via_stats = frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))
    assert via_features == pytest.approx(expected, rel=1e-3)
    assert via_stats == pytest.approx(expected, rel=1e-3)
    assert via_features == pytest.approx(via_stats, rel=1e-9)


def test_fid_of_identical_sets_is_zero() -> None:
    x = torch.from_numpy(_rng(1).normal(size=(500, 16)))
    res = fid_from_features(x, x)
    assert abs(res.fid) < 1e-3
    assert res.n_real == res.n_fake == 500
    assert res.extractor == "features" and res.weights_hash is None
    assert abs(frechet_distance(*gaussian_stats(x), *gaussian_stats(x))) < 1e-6


def _closed_form(m1, s1, m2, s2) -> float:
    # N(m1, diag(s1^2)) vs N(m2, diag(s2^2)): commuting covariances
    return float(np.sum((m1 - m2) ** 2) + np.sum((s1 - s2) ** 2))


_M1 = np.array([0.0, 1.0, -0.5, 0.2])
_M2 = np.array([1.0, 0.5, 0.0, 0.2])
_S1 = np.array([1.0, 2.0, 0.5, 1.0])
_S2 = np.array([1.5, 1.0, 0.5, 2.0])


def test_frechet_distance_closed_form_exact_stats() -> None:
    expected = _closed_form(_M1, _S1, _M2, _S2)
    got = frechet_distance(_M1, np.diag(_S1**2), _M2, np.diag(_S2**2))
    assert got == pytest.approx(expected, abs=1e-6)
    # rotating both Gaussians by the same orthogonal map leaves the distance unchanged
    q, _ = np.linalg.qr(_rng(2).normal(size=(4, 4)))
    got_rot = frechet_distance(q @ _M1, q @ np.diag(_S1**2) @ q.T, q @ _M2, q @ np.diag(_S2**2) @ q.T)
    assert got_rot == pytest.approx(expected, abs=1e-6)


def test_fid_sampled_gaussians_match_closed_form() -> None:
    rng = _rng(3)
    n = 20000
    real = _M1 + _S1 * rng.normal(size=(n, 4))
    fake = _M2 + _S2 * rng.normal(size=(n, 4))
    expected = _closed_form(_M1, _S1, _M2, _S2)
    assert fid_from_features(real, fake).fid == pytest.approx(expected, rel=0.03)


def test_fid_robust_to_large_feature_offset() -> None:
    # the covariance is centred before the outer product, so a large common offset keeps precision
    rng = _rng(5)
    real = rng.normal(size=(400, 8))
    fake = rng.normal(size=(400, 8)) * 1.1 + 0.2
    ref = fid_from_features(real, fake).fid
    shifted = fid_from_features(real + 1e5, fake + 1e5).fid
    assert shifted == pytest.approx(ref, rel=1e-6)


def test_fid_float32_input_and_stats_cache() -> None:
    rng = _rng(6)
    real = torch.from_numpy(rng.normal(size=(300, 10))).float()
    fake = torch.from_numpy(rng.normal(size=(200, 10)) + 0.3).float()
    direct = fid_from_features(real, fake, extractor="toy", weights_hash="abc")
    assert isinstance(direct.fid, float)
    assert (direct.extractor, direct.weights_hash) == ("toy", "abc")
    mu_r, sig_r = gaussian_stats(real)
    assert mu_r.dtype == torch.float64
    np.testing.assert_allclose(sig_r.numpy(), np.cov(real.double().numpy(), rowvar=False), rtol=1e-10)
    cached = fid_from_stats(mu_r, sig_r, *gaussian_stats(fake), n_real=300, n_fake=200)
    assert cached.fid == pytest.approx(direct.fid, rel=1e-6)
    assert (cached.n_real, cached.n_fake) == (300, 200)


def _reference_kid(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with k(a, b) = (a·b/d + 1)^3, written with explicit loops over pairs."""
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return float(kxx + kyy - 2 * kxy)


def test_kid_matches_explicit_pair_sums() -> None:
    rng = _rng(11)
    x, y = rng.normal(size=(40, 5)), rng.normal(size=(30, 5)) * 1.3 + 0.2
    res = kid_from_features(x, y)
    assert res.kid == pytest.approx(_reference_kid(x, y), rel=1e-9)
    assert (res.n_real, res.n_fake) == (40, 30)


def test_kid_is_unbiased_for_equal_distributions_at_any_n() -> None:
    # mean over draws of KID for two samples of one distribution is ~0 at small n (FID is not)
    rng = _rng(12)
    kids, fids = [], []
    for _ in range(60):
        x, y = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
        kids.append(kid_from_features(x, y).kid)
        fids.append(fid_from_features(x, y).fid)
    se = np.std(kids) / np.sqrt(len(kids))
    assert abs(np.mean(kids)) < 3 * se
    assert np.mean(fids) > 10 * se  # FID is biased upwards at n = 20


def test_mmd2_bootstrap_indices_skip_repeated_pairs() -> None:
    rng = _rng(13)
    x, y = torch.from_numpy(rng.normal(size=(12, 3))), torch.from_numpy(rng.normal(size=(9, 3)))
    krr, kff, krf = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    idx_r = torch.tensor([0, 0, 3, 5, 5, 5, 7])
    idx_f = torch.tensor([1, 2, 2, 8])
    got = mmd2_unbiased(krr, kff, krf, idx_r, idx_f)
    xr, yf = x.numpy()[idx_r.numpy()], y.numpy()[idx_f.numpy()]
    k = lambda a, b: (a @ b / 3 + 1.0) ** 3  # noqa: E731
    ir, jf = idx_r.tolist(), idx_f.tolist()
    pairs_r = [(i, j) for i in range(7) for j in range(7) if ir[i] != ir[j]]
    pairs_f = [(i, j) for i in range(4) for j in range(4) if jf[i] != jf[j]]
    want = (
        sum(k(xr[i], xr[j]) for i, j in pairs_r) / len(pairs_r)
        + sum(k(yf[i], yf[j]) for i, j in pairs_f) / len(pairs_f)
        - 2 * np.mean([k(a, b) for a in xr for b in yf])
    )
    assert got == pytest.approx(want, rel=1e-9)


def test_weights_hash_changes_with_weights() -> None:
    torch.manual_seed(0)
    m = nn.Linear(4, 3)
    h1 = module_weights_hash(m)
    assert module_weights_hash(m) == h1
    with torch.no_grad():
        m.weight[0, 0] += 1e-3
    assert module_weights_hash(m) != h1


# --------------------------------------------------------------------------- #
# PRDC
# --------------------------------------------------------------------------- #
def _reference_prdc(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """Straight transcription of Naeem et al. 2020 with explicit loops."""
    rr = cdist(real, real)
    ff = cdist(fake, fake)
    rf = cdist(real, fake)
    n, m = len(real), len(fake)
    # (k+1)-th smallest including self (distance 0) = k-th nearest other point
    real_r = np.array([np.sort(rr[i])[k] for i in range(n)])
    fake_r = np.array([np.sort(ff[j])[k] for j in range(m)])
    precision = np.mean([any(rf[i, j] < real_r[i] for i in range(n)) for j in range(m)])
    recall = np.mean([any(rf[i, j] < fake_r[j] for j in range(m)) for i in range(n)])
    density = sum(int(rf[i, j] < real_r[i]) for i in range(n) for j in range(m)) / (k * m)
    coverage = np.mean([rf[i].min() < real_r[i] for i in range(n)])
    return dict(precision=precision, recall=recall, density=density, coverage=coverage)


@pytest.mark.parametrize(
    ("n", "m", "d", "k", "shift"), [(120, 150, 3, 5, 0.5), (200, 90, 10, 3, 0.0), (80, 80, 2, 7, 1.5)]
)
def test_prdc_matches_reference(n: int, m: int, d: int, k: int, shift: float) -> None:
    rng = _rng(n + m + d + k)
    real = rng.normal(size=(n, d))
    fake = rng.normal(size=(m, d)) * 1.2 + shift
    got = prdc(torch.from_numpy(real), fake, k=k)
    ref = _reference_prdc(real, fake, k)
    for key, val in ref.items():
        assert getattr(got, key) == pytest.approx(val, abs=1e-12), key
    assert (got.k, got.n_real, got.n_fake) == (k, n, m)


def test_prdc_fake_equals_real() -> None:
    real = _rng(7).normal(size=(300, 5))
    got = prdc(real, real.copy(), k=5)
    assert got.precision == 1.0 and got.recall == 1.0 and got.coverage == 1.0
    assert got.density == pytest.approx(1.0)
    ref = _reference_prdc(real, real, 5)
    assert got.density == pytest.approx(ref["density"], abs=1e-12)


def test_prdc_blockwise_matches_single_block(monkeypatch: pytest.MonkeyPatch) -> None:
    import diagnostics.metrics._common as metrics  # the block budget every pairwise metric reads

    rng = _rng(8)
    real, fake = rng.normal(size=(257, 6)), rng.normal(size=(301, 6)) + 0.3
    whole = prdc(real, fake, k=4)
    monkeypatch.setattr(metrics, "_BLOCK_ENTRIES", 1000)  # force many small blocks
    assert prdc(real, fake, k=4) == whole


def test_prdc_disjoint_sets() -> None:
    rng = _rng(9)
    real = rng.normal(size=(100, 2))
    fake = rng.normal(size=(100, 2)) + 100.0
    got = prdc(real, fake)
    assert got.precision == got.recall == got.density == got.coverage == 0.0


# --------------------------------------------------------------------------- #
# NDB
# --------------------------------------------------------------------------- #
def _reference_ndb(train: np.ndarray, other: np.ndarray, k: int, alpha: float, seed: int):
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(train)
    p = np.bincount(km.predict(train), minlength=k) / len(train)
    q = np.bincount(km.predict(other), minlength=k) / len(other)
    n1, n2 = len(train), len(other)
    pvals = []
    for b in range(k):
        pooled = (p[b] * n1 + q[b] * n2) / (n1 + n2)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = 0.0 if se == 0 else (p[b] - q[b]) / se
        pvals.append(2.0 * norm.cdf(-abs(z)))
    pvals = np.array(pvals)
    mid = 0.5 * (p + q)
    js = 0.5 * entropy(p, mid) + 0.5 * entropy(q, mid)
    return p, q, pvals, int((pvals < alpha).sum()), js


@pytest.mark.parametrize("shift", [0.0, 0.3])
def test_ndb_matches_reference(shift: float) -> None:
    rng = _rng(10)
    train = rng.normal(size=(1500, 3))
    other = rng.normal(size=(1000, 3)) + shift
    got = ndb(train, torch.from_numpy(other), k=15, alpha=0.05, seed=3)
    p, q, pvals, num_diff, js = _reference_ndb(train, other, 15, 0.05, 3)
    np.testing.assert_allclose(got.real_proportions, p, atol=1e-12)
    np.testing.assert_allclose(got.fake_proportions, q, atol=1e-12)
    np.testing.assert_allclose(got.p_values, pvals, rtol=1e-9, atol=1e-15)
    assert got.num_different == num_diff
    assert got.ndb_over_k == pytest.approx(num_diff / 15)
    assert got.js_divergence == pytest.approx(js, rel=1e-9, abs=1e-15)
    assert (got.num_bins, got.n_real, got.n_fake, got.alpha) == (15, 1500, 1000, 0.05)


def test_ndb_same_vs_shifted_distribution() -> None:
    rng = _rng(11)
    train = rng.normal(size=(3000, 4))
    same = ndb(train, rng.normal(size=(3000, 4)), k=20, seed=0)
    assert same.ndb_over_k <= 0.15
    assert same.js_divergence < 0.01
    shifted = ndb(train, rng.normal(size=(3000, 4)) + 1.0, k=20, seed=0)
    assert shifted.num_different >= 10
    assert shifted.js_divergence > same.js_divergence
    assert 0.0 <= shifted.js_divergence <= math.log(2)


# --------------------------------------------------------------------------- #
# Diversity
# --------------------------------------------------------------------------- #
def test_diversity_same_set_and_collapse() -> None:
    x = _rng(12).normal(size=(200, 8))
    assert diversity_ratio(x, x).ratio == 1.0
    big = _rng(13).normal(size=(1000, 8))  # sampled-pairs path
    assert diversity_ratio(big, big, max_pairs=5000).ratio == 1.0
    collapsed = np.repeat(x[:1], 50, axis=0)
    res = diversity_ratio(x, collapsed)
    assert res.ratio == 0.0 and res.fake_mean_dist == 0.0
    assert (res.n_real, res.n_fake) == (200, 50)


def test_diversity_exact_and_sampled_estimates() -> None:
    rng = _rng(14)
    real = rng.normal(size=(60, 5))
    fake = rng.normal(size=(40, 5)) * 0.5
    res = diversity_ratio(real, fake)
    assert res.real_mean_dist == pytest.approx(pdist(real).mean(), rel=1e-12)
    assert res.fake_mean_dist == pytest.approx(pdist(fake).mean(), rel=1e-12)
    assert res.ratio == pytest.approx(pdist(fake).mean() / pdist(real).mean(), rel=1e-12)

    real_big = rng.normal(size=(1500, 5))
    fake_big = rng.normal(size=(1500, 5)) * 0.5
    sampled = diversity_ratio(real_big, fake_big, max_pairs=20000, seed=1)
    assert sampled == diversity_ratio(real_big, fake_big, max_pairs=20000, seed=1)  # deterministic
    assert sampled.real_mean_dist == pytest.approx(pdist(real_big).mean(), rel=0.03)
    assert sampled.ratio == pytest.approx(pdist(fake_big).mean() / pdist(real_big).mean(), rel=0.03)


# --------------------------------------------------------------------------- #
# Class coverage
# --------------------------------------------------------------------------- #
def test_class_coverage_uniform_and_two_classes() -> None:
    uniform = np.arange(1000) % 10
    res = class_coverage(uniform, uniform.copy(), 10)
    assert res.coverage == 1.0 and res.classes_covered == 10
    assert abs(res.kl) < 1e-9
    assert res.fake_counts == tuple([100] * 10)

    two = np.arange(1000) % 2
    res2 = class_coverage(uniform, torch.from_numpy(two), 10)
    assert res2.coverage == pytest.approx(0.2)
    assert res.missing == () and res2.missing == (2, 3, 4, 5, 6, 7, 8, 9)
    assert res2.kl == pytest.approx(math.log(5), rel=1e-3)  # KL(half/half || uniform over 10)


def test_class_coverage_probs_and_min_share() -> None:
    rng = _rng(15)
    labels = rng.integers(0, 4, size=400)
    logits = np.eye(4)[labels] * 5 + rng.normal(size=(400, 4)) * 0.1
    assert class_coverage(logits, logits, 4) == class_coverage(labels, labels, 4)
    # one stray sample of class 3 among 1000: below 10% of the uniform share
    fake = np.array([0] * 333 + [1] * 333 + [2] * 333 + [3])
    res = class_coverage(np.arange(1000) % 4, fake, 4)
    assert res.coverage == 0.75 and res.fake_counts[3] == 1 and res.missing == (3,)
    # a class the real labels lack is not "missing"
    assert class_coverage(np.arange(1000) % 3, fake[:999], 4).missing == ()
    assert class_coverage(np.arange(1000) % 4, fake, 4, min_share=0.0).coverage == 1.0


# --------------------------------------------------------------------------- #
# Mixture modes
# --------------------------------------------------------------------------- #
def _sample_mixture(centers: torch.Tensor, std: float, n: int, modes=None, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    modes = torch.arange(len(centers)) if modes is None else torch.as_tensor(modes)
    idx = modes[torch.randint(0, len(modes), (n,), generator=g)]
    return centers[idx] + std * torch.randn(n, centers.shape[1], generator=g, dtype=torch.float64)


def test_ring8_centers_geometry() -> None:
    c = ring8_centers()
    assert c.shape == (8, 2)
    np.testing.assert_allclose(c.norm(dim=1).numpy(), 2.0, rtol=1e-12)
    d = cdist(c.numpy(), c.numpy())
    np.fill_diagonal(d, np.inf)
    assert d.min() == pytest.approx(2 * 2.0 * math.sin(math.pi / 8))  # 8 distinct, evenly spaced
    check_mixture_centers(c, 8, std=RING8_STD)
    g = grid25_centers()
    assert g.shape == (25, 2)
    assert set(g[:, 0].tolist()) == set(g[:, 1].tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    check_mixture_centers(g, 25, std=GRID25_STD)
    with pytest.raises(ValueError, match="not distinct"):
        check_mixture_centers(torch.zeros(8, 2), 8)
    with pytest.raises(ValueError, match="expected 8"):
        check_mixture_centers(c[:7], 8)


def test_mixture_modes_ring_and_grid() -> None:
    c = ring8_centers()
    res = mixture_modes(_sample_mixture(c, RING8_STD, 2500), c, RING8_STD)
    assert res.modes_captured == 8 and res.num_modes == 8
    assert res.high_quality_fraction > 0.95
    assert sum(res.per_mode_counts) == round(res.high_quality_fraction * 2500)
    assert res.min_count == 25 and res.n == 2500

    two = mixture_modes(_sample_mixture(c, RING8_STD, 2500, modes=[0, 4]), c, RING8_STD)
    assert two.modes_captured == 2
    assert [i for i, v in enumerate(two.per_mode_counts) if v > 0] == [0, 4]

    g = grid25_centers()
    res_g = mixture_modes(_sample_mixture(g, GRID25_STD, 2500, seed=1).numpy(), g, GRID25_STD)
    assert res_g.modes_captured == 25 and res_g.high_quality_fraction > 0.95


def test_mixture_modes_min_fraction_and_quality() -> None:
    c = ring8_centers()
    x = torch.cat([c[0].repeat(2490, 1), c[3].repeat(10, 1)])
    assert mixture_modes(x, c, RING8_STD).modes_captured == 1  # 10 < 25 = 1% of 2500
    assert mixture_modes(x, c, RING8_STD, min_fraction=0.0).modes_captured == 2
    far = torch.zeros(100, 2)  # ring centre: 2 away from every mode
    res = mixture_modes(far, c, RING8_STD)
    assert res.high_quality_fraction == 0.0 and res.modes_captured == 0


# --------------------------------------------------------------------------- #
# Invalid input
# --------------------------------------------------------------------------- #
_X = np.zeros((10, 3)) + np.arange(10)[:, None]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: prdc(_X[:3], _X, k=5), r"PRDC with k=5 needs at least 6 real samples, got 3"),
        (lambda: prdc(_X, _X[:4], k=5), r"needs at least 6 fake samples, got 4"),
        (lambda: prdc(_X, np.zeros((10, 4))), r"D=3 .* D=4"),
        (lambda: prdc(np.where(_X > 8, np.nan, _X), _X), r"non-finite"),
        (lambda: prdc(_X, _X, k=0), r"k must be an integer >= 1"),
        (lambda: fid_from_features(_X[:, 0], _X), r"2-D \(N, D\)"),
        (lambda: fid_from_features(_X[:1], _X), r"FID needs at least 2 real samples, got 1"),
        (lambda: fid_from_features(_X, np.full((5, 3), np.inf)), r"non-finite"),
        (lambda: frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2)), r"dimensions differ"),
        (lambda: frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3)), r"shape \(3, 3\)"),
        (lambda: gaussian_stats(_X[:1]), r"at least 2"),
        (lambda: kid_from_features(_X, _X[:, :2]), r"D=3 but fake features have D=2"),
        (lambda: diversity_ratio(np.ones((5, 2)), _X[:, :2]), r"identical"),
        (lambda: class_coverage([0, 1, 5], [0, 1], 3), r"\[0, 2\]"),
        (lambda: class_coverage(np.ones((4, 2)), [0, 1], 3), r"2 columns but num_classes=3"),
        (lambda: class_coverage([0.5, 1.0], [0, 1], 3), r"must be integers"),
        (lambda: ndb(_X, _X, k=100), r"NDB with k=100 needs at least 100 reference \(train\) samples, got 10"),
        (lambda: ndb(_X, _X, k=2, alpha=1.5), r"alpha"),
        (lambda: mixture_modes(_X, ring8_centers(), RING8_STD), r"D=3 but centres have D=2"),
        (lambda: mixture_modes(_X[:, :2], ring8_centers(), 0.0), r"std must be"),
    ],
)
def test_invalid_input_raises(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_cluster_histogram_chi2_matches_scipy():
    """The unlabelled path's χ² two-histogram test equals scipy's contingency test (no continuity correction)."""
    import numpy as np
    from scipy.stats import chi2_contingency

    from diagnostics.evaluate import _two_sample_p

    rng = np.random.default_rng(0)
    for _ in range(20):
        a = torch.tensor(rng.integers(0, 30, 12)).double()
        b = torch.tensor(rng.integers(0, 300, 12)).double()
        a[3] = b[3] = 0  # a bin empty in both sets is left out, as the table would be
        keep = (a + b) > 0
        want = chi2_contingency(torch.stack([a[keep], b[keep]]).numpy(), correction=False).pvalue
        assert _two_sample_p(a, b) == pytest.approx(want, rel=1e-9, abs=1e-300)
    same = torch.tensor([10.0, 20.0, 30.0])
    assert _two_sample_p(same, 10 * same) == pytest.approx(1.0)
    assert _two_sample_p(torch.tensor([5.0, 0.0]), torch.tensor([0.0, 0.0])) == 1.0  # one bin: nothing to test
