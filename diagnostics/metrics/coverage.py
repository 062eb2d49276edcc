"""Class coverage and class-histogram KL of fake samples, from a classifier's predictions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import ArrayLike, _check_positive_int, _to_tensor


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
    min_confidence: float = 0.0
    confident_fraction: float = 1.0  # share of fake samples predicted with at least min_confidence
    max_share: float = 0.0  # the largest class's share of the (confident) fake samples
    missing: tuple[int, ...] = ()  # classes of the real histogram the fakes do not cover, in order


def _confidence(x: object) -> np.ndarray | None:
    a = _to_tensor(x, "class_coverage: probabilities").cpu().numpy()
    return a.max(axis=1) if a.ndim == 2 else None


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
    min_confidence: float = 0.0,
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
    * ``missing`` = the classes present in the real labels that the fakes do not cover.

    * ``min_confidence`` (probabilities only): a fake sample counts toward its class only when
      the classifier gives that class at least this probability; shares stay fractions of all
      fake samples, so noise that the classifier labels with low confidence covers nothing.

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
    conf = _confidence(fake_probs_or_labels) if min_confidence > 0 else None
    sure = np.ones(fake_labels.shape[0], dtype=bool) if conf is None else conf >= min_confidence
    fake_counts = np.bincount(fake_labels[sure], minlength=k)
    p_fake = fake_counts / max(1, fake_labels.shape[0])
    p_real = real_counts / real_counts.sum()
    covered = (fake_counts > 0) & (p_fake >= min_share / k)
    p_conf = fake_counts / max(1, fake_counts.sum())
    pf = (p_conf + eps) / (1.0 + k * eps)
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
        min_confidence=float(min_confidence),
        confident_fraction=float(sure.mean()),
        max_share=float(p_conf.max()) if fake_counts.sum() else 0.0,
        missing=tuple(int(c) for c in np.flatnonzero(~covered & (real_counts > 0))),
    )
