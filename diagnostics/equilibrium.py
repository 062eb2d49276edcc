"""The D/G equilibrium tracker: a windowed verdict over the logged scalar stream.

Verdicts (checked in this order; the first that applies wins):

==================  ==========================================================================
``diverged``        a logged scalar is NaN/Inf (or, for critics, ``|gap|`` exceeds
                    ``critic_diverge_abs``). Immediate, no confirmation needed.
``d_dominates``     probability D: mean D(x) ≥ ``d_high`` and mean D(x) − D(G(z)) ≥ ``d_gap`` over
                    the window — D separates real from fake almost perfectly, G gets no useful
                    gradient. Critic: the gap E[C(x)] − E[C(G(z))] is huge (≥ ``critic_gap_huge``),
                    or large (≥ ``critic_gap_large``) *and* growing (relative rise over the window ≥
                    ``critic_trend``), or large while the gradient penalty makes up at least
                    ``critic_gp_share`` of the critic's loss (the penalty is losing its hold).
``g_dominates``     probability D: mean D(G(z)) − mean D(x) ≥ ``g_margin`` — D rates fakes as
                    more real than reals. Critic: mean gap ≤ −``critic_gap_negative``.
``oscillating``     the D outputs (critic: the gap) swing: window standard deviation of D(x) or
                    D(G(z)) ≥ ``osc_std`` with ≥ ``osc_turns`` direction changes of the gap
                    (critic: std/|mean| ≥ ``critic_osc_rel`` with the gap
                    changing direction at least ``critic_osc_turns`` times).
``balanced``        probability D: both means within ``balanced_tol`` (0.1) of the target 0.5 and
                    no strong trend. The target is D(x) = D(G(z)) = 0.5, i.e. per-term BCE = ln 2
                    (``loss_kind == "bce"``) or MSE = 0.25 (the 1010 GAN, ``"mse"``); the loss
                    and its target are quoted in the sentence. Critic: the gap is small
                    (< ``critic_gap_large``) or stable/shrinking (relative trend <
                    ``critic_trend``) — a critic's value has no fixed target, never 0.5 — or
                    shrinking (relative trend ≤ −``critic_trend``) while below the huge size.
``drifting``        everything else: away from equilibrium without domination (e.g. D(x)=0.7,
                    D(G(z))=0.3), or the D(x) − D(G(z)) gap moves steadily (change over the
                    window ≥ ``drift_change``); critic: a small gap that rises steadily, or a large
                    gap that neither grows nor shrinks.
==================  ==========================================================================

A verdict is computed at every scalar log from the last ``window`` logs, and only once the
window holds ``min_logs`` of them (a single log never decides; ``diverged`` excepted); the first
verdict then dates from the first log of that window. A *change* of verdict
must persist for ``confirm`` consecutive logs (hysteresis, so noise at a threshold does not
flood the event log); ``diverged`` is taken at once. Each verdict remembers the step where it
began (the first log that showed it). D(G(z)) is the logged ``d/fake`` — D's output on the
detached fake batch in D's own step.

Live use: :class:`EquilibriumTracker` (fed by ``diagnostics.live``). Offline use (reports):
:func:`equilibrium_verdicts` and :func:`final_verdict` over metrics.jsonl records.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping

__all__ = [
    "VERDICTS",
    "EquilibriumThresholds",
    "VerdictSpan",
    "Assessment",
    "EquilibriumTracker",
    "assess_window",
    "equilibrium_verdicts",
    "final_verdict",
    "loss_target",
]

VERDICTS = ("balanced", "d_dominates", "g_dominates", "oscillating", "diverged", "drifting")


@dataclass(frozen=True)
class EquilibriumThresholds:
    """Named defaults of the equilibrium verdict (see the module docstring for the rules)."""

    window: int = 10  # logs in the sliding window (10 logs = 500 steps at --log-every 50)
    confirm: int = 3  # consecutive logs a new verdict must hold before it replaces the old one
    target: float = 0.5  # D(x) = D(G(z)) = 0.5 at the GAN equilibrium (Goodfellow et al. 2014)
    min_logs: int = 5  # logs the window must hold before a first verdict (capped at window)
    balanced_tol: float = 0.1  # balanced: both mean D outputs within 0.5 ± this
    d_high: float = 0.8  # d_dominates: mean D(x) at least this ...
    d_gap: float = 0.6  # ... and mean D(x) − mean D(G(z)) at least this
    g_margin: float = 0.2  # g_dominates: mean D(G(z)) exceeds mean D(x) by at least this
    osc_std: float = 0.15  # oscillating: window std of D(x) or D(G(z)) at least this ...
    osc_turns: int = 3  # ... and the D(x)−D(G(z)) gap changes direction at least this often (a step is not a swing)
    drift_change: float = 0.3  # drifting: the fitted D(x)−D(G(z)) gap changes this much over the window
    # critics (gan_kind == "critic" / loss_kind == "wasserstein"): the gap E[C(x)] − E[C(G(z))]
    critic_gap_large: float = 5.0  # a gap at least this large counts as "large"
    critic_gap_huge: float = 100.0  # d_dominates whatever its trend
    critic_gp_share: float = 0.5  # GP term's share of |gap| + GP term above which a large gap means d_dominates
    critic_trend: float = 0.25  # relative rise of the fitted gap over the window: "growing"
    critic_gap_negative: float = 0.5  # g_dominates: mean gap at most minus this
    critic_osc_rel: float = 0.5  # oscillating: std(gap) / |mean gap| at least this ...
    critic_osc_turns: int = 4  # ... and the gap changes direction at least this many times
    critic_diverge_abs: float = 1e6  # |gap| beyond this: diverged (a critic blowing up)


@dataclass(frozen=True)
class Assessment:
    """The verdict of one window: what it is and the numbers behind it."""

    verdict: str
    numbers: dict[str, float]
    reason: str  # the numbers in words, without the "since step" part


@dataclass
class VerdictSpan:
    """One verdict over a range of logged steps (``until_step`` None: still current)."""

    verdict: str
    since_step: int
    until_step: int | None
    sentence: str
    numbers: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def loss_target(loss_kind: str) -> float | None:
    """The per-term D loss at equilibrium: ln 2 for BCE, 0.25 for MSE, None for critics."""
    return {"bce": math.log(2.0), "mse": 0.25}.get(loss_kind)


def _is_critic(gan_kind: str, loss_kind: str) -> bool:
    return gan_kind == "critic" or loss_kind == "wasserstein"


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def _std(xs: list[float]) -> float:
    if len(xs) < 2:
        return 0.0
    m = _mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _fitted_change(xs: list[float]) -> float:
    """Least-squares slope × (n − 1): how much the linear trend moves across the window."""
    n = len(xs)
    if n < 3:
        return 0.0
    tm = (n - 1) / 2
    m = _mean(xs)
    den = sum((t - tm) ** 2 for t in range(n))
    slope = sum((t - tm) * (x - m) for t, x in enumerate(xs)) / den
    return slope * (n - 1)


def _turns(xs: list[float]) -> int:
    d = [b - a for a, b in zip(xs, xs[1:]) if b != a]
    return sum(1 for a, b in zip(d, d[1:]) if (a > 0) != (b > 0))


def assess_window(
    window: list[Mapping[str, float]], gan_kind: str, loss_kind: str, th: EquilibriumThresholds | None = None
) -> Assessment | None:
    """The verdict of a window of scalar logs (oldest first); None when it holds no D outputs."""
    th = th or EquilibriumThresholds()
    if not window:
        return None
    last = window[-1]
    bad = {
        k: v
        for k, v in last.items()
        if k.startswith(("loss/", "d/", "grad/", "critic/")) and isinstance(v, (int, float)) and not math.isfinite(v)
    }
    if bad:
        names = ", ".join(f"{k}={v}" for k, v in sorted(bad.items()))
        return Assessment("diverged", {k: float(v) for k, v in bad.items()}, f"non-finite scalars ({names})")
    n = len(window)
    if _is_critic(gan_kind, loss_kind):
        return _assess_critic(window, th)
    real = [float(r["d/real"]) for r in window if _finite(r.get("d/real"))]
    fake = [float(r["d/fake"]) for r in window if _finite(r.get("d/fake"))]
    if not real or not fake:
        return None
    mr, mf = _mean(real), _mean(fake)
    sr, sf = _std(real), _std(fake)
    gaps = [
        float(r["d/real"]) - float(r["d/fake"]) for r in window if _finite(r.get("d/real")) and _finite(r.get("d/fake"))
    ]
    change = _fitted_change(gaps)
    nums = {"d_real": mr, "d_fake": mf, "std_d_real": sr, "std_d_fake": sf, "gap_change": change, "logs": float(n)}
    target = loss_target(loss_kind)
    losses = [float(r["loss/d"]) for r in window if _finite(r.get("loss/d"))]
    loss_txt = ""
    if losses and target is not None:
        nums["loss_d"] = _mean(losses)
        nums["loss_target"] = target
        loss_txt = f", loss/d={nums['loss_d']:.3f} (equilibrium {target:.3f})"
    head = f"mean D(x)={mr:.2f}, D(G(z))={mf:.2f} over the last {n} logs"
    if mr >= th.d_high and mr - mf >= th.d_gap:
        return Assessment(
            "d_dominates", nums, f"{head}{loss_txt} (thresholds D(x) ≥ {th.d_high}, gap ≥ {th.d_gap})"
        )
    if mf - mr >= th.g_margin:
        return Assessment(
            "g_dominates",
            nums,
            f"{head}{loss_txt}: fakes rated {mf - mr:.2f} more real than reals (threshold {th.g_margin})",
        )
    turns = _turns(gaps)
    nums["turns"] = float(turns)
    if max(sr, sf) >= th.osc_std and turns >= th.osc_turns:
        return Assessment(
            "oscillating",
            nums,
            f"{head}, std D(x)={sr:.2f}, D(G(z))={sf:.2f} with {turns} swings (thresholds {th.osc_std}, "
            f"{th.osc_turns})",
        )
    if abs(change) >= th.drift_change:
        return Assessment(
            "drifting",
            nums,
            f"{head}; the D(x)−D(G(z)) gap moved {change:+.2f} across the window (threshold ±{th.drift_change})",
        )
    if abs(mr - th.target) <= th.balanced_tol and abs(mf - th.target) <= th.balanced_tol:
        return Assessment("balanced", nums, f"{head}{loss_txt} (target {th.target} ± {th.balanced_tol})")
    return Assessment(
        "drifting",
        nums,
        f"{head}{loss_txt}: off the {th.target} target by more than {th.balanced_tol} without domination",
    )


def _assess_critic(window: list[Mapping[str, float]], th: EquilibriumThresholds) -> Assessment | None:
    gaps = [float(r["critic/gap"]) for r in window if _finite(r.get("critic/gap"))]
    if not gaps:
        # fall back to the critic's raw scores when the family does not log the gap
        gaps = [
            float(r["d/real"]) - float(r["d/fake"])
            for r in window
            if _finite(r.get("d/real")) and _finite(r.get("d/fake"))
        ]
    if not gaps:
        return None
    n = len(gaps)
    m, s = _mean(gaps), _std(gaps)
    change = _fitted_change(gaps)
    rel = change / max(abs(m), 1e-8)
    turns = _turns(gaps)
    nums = {
        "gap": m,
        "std_gap": s,
        "gap_change": change,
        "relative_trend": rel,
        "turns": float(turns),
        "logs": float(n),
    }
    head = f"mean critic gap E[C(x)]−E[C(G(z))]={m:.3g} over the last {n} logs"
    if abs(gaps[-1]) >= th.critic_diverge_abs:
        return Assessment("diverged", nums, f"{head}; the last gap {gaps[-1]:.3g} exceeds {th.critic_diverge_abs:g}")
    gp_terms = [
        float(r["loss/d"]) + float(r["critic/gap"])
        for r in window
        if _finite(r.get("loss/d")) and _finite(r.get("critic/gap")) and _finite(r.get("critic/gp"))
    ]
    gp_share = None
    if gp_terms:
        gp = _mean([max(0.0, g) for g in gp_terms])
        gp_share = gp / max(abs(m) + gp, 1e-12)
        nums["gp_share"] = gp_share
    gp_txt = f", GP {gp_share:.0%} of the critic loss" if gp_share is not None else ""
    if m >= th.critic_gap_huge:
        return Assessment("d_dominates", nums, f"{head}{gp_txt}: at least {th.critic_gap_huge:g}, whatever its trend")
    if m >= th.critic_gap_large and rel >= th.critic_trend:
        return Assessment(
            "d_dominates",
            nums,
            f"{head}{gp_txt}, growing {rel:+.0%} across the window (thresholds gap ≥ {th.critic_gap_large}, rise ≥ "
            f"{th.critic_trend:.0%})",
        )
    if m >= th.critic_gap_large and gp_share is not None and gp_share >= th.critic_gp_share:
        return Assessment(
            "d_dominates",
            nums,
            f"{head}{gp_txt}: a large gap (≥ {th.critic_gap_large}) the penalty cannot hold (GP share ≥ "
            f"{th.critic_gp_share:.0%})",
        )
    if m <= -th.critic_gap_negative:
        return Assessment(
            "g_dominates", nums, f"{head}: the critic scores fakes above reals (threshold −{th.critic_gap_negative})"
        )
    if n >= 4 and s / max(abs(m), 1e-8) >= th.critic_osc_rel and turns >= th.critic_osc_turns:
        return Assessment(
            "oscillating",
            nums,
            f"{head}, std {s:.3g} ({s / max(abs(m), 1e-8):.0%} of the mean) with {turns} direction changes "
            f"(thresholds {th.critic_osc_rel:.0%}, {th.critic_osc_turns})",
        )
    if (m < th.critic_gap_large and rel < th.critic_trend) or rel <= -th.critic_trend:
        how = "shrinking" if rel <= -th.critic_trend else "stable" if abs(rel) < th.critic_trend else "small"
        return Assessment(
            "balanced",
            nums,
            f"{head}{gp_txt}, {how} ({rel:+.0%} across the window; critics are judged by the gap and its trend, "
            f"thresholds gap < {th.critic_gap_large} or trend ≤ −{th.critic_trend:.0%})",
        )
    what = "a small gap rising" if m < th.critic_gap_large else f"a large gap (≥ {th.critic_gap_large:g}) holding"
    return Assessment("drifting", nums, f"{head}{gp_txt}: {what} {rel:+.0%} across the window")


_TITLES = {
    "balanced": "Balanced",
    "d_dominates": "D dominates",
    "g_dominates": "G dominates",
    "oscillating": "Oscillating",
    "diverged": "Diverged",
    "drifting": "Drifting",
}


def _sentence(verdict: str, since: int, reason: str) -> str:
    return f"{_TITLES.get(verdict, verdict)} since step {since}: {reason}"


class EquilibriumTracker:
    """Feeds on ``(step, means)`` logs and keeps the verdict spans (with hysteresis)."""

    def __init__(
        self, gan_kind: str = "probability", loss_kind: str = "bce", thresholds: EquilibriumThresholds | None = None
    ):
        self.gan_kind, self.loss_kind = gan_kind, loss_kind
        self.th = thresholds or EquilibriumThresholds()
        self.window: list[dict[str, float]] = []
        self.steps: list[int] = []
        self.spans: list[VerdictSpan] = []
        self._candidate: tuple[str, int, int] | None = None  # (verdict, first step, logs held)
        self.last_assessment: Assessment | None = None

    @property
    def current(self) -> VerdictSpan | None:
        return self.spans[-1] if self.spans else None

    def update(self, step: int, means: Mapping[str, float]) -> VerdictSpan | None:
        """Add one log; returns the new current span when the verdict changed, else None."""
        self.window.append(dict(means))
        self.steps.append(int(step))
        if len(self.window) > self.th.window:
            del self.window[0]
            del self.steps[0]
        a = assess_window(self.window, self.gan_kind, self.loss_kind, self.th)
        if a is None:
            return None
        cur = self.current
        if cur is None and a.verdict != "diverged":
            if len(self.window) < max(1, min(self.th.min_logs, self.th.window)):
                return None  # a first verdict needs several logs
            self.last_assessment = a
            return self._switch(a, self.steps[0])
        self.last_assessment = a
        if cur is not None and a.verdict == cur.verdict:
            self._candidate = None
            cur.numbers = a.numbers  # numbers of the latest window, sentence kept fresh
            cur.sentence = _sentence(cur.verdict, cur.since_step, a.reason)
            return None
        if cur is None or a.verdict == "diverged":
            return self._switch(a, step)
        if self._candidate is None or self._candidate[0] != a.verdict:
            self._candidate = (a.verdict, step, 1)
        else:
            self._candidate = (a.verdict, self._candidate[1], self._candidate[2] + 1)
        if self._candidate[2] >= self.th.confirm:
            return self._switch(a, self._candidate[1])
        return None

    def _switch(self, a: Assessment, since: int) -> VerdictSpan:
        if self.spans:
            self.spans[-1].until_step = since
        span = VerdictSpan(a.verdict, int(since), None, _sentence(a.verdict, since, a.reason), a.numbers)
        self.spans.append(span)
        self._candidate = None
        return span


def equilibrium_verdicts(
    records: Iterable[Mapping[str, Any]],
    gan_kind: str = "probability",
    loss_kind: str = "bce",
    thresholds: EquilibriumThresholds | None = None,
) -> list[VerdictSpan]:
    """Verdict spans of a run from its metrics.jsonl records (non-scalar records are ignored).

    The same tracker as the live one, so a report shades exactly the bands the run logged.
    """
    tracker = EquilibriumTracker(gan_kind, loss_kind, thresholds)
    for rec in records:
        if rec.get("type", "scalars") != "scalars" or "step" not in rec:
            continue
        tracker.update(
            int(rec["step"]), {k: v for k, v in rec.items() if isinstance(v, (int, float)) and k not in ("step",)}
        )
    return tracker.spans


def final_verdict(
    records: Iterable[Mapping[str, Any]],
    gan_kind: str = "probability",
    loss_kind: str = "bce",
    thresholds: EquilibriumThresholds | None = None,
) -> VerdictSpan | None:
    """The verdict the run ended with (None when it logged no D outputs)."""
    spans = equilibrium_verdicts(records, gan_kind, loss_kind, thresholds)
    return spans[-1] if spans else None
