"""``ganbench sweep``, ``sweep-merge`` and ``regress`` (loaded by ganbench/cli.py through ``add_commands``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from gans.base import DEFAULT_BATCH_SIZES, UserError, check_batch_sizes

__all__ = ["add_commands"]


def _on_off(values: list[str]) -> list[bool]:
    out = []
    for v in values:
        if v.lower() in ("on", "true", "1", "yes"):
            out.append(True)
        elif v.lower() in ("off", "false", "0", "no"):
            out.append(False)
        else:
            raise UserError(f"--compile takes on and/or off, got {v!r}")
    return list(dict.fromkeys(out))


def _check_gans(names: list[str] | None) -> list[str]:
    from gans.models.core import get_gan_entry, list_gans

    if not names:
        return list_gans()
    for n in names:
        get_gan_entry(n)  # unknown names list the valid ones
    return list(dict.fromkeys(names))


def _check_sweep_overrides(gans: list[str], overrides: dict[str, dict[str, Any]]) -> None:
    """Every --set GAN:KEY=VALUE names a GAN of the sweep and a valid value, before any cell runs."""
    from gans.models.core import apply_overrides, get_gan_entry

    for gan, ov in overrides.items():
        if gan not in gans:
            raise UserError(f"--set {gan}:…: {gan!r} is not one of the swept GANs ({', '.join(gans)})")
        apply_overrides(get_gan_entry(gan).default_config(), ov)


def _cmd_sweep(args: argparse.Namespace) -> int:
    import torch

    from bench.sweep import RESULTS_JSONL, format_table, plan_cells, read_results
    from bench.timing import parse_slowdown
    from gans.base import PRECISIONS

    gans = _check_gans(args.gans)
    for p in args.precisions:
        if p not in PRECISIONS:
            raise UserError(f"unknown precision {p!r}; valid: {', '.join(PRECISIONS)}")
    args.batch_sizes = check_batch_sizes(args.batch_sizes)
    if args.steps <= 0 or args.warmup < 0:
        raise UserError("--steps must be ≥ 1 and --warmup ≥ 0")
    if args.threads is not None and args.threads < 0:
        raise UserError("--threads must be ≥ 1, or 0 for torch's default")
    if args.memory_cap_mb is not None and args.memory_cap_mb <= 0:
        raise UserError("--memory-cap-mb must be a positive number of megabytes")
    parse_slowdown()  # a malformed test hook fails before anything runs
    devices, unavailable = [], []
    for d in dict.fromkeys(args.devices):
        if d.startswith("cuda") and not torch.cuda.is_available():
            unavailable.append(d)
        elif d.split(":")[0] not in ("cpu", "cuda"):
            raise UserError(f"unknown device {d!r}; use cpu, cuda or cuda:N")
        else:
            devices.append(d)
    if unavailable:
        print(
            f"note: no CUDA GPU here; skipping the {', '.join(unavailable)} cells (nothing recorded for them)",
            file=sys.stderr,
        )
    overrides: dict[str, dict[str, Any]] = {}
    for item in args.set or []:
        gan, _, kv = item.partition(":")
        k, eq, v = kv.partition("=")
        if not eq or not gan or not k:
            raise UserError(f"--set expects GAN:KEY=VALUE, got {item!r}")
        overrides.setdefault(gan, {})[k] = v
    _check_sweep_overrides(gans, overrides)
    if args.world_sizes:
        from ganbench.scale_cli import run_scaling_command

        return run_scaling_command(args, gans, devices, overrides)
    cells = plan_cells(
        gans,
        args.batch_sizes,
        devices,
        args.precisions,
        _on_off(args.compile),
        overrides,
        references=not args.no_references,
    )
    if args.shard:
        from bench.shard import parse_shard, shard_cells

        cells = shard_cells(cells, *parse_shard(args.shard))
    if args.dry_run:
        done = {r.get("key") for r in read_results(os.path.join(args.out, RESULTS_JSONL))} if args.out else set()
        print(
            f"{len(cells)} cells ({args.steps} timed steps after {args.warmup} warm-up steps each, one "
            "subprocess per cell" + (f", memory cap +{args.memory_cap_mb:g} MB" if args.memory_cap_mb else "") + "):"
        )
        for c in cells:
            print(f"  {'done ' if c.key in done else 'to do'}  {c.key}")
        print("dry run: nothing was measured or written")
        return 0
    if not args.out:
        raise UserError("sweep needs --out DIR (results.jsonl and results.csv go there; an existing DIR resumes)")
    from bench.shard import run_sweep_by_device
    from gans.lock import FolderLock
    from gans.signals import signals_raise

    # one sweep per --out (two would measure and append the same cells); SIGINT/SIGTERM raise here, so the cell's
    # subprocess is killed and its ganbench-cell-*.json removed before the sweep exits 130/143
    with FolderLock(args.out, "sweep"), signals_raise():
        rows = run_sweep_by_device(
            cells,
            args.out,
            steps=args.steps,
            warmup=args.warmup,
            memory_cap_mb=args.memory_cap_mb,
            max_seconds=args.max_seconds,
            timeout_s=args.cell_timeout,
            threads=args.threads or None,
            flops=not args.no_flops,
            log=(lambda s: print(s, file=sys.stderr)) if not args.quiet else (lambda s: None),
        )
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(format_table(rows))
        print(f"\nresults: {os.path.join(args.out, 'results.jsonl')}, {os.path.join(args.out, 'results.csv')}")
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from bench.shard import merge_results

    rows = merge_results(args.out, args.shards)
    print(f"{len(rows)} cells in {os.path.join(args.out, 'results.jsonl')}")
    return 0


def _cmd_regress(args: argparse.Namespace) -> int:
    if args.threshold is not None and not (0 < args.threshold < 1):
        raise UserError("--threshold is a fraction, e.g. 0.05 for 5 %")
    # --json: stdout holds only the JSON (so `regress --json | jq` works); the tables go to stderr
    out = sys.stderr if args.json else sys.stdout

    def log(line: str) -> None:
        print(line, file=out, flush=True)

    if args.against is not None:
        return _cmd_regress_against(args, log)

    from bench.regress import DEFAULT_BASELINE, gan_settings, load_baseline, run_gate
    from bench.timing import parse_slowdown

    gans = _check_gans(args.gans)
    if args.allow_dirty:
        raise UserError("--allow-dirty goes with --against REV")
    parse_slowdown()
    baseline = args.baseline or str(DEFAULT_BASELINE)
    if args.baseline is not None and not args.update_baseline and not os.path.isfile(baseline):
        raise UserError(f"--baseline {baseline}: no such file (create one with --update-baseline)")
    if args.dry_run:
        mode = "quick" if args.quick else "full"
        section = load_baseline(baseline)["modes"].get(mode, {})  # a broken baseline is refused here too
        stored = section.get("gans", {}) if section.get("device", args.device) == args.device else {}
        log(f"regress ({mode}) on {args.device}, baseline {baseline}; GANs and their settings:")
        for g in gans:
            s = stored.get(g) or gan_settings(g, args.quick)
            ov = s.get("overrides") or {}
            log(f"  {g:<13} batch {s['batch_size']}" + (f", overrides {ov}" if ov else "")
                + ("" if g in stored else " (no baseline)"))
        log("dry run: nothing was measured")
        return 0
    code, rows = run_gate(
        gans=gans,
        quick=args.quick,
        baseline_path=baseline,
        threshold=args.threshold,
        update=args.update_baseline,
        rounds=args.rounds,
        device=args.device,
        threads=args.threads or None,
        log=log,
    )
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    if args.trend and code == 1:
        log("--trend: the stored baseline is a trend record here, not a pass/fail signal (exit 0)")
        code = 0
    return code


def _check_device(device: str) -> None:
    import torch

    if device.split(":")[0] not in ("cpu", "cuda"):
        raise UserError(f"unknown device {device!r}; use cpu, cuda or cuda:N")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA GPU here")


def _cmd_regress_against(args: argparse.Namespace, log: Any) -> int:
    from bench.ab_gate import DEFAULT_AB_ROUNDS, DEFAULT_AB_THRESHOLD, MIN_ROUNDS, check_repo, run_ab

    stored_only = (("--update-baseline", args.update_baseline), ("--baseline", args.baseline), ("--trend", args.trend))
    for flag, on in stored_only:
        if on:
            raise UserError(f"{flag} reads the stored baseline; --against compares with a revision instead")
    rounds = args.rounds or DEFAULT_AB_ROUNDS
    if rounds < MIN_ROUNDS:
        raise UserError(f"--rounds must be at least {MIN_ROUNDS} with --against (the interval is over rounds)")
    repo, sha = check_repo(args.against, allow_dirty=args.allow_dirty)  # git mistakes first: no torch import yet
    from bench.regress import gan_settings

    gans = _check_gans(args.gans)
    _check_device(args.device)
    settings = {g: gan_settings(g, args.quick) for g in gans}
    threshold = args.threshold if args.threshold is not None else DEFAULT_AB_THRESHOLD
    if args.dry_run:
        log(f"regress --against {args.against} ({sha[:12]}) in {repo} on {args.device}, {rounds} rounds, "
            f"threshold {threshold:.0%}; GANs and their settings (the same on both sides):")
        for g in gans:
            s = settings[g]
            log(f"  {g:<13} batch {s['batch_size']}" + (f", overrides {s['overrides']}" if s["overrides"] else ""))
        log("dry run: nothing was measured")
        return 0
    code, rows = run_ab(
        args.against,
        gans=gans,
        settings=settings,
        rounds=rounds,
        threshold=threshold,
        device=args.device,
        threads=args.threads or None,
        allow_dirty=args.allow_dirty,
        clock=args.clock,
        log=log,
    )
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    return code


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="time train_step over a grid of GANs, batch sizes, devices, precisions",
        description="Time gans.models.train_step for every cell of GAN × batch size × device × precision × compile, "
        "each cell in its own subprocess after warm-up, on a prepared random batch already on the device. "
        "Appends one line per cell to OUT/results.jsonl (a rerun with the same OUT skips finished cells), "
        "writes OUT/results.csv and prints a table per GAN with batch sizes side by side. "
        "An out-of-memory error is recorded as status 'oom' and the sweep goes on. One sweep per OUT: a second "
        "exits 2 naming the first one's PID. Ctrl-C/SIGTERM end the sweep with exit 130/143, its cell subprocess "
        "killed and its temporary file removed (a cell also dies with a killed sweep). "
        "Every cell records the load over its own timed steps (results columns load_1m, others_running, "
        "cpu_per_wall per thread, spread = IQR/median); a cell with other work beyond its idle cores + 0.5, CPU/wall "
        "under 0.8 or spread over 0.25 is timed once more (remeasured=True), and if disturbed again its contention "
        "column reads 'disturbed' and the table shows DISTURBED instead of its numbers. MFU above 100 % is never "
        "shown (a disturbed peak). Test hook: GANBENCH_INJECT_CONTENTION=GAN:N makes that GAN's first N "
        "measurements per cell read as disturbed.",
        epilog="example: ganbench sweep --gans mnist_mlp dcgan --batch-sizes 96 512 --devices cpu --steps 20 --out "
        "sweeps/cpu",
    )
    p.add_argument(
        "--gans",
        nargs="+",
        metavar="GAN",
        help="GANs to time: registered names, or your own as PATH.py:CLASS or MODULE:CLASS (default: every "
        "registered GAN)",
    )
    p.add_argument(
        "--batch-sizes",
        nargs="+",
        type=int,
        default=list(DEFAULT_BATCH_SIZES),
        metavar="N",
        help="default: %(default)s",
    )
    p.add_argument(
        "--devices",
        nargs="+",
        default=["cpu"],
        metavar="DEV",
        help="cpu, cuda, cuda:N (default cpu; CUDA cells are skipped without a GPU); several cuda:N run their "
        "cells in parallel, one cell per GPU at a time",
    )
    p.add_argument(
        "--precisions", nargs="+", default=["fp32"], metavar="P", help="fp32 and/or bf16 (autocast) (default fp32)"
    )
    p.add_argument(
        "--compile",
        nargs="+",
        default=["off"],
        metavar="on|off",
        help="torch.compile G and D: off, on or both (default off; CPU compile needs a C++ compiler and minutes)",
    )
    p.add_argument("--steps", type=int, default=20, help="timed steps per cell (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="warm-up steps per cell, not reported (default 3)")
    p.add_argument(
        "--max-seconds",
        type=float,
        metavar="S",
        help="cap each cell's timed region at about S seconds (fewer steps for heavy cells; at least one)",
    )
    p.add_argument(
        "--cell-timeout", type=float, metavar="S", help="stop a cell after S seconds (recorded as 'timeout')"
    )
    p.add_argument(
        "--memory-cap-mb",
        type=float,
        metavar="MB",
        help="CPU: cap each cell's extra address space (RLIMIT_AS); allocations beyond it fail and are recorded as "
        "'oom'",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="torch CPU threads in each cell (default 1, as regress: on a shared machine multi-threaded step times "
        "swing by integer factors, single-threaded ones by a few per cent; 0 = torch's default, one per core)",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="GAN:KEY=VALUE",
        help="override a GAN config field in its cells, e.g. celeba_conv:channels=64 (recorded in the row)",
    )
    p.add_argument("--no-flops", action="store_true", help="skip the FlopCounterMode step (and so MFU)")
    p.add_argument(
        "--no-references",
        action="store_true",
        help="skip the seed and minimal reference-loop rows (bench/references/) of the GANs that have them",
    )
    p.add_argument(
        "--shard",
        metavar="K/N",
        help="run only shard K of N of the grid (every N-th cell in key order from the K-th; K = 1..N), e.g. one "
        "per Slurm array task: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT "
        "--out sweep/shard-$SLURM_ARRAY_TASK_ID; combine the shards with `ganbench sweep-merge`",
    )
    p.add_argument(
        "--world-sizes",
        nargs="+",
        type=int,
        metavar="N",
        help="scaling benchmark instead of the grid: time the same training step under DDP on N processes "
        "(torchrun; gloo with 1 thread per rank on the CPU, NCCL on CUDA) for each N; --batch-sizes are GLOBAL "
        "batches (each rank gets B/N); reports images/s, efficiency = ips(N) / (N × ips(1)) and the share of "
        "time DDP's gradient all-reduce was in flight (comm hook); rows go to OUT/scaling.jsonl",
    )
    p.add_argument("--out", metavar="DIR", help="results folder (required unless --dry-run)")
    p.add_argument(
        "--dry-run", action="store_true", help="list the cells (and which are already done) without running them"
    )
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of the table")
    p.add_argument("--quiet", action="store_true", help="no per-cell progress on stderr")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser(
        "sweep-merge",
        help="combine sweep shards' results into one folder (bench-report reads it)",
        description="Merge the results.jsonl of sweep shards (folders or files) into OUT/results.jsonl and "
        "results.csv. A cell found in several shards keeps its ok row. Existing rows in OUT are kept.",
        epilog="example: ganbench sweep-merge --out sweep/all sweep/shard-*  &&  ganbench bench-report sweep/all",
    )
    p.add_argument("shards", nargs="+", metavar="SHARD", help="shard folders or results.jsonl files")
    p.add_argument("--out", required=True, metavar="DIR", help="merged folder")
    p.set_defaults(func=_cmd_merge)

    p = sub.add_parser(
        "regress",
        help="CI gate: fail when a GAN's step got slower than at a git revision (or than the stored baseline)",
        description="Two modes. `--against REV` (CI's): check REV out into a temporary git worktree and time the "
        "base and the head (this working tree) in one sitting, each in its own process importing its own tree's "
        "code, in interleaved rounds (A B B A …) with the same settings and threads; per GAN the head ÷ base "
        "step-time ratio with a bootstrap interval over rounds; exit 1 only when an interval's lower end is above "
        "1 + threshold (default 5 %). Without --against: each GAN's step time divided by a calibration workload's "
        "(and by its minimal reference loop's) compared with the stored baseline, a trend record from another day "
        "(unchanged code measured up to ±23 % away from it); exit 1 when either is more than the threshold "
        "(baseline's, 15 %) above it, confirmed by a re-measurement, unless --trend. A GAN or mode without a "
        "baseline is an error (exit 2). Test hook (stored-baseline mode only): GANBENCH_INJECT_SLOWDOWN=GAN:FACTOR "
        "slows that GAN's timed step by sleeping.",
        epilog="CI (.ci/run): ganbench regress --quick --against HEAD~1 --gans … ; with no parent commit (a "
        "shallow clone) it falls back to ganbench regress --quick --trend. JSON rows with --against: gan, "
        "batch_size, base_ms, head_ms (medians over rounds, ms per step), ratio (head ÷ base), change, ci_low, "
        "ci_high, confidence, rounds, clock, samples_per_block, base_ms_rounds, head_ms_rounds, verdict (ok, slower, "
        "faster, inconclusive, new, error), note, against and head (commit ids). Stored-baseline bounds (checked "
        "on load, --dry-run included; outside them is exit 2): threshold in (0, 0.5], ratio and vs_minimal in "
        "[1e-6, 1e6], batch_size 1..4096, steps 1..1000, overrides only the GAN's config fields with plain values "
        "(numbers within ±65,536), file at most 1 MB.",
    )
    p.add_argument(
        "--gans",
        nargs="+",
        metavar="GAN",
        help="GANs to gate: registered names, or your own as PATH.py:CLASS or MODULE:CLASS (default: every "
        "registered GAN)",
    )
    p.add_argument("--quick", action="store_true", help="small batches and blocks (CI form, < 2 min on a 2-core CPU)")
    p.add_argument(
        "--against",
        metavar="REV",
        help="compare with git revision REV (a branch, tag, HEAD~1, a commit id) timed side by side in this run, "
        "instead of the stored baseline; the current folder must be inside the git working tree of the head",
    )
    p.add_argument(
        "--allow-dirty",
        action="store_true",
        help="with --against: time the working tree with its uncommitted changes (refused otherwise, exit 2)",
    )
    p.add_argument("--baseline", metavar="FILE", help="baseline JSON (default: bench/baseline.json in the package)")
    p.add_argument(
        "--threshold",
        type=float,
        help="allowed slowdown as a fraction (default: 0.05 with --against; else the baseline's, 0.15)",
    )
    p.add_argument("--update-baseline", action="store_true", help="measure and rewrite the baseline for this mode")
    p.add_argument(
        "--trend",
        action="store_true",
        help="stored-baseline mode as a trend record: report the changes but exit 0 when a GAN is over the "
        "threshold (user mistakes are still exit 2)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        help="interleaved rounds (default 12 with --against, at least 4; else 5 quick, 9 full)",
    )
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: steadier ratios on shared machines; 0 = torch's default)",
    )
    p.add_argument(
        "--clock",
        choices=("auto", "cpu", "wall"),
        default="auto",
        help="with --against: what a step's time is. cpu: the timing process's main-thread CPU time, blind to "
        "other jobs taking the cores (needs --device cpu --threads 1), and to waits (sleep, I/O); wall: elapsed "
        "time; auto (default): cpu on the CPU with one thread, else wall. The JSON rows say which (clock)",
    )
    p.add_argument("--dry-run", action="store_true", help="show the GANs and settings without measuring")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the rows as JSON on stdout, and nothing else there (the tables and progress go to stderr)",
    )
    p.set_defaults(func=_cmd_regress)
