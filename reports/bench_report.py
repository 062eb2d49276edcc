"""The benchmark report: pytest-benchmark's saved runs and ``ganbench sweep`` results as one page.

Throughput is images/s per GAN × batch × device × precision. For a pytest-benchmark entry the
numbers come from ``extra_info`` (``images_per_s``, ``gan``, ``batch_size``, ``device``,
``precision``, ``variant``, ``flops_per_step``, ``peak_mem_mb``, ``mfu``: the fields the suites in
bench/ write) or ``params``; failing those, images/s is ``batch_size / median``. Sweep rows are
``ganbench sweep``'s results.jsonl (the same field names). Both are pandas DataFrames here: the
reference-loop rows (``variant`` seed/minimal) are pivoted beside ganbench's to give its images/s
as a ratio to each, and consecutive saved runs are compared per benchmark by a group-by.

A change between two consecutive saved runs of the same benchmark is *flagged* when both
hold: ``|Δ median| > k × noise`` with noise = the larger of the two runs' IQRs (a robust spread of
the rounds, so a noisy benchmark needs a bigger change), and ``|Δ median| / old median > rel``.
Defaults k = 2, rel = 5 %. A larger median time is a slowdown (red), a smaller one a speed-up (green).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from gans.contention import LIMITS_TEXT

from . import plots
from .html import H, Markup, check_page_target, img_png, join, page, section, table, write_page
from .load import BenchRun, SweepRow, finite, load_benchmarks, load_sweep
from .scaling import SCALING_JSONL, load_scaling, scaling_body

__all__ = [
    "bench_frame",
    "bench_rows",
    "reference_ratios",
    "find_changes",
    "build_bench_report",
    "write_bench_report",
    "NOISE_K",
    "REL_THRESHOLD",
]

NOISE_K = 2.0
REL_THRESHOLD = 0.05


BENCH_FIELDS = ("gan", "batch_size", "device", "precision", "images_per_s", "flops_per_step", "peak_mem_mb", "mfu")


def _field(b: dict[str, Any], key: str) -> Any:
    for src in (b.get("extra_info") or {}, b.get("params") or {}):
        if key in src and src[key] is not None:
            return src[key]
    return None


def _none(v: Any) -> Any:
    """NaN/NA → None (pandas fills missing cells with NaN; the page and the tests want None)."""
    return None if v is None or (isinstance(v, float) and v != v) or v is pd.NA else v


def bench_frame(runs: Sequence[BenchRun]) -> pd.DataFrame:
    """One row per (saved run, benchmark): stats and the ``extra_info`` fields the suites write
    (``variant``, ``images_per_s``, ``flops_per_step``, ``peak_mem_mb``, ``mfu`` …)."""
    records = []
    for run in runs:
        for b in run.benchmarks:
            st = b.get("stats") or {}
            rec = {
                "run": run.label,
                "run_path": str(run.path),
                "datetime": run.datetime,
                "machine": run.machine,
                "name": b.get("fullname") or b.get("name"),
                "short": b.get("name"),
                "group": b.get("group"),
                "variant": _field(b, "variant") or "ganbench",
                "median_s": st.get("median"),
                "iqr_s": st.get("iqr"),
                "mean_s": st.get("mean"),
                "stddev_s": st.get("stddev"),
                "rounds": st.get("rounds"),
            }
            rec.update({k: _field(b, k) for k in BENCH_FIELDS})
            # what the benchmark measures: throughput (a training step) or the timer's own overhead; saved runs
            # from before `kind` was written are told apart by name
            rec["kind"] = _field(b, "kind") or ("overhead" if "overhead" in str(rec["name"] or "") else "throughput")
            rec["overhead"] = _field(b, "overhead") if _field(b, "overhead") is not None else _field(
                b, "overhead_fraction"
            )
            rec["resolvable"] = _field(b, "resolvable")
            rec["contention"] = _field(b, "contention")
            records.append(rec)
    df = pd.DataFrame.from_records(records, columns=list(records[0]) if records else ["run"])
    for c in ("median_s", "iqr_s", "batch_size", "images_per_s"):
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce")
    if len(df):  # images/s from batch / median where extra_info has none
        derived = df["batch_size"] / df["median_s"].where(df["median_s"] > 0)
        df["images_per_s"] = df["images_per_s"].fillna(derived)
    return df


def bench_rows(runs: Sequence[BenchRun]) -> list[dict[str, Any]]:
    """One flat row per (saved run, benchmark) (the records of :func:`bench_frame`)."""
    return [{k: _none(v) for k, v in r.items()} for r in bench_frame(runs).to_dict("records")]


def find_changes(rows: list[dict[str, Any]], *, k: float = NOISE_K, rel: float = REL_THRESHOLD) -> list[dict[str, Any]]:
    """Consecutive-run changes of each benchmark's median, with a ``flagged`` decision (see module doc)."""
    df = pd.DataFrame(rows)
    if df.empty:
        return []
    out = []
    for name, g in df.groupby("name", sort=False):  # rows keep the saved runs' order
        pairs = pd.DataFrame(
            {
                "from": g["run"].shift(),
                "to": g["run"],
                "old_median_s": pd.to_numeric(g["median_s"].shift(), errors="coerce"),
                "new_median_s": pd.to_numeric(g["median_s"], errors="coerce"),
                "noise_s": pd.concat(
                    [pd.to_numeric(g["iqr_s"], errors="coerce"), pd.to_numeric(g["iqr_s"].shift(), errors="coerce")],
                    axis=1,
                )
                .max(axis=1)
                .fillna(0.0)
                .clip(lower=0.0),
            }
        ).iloc[1:]
        pairs = pairs[pairs["old_median_s"].gt(0) & pairs["new_median_s"].notna()]
        pairs["delta_s"] = pairs["new_median_s"] - pairs["old_median_s"]
        pairs["rel"] = pairs["delta_s"] / pairs["old_median_s"]
        pairs["flagged"] = (pairs["delta_s"].abs() > k * pairs["noise_s"]) & (pairs["rel"].abs() > rel)
        for r in pairs.to_dict("records"):
            kind = ("slowdown" if r["delta_s"] > 0 else "speed-up") if r["flagged"] else "within noise"
            out.append({"name": name, **r, "flagged": bool(r["flagged"]), "kind": kind})
    return out


def reference_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """ganbench's images/s ÷ each reference loop's (``vs_minimal``, ``vs_seed``) per GAN × batch ×
    device, pivoted from the ``variant`` rows; NaN where the reference was not run."""
    keys = ["gan", "batch_size", "device"]
    ok = df.dropna(subset=["gan", "batch_size", "images_per_s"])
    if "status" in ok:
        ok = ok[ok["status"].fillna("ok") == "ok"]
    if "precision" in ok:
        ok = ok[ok["precision"].fillna("fp32") == "fp32"]
    if "compile" in ok:
        ok = ok[~ok["compile"].fillna(False).astype(bool)]
    if ok.empty:  # no rows, but the key columns keep df's dtypes so that merging on them works
        return df[keys].iloc[:0].assign(vs_minimal=pd.Series(dtype=float), vs_seed=pd.Series(dtype=float))
    wide = ok.pivot_table(index=keys, columns="variant", values="images_per_s", aggfunc="median")
    out = pd.DataFrame(index=wide.index)
    for ref in ("minimal", "seed"):
        out[f"vs_{ref}"] = wide["ganbench"] / wide[ref] if {"ganbench", ref} <= set(wide.columns) else float("nan")
    return out.reset_index()


def _with_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with vs_minimal/vs_seed on its ganbench fp32 uncompiled rows."""
    ratios = reference_ratios(df)
    merged = df.merge(ratios, on=["gan", "batch_size", "device"], how="left")
    is_ganbench = merged["variant"] == "ganbench"
    if "precision" in merged:
        is_ganbench &= merged["precision"].fillna("fp32") == "fp32"
    for c in ("vs_minimal", "vs_seed"):
        merged[c] = merged[c].where(is_ganbench)
    return merged


def _ms(x: Any) -> Any:
    return x * 1000.0 if finite(x) else None


def _ratio(x: Any) -> str | None:
    return f"{x:.2f}×" if finite(x) else None


def _pct(x: Any) -> str | None:
    return f"{x * 100:.2g} %" if finite(x) else None


def _mfu(x: Any) -> str | None:
    """MFU as a percentage; above 100 % it is a measurement fault (a disturbed peak), never shown as a number."""
    if not finite(x):
        return None
    return f"{x * 100:.1f} %" if x <= 1.0 else "not shown (over 100 %: its peak was measured disturbed)"


def _mib(x: Any) -> str | None:
    return f"{x:,.1f} MiB" if finite(x) else None


def _gflop(x: Any) -> str | None:
    return f"{x / 1e9:,.3g} GFLOP" if finite(x) else None


def _cell(v: Any) -> Any:
    v = _none(v)
    if v is None or isinstance(v, (int, float)) and not isinstance(v, bool):
        return v
    return str(v)


def _blank_disturbed(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """A disturbed measurement (bench.contention: measured twice under contention) keeps no clean figure here."""
    if "contention" not in df or df.empty:
        return df
    bad = df["contention"] == "disturbed"
    for c in cols:
        if c in df:
            df.loc[bad, c] = None
    return df


def _batch(v: Any) -> Any:
    """A batch size as a cell: whole numbers as ints (pandas holds the column as floats)."""
    return _cell(int(v) if finite(v) and v == int(v) else v)


class _Told(list):
    """The (file, why) list the loaders append skipped input to, telling ``log`` about each at once."""

    def __init__(self, log: Callable[[str], Any] | None):
        super().__init__()
        self.log = log or (lambda m: None)

    def append(self, item: tuple[Path, str]) -> None:
        super().append(item)
        self.log(f"bench-report: {item[0]}: {item[1]}")


def _sweep_section(rows: list[SweepRow]) -> tuple[Markup, list[str]]:
    df = pd.DataFrame([{**r.row, "images_per_s": r.images_per_s, "source": str(r.source)} for r in rows])
    cols = ("gan", "variant", "batch_size", "device", "precision", "compile", "status", "ms_median", "ms_iqr")
    numeric = ("batch_size", "ms_median", "ms_iqr", "peak_mem_mb", "flops_per_step", "mfu", "images_per_s")
    for c in cols + ("peak_mem_mb", "flops_per_step", "mfu"):
        if c not in df:
            df[c] = None
    for c in numeric:  # a value that is not a finite number (hand-edited, another tool's) shows as "–"
        df[c] = pd.to_numeric(df[c].map(lambda x: x if finite(x) else None), errors="coerce").astype(float)
    df["variant"] = df["variant"].fillna("ganbench")
    df["status"] = df["status"].fillna("ok")
    if "contention" not in df:
        df["contention"] = None
    disturbed = (df["status"] == "ok") & (df["contention"] == "disturbed")
    df.loc[disturbed, "status"] = "disturbed"  # measured twice under contention: no clean figure
    df = _with_ratios(df[~disturbed].copy()).pipe(lambda ok: pd.concat([ok, df[disturbed]]))
    df = _blank_disturbed(df, ("ms_median", "ms_iqr", "images_per_s", "mfu"))
    df["load"] = [_load_cell(r) for r in df.to_dict("records")]
    trs = [
        [
            _cell(r["gan"]),
            _cell(r["variant"]),
            _batch(r["batch_size"]),
            _cell(r["device"]),
            _cell(r["precision"]),
            _cell(r["compile"]),
            _cell(r["status"]),
            _cell(r["ms_median"]),
            _cell(r["ms_iqr"]),
            _cell(r["images_per_s"]),
            _ratio(r["vs_minimal"]),
            _ratio(r["vs_seed"]),
            _mfu(r["mfu"]),
            _mib(r["peak_mem_mb"]),
            _gflop(r["flops_per_step"]),
            r["load"],
        ]
        for r in df.to_dict("records")
    ]
    classes = ["regression" if s != "ok" else "" for s in df["status"]]
    body = table(
        [
            "GAN",
            "code",
            "batch",
            "device",
            "precision",
            "compile",
            "status",
            "ms/step (median)",
            "ms IQR",
            "images/s",
            "÷ minimal loop",
            "÷ seed loop",
            "MFU",
            "peak memory",
            "FLOPs/step",
            "machine",
        ],
        trs,
        row_classes=classes,
    )
    body += H(
        "<p>code: ganbench's training step, or a reference loop from bench/references/ (minimal: the shortest loop "
        "with the same maths; seed: the course notes' own loop). ÷ minimal / ÷ seed: ganbench's images/s divided "
        "by that loop's at the same batch and device. MFU: FLOPs per step ÷ step time ÷ the device's matmul peak "
        "measured in the same cell. machine: the load over the cell's own measurement (bench/contention.py: "
        f"{LIMITS_TEXT}); a disturbed cell is measured once more, and if it is disturbed again its status reads "
        "'disturbed' and none of its figures is shown.</p>"
    )
    # chart: images/s against batch size (log–log), one line per GAN × device × precision × compile × code
    import matplotlib.pyplot as plt

    ok = df[(df["status"] == "ok") & df["images_per_s"].notna() & df["batch_size"].notna()]
    ok = ok[ok["batch_size"].astype(float) > 0]  # log axes: positive values only
    if not ok.empty:
        fig, ax = plt.subplots(figsize=(10, 4.6))
        label = (
            ok["gan"].astype(str)
            + " · "
            + ok["device"].astype(str)
            + " · "
            + ok["precision"].astype(str)
            + ok["compile"].map(lambda c: " · compiled" if c is True else "")
            + ok["variant"].map(lambda v: "" if v == "ganbench" else f" · {v} loop")
        )
        for key, pts in ok.assign(label=label).sort_values("batch_size").groupby("label"):
            style = "o-" if "loop" not in key else "s--"
            ax.plot(pts["batch_size"], pts["images_per_s"], style, label=key, lw=1.5)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size (images, log₂ scale)")
        ax.set_ylabel("throughput (images/s, log scale)")
        ax.set_title("Sweep: training throughput against batch size")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8.5)
        body += img_png(plots._png(fig), "sweep throughput chart")
    n_bad = int((df["status"] != "ok").sum())
    if n_bad:
        body += H(
            '<p class="note">{} configuration(s) did not run (status oom/error) or were disturbed twice, '
            "highlighted.</p>",
            n_bad,
        )
    return body, sorted({str(r.source) for r in rows})


def _load_cell(r: dict[str, Any]) -> str | None:
    load = r.get("load") if isinstance(r.get("load"), dict) else None
    if not load or r.get("status") not in ("ok", "disturbed"):
        return None
    facts = f"load {load.get('load_1m')}, CPU/wall {load.get('cpu_per_wall')}"
    if r.get("contention") == "disturbed":
        return f"disturbed twice: {'; '.join(load.get('reasons') or [])} ({facts})"
    return ("clean after a re-measure" if r.get("remeasured") is True else "clean") + f" ({facts})"


def build_bench_report(
    bench_dir: str | os.PathLike | None,
    sweeps: Sequence[str | os.PathLike] = (),
    *,
    k: float = NOISE_K,
    rel: float = REL_THRESHOLD,
    log: Callable[[str], Any] | None = None,
) -> str:
    """The benchmark report's HTML. Files it could not read are listed on the page and, through
    ``log``, told to the caller (the CLI prints them on stderr)."""
    parts = []
    sources: list[str] = []
    skipped = _Told(log)
    if bench_dir is not None:
        runs = load_benchmarks(bench_dir, skipped=skipped)
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
        frame = bench_frame(runs)
        this_run = frame[frame["run_path"] == str(latest.path)]
        overhead = this_run[this_run["kind"] == "overhead"]
        lat = _with_ratios(this_run[this_run["kind"] != "overhead"].copy())
        lat = _blank_disturbed(lat, ("median_s", "iqr_s", "images_per_s", "vs_minimal", "vs_seed", "mfu"))
        trs = [
            (
                _cell(r["gan"]) or "–",
                _cell(r["variant"]),
                _batch(r["batch_size"]),
                _cell(r["device"]) or "–",
                _cell(r["precision"]) or "–",
                _ms(r["median_s"]) if r["contention"] != "disturbed" else "DISTURBED",
                _ms(r["iqr_s"]),
                _cell(r["images_per_s"]),
                _ratio(r["vs_minimal"]),
                _ratio(r["vs_seed"]),
                _mfu(r["mfu"]),
                _mib(r["peak_mem_mb"]),
                _gflop(r["flops_per_step"]),
                _cell(r["short"]),
            )
            for r in lat.to_dict("records")
        ]
        body = H("<p>Latest run {} on {}.</p>", latest.label, latest.machine) + table(
            [
                "GAN",
                "code",
                "batch",
                "device",
                "precision",
                "median (ms)",
                "IQR (ms)",
                "images/s",
                "÷ minimal loop",
                "÷ seed loop",
                "MFU",
                "peak memory",
                "FLOPs/step",
                "benchmark",
            ],
            trs,
        )
        with_ips = lat[lat["images_per_s"].notna()]
        if not with_ips.empty:
            labels = [
                " · ".join(
                    str(x)
                    for x in (
                        _none(r["gan"]) or r["short"],
                        _batch(r["batch_size"]),
                        _none(r["device"]),
                        _none(r["precision"]),
                        None if r["variant"] == "ganbench" else f"{r['variant']} loop",
                    )
                    if x is not None
                )
                for r in with_ips.to_dict("records")
            ]
            body += img_png(
                plots.bar_chart(
                    labels,
                    list(with_ips["images_per_s"]),
                    ylabel="throughput (images/s, log scale)",
                    title="images/s per GAN · batch · device · precision (latest run)",
                    log=True,
                ),
                "throughput per benchmark",
            )
        parts.append(section("throughput", "Throughput (images/s)", body))
        if not overhead.empty:  # not a throughput: its own section, never a bar in the throughput chart
            orows = [
                (
                    _cell(r["short"]),
                    _cell(r["device"]) or "–",
                    _ms(r["median_s"]),
                    _pct(r["overhead"]),
                    {True: "yes", False: "no"}.get(_none(r["resolvable"]), "–"),
                )
                for r in overhead.to_dict("records")
            ]
            parts.append(
                section(
                    "overhead",
                    "Timer overhead (not a throughput)",
                    table(["benchmark", "device", "median of its rounds (ms)", "overhead", "resolvable"], orows)
                    + H(
                        "<p>What the timing itself costs a step (bench/test_overhead.py): the analytic estimate "
                        "(the largest share over its GANs) or the interleaved timed ÷ bare blocks less 1. Its rounds "
                        "are blocks of steps or timer calls, so their median is no step time and no images/s.</p>"
                    )
                )
            )
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
        rows_sw = load_sweep(sw, skipped=skipped)
        body, srcs = _sweep_section(rows_sw)
        sources += srcs
        parts.append(section("sweep", f"Sweep results: {Path(sw).name}", body))
    if skipped:
        parts.append(
            section(
                "skipped",
                f"Files not read in full ({len(skipped)})",
                table(["file", "why"], [(str(p), why) for p, why in skipped]),
            )
        )
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
    force = bool(kw.pop("force", False))
    out = check_page_target(out, force=force)
    return write_page(out, build_bench_report(bench_dir, sweeps, **kw), force=force)
