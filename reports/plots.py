"""Report charts: matplotlib on the Agg backend, readable fonts, units on every axis.

Each function returns PNG bytes (or ``None`` when there is nothing to draw), so the HTML
layer only embeds. Colours for equilibrium verdict bands are shared with the HTML badges.
"""

from __future__ import annotations

import io
import math
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from diagnostics import metric_registry as registry  # noqa: E402

from .load import RunData  # noqa: E402

__all__ = [
    "loss_plot",
    "prob_plot",
    "quality_plot",
    "timing_plot",
    "overlay_plot",
    "bar_chart",
    "history_plot",
    "VERDICT_COLORS",
    "EQUILIBRIUM_REFERENCE",
    "METRIC_LABELS",
    "DEFAULT_TARGET",
]

plt.rcParams.update(
    {
        "text.parse_math": False,  # names and verdicts are plain text: "$…$" or "\\foo" in them is drawn as typed
        "text.usetex": False,
        "font.size": 12,
        "axes.titlesize": 13,
        "axes.labelsize": 12,
        "legend.fontsize": 10,
        "xtick.labelsize": 10.5,
        "ytick.labelsize": 10.5,
        "figure.dpi": 100,
    }
)

VERDICT_COLORS = {
    "balanced": "#2e7d32",
    "d_dominates": "#c62828",
    "g_dominates": "#6a1b9a",
    "oscillating": "#ef6c00",
    "diverged": "#000000",
    "drifting": "#f9a825",
}

LN2 = math.log(2.0)
# Per-term loss at the equilibrium D = 1/2 everywhere: BCE −ln ½ = ln 2; least squares (½)² = 0.25.
EQUILIBRIUM_REFERENCE = {"bce": (LN2, "ln 2 ≈ 0.693 (D = ½)"), "mse": (0.25, "0.25 (D = ½)")}

# name → (axis label with unit, better: "lower" / "higher" / "target" (the real data's) / None): a view of the
# metric registry (diagnostics.metric_registry), kept for callers that read the old table
METRIC_LABELS = {s.name: (s.label, s.direction) for s in registry.specs()}
# where a "target" measure has no real-data ceiling in the runs: ratios to the real data aim at 1; others
# (a largest class share, a sharpness) have no target without the real data, so they are not ranked
DEFAULT_TARGET = {s.name: s.default_target for s in registry.specs() if s.default_target is not None}

X_LABELS = {"step": "training step (steps)", "epoch": "epoch (passes over the data)", "wall_s": "wall-clock time (s)"}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return buf.getvalue()


def _step_of(t: dict[str, Any]) -> float | None:
    v = t.get("since_step") or 0
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _bands(ax, timeline: Sequence[dict[str, Any]], x_end: float, alpha: float = 0.13) -> None:
    """Shade each equilibrium verdict's span of steps in its colour."""
    seen = set()
    timeline = [t for t in timeline if _step_of(t) is not None]  # a since_step that is not a number is not drawn
    for i, t in enumerate(timeline):
        start = _step_of(t)
        end = _step_of(timeline[i + 1]) if i + 1 < len(timeline) else x_end
        if end <= start:
            end = max(start + 1e-9, x_end if i + 1 == len(timeline) else start)
        v = t["verdict"]
        ax.axvspan(
            start,
            end,
            color=VERDICT_COLORS.get(v, "#777777"),
            alpha=alpha,
            lw=0,
            label=f"verdict: {v}" if v not in seen else None,
        )
        seen.add(v)


def loss_plot(run: RunData, timeline: Sequence[dict[str, Any]] = ()) -> bytes | None:
    """D and G losses with the equilibrium reference (none for critics: their gap gets a panel)."""
    xs_d, d = run.series("loss/d")
    xs_g, g = run.series("loss/g")
    if not d and not g:
        return None
    critic = run.is_critic
    gx, gap = run.series("critic/gap")
    ncols = 2 if critic and gap else 1
    fig, axes = plt.subplots(1, ncols, figsize=(11 if ncols == 2 else 10, 4.2), squeeze=False)
    ax = axes[0][0]
    ax.plot(xs_d, d, label="D loss", color="#1f77b4", lw=1.6)
    ax.plot(xs_g, g, label="G loss", color="#d62728", lw=1.6)
    ref = None if critic else EQUILIBRIUM_REFERENCE.get(run.loss_kind)
    if ref:
        ax.axhline(ref[0], color="#444", ls="--", lw=1.2, label=f"equilibrium {ref[1]}")
    x_end = max(xs_d + xs_g) if (xs_d or xs_g) else 1
    if timeline:
        _bands(ax, timeline, x_end)
    ax.set_xlabel(X_LABELS["step"])
    ax.set_ylabel(f"loss ({run.loss_kind}, nats)" if run.loss_kind == "bce" else f"loss ({run.loss_kind})")
    ax.set_title("Discriminator and generator loss")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    if ncols == 2:
        ax2 = axes[0][1]
        ax2.plot(gx, gap, color="#2ca02c", lw=1.6, label="critic gap E[D(x)] − E[D(G(z))]")
        ax2.axhline(0, color="#444", ls=":", lw=1)
        if timeline:
            _bands(ax2, timeline, x_end)
        ax2.set_xlabel(X_LABELS["step"])
        ax2.set_ylabel("critic gap (critic units)")
        ax2.set_title("Critic gap (Wasserstein estimate)")
        ax2.grid(alpha=0.3)
        ax2.legend(loc="best")
    return _png(fig)


def prob_plot(run: RunData, timeline: Sequence[dict[str, Any]] = ()) -> bytes | None:
    """D(x) and D(G(z)) with the 0.5 line and the verdict bands (probability GANs only)."""
    if run.is_critic:
        return None
    xr, r = run.series("d/real")
    xf, f = run.series("d/fake")
    if not r and not f:
        return None
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.plot(xr, r, label="D(x) on real", color="#1f77b4", lw=1.6)
    ax.plot(xf, f, label="D(G(z)) on generated", color="#d62728", lw=1.6)
    xg, fg = run.series("d/fake_g")
    if fg:
        ax.plot(xg, fg, label="D(G(z)) at G's step", color="#ff9896", lw=1.0, ls="-.")
    ax.axhline(0.5, color="#444", ls="--", lw=1.2, label="equilibrium 0.5")
    if timeline:
        _bands(ax, timeline, max(xr + xf))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(X_LABELS["step"])
    ax.set_ylabel("D output (probability)")
    ax.set_title("D(x) and D(G(z)), equilibrium verdicts shaded")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return _png(fig)


def quality_plot(run: RunData, metrics: Sequence[str] | None = None) -> bytes | None:
    """One panel per quality metric over training, with the real-data ceiling dashed."""
    names = list(metrics or run.eval_metric_names())
    if not names:
        return None
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.3 * ncols, 3.4 * nrows), squeeze=False)
    for i, m in enumerate(names):
        ax = axes[i // ncols][i % ncols]
        xs, ys = run.eval_series(m)
        ax.plot(xs, ys, "o-", color="#1f77b4", lw=1.6, ms=4, label="generated")
        cx, cy = run.eval_series(m, ceiling=True)
        if cy:
            if len(set(cy)) == 1 or len(cx) == 1:
                ax.axhline(cy[-1], color="#2e7d32", ls="--", lw=1.3, label="real-data ceiling")
            else:
                ax.plot(cx, cy, "--", color="#2e7d32", lw=1.3, label="real-data ceiling")
        ax.set_title(m)
        ax.set_xlabel(X_LABELS["step"])
        ax.set_ylabel(registry.label(m), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=9)
    for j in range(len(names), nrows * ncols):
        axes[j // ncols][j % ncols].axis("off")
    fig.tight_layout()
    return _png(fig)


def timing_plot(run: RunData) -> bytes | None:
    xs, ips = run.series("time/images_per_s")
    if not ips:
        return None
    fig, ax = plt.subplots(figsize=(10, 3.4))
    ax.plot(xs, ips, "o-", ms=3, color="#9467bd", lw=1.4)
    ax.set_xlabel(X_LABELS["step"])
    ax.set_ylabel("throughput (images/s)")
    ax.set_title("Training throughput per logged interval (includes sample/eval pauses)")
    ax.grid(alpha=0.3)
    return _png(fig)


def overlay_plot(
    groups: Sequence[tuple[str, str, Sequence[tuple[Sequence[float], Sequence[float], str]]]],
    *,
    x_label: str,
    title: str,
    ncols: int = 2,
    hlines: dict[int, tuple[float, str]] | None = None,
) -> bytes | None:
    """Panels of overlaid curves. ``groups``: [(panel title, y label, [(xs, ys, series label)])]."""
    groups = [g for g in groups if any(len(s[1]) for s in g[2])]
    if not groups:
        return None
    ncols = min(ncols, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.0 * ncols, 3.6 * nrows), squeeze=False)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (ptitle, ylabel, series) in enumerate(groups):
        ax = axes[i // ncols][i % ncols]
        colors: dict[str, str] = {}
        for xs, ys, label in series:
            key = label.split(" seed")[0]
            c = colors.setdefault(key, palette[len(colors) % len(palette)])
            ls = "-" if " seed" not in label or label.endswith("seed 0") else "--"
            ax.plot(xs, ys, ls, color=c, lw=1.5, label=label, marker="o" if len(xs) <= 12 else None, ms=4)
        if hlines and i in hlines:
            ax.axhline(hlines[i][0], color="#444", ls=":", lw=1.1, label=hlines[i][1])
        ax.set_title(ptitle)
        ax.set_xlabel(x_label)
        ax.set_ylabel(ylabel, fontsize=10.5)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=9)
    for j in range(len(groups), nrows * ncols):
        axes[j // ncols][j % ncols].axis("off")
    fig.suptitle(title, fontsize=14)
    fig.tight_layout()
    return _png(fig)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    ylabel: str,
    title: str,
    errors: Sequence[float] | None = None,
    highlight: Sequence[bool] | None = None,
    log: bool = False,
) -> bytes | None:
    if not values:
        return None
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(values) + 3), 4.2))
    colors = ["#c62828" if highlight and highlight[i] else "#1f77b4" for i in range(len(values))]
    ax.bar(range(len(values)), values, yerr=errors, color=colors, capsize=3)
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(
        labels, rotation=30 if len(values) > 3 else 0, ha="right" if len(values) > 3 else "center", fontsize=10
    )
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log:  # values spanning decades (images/s of an MLP and a conv GAN) stay readable
        ax.set_yscale("log")
    ax.grid(alpha=0.3, axis="y", which="both" if log else "major")
    return _png(fig)


def history_plot(
    series: dict[str, tuple[list[str], list[float], list[float], list[bool]]], *, ylabel: str, title: str
) -> bytes | None:
    """Medians across saved runs per benchmark, IQR as error bars, flagged changes circled red."""
    series = {k: v for k, v in series.items() if v[1]}
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(11, 4.6))
    labels_all: list[str] = []
    for _, (labels, _, _, _) in series.items():
        for lab in labels:
            if lab not in labels_all:
                labels_all.append(lab)
    pos = {lab: i for i, lab in enumerate(labels_all)}
    for name, (labels, med, iqr, flag) in series.items():
        xs = [pos[lab] for lab in labels]
        ax.errorbar(xs, med, yerr=[q / 2 for q in iqr], marker="o", ms=4, capsize=3, lw=1.3, label=name)
        fx = [x for x, f in zip(xs, flag) if f]
        fy = [y for y, f in zip(med, flag) if f]
        if fx:
            ax.scatter(fx, fy, s=160, facecolors="none", edgecolors="#c62828", linewidths=2, zorder=5)
    ax.set_xticks(range(len(labels_all)))
    ax.set_xticklabels(labels_all, rotation=20, ha="right", fontsize=9.5)
    ax.set_xlabel("saved run (number @commit)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(series) <= 12:
        ax.legend(loc="best", fontsize=8.5)
    return _png(fig)
