"""The collapse zoo: known-answer fake sets built from real data, scored on every feature path.

Each case turns real samples into a "fake" set whose verdicts are known by construction, then
runs it through :func:`diagnostics.evaluate.evaluate_samples` exactly as ``ganbench diagnose``
does. ``ganbench zoo`` prints a confusion table (expected against given verdict) per path; the
test suite asserts the agreement floors (≥ 95 % per path, 100 % on the unambiguous cases).

Three disjoint real sets per path: the *reference* (what the fakes are scored against), the
*held-out* set behind the ceiling, and a *pool* the fakes are built from (so "held-out real"
fakes are real samples the ceiling never saw).

Expected verdicts (collapse / quality; a set means either answer is right, because the case
sits between two verdicts by construction; ``*`` marks the unambiguous cases):

====================  ===================================================  ====================  ========
case                  fake set                                             collapse              quality
====================  ===================================================  ====================  ========
heldout*              n pool samples                                       healthy               good
heldout_quarter*      n/4 pool samples                                     healthy               good
small_noise           pool + N(0, 0.01²) (images) / N(0, (0.1σ)²) (2-D)     healthy               good
classes_1*            pool samples of 1 of 10 classes                      collapsed             good
classes_2             2 of 10 classes                                      collapsed             good
classes_5             5 of 10 classes                                      partial               good
classes_7             7 of 10 classes                                      partial               good
classes_6_uneven      6 of 10 classes in shares 22/19/18/15/14/12 %        partial               good
                      (a GAN's partial collapse as measured)
repeat_10             10 distinct pool images, each repeated n/10 times    collapsed             good
one_image*            one pool sample repeated n times                     collapsed             any
imbalanced            55 % of the samples from one class, the rest even    partial               good
blur                  pool images blurred (Gaussian, σ = 1.5 px)           healthy|partial       poor
uniform_noise*        U[0, 1] pixels / uniform over the data's box         healthy|partial       poor
modes_half            half of the mixture's modes                          partial               good
modes_quarter         a quarter of the modes (2 of 8, 6 of 25)             collapsed             good
modes_most            80 % of the modes (6 of 8 → 75 %, 20 of 25)          partial               good
wide_modes            every mode 4× too wide                               healthy|partial       poor
dominant_mode         60 % of the samples in one mode, the rest even      partial               good
====================  ===================================================  ====================  ========

Image cases need labels for the class cases (labelled data); 2-D cases run on ring8 and grid25.

The unlabelled path at scale (``ganbench zoo --paths unlabelled --data fashion-mnist --n 1000 --n-ref 5000
--seeds 0 1 2``; also ``glyphs`` and ``digits``, and ``--n 2000``): the contrastive encoder is trained on the 5,000
reference images (digits: 718, half its train split; its fakes are capped at 119, a sixth of the pool, so digits
cannot be measured at 2,000). With 20 feature clusters, 1 and 2 of 10 classes read partial in 10 of 12
Fashion-MNIST and 10 of 12 glyphs cases (seeds 0–2, n = 1,000 and 2,000). With clusters grown to ~10 fakes each
(100) and the kinds rule of :mod:`diagnostics.verdicts` (the mass missed plus the fakes misplaced ≥ 0.60, confirmed
by PRDC coverage ≤ 68 % of held-out real's), collapse verdicts per case seed 0, 1, 2 (h healthy, p partial,
c collapsed):

====================  ======  =========  =========  =========  =========  =========
case                  want    Fashion    Fashion    glyphs     glyphs     digits
                              1,000      2,000      1,000      2,000      119
====================  ======  =========  =========  =========  =========  =========
heldout               h       hhh        hhh        hhh        hhh        hhh
heldout_quarter       h       hhh        hhh        hhh        hhh        hhh
small_noise           h       hhh        hhh        hhh        hhh        hhh
classes_1             c       ccc        ccc        ccc        ccc        ccc
classes_2             c       ccc        ccc        ccc        ccc        ccc
classes_5             p       ppp        ppp        ppp        ppp        ppp (was pcc)
classes_7             p       ppp        ppp        ppp        ppp        ppp
classes_6_uneven      p       ppp        ppp        ppp        ppp        ppp (was pcp)
repeat_10             c       ccc        ccc        ccc        ccc        ccc
one_image             c       ccc        ccc        ccc        ccc        ccc
imbalanced            p       ppp        ppp        ppp        ppp        ppp
blur                  h|p     ppp        ppp        ppp        ppp        hhh
uniform_noise         h|p     ccc        ccc        ppp        ppp        ppp
====================  ======  =========  =========  =========  =========  =========

189 of 195 collapse verdicts as expected; the other 6 are uniform noise on Fashion-MNIST, collapsed by
definition (unchanged: the contrastive features map noise to one point, diversity 20 % of real). Before coverage's
confirmation, digits' 5 of 10 read collapsed at seeds 1–2 and the uneven six at seed 1 (their clusters follow the
digits, 11 of them, so a missing digit counted as missed mass and again as misplaced fakes: 0.65–0.68); coverage
read 0.71–0.86 there, and 1–2 of 10 classes 0.16–0.65 everywhere. The per-case evidence is in
:mod:`diagnostics.verdicts`' thresholds.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

__all__ = ["ZooCase", "IMAGE_CASES", "MIXTURE_CASES", "ZooRow", "run_path", "confusion", "agreement", "PATHS"]

ANY_COLLAPSE = frozenset({"healthy", "partial", "collapsed"})
ANY_QUALITY = frozenset({"good", "poor"})


@dataclass(frozen=True)
class ZooCase:
    name: str
    collapse: frozenset[str]
    quality: frozenset[str]
    unambiguous: bool = False


def _c(name: str, collapse: str, quality: str, unambiguous: bool = False) -> ZooCase:
    col = ANY_COLLAPSE if collapse == "any" else frozenset(collapse.split("|"))
    qual = ANY_QUALITY if quality == "any" else frozenset(quality.split("|"))
    return ZooCase(name, col, qual, unambiguous)


#: a GAN's partial collapse as measured: six of ten classes in uneven shares (the seed MNIST GAN at batch 96
#: drew 0 3 5 6 8 9 as 93 114 77 66 96 61 of its recognised samples)
UNEVEN_6 = (0.22, 0.19, 0.18, 0.15, 0.14, 0.12)

IMAGE_CASES = (
    _c("heldout", "healthy", "good", True),
    _c("heldout_quarter", "healthy", "good", True),
    _c("small_noise", "healthy", "good"),
    _c("classes_1", "collapsed", "good", True),
    _c("classes_2", "collapsed", "good"),
    _c("classes_5", "partial", "good"),
    _c("classes_7", "partial", "good"),
    _c("classes_6_uneven", "partial", "good"),
    _c("repeat_10", "collapsed", "good"),
    _c("one_image", "collapsed", "any", True),
    _c("imbalanced", "partial", "good"),
    _c("blur", "healthy|partial", "poor"),
    _c("uniform_noise", "healthy|partial", "poor", True),
)
MIXTURE_CASES = (
    _c("heldout", "healthy", "good", True),
    _c("heldout_quarter", "healthy", "good", True),
    _c("small_noise", "healthy", "good"),
    _c("modes_half", "partial", "good"),
    _c("modes_quarter", "collapsed", "good"),
    _c("modes_most", "partial", "good"),
    _c("wide_modes", "healthy|partial", "poor"),
    _c("dominant_mode", "partial", "good"),
    _c("one_image", "collapsed", "any", True),
    _c("uniform_noise", "healthy|partial", "poor", True),
)
PATHS = ("labelled", "unlabelled", "2d-mixture", "2d-found")


def _take(pool: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """n rows of pool: without replacement when it has enough, else with."""
    if pool.shape[0] >= n:
        return pool[torch.randperm(pool.shape[0], generator=g)[:n]]
    return pool[torch.randint(pool.shape[0], (n,), generator=g)]


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    h = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(h, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def build_image_case(name: str, pool: torch.Tensor, labels: torch.Tensor | None, n: int, seed: int) -> torch.Tensor:
    """The fake set of an image case (pool: images in [0, 1]; labels needed by the class cases)."""
    g = torch.Generator().manual_seed(seed)
    if name == "heldout":
        return _take(pool, n, g)
    if name == "heldout_quarter":
        return _take(pool, max(2, n // 4), g)
    if name == "small_noise":
        return (_take(pool, n, g) + 0.01 * torch.randn(n, *pool.shape[1:], generator=g)).clamp(0, 1)
    if name.startswith("classes_") or name == "imbalanced":
        if labels is None:
            raise ValueError(f"zoo case {name} needs labelled data")
        classes = torch.unique(labels)
        order = classes[torch.randperm(classes.shape[0], generator=g)]
        if name == "imbalanced":  # 55 % from the first class, the rest spread evenly over the other nine
            big, rest = int(round(0.55 * n)), len(order) - 1
            counts = [big] + [(n - big) // rest + (1 if i < (n - big) % rest else 0) for i in range(rest)]
        elif name == "classes_6_uneven":
            counts = [int(round(w * n)) for w in UNEVEN_6]
            counts[0] += n - sum(counts)
        else:
            keep = torch.isin(labels, order[: int(name.split("_")[1])])
            return _take(pool[keep], n, g)
        return torch.cat([_take(pool[labels == c], k, g) for c, k in zip(order, counts)])
    if name == "repeat_10":
        base = _take(pool, 10, g)
        return base.repeat_interleave(int(math.ceil(n / 10)), dim=0)[:n]
    if name == "one_image":
        return _take(pool, 1, g).expand(n, *pool.shape[1:]).clone()
    if name == "blur":
        return _blur(_take(pool, n, g), 1.5).clamp(0, 1)
    if name == "uniform_noise":
        return torch.rand(n, *pool.shape[1:], generator=g)
    raise ValueError(f"unknown image zoo case {name}")


def build_mixture_case(name: str, mixture: str, n: int, seed: int) -> torch.Tensor:
    """The fake set of a 2-D case on the ``ring8``/``grid25`` mixture."""
    from gans.data import mixture_centers

    centers, std = mixture_centers(mixture)
    centers = centers.float()
    k = centers.shape[0]
    g = torch.Generator().manual_seed(seed)

    def draw(modes: torch.Tensor, count: int, s: float = std) -> torch.Tensor:
        idx = modes[torch.randint(modes.shape[0], (count,), generator=g)]
        return centers[idx] + s * torch.randn(count, 2, generator=g)

    perm = torch.randperm(k, generator=g)
    if name in ("heldout", "heldout_quarter"):
        return draw(torch.arange(k), n if name == "heldout" else max(2, n // 4))
    if name == "small_noise":
        return draw(torch.arange(k), n) + 0.1 * std * torch.randn(n, 2, generator=g)
    if name == "modes_half":
        return draw(perm[: k // 2], n)
    if name == "modes_quarter":
        return draw(perm[: max(1, k // 4)], n)
    if name == "modes_most":
        return draw(perm[: int(math.floor(0.8 * k))], n)
    if name == "wide_modes":
        return draw(torch.arange(k), n, 4 * std)
    if name == "dominant_mode":
        big = int(round(0.6 * n))
        return torch.cat([draw(perm[:1], big), draw(perm[1:], n - big)])
    if name == "one_image":
        return draw(perm[:1], 1, 0.0).expand(n, 2).clone()
    if name == "uniform_noise":
        lo, hi = centers.min(dim=0).values - 3 * std, centers.max(dim=0).values + 3 * std
        return lo + (hi - lo) * torch.rand(n, 2, generator=g)
    raise ValueError(f"unknown mixture zoo case {name}")


@dataclass(frozen=True)
class ZooRow:
    path: str
    source: str
    case: ZooCase
    collapse: str
    quality: str
    sentence: str
    seconds: float
    seed: int = 0

    @property
    def agrees(self) -> bool:
        return self.collapse in self.case.collapse and self.quality in self.case.quality


def _expected(case: ZooCase, which: str) -> str:
    s = case.collapse if which == "collapse" else case.quality
    full = ANY_COLLAPSE if which == "collapse" else ANY_QUALITY
    return "any" if s == full else "|".join(sorted(s))


def run_path(
    path: str,
    *,
    data: Any = None,
    mixture: str | None = None,
    n: int = 300,
    n_ref: int = 900,
    seed: int = 0,
    cases: tuple[str, ...] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[ZooRow]:
    """Score every case of one feature path.

    ``labelled``/``unlabelled``: ``data`` is a labelled image ``gans.data.Data``; its train split
    gives the reference (``n_ref``, at most half the split) and the pool, its test split the held-out set (≤ n and
    ≤ a sixth of the pool, so that no case repeats an image it did not mean to; the fakes have as many samples).
    ``2d-mixture``/``2d-found``: ``mixture`` names the toy, scored with and without ``--mixture``.
    """
    from .evaluate import evaluate_samples
    from .features import get_extractor

    rows: list[ZooRow] = []
    if path in ("labelled", "unlabelled"):
        n_ref = min(n_ref, data.n_train // 2)  # the rest of the train split is the pool the fakes are built from
        x_tr, y_tr = data.real(data.n_train, "train", seed=0)
        ref, pool, pool_y = x_tr[:n_ref], x_tr[n_ref:], y_tr[n_ref:]
        # at most the held-out split, and a sixth of the pool: imbalanced's 55 % class (a tenth of the pool) and the
        # class cases are then drawn without repeats (digits: 719 pool images, so at most 119 fakes)
        n_te = min(n, int(data.info.get("n_test", 0)), pool.shape[0] // 6)
        x_te, _ = data.real(n_te, "test", seed=0)
        shape = tuple(ref.shape[1:])
        if path == "labelled":
            ex = get_extractor("classifier", data, shape=shape)
        else:
            ex = get_extractor("auto", None, shape=shape, real=ref)
        source = data.name
        todo = [c for c in IMAGE_CASES if cases is None or c.name in cases]
        for case in todo:
            t0 = time.perf_counter()
            fake = build_image_case(case.name, pool, pool_y, n_te, seed)
            res = evaluate_samples(ref, x_te, fake, extractor=ex, seed=seed)
            rows.append(
                ZooRow(path, source, case, res.verdict.verdict, res.quality.verdict, res.verdict.sentence,
                       time.perf_counter() - t0, seed)
            )
            if progress:
                progress(_row_line(rows[-1]))
        return rows
    from gans.data import mixture_centers

    centers, std = mixture_centers(mixture)
    gen = torch.Generator().manual_seed(10_000 + seed)
    k = centers.shape[0]

    def real(count: int) -> torch.Tensor:
        return centers[torch.randint(k, (count,), generator=gen)].float() + std * torch.randn(count, 2, generator=gen)

    ref, held = real(n_ref), real(n)
    todo = [c for c in MIXTURE_CASES if cases is None or c.name in cases]
    for case in todo:
        t0 = time.perf_counter()
        fake = build_mixture_case(case.name, mixture, n, seed)
        res = evaluate_samples(
            ref, held, fake, extractor="raw", data_kind="vector", mixture=mixture if path == "2d-mixture" else None,
            seed=seed,
        )
        rows.append(
            ZooRow(path, mixture, case, res.verdict.verdict, res.quality.verdict, res.verdict.sentence,
                   time.perf_counter() - t0, seed)
        )
        if progress:
            progress(_row_line(rows[-1]))
    return rows


def _row_line(r: ZooRow) -> str:
    mark = "ok " if r.agrees else "XX "
    return (
        f"{mark}{r.path:<11}{r.source:<14}s{r.seed:<3}{r.case.name:<16} collapse {r.collapse:<9} (want "
        f"{_expected(r.case, 'collapse'):<16}) quality {r.quality:<4} (want {_expected(r.case, 'quality')})"
        f"  {r.seconds:.1f}s"
    )


def confusion(rows: list[ZooRow], which: str = "collapse") -> str:
    """A plain-text confusion table: expected (rows) against given (columns) verdicts."""
    labels = ["healthy", "partial", "collapsed"] if which == "collapse" else ["good", "poor"]
    exp_labels = sorted({_expected(r.case, which) for r in rows}, key=lambda s: (s.count("|"), s))
    counts = {(e, g): 0 for e in exp_labels for g in labels}
    for r in rows:
        counts[(_expected(r.case, which), getattr(r, which))] += 1
    w = max(18, *(len(e) + 2 for e in exp_labels))
    out = ["expected / given".ljust(w) + "".join(f"{g:>11}" for g in labels)]
    for e in exp_labels:
        out.append(f"{e:<{w}}" + "".join(f"{counts[(e, g)]:>11}" for g in labels))
    return "\n".join(out)


def agreement(rows: list[ZooRow]) -> tuple[float, float]:
    """(share of cases where both verdicts are right, share right among the unambiguous cases)."""
    if not rows:
        return float("nan"), float("nan")
    un = [r for r in rows if r.case.unambiguous]
    return (
        sum(r.agrees for r in rows) / len(rows),
        sum(r.agrees for r in un) / len(un) if un else float("nan"),
    )
