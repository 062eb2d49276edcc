"""The batch-size comparison page: renders a :class:`diagnostics.comparison.Comparison` and nothing else.

The runs are trained by ``bench/compare_batch.py`` through the one training loop; :func:`build_comparison` reads
each run directory once (``reports.load``) and hands the runs to :func:`diagnostics.comparison.compare`, which
ranks the measures and writes the conclusion. This module only draws and writes: ``comparison.html``,
``comparison.json`` (:meth:`~diagnostics.comparison.Comparison.to_json`), each run's report and ``index.html``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

from diagnostics import metric_registry as registry
from diagnostics.comparison import Comparison, compare
from diagnostics.comparison.judging import epochs, label, num
from diagnostics.comparison.model import finite
from gans.base import atomic_write_json

from . import plots
from .html import (
    H,
    Markup,
    check_page_target,
    img_png,
    join,
    page,
    section,
    table,
    verdict_badge,
    write_index,
    write_page,
)
from .load import RunData, load_run
from .run_report import spread_samples, write_run_report

__all__ = ["build_comparison", "write_comparison_report", "render_comparison"]

CURVE_LABELS = {
    "loss/d": "D loss",
    "loss/g": "G loss",
    "d/real": "D(x) (probability)",
    "d/fake": "D(G(z)) (probability)",
    "critic/gap": "critic gap",
}


def build_comparison(
    run_dirs: Sequence[str | os.PathLike | RunData], plan: dict[str, Any] | None = None
) -> Comparison:
    """Read each run once and compare them (:func:`diagnostics.comparison.compare`)."""
    return compare([r if isinstance(r, RunData) else load_run(r) for r in run_dirs], plan)


def _curves(comp: Comparison, x: str) -> bytes | None:
    """Loss and D-output curves of every run, then each quality metric, against epochs or training wall time."""
    seeds, runs = comp.seeds, comp.runs
    groups = []
    keys = [k for k in CURVE_LABELS if any(k in s.curves for s in runs)]
    for k in keys:
        series = [(*s.curves.get(k, {}).get(x, ([], [])), label(s, seeds)) for s in runs]
        groups.append((CURVE_LABELS[k], CURVE_LABELS[k], series))
    for m in comp.metrics:
        series = []
        for s in runs:
            points = [e for e in s.evals if finite(getattr(e, x)) and finite(e.metrics.get(m))]
            series.append(([getattr(e, x) for e in points], [e.metrics[m] for e in points], label(s, seeds)))
        groups.append((m, registry.label(m), series))
    hl = {}
    ref = None if comp.is_critic else plots.EQUILIBRIUM_REFERENCE.get(comp.loss_kind)
    for i, g in enumerate(groups):
        if ref and g[0] in ("D loss", "G loss"):
            hl[i] = (ref[0], f"equilibrium {ref[1]}")
        if g[0].startswith("D(") and not comp.is_critic:
            hl[i] = (0.5, "equilibrium 0.5")
        if g[0] in comp.ceiling:
            hl[i] = (comp.ceiling[g[0]], "real-data ceiling")
    xl = {"epoch": plots.X_LABELS["epoch"], "train_wall_s": "training wall-clock time (s, evaluation pauses excluded)"}[
        x
    ]
    return plots.overlay_plot(
        groups,
        x_label=xl,
        title=f"Curves against {'epochs' if x == 'epoch' else 'wall-clock time'}",
        ncols=3,
        hlines=hl,
    )


def _unranked(m: str) -> str:
    """Why the comparison does not rank ``m``: the registry's reason, an unknown metric, or no real value to aim at."""
    spec = registry.spec(m)
    if spec is None:
        return "not ranked: not a metric this version knows"
    if spec.direction is None:
        return f"not ranked: {spec.unranked}"
    return "not ranked: no real-data value to aim at"


def _quality_table(comp: Comparison, point: str) -> str:
    rows = []
    for m in comp.metrics:
        meas = comp.measures.get(f"{m} {point}")
        if not meas:
            continue
        j = comp.conclusion.judged.get(f"{m} {point}")
        cells: list[Any] = [
            H('<span title="{}">{}</span>', registry.label(m), m),
            {"lower": "lower", "higher": "higher", "target": f"closer to {num(meas.target)}"}.get(
                meas.better or "", _unranked(m)
            ),
        ]
        for b in comp.batch_sizes:
            v = meas.by_batch[b]
            txt = "–" if v.mean is None else num(v.mean) + (f" ± {num(v.sd)}" if v.sd is not None else "")
            cells.append(
                H(
                    '<span data-measure="{}" data-point="{}" data-batch="{}" data-value="{}">{}</span>',
                    m,
                    point,
                    b,
                    repr(v.mean),
                    txt,
                )
            )
        cells.append(num(comp.ceiling.get(m)) if m in comp.ceiling else "–")
        cells.append(
            "–"
            if j is None
            else "no signal"
            if j.no_signal
            else "tie"
            if j.tie
            else "batch " + str(j.winner) + ("" if j.clear else " (not clear)")
        )
        rows.append([c if isinstance(c, Markup) else str(c) for c in cells])
    if not rows:
        return Markup("<p>No quality evaluations to compare.</p>")
    return table(
        ["metric", "better", *[f"batch {b}" for b in comp.batch_sizes], "real-data ceiling", "winner"],
        rows,
    )


def render_comparison(comp: Comparison, run_reports: dict[str, str] | None = None) -> str:
    """The comparison page, from the :class:`~diagnostics.comparison.Comparison` alone."""
    seeds = comp.seeds
    summaries = comp.runs
    parts = []
    plan = comp.plan or {}
    # setup
    rows = [
        (s.name, s.batch_size, s.seed, s.status, s.steps, s.epochs, s.train_wall_s)
        for s in summaries
    ]
    setup = table(["run", "batch", "seed", "status", "steps", "epochs", "training wall time (s)"], rows)
    if plan.get("time_budget_s"):
        setup += H(
            '<p class="note">Time budget {} s of training per run (evaluations '
            "excluded); the loop stops "
            "each run at the first logged step past it, so compare the actual training wall times above.</p>",
            f"{plan['time_budget_s']:g}",
        )
    if plan and not plan.get("diagnostics", True):
        setup += Markup(
            '<p class="note">diagnostics.live was not importable: the runs have no quality evaluations or verdicts.</p>'
        )
    if run_reports:
        setup += H(
            "<p>Run reports: {}</p>",
            join((H('<a href="{}">{}</a>', quote(v), k) for k, v in run_reports.items()), " · "),
        )
    parts.append(section("config", "Setup", setup))
    c = comp.conclusion
    body = H(
        '<div class="conclusion" id="conclusion-text"><p><b>{}</b></p>{}</div>',
        c.headline,
        join(H("<p>{}</p>", x) for x in c.summary),
    )
    body += H("<ul>{}</ul>", join(H("<li>{}</li>", x) for x in c.sentences))
    body += Markup(
        '<p class="note">Equal epochs: the evaluation nearest the largest epoch every run reached. Equal '
        "training time: the evaluation whose "
        "training wall time (evaluation pauses excluded) is nearest the shortest run's. With several seeds, a "
        "win counts as clear only when the "
        "gap exceeds twice the larger run-to-run standard deviation; with one seed, only when it exceeds 5%.</p>"
    )
    parts.append(section("conclusion", "Conclusion", body))
    png = _curves(comp, "epoch")
    parts.append(
        section(
            "curves-epochs",
            "Curves against epochs",
            img_png(png, "curves vs epochs") if png else Markup("<p>No curves.</p>"),
        )
    )
    png = _curves(comp, "train_wall_s")
    parts.append(
        section(
            "curves-wall",
            "Curves against wall-clock time",
            img_png(png, "curves vs wall time") if png else Markup("<p>No curves.</p>"),
        )
    )
    q = (
        H("<h3>At equal epochs ({})</h3>", epochs(comp.equal_epochs))
        + _quality_table(comp, "at_equal_epochs")
        + H("<h3>At equal training time (~{} s)</h3>", num(comp.equal_train_wall_s))
        + _quality_table(comp, "at_equal_wall")
    )
    parts.append(section("quality", "Quality at equal epochs and at equal wall time", q))
    t = comp.measures["images_per_s"].by_batch
    labels = [f"batch {b}" for b in comp.batch_sizes]
    vals = [t[b].mean or 0.0 for b in comp.batch_sizes]
    errs = [t[b].sd or 0.0 for b in comp.batch_sizes]
    png = plots.bar_chart(
        labels,
        vals,
        errors=errs,
        ylabel="throughput (images/s)",
        title="Training throughput (training images ÷ training wall time)",
    )
    rows = [
        (
            s.name,
            s.batch_size,
            s.seed,
            s.images_per_s,
            s.ms_per_step,
            {"clean": "clean", "disturbed": "DISTURBED: " + "; ".join(s.contention_why or [])}.get(
                s.contention or "", "–"
            ),
        )
        for s in summaries
    ]
    note = Markup(
        '<p class="note">images/s: training images ÷ training wall time (sample writing included, '
        "evaluations excluded), as on each run's report; ms/step: training wall time ÷ steps. The runs ran one after "
        "another, so other load on the machine changes these numbers; for timings use <code>ganbench "
        "sweep</code> / <code>pytest bench</code>.</p>"
    )
    parts.append(
        section(
            "throughput",
            "Throughput",
            table(["run", "batch", "seed", "images/s", "ms/step", "machine while training"], rows)
            + (img_png(png, "throughput") if png else Markup())
            + note,
        )
    )
    rows = []
    for s in summaries:
        for k, v in s.verdicts.items():
            rows.append(
                (
                    str(s.name),
                    str(k),
                    verdict_badge(v.get("verdict")),
                    H('<span class="verdict-sentence">{}</span>', v.get("sentence") or ""),
                )
            )
    parts.append(
        section(
            "verdicts",
            "Verdicts side by side",
            table(["run", "diagnostic", "verdict", "explanation"], rows)
            if rows
            else Markup("<p>No verdicts recorded.</p>"),
        )
    )
    figs = []
    sources = [str(p) for s in summaries for p in s.sources]
    for s in summaries:
        if s.seed != seeds[0]:
            continue
        for step, p in spread_samples(s.samples, 3):
            figs.append(
                H(
                    "<figure>{}<figcaption>{} · step {}{}<br>{}/samples/{}</figcaption></figure>",
                    img_png(p.read_bytes(), f"{label(s, seeds)} samples at step {step}", cls="grid"),
                    label(s, seeds),
                    step,
                    f" · epoch {step / s.steps_per_epoch:.3g}" if s.steps_per_epoch else "",
                    s.name,
                    p.name,
                )
            )
            if str(p) not in sources:
                sources.append(str(p))
        figs.append(Markup('<div style="flex-basis:100%;height:0"></div>'))
    parts.append(
        section(
            "samples",
            "Sample grids side by side",
            H('<div class="grids">{}</div>', join(figs)) if figs else Markup("<p>No sample grids.</p>"),
        )
    )
    sub = H(
        '<b>{}</b> on <span class="dataset">{}</span> · batch sizes {} · seeds {}',
        comp.gan,
        comp.dataset,
        ", ".join(map(str, comp.batch_sizes)),
        ", ".join(map(str, seeds)),
    )
    return page(
        f"Batch comparison: {comp.gan} on {comp.dataset}, batch {' vs '.join(map(str, comp.batch_sizes))}",
        join(parts, "\n"),
        sources=sources,
        kind="comparison",
        subtitle=sub,
    )


def write_comparison_report(
    run_dirs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    plan: dict[str, Any] | None = None,
    run_reports: bool = True,
) -> Comparison:
    """Write ``out/comparison.html``, ``out/comparison.json``, each run's report and ``out/index.html``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("comparison.html", "index.html"):
        check_page_target(out / name)  # refuse before anything is written
    runs = [load_run(d) for d in run_dirs]  # each run is read once
    comp = compare(runs, plan)
    links = {}
    if run_reports:
        for r in runs:
            name = f"run-{r.name}.html"
            write_run_report(r, out / name)
            links[r.name] = name
    write_page(out / "comparison.html", render_comparison(comp, links))
    atomic_write_json(out / "comparison.json", comp.to_json())
    write_index(out, title=f"ganbench compare-batch — {comp.gan} on {comp.dataset}")
    return comp
