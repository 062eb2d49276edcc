"""The collapse verdict (``healthy`` / ``partial`` / ``collapsed``), the quality verdict
(``good`` / ``poor``), and verdicts.json.

Scores are judged *against the real ceiling*: the same score computed for held-out real data
(as many samples as the fake set, drawn several times) against the real reference set. Ratios
``fake / ceiling`` of 1 mean "as good as real data". Two separate questions are asked:

* **collapse** — does the generator cover the data? Missing modes or classes, a skewed
  class/mode histogram, repeated samples, low diversity, and (only for samples that lie near the
  data) low PRDC coverage/recall or many different NDB bins.
* **quality** — do the samples look like data? PRDC precision and density against the ceiling,
  the share of samples near a mode (2-D mixtures), and blur/noise cues (the images' mean absolute
  Laplacian against the real images'). Noise is poor quality, not collapse.

Guard against false alarms: the PRDC/NDB collapse rules fire only when the FID *or* KID
interval of the fakes lies above the ceiling's interval (the difference is real, not sampling
noise); a set too small for a score is said so and never judged on it.

Thresholds (one table). Fractions are of the ceiling's value unless said otherwise:

=======================  =======  ======================================================================
threshold                value    fires
=======================  =======  ======================================================================
modes_collapsed          0.35     modes captured ≤ 35 % of the ceiling's → collapsed
modes_partial            0.90     modes captured < 90 % of the ceiling's → partial
classes_collapsed        0.35     confident classes ≤ 35 % of the ceiling's → collapsed
classes_partial          0.90     confident classes < 90 % of the ceiling's → partial
class_confidence         0.80     a fake counts toward a class only at this predicted probability
class_min_share          0.25     … and a class is covered at ≥ 25 % of its uniform share
imbalance_partial        0.15     class/mode/feature-cluster histogram KL(fake‖real) − the ceiling's ≥ 0.15 nats
                                  → partial (feature clusters: only where the χ² test below also gives p < 0.001;
                                  30 held-out digits read KL 0.19 vs 0.03 at p = 0.007)
kinds_collapsed          0.60     unlabelled data (k-means clusters of the real features: ~10 fakes and ≥ 10 reference
                                  images per cluster, at most 100; :mod:`diagnostics.clusters`): the real mass the
                                  fakes miss (1 − cluster_mass / held-out real's; a cluster is reached at ≥ 25 % of its
                                  real share) plus the fakes misplaced beyond held-out real's (cluster TV − its TV)
                                  ≥ 0.60, samples near the data, and coverage confirms (below) → collapsed; the sum
                                  without coverage's confirmation, or mass reached < 90 % of held-out's → partial.
                                  Measured on the contrastive features (zoo: Fashion-MNIST and glyphs at n = 1,000 and
                                  2,000, digits at 119; case seeds 0–2): 1 of 10 classes 0.77–1.63, 2 of 10 0.65–1.29;
                                  5 of 10 0.28–0.57 (digits 0.46–0.68), 6 in uneven shares 0.27–0.45 (digits
                                  0.41–0.65), 7 of 10 0.15–0.34, 55 % one class 0.14–0.41, held-out 0.00–0.04
kinds_coverage           0.68     … collapsed only where PRDC coverage is ≤ 68 % of held-out real's. Where the clusters
                                  are the kinds (digits: 11 clusters for 119 fakes), a missing kind counts twice, as
                                  missed mass and as misplaced fakes (5 of 10 kinds separated perfectly: 0.5 + 0.5);
                                  coverage counts each real sample once. Measured (same runs): 1 of 10 0.16–0.53, 2 of
                                  10 0.32–0.65; where the sum reached 0.60 without collapse (digits' 5 of 10 and
                                  uneven six, seeds 1–2) 0.71–0.86; 5 of 10 0.64–0.83, uneven six 0.73–0.87,
                                  imbalanced 0.73–0.88, held-out 0.98–1.08. Neither alone separates the zoo: the sum
                                  scores digits' 5 of 10 (0.68) above glyphs' 2 of 10 (0.65), and coverage glyphs' 5
                                  of 10 at n = 2,000 (0.64) below Fashion-MNIST's 2 of 10 (0.65). Limit: on features
                                  whose neighbourhoods separate kinds as sharply as their clusters, coverage of k of 10
                                  kinds is about k/10, so 5 or 6 of 10 would still read collapsed (no score of the
                                  real data's sharpness is read yet)
kinds_min_clusters       10       … fewer clusters (under ~100 fakes) cannot weigh ten kinds: the clusters reached
                                  are graded like modes instead (0.35 / 0.90), and a note says so
cluster_p_partial        0.001    unlabelled data: χ² test of the fakes' cluster histogram against the real one
                                  p < 0.001 while the ceiling's is not → partial
cluster_tv_collapsed     0.65     … total variation between the two cluster histograms (the share of fakes that
cluster_tv_excess        0.30     would have to move) ≥ 65 % and ≥ 30 points above the ceiling's → collapsed
                                  (1 − classes_collapsed: drawing only 35 % of the kinds moves 65 % of the mass;
                                  6 of 10 kinds in uneven shares is about 40 %, partial)
duplicates_collapsed     0.50     share of fakes with a near-identical twin, above the ceiling's → collapsed
duplicates_partial       0.10     … → partial
single_bin_collapsed     0.50     collapse by definition: ≥ 50 % of the fakes in one k-means bin of the real features
single_bin_excess        0.30     (NDB's bins), ≥ 30 points above the ceiling's largest bin, with diversity ≤
                                  diversity_collapsed → collapsed whatever the quality (near-identical samples: 64
                                  grey squares put 100 % in one bin, 3 % diversity); so is duplicates_collapsed
diversity_collapsed      0.25     mean pairwise distance ratio ≤ 25 % of the ceiling's → collapsed
diversity_partial        0.60     … < 60 % → partial
near_data                0.70     PRDC/NDB collapse rules, and "collapsed" from missing modes/classes,
                                  need precision ≥ 70 % of the ceiling's (else it is a quality problem)
coverage_collapsed       0.30     PRDC coverage and recall both ≤ 30 % → collapsed
coverage_partial         0.75     PRDC coverage < 75 % → partial
ndb_partial              0.25     NDB/K exceeds the ceiling's by ≥ 0.25 → partial
fid_partial              2.5      no mode/class signal (unlabelled images): FID ≥ 2.5× the ceiling's,
                                  intervals separate, samples near the data → partial
fid_collapsed            10       … FID ≥ 10× the ceiling's → collapsed, unless feature clusters were read
                                  (then partial: a GAN's 6 of 10 classes on 1,000 glyphs had FID 21× a ceiling of 0.016)
precision_poor           0.70     precision < 70 % → poor
density_poor             0.50     density < 50 % → poor
high_quality_poor        0.70     share within 3σ of a (found) mode < 70 % → poor
sharpness_low / _high    0.6/1.7  image Laplacian energy ratio below / above → blurred / noisy: poor
memorised_flag           0.25     memorisation verdict: share of fakes closer to a training (reference) sample than
memorised_excess         0.15     95 % of held-out samples are ≥ 25 % and ≥ 15 points above the held-out ceiling's
                                  (~5 % by construction) → ``memorised`` (a copy of the training set: 100 %)
=======================  =======  ======================================================================

A third verdict, **memorisation** (``memorised`` / ``novel``), is separate from collapse and quality: a
generator that copies its training images can read healthy and good on every other score.

Agreement these thresholds achieve on the collapse zoo (:mod:`diagnostics.zoo`, both verdicts
right; measured with ``ganbench zoo``): labelled digits (classifier, n = 120) 13/13 = 100 %;
2-D ring8 + grid25 with ``--mixture`` 20/20 = 100 % and without (found modes) 20/20 = 100 %
(n = 200, 600 reference); unlabelled digits (contrastive, n = 120, 700 reference) 13/13 = 100 % at case
seed 0, and over seeds 0–4 64 of 65 collapse verdicts right (seed 2's "7 of 10 classes" read healthy: 11 of
12 clusters drawn, χ² p = 0.002). The feature-cluster rules set apart what FID cannot at n = 120 (over
seeds 0–4, the total variation of the cluster histograms: held-out real 0.12–0.19, a quarter of it
0.04–0.30; 7 of 10 classes 0.21–0.30; 6 of 10 in uneven shares 0.32–0.36; 5 of 10 0.34–0.45; imbalanced
0.40–0.46; 2 of 10 0.68–0.78; 1 of 10 0.77–0.91; 10 repeated images 0.39–0.54, collapsed by their
duplicates).

The unlabelled path on larger sets of images that vary in style (Fashion-MNIST, glyphs, digits; 1,000 and 2,000
fakes against 5,000 reference images): with at most 20 clusters, 1 and 2 of 10 classes read "partial" in most
cases (one Fashion-MNIST class spread over 10–13 of the 20 clusters: clusters followed style as well as kind).
With clusters grown to 100 (each holds fewer kinds), the mass rule above and coverage's confirmation, every case
of the zoo reads as expected at n = 1,000 (digits: 119) and 2,000 on all three data sets and case seeds 0–2, except
uniform noise on Fashion-MNIST (collapsed by definition); the table is in :mod:`diagnostics.zoo`. The margins are
narrow: on Fashion-MNIST, whose coats, pullovers and shirts the contrastive features do not tell apart well (a
held-out image's five nearest reference images name its class for 77 %), 2 of 10 classes reached coverage 0.65
and glyphs' 5 of 10 at n = 2,000 summed 0.57.

Each verdict carries the sentence and the numbers that decided it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from gans.base import atomic_write_json

__all__ = [
    "CollapseThresholds",
    "CollapseVerdict",
    "QualityVerdict",
    "collapse_verdict",
    "quality_verdict",
    "MemorisationVerdict",
    "memorisation_verdict",
    "separated",
    "write_verdicts",
    "read_verdicts",
    "VERDICTS_FILE",
]

VERDICTS_FILE = "verdicts.json"


@dataclass(frozen=True)
class CollapseThresholds:
    """The thresholds of both verdicts (see the module table)."""

    modes_collapsed: float = 0.35
    modes_partial: float = 0.9
    classes_collapsed: float = 0.35
    classes_partial: float = 0.9
    class_confidence: float = 0.8
    class_min_share: float = 0.25
    imbalance_partial: float = 0.15
    cluster_p_partial: float = 1e-3
    cluster_tv_collapsed: float = 0.65
    cluster_tv_excess: float = 0.3
    kinds_collapsed: float = 0.6
    kinds_coverage: float = 0.68
    kinds_min_clusters: int = 10
    duplicates_collapsed: float = 0.5
    duplicates_partial: float = 0.1
    diversity_collapsed: float = 0.25
    diversity_partial: float = 0.6
    near_data: float = 0.7
    coverage_collapsed: float = 0.3
    coverage_partial: float = 0.75
    ndb_partial: float = 0.25
    fid_partial: float = 2.5  # without a mode/class signal: FID this many times the ceiling's → partial
    fid_collapsed: float = 10.0  # … → collapsed
    precision_poor: float = 0.7
    density_poor: float = 0.5
    high_quality_poor: float = 0.7
    sharpness_low: float = 0.6
    sharpness_high: float = 1.7
    single_bin_collapsed: float = 0.5
    single_bin_excess: float = 0.3
    memorised_flag: float = 0.25
    memorised_excess: float = 0.15


@dataclass(frozen=True)
class CollapseVerdict:
    verdict: str  # healthy | partial | collapsed
    sentence: str
    scores: dict[str, float] = field(default_factory=dict)  # the relative scores that were judged
    decided_by: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "sentence": self.sentence,
            "scores": dict(self.scores),
            "decided_by": list(self.decided_by),
        }


@dataclass(frozen=True)
class QualityVerdict:
    verdict: str  # good | poor
    sentence: str
    scores: dict[str, float] = field(default_factory=dict)
    decided_by: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "sentence": self.sentence,
            "scores": dict(self.scores),
            "decided_by": list(self.decided_by),
        }


@dataclass(frozen=True)
class MemorisationVerdict:
    verdict: str  # memorised | novel
    sentence: str
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "sentence": self.sentence, "scores": dict(self.scores)}


def _num(m: Mapping[str, Any], key: str) -> float | None:
    v = m.get(key)
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def _rel(metrics: Mapping[str, Any], ceiling: Mapping[str, Any], key: str) -> float | None:
    f, c = _num(metrics, key), _num(ceiling, key)
    if f is None or c is None or c <= 0:
        return None
    return f / c


def separated(fake_iv: Any, ceiling_iv: Any) -> bool:
    """True when the fake interval lies wholly above the ceiling's (a real excess)."""
    try:
        return float(fake_iv[0]) > float(ceiling_iv[1])
    except (TypeError, IndexError, ValueError):
        return False


def _excess(metrics: Mapping[str, Any], ceiling: Mapping[str, Any], intervals: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether FID or KID of the fakes is above the ceiling beyond sampling noise, and the words."""
    parts, sep = [], False
    for key, name in (("fid", "FID"), ("kid", "KID")):
        f, c = _num(metrics, key), _num(ceiling, key)
        fi, ci = (intervals.get("fake") or {}).get(key), (intervals.get("ceiling") or {}).get(key)
        if f is None or c is None:
            continue
        s = separated(fi, ci) if fi is not None and ci is not None else f > c
        sep |= s
        iv = f" [{fi[0]:.3g}, {fi[1]:.3g}]" if fi else ""
        civ = f" [{ci[0]:.3g}, {ci[1]:.3g}]" if ci else ""
        parts.append(f"{name} {f:.3g}{iv} vs real {c:.3g}{civ}")
    return sep, ", ".join(parts)


def collapse_verdict(
    metrics: Mapping[str, Any],
    ceiling: Mapping[str, Any],
    thresholds: CollapseThresholds | None = None,
    *,
    intervals: Mapping[str, Any] | None = None,
    num_classes: int | None = None,
    num_modes: int | None = None,
    num_clusters: int | None = None,
    missing_classes: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    notes: tuple[str, ...] = (),
) -> CollapseVerdict:
    """Judge the fake scores ``metrics`` against the real ``ceiling`` (same keys) for mode collapse.

    ``missing_classes`` (indices of the classes the fakes do not cover) are named in the class
    sentence, by ``class_names`` where given.
    """
    th = thresholds or CollapseThresholds()
    intervals = intervals or {}
    scores: dict[str, float] = {}
    collapsed: list[str] = []
    partial: list[str] = []

    def grade(txt: str, rel: float, c_at: float, p_below: float) -> None:
        if rel <= c_at:
            collapsed.append(f"{txt} ≤ {c_at:.0%}")
        elif rel < p_below:
            partial.append(f"{txt} < {p_below:.0%}")

    modes = _rel(metrics, ceiling, "modes")
    if modes is not None:
        scores["modes_rel"] = modes
        grade(
            f"modes {metrics['modes']:.0f} vs real {ceiling['modes']:.0f} ({modes:.0%})",
            modes,
            th.modes_collapsed,
            th.modes_partial,
        )
    classes = _rel(metrics, ceiling, "class_coverage")
    if classes is not None:
        scores["class_coverage_rel"] = classes
        k = num_classes or 0
        fc, cc = metrics["class_coverage"], ceiling["class_coverage"]
        names = [
            class_names[c] if class_names is not None and 0 <= c < len(class_names) else str(c)
            for c in (missing_classes or ())
        ]
        gone = f"; not drawn: {', '.join(names)}" if names and classes < th.classes_partial else ""
        txt = (
            f"confident classes {fc * k:.0f} of {k} vs real {cc * k:.0f} ({classes:.0%}{gone})"
            if k
            else f"class coverage {fc:.2f} vs real {cc:.2f} ({classes:.0%}{gone})"
        )
        grade(txt, classes, th.classes_collapsed, th.classes_partial)
    prec = _rel(metrics, ceiling, "precision")
    near = prec is not None and prec >= th.near_data
    clusters = _rel(metrics, ceiling, "clusters") if modes is None and classes is None else None
    mass = _rel(metrics, ceiling, "cluster_mass") if clusters is not None else None
    tv, tv_c = _num(metrics, "cluster_tv"), _num(ceiling, "cluster_tv")
    if mass is not None and num_clusters is not None and num_clusters < th.kinds_min_clusters:
        # ten kinds cannot be told apart in fewer clusters: the clusters reached are graded instead, as modes are
        notes = notes + (
            f"only {num_clusters} feature clusters (about ten fakes each): too few to weigh the real data's kinds, so "
            "one or two kinds of ten may read partial.",
        )
        mass = None
    if mass is not None and tv is not None and tv_c is not None:  # unlabelled data: kinds by their mass
        missed, misplaced = max(0.0, 1.0 - mass), max(0.0, tv - tv_c)
        scores["clusters_rel"], scores["cluster_mass_rel"] = clusters, mass
        scores["kinds_missed"] = missed + misplaced
        seen = (
            f"the fakes reach feature clusters holding {metrics['cluster_mass']:.0%} of the real data's mass "
            f"({metrics['clusters']:.0f} of {num_clusters or ceiling['clusters']:.0f} clusters; held-out real "
            f"{ceiling['cluster_mass']:.0%})"
        )
        kinds = (
            f"{seen} and {tv:.0%} of them would have to move to another cluster (held-out real {tv_c:.0%}): "
            f"{missed:.0%} of the mass missed + {misplaced:.0%} misplaced ≥ {th.kinds_collapsed:.0%}"
        )
        # where the clusters are the kinds, a missing kind is both missed mass and misplaced fakes (5 of 10 kinds
        # score 0.5 + 0.5): PRDC coverage, one count per real sample, must confirm that most kinds are gone
        cov_k = _rel(metrics, ceiling, "coverage")
        cov_txt = "" if cov_k is None else f"PRDC coverage {cov_k:.0%} of held-out real's"
        if near and missed + misplaced >= th.kinds_collapsed:
            if cov_k is None or cov_k <= th.kinds_coverage:
                collapsed.append(kinds + (f", and {cov_txt} ≤ {th.kinds_coverage:.0%}" if cov_txt else ""))
            else:
                partial.append(
                    f"{kinds}, but {cov_txt} > {th.kinds_coverage:.0%}: most of the real data's neighbourhoods are "
                    "reached (the clusters count each missing kind twice where they follow kinds)"
                )
        elif mass < th.modes_partial:
            partial.append(f"{seen}: {mass:.0%} of held-out real's < {th.modes_partial:.0%}")
    elif clusters is not None:  # unlabelled data: k-means clusters of the real features stand in for modes
        scores["clusters_rel"] = clusters
        if near or clusters > th.modes_collapsed:
            grade(
                f"feature clusters {metrics['clusters']:.0f} vs real {ceiling['clusters']:.0f} ({clusters:.0%})",
                clusters,
                th.modes_collapsed,
                th.modes_partial,
            )
    if clusters is not None and tv is not None and tv_c is not None:
        scores["cluster_tv"] = tv
        if tv >= th.cluster_tv_collapsed and tv - tv_c >= th.cluster_tv_excess:
            collapsed.append(
                f"{tv:.0%} of the fakes would have to move to another feature cluster to match the real data "
                f"(real {tv_c:.0%}; ≥ {th.cluster_tv_collapsed:.0%})"
            )
    cp, cp_c = _num(metrics, "cluster_p"), _num(ceiling, "cluster_p")
    if clusters is not None and cp is not None and cp_c is not None:
        scores["cluster_p"] = cp
        if cp < th.cluster_p_partial <= cp_c and not collapsed:
            partial.append(
                f"fakes fall into the real data's feature clusters in other proportions (χ² p = {cp:.1e} vs real "
                f"{cp_c:.2f}; < {th.cluster_p_partial:g})"
            )
    # each histogram with its significance test where it has one: a few dozen fakes over ~a dozen feature clusters
    # give a KL of sampling noise, so the cluster KL counts only where the χ² test of the same histogram agrees
    for key, what, p in (("class_kl", "class", None), ("mode_kl", "mode", None), ("cluster_kl", "feature-cluster", cp)):
        kf, kc = _num(metrics, key), _num(ceiling, key)
        if kf is not None and kc is not None:
            scores[f"{what}_imbalance"] = kf - kc
            significant = p is None or p < th.cluster_p_partial
            if kf - kc >= th.imbalance_partial and not collapsed and significant:
                partial.append(
                    f"{what} histogram KL {kf:.2f} nats vs real {kc:.2f} (excess ≥ {th.imbalance_partial})"
                )
    by_definition: list[str] = []  # near-identical samples: collapse whatever their quality
    dup, dup_c = _num(metrics, "duplicates"), _num(ceiling, "duplicates")
    if dup is not None:
        scores["duplicates"] = dup
        excess = dup - (dup_c or 0.0)
        if excess >= th.duplicates_collapsed:
            by_definition.append(f"{dup:.0%} of fakes have a near-identical twin (real {dup_c or 0:.0%})")
        elif excess >= th.duplicates_partial:
            partial.append(f"{dup:.0%} of fakes have a near-identical twin (real {dup_c or 0:.0%})")
    div = _rel(metrics, ceiling, "diversity")
    lb, lb_c = _num(metrics, "largest_bin"), _num(ceiling, "largest_bin")
    if lb is not None and lb_c is not None:
        scores["largest_bin"] = lb
        if (
            lb >= th.single_bin_collapsed
            and lb - lb_c >= th.single_bin_excess
            and div is not None
            and div <= th.diversity_collapsed
        ):
            by_definition.append(
                f"{lb:.0%} of the fakes fall in one cluster of the real features (real at most {lb_c:.0%}) with "
                f"diversity {div:.0%} of real: near-identical samples"
            )
    if div is not None:
        scores["diversity_rel"] = div
        grade(
            f"diversity {metrics['diversity']:.2f} vs real {ceiling['diversity']:.2f} ({div:.0%})",
            div,
            th.diversity_collapsed,
            th.diversity_partial,
        )
    rec, cov = _rel(metrics, ceiling, "recall"), _rel(metrics, ceiling, "coverage")
    for k, v in (("precision_rel", prec), ("recall_rel", rec), ("coverage_rel", cov)):
        if v is not None:
            scores[k] = v
    sep, excess_txt = _excess(metrics, ceiling, intervals)
    if rec is not None and cov is not None and near and sep:
        txt = (
            f"PRDC coverage {metrics['coverage']:.2f} / recall {metrics['recall']:.2f} vs real "
            f"{ceiling['coverage']:.2f} / {ceiling['recall']:.2f} with precision {prec:.0%} of real"
        )
        if max(rec, cov) <= th.coverage_collapsed:
            collapsed.append(f"{txt} (both ≤ {th.coverage_collapsed:.0%})")
        elif cov < th.coverage_partial:
            partial.append(f"{txt} (coverage < {th.coverage_partial:.0%})")
    nf, nc = _num(metrics, "ndb"), _num(ceiling, "ndb")
    if nf is not None and nc is not None:
        scores["ndb_excess"] = nf - nc
        if near and sep and nf - nc >= th.ndb_partial:
            partial.append(f"NDB/K {nf:.2f} vs real {nc:.2f} (excess ≥ {th.ndb_partial})")
    if collapsed and prec is not None and not near and not by_definition:
        # samples far from the data miss modes because they miss the data: a quality problem, not collapse
        partial.extend(collapsed)
        partial.append(f"precision only {prec:.0%} of real, so missing modes/classes may be poor quality")
        collapsed = []
    collapsed = by_definition + collapsed
    ff, fc = _num(metrics, "fid"), _num(ceiling, "fid")
    if ff is not None and fc is not None and fc > 0:
        ratio = ff / fc
        scores["fid_ratio"] = ratio
        if modes is None and classes is None and near and sep:
            # with feature clusters to read, FID only says the sets differ: at large n the ceiling's FID is tiny,
            # so the ratio grows with any difference (blur, style), and collapse is left to the cluster rules
            if ratio >= th.fid_collapsed and clusters is None:
                collapsed.append(f"FID {ratio:.1f}× the ceiling's with samples near the data (≥ {th.fid_collapsed:g}×)")
            elif ratio >= th.fid_partial:
                partial.append(f"FID {ratio:.1f}× the ceiling's with samples near the data (≥ {th.fid_partial:g}×)")
    tail = f" ({excess_txt})" if excess_txt else ""
    note = f" Note: {' '.join(notes)}" if notes else ""
    if collapsed:
        return CollapseVerdict(
            "collapsed", "collapsed: " + "; ".join(collapsed) + tail + "." + note, scores, tuple(collapsed)
        )
    if partial:
        return CollapseVerdict(
            "partial", "partial collapse: " + "; ".join(partial) + tail + "." + note, scores, tuple(partial)
        )
    judged = ", ".join(f"{k} {v:.0%}" for k, v in scores.items() if k.endswith("_rel"))
    why = "" if sep or not excess_txt else "; FID/KID within the ceiling's interval"
    return CollapseVerdict(
        "healthy",
        f"healthy: coverage, diversity and modes are close to the real ceiling ({judged or 'no scores'}){why}"
        f"{tail}.{note}",
        scores,
        (),
    )


def quality_verdict(
    metrics: Mapping[str, Any],
    ceiling: Mapping[str, Any],
    thresholds: CollapseThresholds | None = None,
    *,
    notes: tuple[str, ...] = (),
) -> QualityVerdict:
    """Judge whether the fake samples look like data (precision, density, near-mode share, blur/noise)."""
    th = thresholds or CollapseThresholds()
    scores: dict[str, float] = {}
    poor: list[str] = []
    for name, floor in (("precision", th.precision_poor), ("density", th.density_poor)):
        rel = _rel(metrics, ceiling, name)
        if rel is not None:
            scores[f"{name}_rel"] = rel
            if rel < floor:
                poor.append(f"{name} {metrics[name]:.2f} vs real {ceiling[name]:.2f} ({rel:.0%} < {floor:.0%})")
    hq = _rel(metrics, ceiling, "high_quality")
    if hq is not None:
        scores["high_quality_rel"] = hq
        if hq < th.high_quality_poor:
            poor.append(
                f"{metrics['high_quality']:.0%} of samples within 3σ of a mode vs real {ceiling['high_quality']:.0%}"
            )
    sharp = _rel(metrics, ceiling, "sharpness")
    if sharp is not None:
        scores["sharpness_rel"] = sharp
        if sharp < th.sharpness_low:
            poor.append(f"blurred: edge energy {sharp:.0%} of real (< {th.sharpness_low:.0%})")
        elif sharp > th.sharpness_high:
            poor.append(f"noisy: edge energy {sharp:.0%} of real (> {th.sharpness_high:.0%})")
    note = f" Note: {' '.join(notes)}" if notes else ""
    if poor:
        return QualityVerdict("poor", "poor quality: " + "; ".join(poor) + "." + note, scores, tuple(poor))
    judged = ", ".join(f"{k} {v:.0%}" for k, v in scores.items())
    return QualityVerdict("good", f"good quality: samples lie near the data ({judged or 'no scores'}).{note}", scores)


def memorisation_verdict(
    metrics: Mapping[str, Any], ceiling: Mapping[str, Any], thresholds: CollapseThresholds | None = None
) -> MemorisationVerdict | None:
    """Whether the fakes copy training images: the share of fakes nearer a training (reference) sample than 95 % of
    held-out samples are (``memorised``), against the held-out ceiling's. None without the score."""
    th = thresholds or CollapseThresholds()
    f, c = _num(metrics, "memorised"), _num(ceiling, "memorised")
    if f is None or c is None:
        return None
    scores = {"memorised": f, "memorised_real": c}
    words = (
        f"{f:.0%} of the fakes lie closer to a training image than 95 % of held-out real images do (held-out "
        f"real: {c:.0%})"
    )
    if f >= th.memorised_flag and f - c >= th.memorised_excess:
        return MemorisationVerdict(
            "memorised",
            f"memorised: {words}; the generator copies training images (≥ {th.memorised_flag:.0%} and "
            f"{th.memorised_excess:.0%} above held-out).",
            scores,
        )
    return MemorisationVerdict("novel", f"novel: {words}, as new samples do.", scores)


def read_verdicts(run_dir: str | Path) -> dict[str, Any]:
    import json

    p = Path(run_dir) / VERDICTS_FILE
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return {}


def write_verdicts(
    run_dir: str | Path,
    *,
    equilibrium: dict[str, Any] | None = None,
    collapse: dict[str, Any] | None = None,
    quality: dict[str, Any] | None = None,
    memorisation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Update verdicts.json atomically (keeps the other verdicts when only one is given)."""
    cur = read_verdicts(run_dir)
    if memorisation is not None:
        cur["memorisation"] = memorisation
    if equilibrium is not None:
        cur["equilibrium"] = equilibrium
    if collapse is not None:
        cur["collapse"] = collapse
    if quality is not None:
        cur["quality"] = quality
    atomic_write_json(Path(run_dir) / VERDICTS_FILE, cur)
    return cur
