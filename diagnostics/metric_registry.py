"""The metric registry: one :class:`MetricSpec` per quality metric, read by everything that shows or ranks one.

A metric is described here once: its key, label (with its unit), unit, direction (``lower``, ``higher``,
``target`` = closest to the real data's value, or not ranked with the reason), what it measures, where it
applies, whether it has a bootstrap interval, and how it is computed. :mod:`diagnostics.evaluate` computes the
built-in metrics in groups (one PRDC pass gives four keys; ``source`` names the function and field) and calls
``compute`` of every other spec; the reports' labels (:mod:`reports.plots`), the comparison's ranking
(:mod:`diagnostics.comparison`), ``ganbench diagnose``'s table and README's metrics table (:func:`markdown_table`)
all read this registry. Adding a metric is one :class:`MetricSpec` with a ``compute`` function, here.

``compute`` receives a :class:`MetricInput` for the set being scored (the fakes, and each held-out draw behind the
ceiling) and returns a float or ``None`` (does not apply). It must not draw from a random stream and must be a pure
function of its input. This module imports no torch (a fresh interpreter checks it): tensors arrive as arguments.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable

__all__ = [
    "MetricSpec",
    "MetricInput",
    "REGISTRY",
    "DIRECTIONS",
    "APPLIES",
    "spec",
    "specs",
    "computed",
    "label",
    "direction",
    "default_target",
    "render",
    "markdown_table",
    "registry_key",
    "TABLE_START",
    "TABLE_END",
]

DIRECTIONS = ("lower", "higher", "target")  # target: closest to the real data's own value (the ceiling)
APPLIES = ("always", "images", "classifier features", "unlabelled images", "2-D data")  # where a metric is computed
TABLE_START = "<!-- metrics-table -->"
TABLE_END = "<!-- /metrics-table -->"


@dataclass(frozen=True)
class MetricInput:
    """What a ``compute`` function sees of one set scored against the real reference set.

    ``x``: the samples in data space (images (N, C, H, W) in [0, 1] or vectors (N, D)); ``features`` /
    ``ref_features``: float64 features of the set and of the real reference (train) set; ``probs`` /
    ``ref_probs``: the classifier's class probabilities (None without a classifier); ``num_classes``.
    """

    x: Any
    features: Any
    ref_features: Any
    probs: Any = None
    ref_probs: Any = None
    num_classes: int | None = None


@dataclass(frozen=True)
class MetricSpec:
    """One metric. ``label`` is the axis and table label with its unit; ``direction`` one of :data:`DIRECTIONS`,
    or ``None`` with ``unranked`` saying why the comparison does not rank it. ``default_target``: where a
    ``target`` metric has no real-data value in the runs (ratios to the real data aim at 1). ``source``: for a
    built-in metric, the function and field of :mod:`diagnostics.metrics` (or of :mod:`diagnostics.evaluate`) it
    comes from; ``compute``: for any other, the function that computes it. ``version``: bump when ``compute``
    changes, so cached real-data ceilings are recomputed."""

    name: str
    label: str
    unit: str
    direction: str | None
    what: str
    applies: str = "always"
    interval: bool = False
    default_target: float | None = None
    unranked: str = ""
    source: str = ""
    compute: Callable[[MetricInput], float | None] | None = None
    fmt: str = ".4g"
    version: int = 1

    def render(self, value: Any) -> str:
        """The value as the reports and ``ganbench diagnose`` print it (``–`` when missing or not a number)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "–"
        return format(float(value), self.fmt)

    @property
    def better(self) -> str:
        """The direction in words, as the documentation table and the comparison page say it."""
        if self.direction == "target":
            return "closest to the real data's" + (f" (else {self.default_target:g})" if self.default_target else "")
        return self.direction or f"not ranked: {self.unranked}"


def _class_score(s: MetricInput) -> float | None:
    """The Inception Score's formula on the classifier's class probabilities, exp(E_x KL(p(y|x) ‖ p(y))) (Salimans
    et al. 2016): 1 when every sample gets the same prediction (or none is confident), up to the number of classes
    when each sample is confidently one class and the classes are drawn evenly."""
    if s.probs is None or len(s.probs) == 0:
        return None
    p = s.probs.double().clamp_min(1e-12)
    return float((p * (p.log() - p.mean(dim=0, keepdim=True).log())).sum(dim=1).mean().exp())


def _spec(*args: Any, **kw: Any) -> MetricSpec:
    return MetricSpec(*args, **kw)


REGISTRY: dict[str, MetricSpec] = {
    s.name: s
    for s in (
        _spec(
            "fid", "FID (feature units², lower is better)", "feature units²", "lower",
            "Fréchet distance of Gaussian fits to the features (Heusel et al. 2017)",
            interval=True, source="diagnostics.metrics.frechet_distance",
        ),
        _spec(
            "kid", "KID (feature units², lower is better)", "feature units²", "lower",
            "unbiased KID, cubic polynomial kernel MMD² (Bińkowski et al. 2018); above 5,000 samples the mean over "
            "100 subsets of 1,000 (torch-fidelity's protocol)",
            interval=True, source="diagnostics.evaluate._kid",
        ),
        _spec(
            "diversity", "diversity (ratio to real, 1 = real)", "ratio", "target",
            "mean pairwise feature distance, fake ÷ real reference",
            default_target=1.0, source="diagnostics.metrics.diversity_ratio: ratio",
        ),
        _spec(
            "duplicates", "near-duplicates (fraction, lower is better)", "fraction", "lower",
            "share of samples with a near-identical twin in the set", source="diagnostics.evaluate._scores",
        ),
        _spec(
            "class_coverage", "class coverage (fraction of classes)", "fraction", "higher",
            "fraction of classes covered by confident predictions", applies="classifier features",
            source="diagnostics.metrics.class_coverage: coverage",
        ),
        _spec(
            "class_kl", "class KL (nats, lower is better)", "nats", "lower",
            "KL(fake ‖ real) of the confident predicted-class histograms", applies="classifier features",
            source="diagnostics.metrics.class_coverage: kl",
        ),
        _spec(
            "class_max_share", "largest class share (fraction, real ≈ 1/classes)", "fraction", "target",
            "share of the confident predictions in the most-drawn class", applies="classifier features",
            source="diagnostics.metrics.class_coverage: max_share",
        ),
        _spec(
            "class_score", "classifier score (effective classes, higher is better)", "effective classes", "higher",
            "the Inception Score's formula, exp(E KL(p(y|x) ‖ p(y))), on the classifier's class probabilities: "
            "1 to the number of classes",
            applies="classifier features", compute=_class_score,
        ),
        _spec(
            "precision", "precision (fraction)", "fraction", "higher",
            "share of fakes inside the real data's k-NN balls (PRDC, k = 5; Naeem et al. 2020)",
            source="diagnostics.metrics.prdc: precision",
        ),
        _spec(
            "recall", "recall (fraction)", "fraction", "higher",
            "share of real samples inside the fakes' k-NN balls (PRDC, k = 5)",
            source="diagnostics.metrics.prdc: recall",
        ),
        _spec(
            "density", "density (ratio, ≈1 = real)", "ratio", "target",
            "how many real k-NN balls hold each fake, on average ÷ k (PRDC, k = 5)",
            default_target=1.0, source="diagnostics.metrics.prdc: density",
        ),
        _spec(
            "coverage", "coverage (fraction)", "fraction", "higher",
            "share of real samples whose k-NN ball holds a fake (PRDC, k = 5)",
            source="diagnostics.metrics.prdc: coverage",
        ),
        _spec(
            "ndb", "NDB (fraction of bins differing)", "fraction", "lower",
            "NDB/K: fraction of k-means bins of the real features whose share differs (α = 0.05; Richardson & "
            "Weiss 2018)",
            source="diagnostics.metrics.ndb: ndb_over_k",
        ),
        _spec(
            "ndb_js", "NDB JS divergence (nats)", "nats", "lower",
            "Jensen–Shannon divergence of the NDB bins' histograms", source="diagnostics.metrics.ndb: js_divergence",
        ),
        _spec(
            "modes", "modes covered (count)", "count", "higher",
            "modes captured (known mixture: ≥ 1 % of samples within 3σ; otherwise modes found by clustering the "
            "real set)",
            applies="2-D data", source="diagnostics.metrics.mixture_modes: modes_captured",
        ),
        _spec(
            "high_quality", "high-quality samples (fraction)", "fraction", "higher",
            "share of samples within 3σ of a mode", applies="2-D data",
            source="diagnostics.metrics.mixture_modes: high_quality_fraction",
        ),
        _spec(
            "mode_kl", "mode KL (nats, lower is better)", "nats", "lower",
            "KL(fake ‖ real) of the per-mode histograms", applies="2-D data", source="diagnostics.evaluate._kl",
        ),
        _spec(
            "clusters", "real clusters captured (count)", "count", "higher",
            "k-means clusters of the real features holding ≥ 25 % of their real share of the fakes",
            applies="unlabelled images", source="diagnostics.clusters.captured",
        ),
        _spec(
            "cluster_mass", "real mass reached (fraction)", "fraction", "higher",
            "the real data's share held by the k-means clusters of its features where the set has ≥ 25 % of their "
            "real share (diagnostics/clusters.py)",
            applies="unlabelled images", source="diagnostics.clusters.reached_mass",
        ),
        _spec(
            "cluster_kl", "cluster KL (nats, lower is better)", "nats", "lower",
            "KL(fake ‖ real) of the feature-cluster histograms", applies="unlabelled images",
            source="diagnostics.evaluate._kl",
        ),
        _spec(
            "cluster_tv", "cluster total variation (fraction, lower is better)", "fraction", "lower",
            "total variation between the fakes' and the real feature-cluster histograms (the share that would "
            "have to move)",
            applies="unlabelled images", source="diagnostics.evaluate._scores",
        ),
        _spec(
            "cluster_p", "cluster two-sample p-value (not a quality ranking)", "p-value", None,
            "p-value of the χ² test that the fakes' and the real cluster histograms share one distribution",
            applies="unlabelled images", unranked="a test's p-value says whether two histograms differ, not which set "
            "is better", source="diagnostics.evaluate._two_sample_p",
        ),
        _spec(
            "sharpness", "sharpness (mean |Laplacian|, real = target)", "mean |Laplacian|", "target",
            "mean absolute 4-neighbour Laplacian of the images (a blur/noise cue)", applies="images",
            source="diagnostics.evaluate.sharpness",
        ),
        _spec(
            "largest_bin", "largest bin share (fraction)", "fraction", None,
            "share of the set in its most-populated NDB bin: near-identical samples put (almost) all of their mass "
            "in one bin",
            unranked="read by the collapse verdict (collapse by definition); NDB ranks the same bins",
            source="diagnostics.metrics.ndb: fake_proportions",
        ),
        _spec(
            "memorised", "memorised (fraction of fakes)", "fraction", None,
            "share of samples closer to their nearest training sample than 95 % of held-out samples are (~5 % for "
            "new samples, 100 % for copies of the training set)",
            unranked="judged by the memorisation verdict: copying is a separate question from sample quality",
            source="diagnostics.evaluate._scores",
        ),
    )
}  # fmt: skip


def spec(name: str) -> MetricSpec | None:
    """The spec of ``name``, or None for a metric this version does not know (an older or newer run's)."""
    return REGISTRY.get(name)


def specs() -> list[MetricSpec]:
    return list(REGISTRY.values())


def computed() -> list[MetricSpec]:
    """The specs that :mod:`diagnostics.evaluate` computes by calling their ``compute``."""
    return [s for s in REGISTRY.values() if s.compute is not None]


def label(name: str) -> str:
    """Axis and table label (with unit); an unknown metric is labelled by its key."""
    s = REGISTRY.get(name)
    return s.label if s else name


def direction(name: str) -> str | None:
    """``lower`` / ``higher`` / ``target``, or None (not ranked: unknown, or declared unranked)."""
    s = REGISTRY.get(name)
    return s.direction if s else None


def default_target(name: str) -> float | None:
    s = REGISTRY.get(name)
    return s.default_target if s else None


def render(name: str, value: Any) -> str:
    s = REGISTRY.get(name)
    return (s or MetricSpec(name, name, "", None, "")).render(value)


def registry_key() -> str:
    """A hash of what the computed metrics are (names and versions): part of the cached ceiling's key."""
    text = "|".join(f"{s.name}:{s.version}" for s in computed())
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def markdown_table() -> str:
    """README's metrics table, rendered from the registry (between :data:`TABLE_START` and :data:`TABLE_END`)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = ["| metric | what | unit | better | applies to | interval |", "|---|---|---|---|---|---|"]
    for s in REGISTRY.values():
        rows.append(
            f"| `{s.name}` | {cell(s.what)} | {cell(s.unit)} | {cell(s.better)} | {cell(s.applies)} | "
            f"{'90 % bootstrap' if s.interval else '–'} |"
        )
    return "\n".join(rows) + "\n"
