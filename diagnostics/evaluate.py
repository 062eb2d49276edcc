"""Score generated samples against real data, next to the real ceiling, with intervals.

:func:`evaluate_samples` computes every applicable metric of :mod:`diagnostics.metrics` for the
fake samples against the real *reference* (train) set, and the same scores for held-out real
data (the *test* split) against the same reference — the ceiling a perfect generator would
reach. The ceiling uses **as many held-out samples as the fake set has**, drawn
``CEILING_DRAWS`` times (its value is the median over the draws); when the held-out set is
smaller than the fake set, the fakes are scored on a random subset of that size, and the
result says so. FID and KID get bootstrap intervals (``BOOTSTRAP`` resamples, 5th–95th
percentile) for the fakes and for the ceiling; ``seed`` changes every draw.

The metrics, their directions, units and where each applies are one table, the registry
(:mod:`diagnostics.metric_registry`; README's metrics table is rendered from it): the built-in ones are computed
here in groups (:func:`_scores`), and every spec with a ``compute`` function is called on each set as well.

Above ``NN_MAX`` (10,000) samples per set, the nearest-neighbour scores (PRDC, duplicates, memorised) read a
fixed seeded subset of ``NN_MAX`` per set, and KID averages subsets; FID, NDB and the clusters read every
sample. So 50,000 against 50,000 needs no N × N matrix and no N² pass over pairs.

When a set has no more samples than the features have dimensions (N ≤ D), the covariance behind FID is
singular and FID is biased high: the result's notes say so (Inception's 2,048 dimensions need more than
2,000 samples).

Everything that depends only on the real sets (features, statistics, k-means centres, found
modes, the ceiling draws) is cached under ``cache_dir()/real_stats`` keyed by the extractor's
identity, the real samples' bytes, the fake-set size and the seed.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from gans.base import UserError, cache_dir
from gans.cache import load_checked, save_checked

from . import clusters as C
from . import metric_registry as registry
from . import metrics as M
from .features import FeatureExtractor, get_extractor
from .metric_registry import MetricInput
from .metrics import intervals as IV
from .metrics.fid import _sqrt_psd
from .metrics.intervals import kid as _kid
from .metrics.neighbours import histogram_kl as _kl
from .metrics.neighbours import nn_distances as _nn_dist
from .metrics.neighbours import nn_distances_to as _nn_to
from .metrics.neighbours import sharpness
from .metrics.neighbours import two_histogram_p as _two_sample_p
from .verdicts import (
    CollapseThresholds,
    CollapseVerdict,
    MemorisationVerdict,
    QualityVerdict,
    collapse_verdict,
    memorisation_verdict,
    quality_verdict,
)

__all__ = [
    "EvalResult",
    "evaluate_samples",
    "evaluate_gan",
    "PRDC_K",
    "NDB_MAX_BINS",
    "MIXTURES",
    "CEILING_DRAWS",
    "BOOTSTRAP",
]

PRDC_K = 5
NDB_MAX_BINS = 100  # Richardson & Weiss use K = 100; fewer when the reference set is small
NDB_MIN_PER_BIN = 10  # the reference set must give each k-means bin at least this many on average
MIXTURES = ("ring8", "grid25")
CEILING_DRAWS = 5  # held-out draws of the fake set's size behind the ceiling
BOOTSTRAP = 20  # bootstrap resamples behind each FID/KID interval
KID_MAX_REF = 2000  # reference rows in KID's kernel matrices (a seeded subset beyond this)
NN_MAX = 10_000  # PRDC, near-duplicates, memorisation: a seeded subset of this many per set beyond it (Naeem et al.
#                 used 10,000); every pass over pairs is then O(NN_MAX × N) at most, not O(N²)
KID_EXACT_MAX = 5000  # above this many samples in a set, KID is averaged over subsets (torch-fidelity's protocol):
KID_SUBSETS = 100  # … this many subsets
KID_SUBSET_SIZE = 1000  # … of this many samples of each set; the interval is the mean ± 1.645 standard errors
MIN_FOR_INTERVAL = 20  # fewer samples than this: no interval, and the result says so
DUPLICATE_FRACTION = 0.01  # a twin is closer than this fraction of the real median NN distance
MEMO_QUANTILE = 0.05  # memorised: closer to a training sample than this quantile of the held-out samples' distances


@dataclass(frozen=True)
class EvalResult:
    """The scores of one evaluation: fakes (``metrics``) and held-out reals (``ceiling``)."""

    extractor: str
    weights_hash: str | None
    n_real: int  # real reference samples
    n_fake: int
    n_test: int  # held-out real samples behind the ceiling
    metrics: dict[str, float]
    ceiling: dict[str, float]
    verdict: CollapseVerdict
    details: dict[str, Any] = field(default_factory=dict)
    eval_s: float = 0.0
    quality: QualityVerdict | None = None
    intervals: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # fake/ceiling → key → [lo, hi]
    notes: tuple[str, ...] = ()
    n_compared: int = 0  # samples per set the comparison used (min of fake and held-out)
    memorisation: MemorisationVerdict | None = None

    def to_record(
        self, *, step: int | None = None, epoch: float | None = None, wall_s: float | None = None
    ) -> dict[str, Any]:
        """The metrics.jsonl ``eval`` record (see the run directory format)."""
        return {
            "type": "eval",
            "step": step,
            "epoch": epoch,
            "wall_s": wall_s,
            "extractor": self.extractor,
            "weights_hash": self.weights_hash,
            "n_real": self.n_real,
            "n_fake": self.n_fake,
            "n_test": self.n_test,
            "n_compared": self.n_compared,
            "metrics": dict(self.metrics),
            "ceiling": dict(self.ceiling),
            "intervals": self.intervals,
            "notes": list(self.notes),
            "verdict": {
                "collapse": self.verdict.verdict,
                "sentence": self.verdict.sentence,
                "quality": self.quality.verdict if self.quality else None,
                "quality_sentence": self.quality.sentence if self.quality else None,
                "memorisation": self.memorisation.verdict if self.memorisation else None,
                "memorisation_sentence": self.memorisation.sentence if self.memorisation else None,
            },
            "eval_s": round(self.eval_s, 3),
        }


def _ndb_bins(n_ref: int) -> int:
    return int(max(2, min(NDB_MAX_BINS, n_ref // NDB_MIN_PER_BIN)))


def _check_counts(n_train: int, n_test: int, n_fake: int) -> None:
    need = PRDC_K + 1
    for role, n in (("fake", n_fake), ("held-out real (test)", n_test), ("real (train)", n_train)):
        if n < need:
            raise UserError(f"too few {role} samples: {n}; PRDC (k={PRDC_K}) needs at least {need} per set")
    if n_train < 2 * NDB_MIN_PER_BIN:
        raise UserError(
            f"too few real (train) samples: {n_train}; NDB needs at least {2 * NDB_MIN_PER_BIN} (2 bins × "
            f"{NDB_MIN_PER_BIN})"
        )


def _as_tensor(x: Any, role: str) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(x)
    t = t.detach().cpu()
    if not t.is_floating_point():
        t = t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
    t = t.float()
    if t.ndim < 2:
        raise UserError(f"{role} samples must be an array of samples (N, ...); got shape {tuple(t.shape)}")
    bad = ~torch.isfinite(t.reshape(t.shape[0], -1)).all(dim=1) if t.ndim >= 2 and t.shape[0] else None
    if bad is not None and bool(bad.any()):
        hint = " (the generator has diverged)" if role == "fake" else ""
        raise UserError(f"{role} samples contain NaN/Inf in {int(bad.sum())} of {t.shape[0]}{hint}")
    return t


def _bytes_hash(t: torch.Tensor) -> str:
    h = hashlib.sha256(f"{tuple(t.shape)}|{t.dtype}|".encode())
    h.update(t.contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Which rows the nearest-neighbour scores read


def _nn_subset(x: torch.Tensor) -> torch.Tensor:
    """At most ``NN_MAX`` rows of ``x`` (a fixed seeded subset beyond that): what the nearest-neighbour scores read."""
    if x.shape[0] <= NN_MAX:
        return x
    return x[torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(NN_MAX))[:NN_MAX]]


# --------------------------------------------------------------------------------------------
# Scores of one set against the reference


def _scores(
    ref: dict[str, Any], feats: torch.Tensor, probs: torch.Tensor | None, x: torch.Tensor, *, ex: FeatureExtractor,
    mixture: str | None, details: dict[str, Any], tag: str,
) -> dict[str, float]:
    """Every applicable score of one set (fake or held-out real) against the real reference set."""
    out: dict[str, float] = {}
    mu, sigma = M.gaussian_stats(feats)
    out["fid"] = M.frechet_distance(ref["mu"], ref["sigma"], mu, sigma)
    out["kid"] = _kid(ref, feats) if feats.shape[0] <= KID_EXACT_MAX else float(_kid_subsets(ref, feats).mean())
    out["diversity"] = M.diversity_ratio(ref["features"], feats).ratio
    near_feats = _nn_subset(feats)  # the nearest-neighbour scores read at most NN_MAX samples per set
    nn = _nn_dist(near_feats)
    out["duplicates"] = float((nn <= DUPLICATE_FRACTION * ref["nn_median"]).double().mean())
    if ex.num_classes and ref["probs"] is not None and probs is not None:
        th = ref["thresholds"]
        cov = M.class_coverage(
            ref["probs"], probs, ex.num_classes, min_share=th.class_min_share, min_confidence=th.class_confidence
        )
        out["class_coverage"], out["class_kl"] = cov.coverage, cov.kl
        out["class_max_share"] = cov.max_share
        details[f"{tag}_class_counts"] = list(cov.fake_counts)
        details[f"{tag}_classes_missing"] = list(cov.missing)
        details["real_class_counts"] = list(cov.real_counts)
    pr = M.prdc(ref.get("near_features", ref["features"]), near_feats, k=PRDC_K)
    out.update(precision=pr.precision, recall=pr.recall, density=pr.density, coverage=pr.coverage)
    nd = M.ndb(ref["features"], feats, k=_ndb_bins(ref["n"]), centers=ref["ndb_centers"])
    out["ndb"], out["ndb_js"] = nd.ndb_over_k, nd.js_divergence
    out["largest_bin"] = float(max(nd.fake_proportions))
    details["ndb_bins"] = nd.num_bins
    if ref.get("memo_radius") is not None:
        out["memorised"] = float((_nn_to(near_feats, ref["features"]) <= ref["memo_radius"]).double().mean())
    flat = x.reshape(x.shape[0], -1)
    if mixture is not None:
        from gans.data import mixture_centers

        centers, std = mixture_centers(mixture)
        mm = M.mixture_modes(flat, centers, std)
        out["modes"], out["high_quality"] = float(mm.modes_captured), mm.high_quality_fraction
        out["mode_kl"] = _kl(torch.tensor(mm.per_mode_counts), torch.ones(mm.num_modes))
        details["num_modes"] = mm.num_modes
        details[f"{tag}_mode_counts"] = list(mm.per_mode_counts)
    elif ref.get("found_modes") is not None and len(ref["found_modes"].shares) > 1:
        fm = ref["found_modes"]
        counts, near = M.found_mode_counts(flat, fm)
        shares = torch.tensor(fm.shares, dtype=torch.float64)
        n = flat.shape[0]
        out["modes"], out["high_quality"] = C.captured(counts, shares, n), near
        out["mode_kl"] = _kl(counts, shares)
        details["num_modes"] = len(fm.shares)
        details["modes_found_by"] = "clustering the real set"
        details[f"{tag}_mode_counts"] = [int(c) for c in counts]
    if ref.get("cluster_centers") is not None:  # no class or mode signal: clusters of the real features
        counts = C.cluster_counts(feats, ref["cluster_centers"])
        shares = ref["cluster_shares"]
        out.update(C.cluster_scores(counts, shares))  # clusters, cluster_mass, cluster_tv (diagnostics.clusters)
        out["cluster_kl"] = _kl(counts, shares)
        out["cluster_p"] = _two_sample_p(counts, shares * ref["n"])
        details["num_clusters"] = int(shares.shape[0])
        details[f"{tag}_cluster_counts"] = [int(c) for c in counts]
    sh = sharpness(x)
    if sh is not None:
        out["sharpness"] = sh
    given = MetricInput(x, feats, ref["features"], probs, ref["probs"], ex.num_classes)
    for spec in registry.computed():  # every other registered metric: its own compute function
        value = spec.compute(given)
        if value is not None:
            out[spec.name] = float(value)
    return out


def _kid_subsets(ref: dict[str, Any], feats: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """KID of ``KID_SUBSETS`` random subsets of ``KID_SUBSET_SIZE`` reference and ``feats`` rows."""
    return IV.kid_subsets(ref, feats, subsets=KID_SUBSETS, size=KID_SUBSET_SIZE, seed=seed)


def _bootstrap(
    ref: dict[str, Any], pools: list[torch.Tensor], m: int, reps: int, g: torch.Generator, points: dict[str, float]
) -> dict:
    """FID/KID 90 % intervals (:func:`diagnostics.metrics.intervals.bootstrap`); KID over subsets above
    ``KID_EXACT_MAX`` samples."""
    large = max(p.shape[0] for p in pools) > KID_EXACT_MAX
    return IV.bootstrap(ref, pools, m, reps, g, points, subset_kid=(lambda p: _kid_subsets(ref, p)) if large else None)


_REF_MEMO: dict[str, dict[str, Any]] = {}  # reference sets of this process (the zoo, evaluations during training)


def _reference_set(ex: FeatureExtractor, tr: torch.Tensor, mixture: str | None, seed: int) -> dict[str, Any]:
    """Features, Gaussian statistics, NDB centres and KID terms of the real reference set."""
    memo_key = f"{ex.identity()}|{_bytes_hash(tr)}|{mixture}|{seed}"
    if memo_key in _REF_MEMO:
        return dict(_REF_MEMO[memo_key])
    g = torch.Generator().manual_seed(seed)
    feats, probs = ex.features_and_probs(tr, "real (train)")
    feats = feats.double()
    mu, sigma = M.gaussian_stats(feats)
    ref: dict[str, Any] = {"features": feats, "probs": probs, "mu": mu.cpu(), "sigma": sigma.cpu(), "n": tr.shape[0]}
    ref["sigma_root"] = _sqrt_psd(ref["sigma"])
    ref["ndb_centers"] = torch.from_numpy(M.ndb_centers(feats, k=_ndb_bins(ref["n"]), seed=seed))
    ref["near_features"] = _nn_subset(feats)
    ref["nn_median"] = float(_nn_dist(ref["near_features"]).median())
    kid_ref = feats
    if feats.shape[0] > KID_MAX_REF:
        kid_ref = feats[torch.randperm(feats.shape[0], generator=g)[:KID_MAX_REF]]
    ref["kid_ref"] = kid_ref
    k_rr = M.polynomial_kernel(kid_ref, kid_ref)
    nr = kid_ref.shape[0]
    ref["kid_rr"] = float((k_rr.sum() - k_rr.diagonal().sum()) / (nr * (nr - 1)))
    flat = tr.reshape(tr.shape[0], -1)
    ref["found_modes"] = M.find_modes(flat, seed=seed) if mixture is None and flat.shape[1] <= 4 else None
    if len(_REF_MEMO) >= 8:
        _REF_MEMO.pop(next(iter(_REF_MEMO)))
    _REF_MEMO[memo_key] = ref
    return dict(ref)


_CACHE_VERSION = "6"  # bump when what is cached (or how a ceiling is computed) changes


def _reference(
    ex: FeatureExtractor, tr: torch.Tensor, te: torch.Tensor, mixture: str | None, use_cache: bool, *, m: int,
    seed: int, thresholds: CollapseThresholds,
) -> dict[str, Any]:
    """Everything that depends only on the real sets (and the fake-set size and seed), cached on disk."""
    path = None
    if use_cache:
        key = hashlib.sha256(
            f"{_CACHE_VERSION}|{ex.identity()}|{_bytes_hash(tr)}|{_bytes_hash(te)}|{mixture}|{m}|{seed}|"
            f"{thresholds}|{registry.registry_key()}".encode()
        ).hexdigest()[:24]
        path = cache_dir() / "real_stats" / f"{ex.name}-n{tr.shape[0]}-m{m}-{key}.pt"
        blob = load_checked(path, "real-data statistics")  # content hash checked; a damaged entry is recomputed
        if blob is not None:
            try:
                fm = blob["ref"].get("found_modes")
                blob["ref"]["found_modes"] = None if fm is None else M.FoundModes(**fm)
                blob["ref"]["thresholds"] = thresholds
                return blob
            except Exception:
                pass  # a corrupt cache entry is recomputed
    g = torch.Generator().manual_seed(seed)
    ref = _reference_set(ex, tr, mixture, seed)
    ref["thresholds"] = thresholds
    ref["cluster_centers"] = ref["cluster_shares"] = None
    if mixture is None and ref.get("found_modes") is None and not (ex.num_classes and ref["probs"] is not None):
        k = C.cluster_bins(m, ref["n"])  # diagnostics.clusters: k grows with the compared set
        if ref["n"] >= 4 * k:
            same = k == ref["ndb_centers"].shape[0]  # NDB's bins when k is theirs (the same fit and seed)
            centers = ref["ndb_centers"] if same else torch.from_numpy(M.ndb_centers(ref["features"], k=k, seed=seed))
            ref["cluster_centers"] = centers
            ref["cluster_shares"] = C.cluster_counts(ref["features"], centers) / ref["n"]
    test_feats, test_probs = ex.features_and_probs(te, "held-out real (test)")
    test_feats = test_feats.double()
    ref["memo_radius"] = float(torch.quantile(_nn_to(_nn_subset(test_feats), ref["features"]), MEMO_QUANTILE))
    n_te = te.shape[0]
    draws = []
    if n_te > m:
        draws = [torch.randperm(n_te, generator=g)[:m] for _ in range(CEILING_DRAWS)]
    else:
        draws = [torch.arange(n_te)]
    details: dict[str, Any] = {}
    runs = []
    for idx in draws:
        runs.append(
            _scores(
                ref, test_feats[idx], None if test_probs is None else test_probs[idx], te[idx], ex=ex,
                mixture=mixture, details=details, tag="test",
            )
        )
    ceiling = {k: float(torch.tensor([r[k] for r in runs], dtype=torch.float64).median()) for k in runs[0]}
    pools = [test_feats[idx] for idx in draws]
    civ = _bootstrap(ref, pools, m, BOOTSTRAP, g, ceiling) if m >= MIN_FOR_INTERVAL else {}
    if len(runs) > 1:  # the spread of the draws themselves belongs in the interval too
        for k in ("fid", "kid"):
            if k in civ:
                vals = [r[k] for r in runs]
                civ[k] = [min(civ[k][0], min(vals)), max(civ[k][1], max(vals))]
    blob = {
        "ref": ref,
        "ceiling": ceiling,
        "ceiling_intervals": civ,
        "ceiling_draws": len(runs),
        "details": details,
        "n_test": n_te,
        "extractor": ex.identity(),
    }
    if path is not None:  # plain tensors and containers only, so that loading needs no code
        fm = ref["found_modes"]
        saved_ref = {k: v for k, v in ref.items() if k != "thresholds"}
        saved_ref["found_modes"] = None if fm is None else dict(fm.__dict__)
        save_checked({**blob, "ref": saved_ref}, path)
    return blob


def evaluate_samples(
    real_train: Any,
    real_test: Any,
    fake: Any,
    *,
    extractor: FeatureExtractor | str = "auto",
    data_kind: str = "image",
    mixture: str | None = None,
    data: Any | None = None,
    thresholds: CollapseThresholds | None = None,
    cache: bool = True,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> EvalResult:
    """Every applicable score of ``fake`` and of ``real_test`` (the ceiling), both against ``real_train``.

    Samples are in data space: images (N, C, H, W) in [0, 1] (uint8 is divided by 255) or
    vectors (N, D). ``extractor`` is a :class:`FeatureExtractor` or a registry name (``data``,
    a ``gans.data.Data``, is needed for ``classifier``/``auto`` on labelled images).
    ``mixture`` ("ring8"/"grid25") adds modes/high-quality of that mixture; other 2-D data gets
    modes found by clustering the real set. ``seed`` drives every draw (ceiling subsets,
    bootstrap, fake subset). Raises ``UserError`` for mismatched shapes, too few samples or
    non-finite samples.
    """
    t0 = time.perf_counter()
    th = thresholds or CollapseThresholds()
    tr, te, fk = (
        _as_tensor(real_train, "real (train)"),
        _as_tensor(real_test, "held-out real (test)"),
        _as_tensor(fake, "fake"),
    )
    for role, t in (("held-out real (test)", te), ("fake", fk)):
        if tuple(t.shape[1:]) != tuple(tr.shape[1:]):
            raise UserError(
                f"{role} samples have per-sample shape {tuple(t.shape[1:])} but the real samples have "
                f"{tuple(tr.shape[1:])}"
                + (
                    f" (channels {t.shape[1]} vs {tr.shape[1]})"
                    if t.ndim == 4 and tr.ndim == 4 and t.shape[1] != tr.shape[1]
                    else ""
                )
            )
    _check_counts(tr.shape[0], te.shape[0], fk.shape[0])
    if mixture is not None and mixture not in MIXTURES:
        raise UserError(f"unknown mixture {mixture!r}; valid: {', '.join(MIXTURES)}")
    if mixture is not None and tuple(tr.shape[1:]) != (2,):
        raise UserError(f"mixture {mixture} scores 2-D points; samples have shape {tuple(tr.shape[1:])}")
    ex = (
        extractor
        if isinstance(extractor, FeatureExtractor)
        else get_extractor(extractor, data, shape=tuple(tr.shape[1:]), device=device)
    )
    notes: list[str] = []
    m = min(fk.shape[0], te.shape[0])
    g = torch.Generator().manual_seed(seed + 1)
    if fk.shape[0] > m:
        notes.append(
            f"the held-out set has {te.shape[0]} samples, fewer than the {fk.shape[0]} fakes: both are compared "
            f"at {m} (a random subset of the fakes)."
        )
        fk = fk[torch.randperm(fk.shape[0], generator=g)[:m]]
    elif te.shape[0] > m:
        notes.append(f"{m} fakes against a ceiling of {CEILING_DRAWS} draws of {m} of the {te.shape[0]} held-out.")
    if m < MIN_FOR_INTERVAL:
        notes.append(f"only {m} samples per set: too few for intervals, so FID/KID differences are not judged.")
    details: dict[str, Any] = {"data_kind": data_kind, "mixture": mixture, "extractor_info": ex.info}
    # the inputs were checked above: a ValueError from here on is a bug, not the user's mistake
    blob = _reference(ex, tr, te, mixture, cache, m=m, seed=seed, thresholds=th)
    details.update(blob["details"])
    ref = blob["ref"]
    dim = int(ref["features"].shape[1])
    if min(ref["n"], m) <= dim and dim > 2:
        notes.append(
            f"only {min(ref['n'], m)} samples per set for {dim}-dimensional {ex.name} features (N ≤ D): the "
            "covariance behind FID is singular, so FID is biased high and comparable only at equal N; use more "
            f"than {dim} samples (--n)."
        )
    details["reference_stats"] = {"mu": ref["mu"], "sigma": ref["sigma"], "n": ref["n"]}
    fake_feats, fake_probs = ex.features_and_probs(fk, "fake")
    fake_feats = fake_feats.double()
    metrics = _scores(ref, fake_feats, fake_probs, fk, ex=ex, mixture=mixture, details=details, tag="fake")
    ceiling = dict(blob["ceiling"])
    fiv = _bootstrap(ref, [fake_feats], m, BOOTSTRAP, g, metrics) if m >= MIN_FOR_INTERVAL else {}
    intervals = {"fake": fiv, "ceiling": dict(blob["ceiling_intervals"])}
    details["ceiling_draws"] = blob["ceiling_draws"]
    verdict = collapse_verdict(
        metrics,
        ceiling,
        th,
        intervals=intervals,
        num_classes=ex.num_classes,
        num_modes=details.get("num_modes"),
        num_clusters=details.get("num_clusters"),
        missing_classes=details.get("fake_classes_missing"),
        class_names=None if data is None else data.info.get("class_names"),
        notes=tuple(notes),
    )
    quality = quality_verdict(metrics, ceiling, th, notes=tuple(notes))
    memorisation = memorisation_verdict(metrics, ceiling, th)
    return EvalResult(
        ex.name,
        ex.weights_hash,
        tr.shape[0],
        int(fake.shape[0]) if hasattr(fake, "shape") else fk.shape[0],
        te.shape[0],
        metrics,
        ceiling,
        verdict,
        details,
        time.perf_counter() - t0,
        quality,
        intervals,
        tuple(notes),
        m,
        memorisation,
    )


def _real_counts(data: Any, n: int) -> tuple[int, int]:
    if not data.finite:
        return n, n
    n_test = int(data.info.get("n_test", 0)) or 0
    return min(n, data.n_train), min(n, n_test)


def evaluate_gan(
    gan: Any,
    data: Any,
    *,
    n: int = 2000,
    features: str | FeatureExtractor = "auto",
    seed: int = 0,
    thresholds: CollapseThresholds | None = None,
    cache: bool = True,
) -> EvalResult:
    """Sample ``n`` fakes from ``gan`` (seeded) and score them with :func:`evaluate_samples`.

    Real references: ``min(n, train size)`` train samples and ``min(n, test size)`` held-out
    test samples of ``data`` (a ``gans.data.Data``), both drawn with fixed seeds so that the
    cached real statistics are reused across evaluations.
    """
    if n <= 0:
        raise UserError(f"--eval-samples must be a positive integer, got {n}")
    n_tr, n_te = _real_counts(data, n)
    if n_te == 0:
        raise UserError(f"{data.name} has no held-out test split, so there is no real ceiling to compare against")
    real_train, _ = data.real(n_tr, "train", seed=0)
    real_test, _ = data.real(n_te, "test", seed=0)
    g = torch.Generator(device="cpu").manual_seed(seed + 424_242)
    fake = gan.sample(n, generator=g).float().cpu()
    ex = (
        features
        if isinstance(features, FeatureExtractor)
        else get_extractor(features, data, shape=tuple(real_train.shape[1:]), device=gan.device)
    )
    mixture = data.name if data.name in MIXTURES else None
    return evaluate_samples(
        real_train,
        real_test,
        fake,
        extractor=ex,
        data_kind=data.kind,
        mixture=mixture,
        data=data,
        thresholds=thresholds,
        cache=cache,
        seed=seed,
    )
