"""The run report: one run directory → one self-contained HTML page.

Sections (ids in brackets, the test checks each): configuration and data set [config], losses
with their equilibrium reference [losses], D(x)/D(G(z)) with the 0.5 line and verdict bands
[discriminator], sample quality over training with the real-data ceiling [quality], sample grids
at several points [samples], final verdicts with their sentences [verdicts], timing [timing].
Built only from config.json, metrics.jsonl, verdicts.json and samples/*.png.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from diagnostics import metric_registry as registry

from . import plots
from .html import H, Markup, check_page_target, img_png, join, page, section, table, verdict_badge, write_page
from .load import RunData, load_run

__all__ = ["build_run_report", "write_run_report", "pick_samples", "RUN_SECTIONS"]

RUN_SECTIONS = ("config", "losses", "discriminator", "quality", "samples", "verdicts", "timing")


def pick_samples(run: RunData, k: int = 6) -> list[tuple[int, Path]]:
    """Up to ``k`` sample grids spread evenly over training, first and last included."""
    return spread_samples(run.samples, k)


def spread_samples(s: list[tuple[int, Path]], k: int) -> list[tuple[int, Path]]:
    """Up to ``k`` of the (step, grid) pairs ``s``, spread evenly, first and last included."""
    if len(s) <= k:
        return list(s)
    idx = sorted({round(i * (len(s) - 1) / (k - 1)) for i in range(k)})
    return [s[i] for i in idx]


def _pairs(v: Any) -> list[tuple[Any, Any]]:
    """(field, value) rows of a config object; a value that is not an object (a hand-edited or foreign
    config.json) is shown as it is, in one row, rather than breaking the report."""
    if not isinstance(v, dict):
        return [("(not an object)", json.dumps(v))]
    return [(k, json.dumps(x) if isinstance(x, (dict, list)) else x) for k, x in v.items()]


def _config_section(run: RunData) -> str:
    c, t = run.config, run.options
    data = c.get("data") or {}
    rows = [
        ("GAN", f"{run.gan} ({c.get('seed_section', '')})"),
        ("kind / loss", f"{run.gan_kind} / {run.loss_kind}"),
        ("data set", run.dataset),
        ("batch size", t.get("batch_size")),
        (
            "epochs / steps",
            f"{t.get('epochs')} epochs · {c.get('total_steps')} steps ({c.get('steps_per_epoch')} per epoch)",
        ),
        ("seed", t.get("seed")),
        ("precision", t.get("precision")),
        ("device", c.get("device")),
        ("status", f"{run.status} at step {run.last_step}"),
    ]
    body = [table(["setting", "value"], rows)]
    if data:
        body.append(Markup("<h3>Data set details</h3>") + table(["field", "value"], _pairs(data)))
    gc = c.get("gan_config") or {}
    if gc:
        body.append(Markup("<h3>GAN configuration</h3>") + table(["field", "value"], _pairs(gc)))
    ver = c.get("versions") or {}
    if ver:
        body.append(Markup("<h3>Versions</h3>") + table(["package", "version"], _pairs(ver)))
    if c.get("command"):
        cmd = c["command"]
        body.append(
            H('<p class="note">Command: <code>{}</code></p>', " ".join(map(str, cmd)) if isinstance(cmd, list) else cmd)
        )
    return section("config", "Configuration, data set, device and versions", join(body, "\n"))


def _verdict_rows(final: dict[str, dict[str, Any]]) -> Markup:
    if not final:
        return Markup("<p>No verdicts were recorded for this run (it was trained without diagnostics).</p>")
    rows = []
    for name, v in final.items():
        rows.append(
            (
                str(name),
                verdict_badge(v.get("verdict")),
                H('<span class="verdict-sentence" data-verdict="{}">{}</span>', name, v.get("sentence", "")),
                str(v.get("source", "")),
            )
        )
    return table(["diagnostic", "verdict", "explanation", "from"], rows)


def build_run_report(run_dir: str | os.PathLike | RunData, *, max_grids: int = 6) -> str:
    """The HTML text of a run's report."""
    run = run_dir if isinstance(run_dir, RunData) else load_run(run_dir)
    timeline, tl_source = run.equilibrium_timeline()
    parts = [_config_section(run)]

    # Losses -----------------------------------------------------------------------------------
    png = plots.loss_plot(run, timeline)
    if run.is_critic:
        ref_note = (
            "Critic losses have no equilibrium value; the critic gap E[D(x)] − E[D(G(z))] is plotted beside them "
            "(it shrinks as G improves)."
        )
    else:
        ref = plots.EQUILIBRIUM_REFERENCE.get(run.loss_kind)
        ref_note = (
            f"Dashed line: each loss term at the equilibrium D = ½ is {ref[1]}."
            if ref
            else "No equilibrium reference for this loss."
        )
    parts.append(
        section(
            "losses",
            "D and G losses",
            (img_png(png, "D and G loss curves") if png else Markup("<p>No scalars logged.</p>"))
            + H('<p class="note">{}</p>', ref_note),
        )
    )

    # Discriminator outputs and verdict bands -------------------------------------------------
    if run.is_critic:
        body = Markup(
            "<p>A critic outputs unbounded scores, not probabilities, so there is no 0.5 line; see the critic gap "
            "above (verdict bands are shaded there).</p>"
        )
    else:
        png = plots.prob_plot(run, timeline)
        body = img_png(png, "D(x) and D(G(z)) with verdict bands") if png else Markup("<p>No D(x)/D(G(z)) logged.</p>")
    if timeline:
        rows = [(t["since_step"], verdict_badge(t["verdict"]), t["message"]) for t in timeline]
        body += H('<h3>Equilibrium verdicts over time</h3><p class="note">Source: {}.</p>', tl_source) + table(
            ["since step", "verdict", "why"], rows
        )
    else:
        body += H('<p class="note">Equilibrium verdicts: {}.</p>', tl_source)
    parts.append(section("discriminator", "D(x) and D(G(z)) with equilibrium verdicts", body))

    # Quality ----------------------------------------------------------------------------------
    names = run.eval_metric_names()
    if names:
        png = plots.quality_plot(run, names)
        last = run.final_eval or {}
        ivs = last.get("intervals") if isinstance(last.get("intervals"), dict) else {}

        def with_iv(v: Any, which: str, m: str) -> Any:
            iv = (ivs.get(which) or {}).get(m) if isinstance(ivs.get(which), dict) else None
            ok = isinstance(iv, (list, tuple)) and len(iv) == 2 and all(isinstance(x, (int, float)) for x in iv)
            return f"{v:.4g} [{iv[0]:.4g}, {iv[1]:.4g}]" if ok and isinstance(v, (int, float)) else v

        rows = [
            (
                m,
                with_iv((last.get("metrics") or {}).get(m), "fake", m),
                with_iv((last.get("ceiling") or {}).get(m), "ceiling", m),
                registry.label(m),
            )
            for m in names
        ]
        info = (
            f"Final evaluation at step {last.get('step')}: {last.get('n_fake')} generated vs "
            f"{last.get('n_real')} real samples, features: {last.get('extractor')}"
            + (f" (weights {last.get('weights_hash')})" if last.get("weights_hash") else "")
        )
        body = (
            img_png(png, "sample quality over training")
            + H(
                '<p class="note">{}. Dashed green: the same metric between held-out real data and the '
                "training data — the best a generator can score. Brackets: 90 % bootstrap intervals.</p>",
                info,
            )
            + table(["metric", "generated (final)", "real-data ceiling", "meaning"], rows)
        )
    else:
        body = Markup(
            "<p>No quality evaluations in metrics.jsonl (the run was trained without diagnostics, or stopped "
            "before its first evaluation).</p>"
        )
    parts.append(section("quality", "Sample quality: FID, diversity, coverage, PRDC", body))

    # Samples ----------------------------------------------------------------------------------
    picked = pick_samples(run, max_grids)
    if picked:
        spe = run.steps_per_epoch or 0
        figs = []
        for step, p in picked:
            ep = f", epoch {step / spe:.3g}" if spe else ""
            figs.append(
                H(
                    "<figure>{}<figcaption>step {}{}<br>{}</figcaption></figure>",
                    img_png(p.read_bytes(), f"samples at step {step}", cls="grid"),
                    step,
                    ep,
                    p.name,
                )
            )
            if p not in run.sources:
                run.sources.append(p)
        body = H(
            '<div class="grids">{}</div><p class="note">Same fixed z at every point, so changes are '
            "the generator's.</p>",
            join(figs),
        )
    else:
        body = Markup("<p>No sample grids in samples/.</p>")
    parts.append(section("samples", "Samples during training", body))

    # Verdicts ---------------------------------------------------------------------------------
    parts.append(section("verdicts", "Final verdicts", _verdict_rows(run.final_verdicts())))

    # Timing -----------------------------------------------------------------------------------
    tm = run.timing()
    png = plots.timing_plot(run)
    machine = (
        "–"
        if tm["contention"] is None
        else "clean"
        if tm["contention"] == "clean"
        else "DISTURBED: " + "; ".join(tm["contention_why"]) + " (images/s is not a clean figure)"
    )
    rows = [
        ("images/s (training images ÷ training wall time)", tm["images_per_s"]),
        ("images/s, median over logged intervals", tm["interval_images_per_s"]),
        ("ms/step (training wall time ÷ steps)", tm["ms_per_step"]),
        ("training wall time (s, evaluations excluded)", tm["train_s"]),
        ("wall time with evaluations (s)", tm["wall_s"]),
        ("steps", tm["steps"]),
        ("machine while training (load, CPU/wall per thread)", machine),
    ]
    parts.append(
        section(
            "timing",
            "Timing",
            table(["measure", "value"], rows) + (img_png(png, "throughput over training") if png else Markup()),
        )
    )

    t = run.options
    subtitle = H(
        '<b>{}</b> on <span class="dataset">{}</span> · batch {} · seed {} · {} · {} at step {}',
        run.gan,
        run.dataset,
        t.get("batch_size"),
        t.get("seed"),
        run.config.get("device", "?"),
        run.status,
        run.last_step,
    )
    return page(
        f"Run report: {run.gan} on {run.dataset} (batch {t.get('batch_size')}) — {run.name}",
        join(parts, "\n"),
        sources=[str(s) for s in run.sources],
        kind="run",
        subtitle=subtitle,
    )


def write_run_report(
    run_dir: str | os.PathLike | RunData, out: str | os.PathLike | None = None, *, force: bool = False
) -> Path:
    """Write the report (default ``RUN_DIR/report.html``) atomically; returns its path.

    A file ganbench did not write is replaced only with ``force``; a run's own files never.
    """
    folder = run_dir.path if isinstance(run_dir, RunData) else run_dir
    out = Path(out) if out is not None else Path(folder) / "report.html"
    check_page_target(out, force=force)
    return write_page(out, build_run_report(run_dir), force=force)
