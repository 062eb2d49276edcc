"""The benchmark report: pytest-benchmark's saved runs and ``ganbench sweep`` results as one page.

Throughput is images/s per GAN × batch × device × precision. For a pytest-benchmark entry the
numbers come from ``extra_info`` (``images_per_s``, ``gan``, ``batch_size``, ``device``,
``precision``) or ``params``; failing those, images/s is ``batch_size / median``.

A change between two consecutive saved runs of the same benchmark is *flagged* when both
hold: ``|Δ median| > k × noise`` with noise = the larger of the two runs' IQRs (a robust spread of
the rounds, so a noisy benchmark needs a bigger change), and ``|Δ median| / old median > rel``.
Defaults k = 2, rel = 5 %. A larger median time is a slowdown (red), a smaller one a speed-up (green).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from gans.base import atomic_write_text

from . import plots
from .html import H, Markup, img_png, join, page, section, table
from .load import BenchRun, SweepRow, finite, load_benchmarks, load_sweep
from .scaling import SCALING_JSONL, load_scaling, scaling_body

__all__ = ["bench_rows", "find_changes", "build_bench_report", "write_bench_report", "NOISE_K", "REL_THRESHOLD"]

NOISE_K = 2.0
REL_THRESHOLD = 0.05


def _field(b: dict[str, Any], key: str) -> Any:
    for src in (b.get("extra_info") or {}, b.get("params") or {}):
        if key in src and src[key] is not None:
            return src[key]
    return None


def bench_rows(runs: Sequence[BenchRun]) -> list[dict[str, Any]]:
    """One flat row per (saved run, benchmark)."""
    rows = []
    for run in runs:
        for b in run.benchmarks:
            st = b.get("stats") or {}
            med = st.get("median")
            bs = _field(b, "batch_size")
            ips = _field(b, "images_per_s")
            if not finite(ips) and finite(bs) and finite(med) and med > 0:
                ips = bs / med
            rows.append(
                {
                    "run": run.label,
                    "run_path": str(run.path),
                    "datetime": run.datetime,
                    "machine": run.machine,
                    "name": b.get("fullname") or b.get("name"),
                    "short": b.get("name"),
                    "group": b.get("group"),
                    "gan": _field(b, "gan"),
                    "batch_size": bs,
                    "device": _field(b, "device"),
                    "precision": _field(b, "precision"),
                    "median_s": med,
                    "iqr_s": st.get("iqr"),
                    "mean_s": st.get("mean"),
                    "stddev_s": st.get("stddev"),
                    "rounds": st.get("rounds"),
                    "images_per_s": ips if finite(ips) else None,
                }
            )
    return rows


def find_changes(rows: list[dict[str, Any]], *, k: float = NOISE_K, rel: float = REL_THRESHOLD) -> list[dict[str, Any]]:
    """Consecutive-run changes of each benchmark's median, with a ``flagged`` decision (see module doc)."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_name.setdefault(r["name"], []).append(r)
    out = []
    for name, rs in by_name.items():
        for old, new in zip(rs, rs[1:]):
            if not (finite(old["median_s"]) and finite(new["median_s"])) or old["median_s"] <= 0:
                continue
            d = new["median_s"] - old["median_s"]
            noise = max(x for x in (old["iqr_s"], new["iqr_s"], 0.0) if finite(x))
            relchg = d / old["median_s"]
            flagged = abs(d) > k * noise and abs(relchg) > rel
            out.append(
                {
                    "name": name,
                    "from": old["run"],
                    "to": new["run"],
                    "old_median_s": old["median_s"],
                    "new_median_s": new["median_s"],
                    "delta_s": d,
                    "rel": relchg,
                    "noise_s": noise,
                    "flagged": flagged,
                    "kind": ("slowdown" if d > 0 else "speed-up") if flagged else "within noise",
                }
            )
    return out


def _ms(x: Any) -> Any:
    return x * 1000.0 if finite(x) else None


def _sweep_section(rows: list[SweepRow]) -> tuple[Markup, list[str]]:
    cols = [
        "gan",
        "batch_size",
        "device",
        "precision",
        "compile",
        "status",
        "ms_median",
        "ms_iqr",
        "images_per_s",
        "peak_mem_bytes",
        "flops",
    ]
    trs = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.images_per_s if c == "images_per_s" else r.get(c)
            if c == "peak_mem_bytes" and finite(v):
                v = f"{v / 2**20:,.1f} MiB"
            elif c == "flops" and finite(v):
                v = f"{v / 1e9:,.3g} GFLOP"
            cells.append(v if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) else str(v))
        trs.append(cells)
    classes = ["regression" if r.get("status") not in (None, "ok") else "" for r in rows]
    body = table(
        [
            "GAN",
            "batch",
            "device",
            "precision",
            "compile",
            "status",
            "ms/step (median)",
            "ms IQR",
            "images/s",
            "peak memory",
            "FLOPs/step",
        ],
        trs,
        row_classes=classes,
    )
    # chart: images/s against batch size, one line per GAN × device × precision × compile
    import matplotlib.pyplot as plt

    groups: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        ips, bs = r.images_per_s, r.get("batch_size")
        if r.get("status", "ok") == "ok" and finite(ips) and finite(bs):
            key = " · ".join(str(r.get(k)) for k in ("gan", "device", "precision") if r.get(k) is not None) + (
                " · compiled" if r.get("compile") else ""
            )
            groups.setdefault(key, []).append((bs, ips))
    if groups:
        fig, ax = plt.subplots(figsize=(10, 4.6))
        for key, pts in groups.items():
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=key, lw=1.5)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size (images, log₂ scale)")
        ax.set_ylabel("throughput (images/s)")
        ax.set_title("Sweep: training throughput against batch size")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8.5)
        body += img_png(plots._png(fig), "sweep throughput chart")
    n_bad = sum(1 for r in rows if r.get("status") not in (None, "ok"))
    if n_bad:
        body += H('<p class="note">{} configuration(s) did not run (status oom/error), highlighted.</p>', n_bad)
    return body, sorted({str(r.source) for r in rows})


def build_bench_report(
    bench_dir: str | os.PathLike | None,
    sweeps: Sequence[str | os.PathLike] = (),
    *,
    k: float = NOISE_K,
    rel: float = REL_THRESHOLD,
) -> str:
    parts = []
    sources: list[str] = []
    if bench_dir is not None:
        runs = load_benchmarks(bench_dir)
        sources += [str(r.path) for r in runs]
        rows = bench_rows(runs)
        changes = find_changes(rows, k=k, rel=rel)
        # machines
        mrows = [
            (
                r.label,
                r.datetime,
                r.machine,
                (r.commit_info.get("id") or "")[:12],
                r.commit_info.get("branch") or "",
                len(r.benchmarks),
                r.path.name,
            )
            for r in runs
        ]
        parts.append(
            section(
                "machines",
                f"Saved runs ({len(runs)}) and the machine each came from",
                table(["run", "date", "machine", "commit", "branch", "benchmarks", "file"], mrows),
            )
        )
        # latest throughput
        latest = runs[-1]
        lrows = [r for r in rows if r["run_path"] == str(latest.path)]
        trs = [
            (
                r["gan"] or "–",
                r["batch_size"],
                r["device"] or "–",
                r["precision"] or "–",
                _ms(r["median_s"]),
                _ms(r["iqr_s"]),
                r["images_per_s"],
                r["short"],
            )
            for r in lrows
        ]
        body = H("<p>Latest run {} on {}.</p>", latest.label, latest.machine) + table(
            ["GAN", "batch", "device", "precision", "median (ms)", "IQR (ms)", "images/s", "benchmark"], trs
        )
        with_ips = [r for r in lrows if r["images_per_s"] is not None]
        if with_ips:
            labels = [
                " · ".join(
                    str(x)
                    for x in (r["gan"] or r["short"], r["batch_size"], r["device"], r["precision"])
                    if x is not None
                )
                for r in with_ips
            ]
            body += img_png(
                plots.bar_chart(
                    labels,
                    [r["images_per_s"] for r in with_ips],
                    ylabel="throughput (images/s)",
                    title="images/s per GAN · batch · device · precision (latest run)",
                ),
                "throughput per benchmark",
            )
        parts.append(section("throughput", "Throughput (images/s)", body))
        # history and changes
        flagged = [c for c in changes if c["flagged"]]
        crow = [
            (
                c["name"],
                f"{c['from']} → {c['to']}",
                _ms(c["old_median_s"]),
                _ms(c["new_median_s"]),
                f"{c['rel'] * 100:+.1f}%",
                _ms(c["noise_s"]),
                c["kind"],
            )
            for c in changes
        ]
        classes = [
            "regression" if c["kind"] == "slowdown" else "improvement" if c["kind"] == "speed-up" else ""
            for c in changes
        ]
        series: dict[str, tuple[list[str], list[float], list[float], list[bool]]] = {}
        flags = {(c["name"], c["to"]): c["flagged"] for c in changes}
        for r in rows:
            if not finite(r["median_s"]):
                continue
            s = series.setdefault(r["short"] or r["name"], ([], [], [], []))
            s[0].append(r["run"])
            s[1].append(r["median_s"] * 1000)
            s[2].append((r["iqr_s"] or 0) * 1000)
            s[3].append(flags.get((r["name"], r["run"]), False))
        hist = plots.history_plot(
            series,
            ylabel="median time per call (ms)",
            title="History across saved runs (bars: IQR; red circles: flagged changes)",
        )
        head = H(
            "<p><b>{} slowdown(s)</b> and {} speed-up(s) beyond the noise (|Δ median| &gt; {} × IQR and &gt; {}%).</p>",
            len([c for c in flagged if c["kind"] == "slowdown"]),
            len([c for c in flagged if c["kind"] == "speed-up"]),
            f"{k:g}",
            f"{rel * 100:g}",
        )
        for c in flagged:
            if c["kind"] == "slowdown":
                head += H(
                    '<p class="regression-note"><span class="verdict v-d_dominates">slowdown</span> '
                    "{}: {} → {}, median {} → {} ms ({})</p>",
                    c["name"],
                    c["from"],
                    c["to"],
                    f"{c['old_median_s'] * 1000:.3g}",
                    f"{c['new_median_s'] * 1000:.3g}",
                    f"{c['rel'] * 100:+.1f}%",
                )
        parts.append(
            section(
                "history",
                "History and changes beyond the noise",
                head
                + (img_png(hist, "history of medians") if hist else Markup())
                + (
                    table(
                        [
                            "benchmark",
                            "runs",
                            "old median (ms)",
                            "new median (ms)",
                            "change",
                            "noise IQR (ms)",
                            "verdict",
                        ],
                        crow,
                        row_classes=classes,
                    )
                    if crow
                    else Markup("<p>Only one saved run: no history yet.</p>")
                ),
            )
        )
    for sw in sweeps:
        scaling_rows = load_scaling(sw)
        if scaling_rows:
            parts.append(section("scaling", f"Scaling: {Path(sw).name}", scaling_body(scaling_rows)))
            sources.append(str(Path(sw) / SCALING_JSONL if Path(sw).is_dir() else sw))
            if not (Path(sw).is_dir() and (Path(sw) / "results.jsonl").is_file()):
                continue  # scaling rows only
        rows_sw = load_sweep(sw)
        body, srcs = _sweep_section(rows_sw)
        sources += srcs
        parts.append(section("sweep", f"Sweep results: {Path(sw).name}", body))
    if not parts:
        from gans.base import UserError

        raise UserError("bench-report needs a .benchmarks folder or at least one --sweep DIR")
    return page(
        "Benchmark report",
        join(parts, "\n"),
        sources=sources,
        kind="bench",
        subtitle="Training-step timings from pytest-benchmark saved runs and ganbench sweeps",
    )


def write_bench_report(
    bench_dir: str | os.PathLike | None, out: str | os.PathLike, sweeps: Sequence[str | os.PathLike] = (), **kw: Any
) -> Path:
    out = Path(out)
    atomic_write_text(out, build_bench_report(bench_dir, sweeps, **kw))
    return out
