"""Score generated samples against real data, next to the real ceiling.

:func:`evaluate_samples` computes every applicable metric of :mod:`diagnostics.metrics` twice:
for the fake samples against the real *train* split, and for held-out real data (the *test*
split) against the same train split — the ceiling a perfect generator would reach with as many
samples. The collapse verdict (:mod:`diagnostics.verdicts`) compares the two.

=================  ======================================================  =========================
key                what                                                    applies to
=================  ======================================================  =========================
fid                Fréchet distance of Gaussian fits (features)            always
diversity          mean pairwise feature distance, fake / real train       always
class_coverage     fraction of classes covered (≥ 10 % of a uniform        classifier features
                   share), from the classifier's predictions
class_kl           KL(fake ‖ real train) of predicted-class histograms     classifier features
precision/recall/  PRDC, k = 5 (Naeem et al. 2020)                         always
density/coverage
ndb, ndb_js        NDB/K (fraction of k-means bins that differ, α=0.05)    always
                   and the bins' JS divergence (nats)
modes,             modes captured (≥ 1 % of samples within 3σ) and the     ring8 / grid25
high_quality       fraction of samples within 3σ of a mode
=================  ======================================================  =========================

Real features (and their Gaussian statistics) are cached under ``cache_dir()/real_stats`` keyed
by a hash of the extractor's identity (name + weights hash), the real samples' bytes and their
count, so repeated evaluations during training only extract features of the fakes.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from gans.base import UserError, atomic_torch_save, cache_dir

from . import metrics as M
from .features import FeatureExtractor, get_extractor
from .verdicts import CollapseThresholds, CollapseVerdict, collapse_verdict

__all__ = ["EvalResult", "evaluate_samples", "evaluate_gan", "PRDC_K", "NDB_MAX_BINS", "MIXTURES"]

PRDC_K = 5
NDB_MAX_BINS = 100  # Richardson & Weiss use K = 100; fewer when the train set is small
NDB_MIN_PER_BIN = 10  # the reference set must give each k-means bin at least this many on average
MIXTURES = ("ring8", "grid25")


@dataclass(frozen=True)
class EvalResult:
    """The scores of one evaluation: fakes (``metrics``) and held-out reals (``ceiling``)."""

    extractor: str
    weights_hash: str | None
    n_real: int  # real train samples (the reference set)
    n_fake: int
    n_test: int  # held-out real samples behind the ceiling
    metrics: dict[str, float]
    ceiling: dict[str, float]
    verdict: CollapseVerdict
    details: dict[str, Any] = field(default_factory=dict)
    eval_s: float = 0.0

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
            "metrics": dict(self.metrics),
            "ceiling": dict(self.ceiling),
            "verdict": {"collapse": self.verdict.verdict, "sentence": self.verdict.sentence},
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
    bad = ~torch.isfinite(t.reshape(t.shape[0], -1)).all(dim=1) if t.ndim >= 2 and t.shape[0] else None
    if bad is not None and bool(bad.any()):
        hint = " (the generator has diverged)" if role == "fake" else ""
        raise UserError(f"{role} samples contain NaN/Inf in {int(bad.sum())} of {t.shape[0]}{hint}")
    return t


def _bytes_hash(t: torch.Tensor) -> str:
    h = hashlib.sha256(f"{tuple(t.shape)}|{t.dtype}|".encode())
    h.update(t.contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _scores(
    train: dict[str, Any],
    other_feats: torch.Tensor,
    other_probs: torch.Tensor | None,
    other_x: torch.Tensor,
    *,
    ex: FeatureExtractor,
    mixture: str | None,
    details: dict[str, Any],
    tag: str,
) -> dict[str, float]:
    """Every applicable score of one set (fake or held-out real) against the real train set."""
    out: dict[str, float] = {}
    mu, sigma = M.gaussian_stats(other_feats)
    fid = M.fid_from_stats(
        train["mu"],
        train["sigma"],
        mu,
        sigma,
        n_real=train["n"],
        n_fake=other_feats.shape[0],
        extractor=ex.name,
        weights_hash=ex.weights_hash,
    )
    out["fid"] = fid.fid
    out["diversity"] = M.diversity_ratio(train["features"], other_feats).ratio
    if ex.num_classes and train["probs"] is not None and other_probs is not None:
        cov = M.class_coverage(train["probs"], other_probs, ex.num_classes)
        out["class_coverage"], out["class_kl"] = cov.coverage, cov.kl
        details[f"{tag}_class_counts"] = list(cov.fake_counts)
        details["real_class_counts"] = list(cov.real_counts)
    pr = M.prdc(train["features"], other_feats, k=PRDC_K)
    out.update(precision=pr.precision, recall=pr.recall, density=pr.density, coverage=pr.coverage)
    nd = M.ndb(train["features"], other_feats, k=_ndb_bins(train["n"]), centers=train.get("ndb_centers"))
    out["ndb"], out["ndb_js"] = nd.ndb_over_k, nd.js_divergence
    details["ndb_bins"] = nd.num_bins
    if mixture is not None:
        from gans.data import mixture_centers

        centers, std = mixture_centers(mixture)
        mm = M.mixture_modes(other_x.reshape(other_x.shape[0], -1), centers, std)
        out["modes"], out["high_quality"] = float(mm.modes_captured), mm.high_quality_fraction
        details["num_modes"] = mm.num_modes
        details[f"{tag}_mode_counts"] = list(mm.per_mode_counts)
    return out


_CACHE_VERSION = "1"  # bump when what is cached (or how a ceiling is computed) changes


def _reference(
    ex: FeatureExtractor, tr: torch.Tensor, te: torch.Tensor, mixture: str | None, use_cache: bool
) -> dict[str, Any]:
    """Everything that depends only on the real sets, cached on disk under one hash.

    Real train features, class probabilities and Gaussian statistics; the k-means centres NDB
    bins them with; held-out features; and the whole ceiling (held-out vs train scores), so an
    evaluation during training only has to score the fakes.
    """
    path = None
    if use_cache:
        key = hashlib.sha256(
            f"{_CACHE_VERSION}|{ex.identity()}|{_bytes_hash(tr)}|{_bytes_hash(te)}|{mixture}".encode()
        ).hexdigest()[:24]
        path = cache_dir() / "real_stats" / f"{ex.name}-n{tr.shape[0]}-{key}.pt"
        if path.is_file():
            try:
                return torch.load(path, map_location="cpu", weights_only=True)
            except Exception:
                pass  # a corrupt cache entry is recomputed
    feats, probs = ex.features_and_probs(tr, "real (train)")
    mu, sigma = M.gaussian_stats(feats)
    train = {"features": feats, "probs": probs, "mu": mu.cpu(), "sigma": sigma.cpu(), "n": int(tr.shape[0])}
    train["ndb_centers"] = M.ndb_centers(feats, k=_ndb_bins(train["n"]))
    test_feats, test_probs = ex.features_and_probs(te, "held-out real (test)")
    details: dict[str, Any] = {}
    ceiling = _scores(train, test_feats, test_probs, te, ex=ex, mixture=mixture, details=details, tag="test")
    blob = {
        "train": train,
        "ceiling": ceiling,
        "details": details,
        "n_test": int(te.shape[0]),
        "extractor": ex.identity(),
    }
    if path is not None:
        atomic_torch_save(blob, path)
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
) -> EvalResult:
    """Every applicable score of ``fake`` and of ``real_test`` (the ceiling), both against ``real_train``.

    Samples are in data space: images (N, C, H, W) in [0, 1] (uint8 is divided by 255) or
    vectors (N, D). ``extractor`` is a :class:`FeatureExtractor` or a registry name (``data``,
    a ``gans.data.Data``, is needed for ``classifier``/``auto`` on labelled images).
    ``mixture`` ("ring8"/"grid25") adds modes/high-quality. Raises ``UserError`` for
    mismatched shapes, too few samples or non-finite samples.
    """
    t0 = time.perf_counter()
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
    details: dict[str, Any] = {"data_kind": data_kind, "mixture": mixture, "extractor_info": ex.info}
    try:
        ref = _reference(ex, tr, te, mixture, cache)
        details.update(ref["details"])
        fake_feats, fake_probs = ex.features_and_probs(fk, "fake")
        metrics = _scores(ref["train"], fake_feats, fake_probs, fk, ex=ex, mixture=mixture, details=details, tag="fake")
        ceiling = dict(ref["ceiling"])
    except ValueError as e:
        if isinstance(e, UserError):
            raise
        raise UserError(str(e)) from None
    verdict = collapse_verdict(
        metrics, ceiling, thresholds, num_classes=ex.num_classes, num_modes=details.get("num_modes")
    )
    return EvalResult(
        ex.name,
        ex.weights_hash,
        tr.shape[0],
        fk.shape[0],
        te.shape[0],
        metrics,
        ceiling,
        verdict,
        details,
        time.perf_counter() - t0,
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
    )
