"""``ganbench report``, ``index``, ``compare-batch`` and ``bench-report``: thin shells over reports/ and bench/."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from gans.base import DEFAULT_BATCH_SIZES, UserError

__all__ = ["add_commands"]


def _is_dir_target(p: str) -> bool:
    return p.endswith(("/", os.sep)) or Path(p).is_dir()


def _cmd_report(args: argparse.Namespace) -> int:
    from reports.html import write_index
    from reports.run_report import write_run_report

    runs = args.run_dirs
    from gans.lock import still_written_note

    for r in runs:  # a report never waits for the writer's lock; it says that the run is unfinished
        note = still_written_note(r)
        if note:
            _warn(f"ganbench: note: {note}")
    if args.dry_run:
        from reports.load import load_run

        for r in runs:
            load_run(r)
        print(f"would write {len(runs)} report(s)")
        return 0
    from reports.html import check_page_target

    force = args.force
    if len(runs) == 1 and (args.out is None or not _is_dir_target(args.out)):
        out = write_run_report(runs[0], args.out, force=force)
        print(out)
        return 0
    if args.out is None:
        for r in runs:
            check_page_target(Path(r) / "report.html", force=force)
        for r in runs:
            print(write_run_report(r, force=force))
        return 0
    folder = Path(args.out)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"-o {folder}: exists and is not a folder")
    names, targets = set(), []
    for r in runs:
        name = Path(r).resolve().name
        while name in names:
            name += "_"
        names.add(name)
        targets.append((r, folder / f"{name}.html"))
    for _, t in [*targets, (None, folder / "index.html")]:
        check_page_target(t, force=force and t.name != "index.html")  # refuse before anything is written
    folder.mkdir(parents=True, exist_ok=True)
    for r, t in targets:
        print(write_run_report(r, t, force=force))
    print(write_index(folder))
    return 0


def _cmd_index(args: argparse.Namespace) -> int:
    from reports.html import write_index

    if not Path(args.folder).is_dir():
        raise UserError(f"{args.folder}: no such folder")
    if args.dry_run:
        print(f"would index {len(list(Path(args.folder).glob('*.html')))} file(s)")
        return 0
    print(write_index(args.folder))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from bench.compare_batch import compare_batch
    from ganbench.cli import parse_overrides
    from gans.lock import FolderLock
    from gans.models.core import get_gan_entry
    from gans.signals import signals_raise
    from reports.compare import write_comparison_report

    t0 = time.perf_counter()
    dataset = args.dataset
    if dataset is None:  # the embedded glyphs for MNIST-shaped GANs: runs anywhere, in minutes
        default = get_gan_entry(args.gan).cls.default_dataset
        dataset = "glyphs" if default in ("auto", "mnist", "fashion-mnist") else default
    kw = dict(
        epochs=args.epochs,
        time_budget=args.time_budget,
        seeds=args.seeds,
        dataset=dataset,
        data_root=args.data_root,
        download=args.download,
        eval_samples=args.eval_samples,
        features=args.features,
        device=args.device,
        precision=args.precision,
        evals=args.evals,
        overrides=parse_overrides(args.set),
        diagnostics=not args.no_diagnostics,
        progress=not args.quiet,
    )
    if args.dry_run:
        out = args.out or tempfile.mkdtemp(prefix="ganbench-compare-dry-")
        kw.update(
            dataset="fake",
            epochs=None,
            time_budget=None,
            eval_samples=min(args.eval_samples, 64),
            evals=1,
            progress=False,
        )
        kw["steps_per_run"] = 2
    else:
        from gans.families import folder_name

        out = args.out or os.path.join("runs", f"compare-{folder_name(args.gan)}-{time.strftime('%Y%m%d-%H%M%S')}")
    _check_compare_out(Path(out))
    temporary = args.dry_run and args.out is None
    try:
        # one compare-batch per --out (each run also locks its own folder); SIGINT/SIGTERM outside training end it
        # with 130/143 too (gans.signals), never with a comparison of a half run
        with FolderLock(out, "compare-batch"), signals_raise():
            runs = compare_batch(args.gan, args.batch_sizes, out=out, **kw)
            comp = write_comparison_report(runs.run_dirs, out, plan=runs.plan)
    finally:
        if temporary:  # a dry run checks the install; it leaves nothing behind
            shutil.rmtree(out, ignore_errors=True)
    el = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"out": str(out), "conclusion": comp.conclusion.text, "elapsed_s": el}, indent=2))
    else:
        c = comp.conclusion
        print(c.headline)
        for s in c.summary:
            print("  " + s)
        if temporary:
            print(f"dry run: reports built in a temporary folder, now removed ({el:.0f} s)")
        else:
            print(f"answer: {Path(out) / 'comparison.html'}  (all reports: {Path(out) / 'index.html'}; {el:.0f} s)")
    return 0


def _check_compare_out(out: Path) -> None:
    """compare-batch writes into an absent or empty folder, or one an earlier compare-batch wrote."""
    from gans.lock import LOCK_NAME
    from reports.html import check_page_target

    if not out.exists():
        return
    if not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    others = any(p.name != LOCK_NAME for p in out.iterdir())  # a live compare-batch's lock: it names its PID
    if others and not ((out / "runs").is_dir() or (out / "comparison.json").is_file()):
        raise UserError(f"--out {out}: holds files that compare-batch did not write; choose an empty or new folder")
    for name in ("comparison.html", "index.html"):
        check_page_target(out / name)


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def _cmd_bench_report(args: argparse.Namespace) -> int:
    from reports.bench_report import build_bench_report, write_bench_report

    bench = args.benchmarks
    if bench is None and not args.sweep:
        bench = ".benchmarks"
    if bench is not None and not Path(bench).is_dir():
        raise UserError(
            f"{bench}: no such .benchmarks folder (save runs with `pytest bench --benchmark-autosave`, or "
            "pass --sweep DIR)"
        )
    if args.dry_run:
        build_bench_report(bench, args.sweep or [], k=args.noise_k, rel=args.rel_threshold, log=_warn)
        print("bench-report: inputs read and report built (not written: --dry-run)")
        return 0
    out = write_bench_report(
        bench, args.out, args.sweep or [], k=args.noise_k, rel=args.rel_threshold, force=args.force, log=_warn
    )
    print(out)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser(
        "report",
        help="write a run's self-contained HTML report",
        description="Render run directories as self-contained HTML reports (config, losses with equilibrium lines, D "
        "outputs with "
        "verdict bands, FID/coverage/PRDC with the real-data ceiling, sample grids, verdicts, timing). Any "
        "old run can be re-rendered.",
        epilog="example: ganbench report runs/mnist_mlp-20250101-120000 -o report.html; several runs: ganbench "
        "report RUN1 RUN2 -o reports/",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument(
        "-o",
        "--out",
        metavar="FILE|DIR/",
        help="output file (one run; default RUN_DIR/report.html) or folder ending in / (writes one file per run "
        "and index.html)",
    )
    p.add_argument("--dry-run", action="store_true", help="read the runs, write nothing")
    p.add_argument("--force", action="store_true", help="replace an existing -o file that ganbench did not write")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser(
        "index",
        help="write index.html for a folder of reports",
        description="Write DIR/index.html linking every report in DIR.",
    )
    p.add_argument("folder", metavar="DIR")
    p.add_argument("--dry-run", action="store_true", help="count the reports, write nothing")
    p.set_defaults(func=_cmd_index)

    from ganbench.cli import add_data_args

    p = sub.add_parser(
        "compare-batch",
        help="train a GAN at several batch sizes and compare them in one report",
        description="Train GAN at each batch size with the same seed and data, diagnostics on, evaluating at equal "
        "epochs; then write each run's "
        "report, comparison.html (curves vs epochs and wall time, quality at equal epochs and equal wall "
        "time, throughput, verdicts, "
        "samples, a conclusion computed from the data), comparison.json and index.html into --out. Finished "
        "runs in --out are reused (so re-running re-renders) and interrupted ones resume, but only when they are "
        "the runs these flags ask for: a run with another length, --set, data set or precision is an error. "
        "One compare-batch per --out: a second exits 2 naming the first one's PID. Ctrl-C/SIGTERM stop it with "
        "exit 130/143: the run in training keeps its checkpoint, no later run starts and no comparison is written "
        "(the same command resumes).",
        epilog="example: ganbench compare-batch mnist_mlp --batch-sizes 96 512   (default data: the embedded glyphs "
        "for MNIST-shaped GANs; 10 epochs)",
    )
    from ganbench.cli import gan_help

    p.add_argument("gan", metavar="GAN", help=gan_help("the GAN to train at each batch size"))
    p.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=list(DEFAULT_BATCH_SIZES),
        metavar="B",
        help="batch sizes to compare (default: %(default)s)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--epochs", type=int, help="epochs per run, the same for every batch size (default 10)")
    g.add_argument(
        "--time-budget",
        type=float,
        metavar="S",
        help="seconds of training per batch size, evaluations excluded; each run stops within one log interval of S",
    )
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0],
        help="seeds to repeat every batch size with (spread shown; default 0)",
    )
    add_data_args(p)  # --dataset defaults to glyphs for the MNIST-shaped GANs (see _cmd_compare)
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/compare-GAN-TIMESTAMP)")
    p.add_argument("--eval-samples", type=int, default=1000, help="generated samples per evaluation (default 1000)")
    p.add_argument(
        "--evals",
        type=int,
        default=5,
        help="evaluations per run at equal epoch fractions, the last at the end (default 5)",
    )
    p.add_argument(
        "--features",
        default="auto",
        help="feature extractor for FID/PRDC: auto, classifier, inception, raw (default auto)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default auto)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a GAN config field for every run")
    p.add_argument(
        "--no-diagnostics", action="store_true", help="no evaluations or verdicts (compares losses and throughput only)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="two steps per batch size on fake data into a temporary folder, then the reports",
    )
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "bench-report",
        help="HTML report of saved benchmarks and sweeps",
        description="Render pytest-benchmark's saved runs (.benchmarks/<machine>/NNNN_*.json) and ganbench sweep "
        "results "
        "as one HTML page: "
        "images/s per GAN × batch × device × precision, the history across runs with changes beyond the noise "
        "highlighted, and each run's machine.",
        epilog="example: pytest bench --benchmark-autosave && ganbench bench-report .benchmarks --sweep runs/sweep-1 "
        "-o bench.html",
    )
    p.add_argument(
        "benchmarks",
        nargs="?",
        metavar=".benchmarks",
        help="pytest-benchmark storage folder (default .benchmarks when no --sweep)",
    )
    p.add_argument(
        "--sweep", action="append", metavar="DIR", help="a sweep's folder (results.jsonl) or the file; repeatable"
    )
    p.add_argument(
        "-o", "--out", default="bench-report.html", metavar="FILE", help="output file (default bench-report.html)"
    )
    p.add_argument("--noise-k", type=float, default=2.0, help="flag a change when |Δ median| > K × IQR (default 2)")
    p.add_argument(
        "--rel-threshold", type=float, default=0.05, help="… and when |Δ median| / median > this (default 0.05)"
    )
    p.add_argument("--dry-run", action="store_true", help="read the inputs and build the page, write nothing")
    p.add_argument("--force", action="store_true", help="replace an existing -o file that ganbench did not write")
    p.set_defaults(func=_cmd_bench_report)
