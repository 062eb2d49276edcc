"""``ganbench`` — the command line. A thin shell over the library: parse, call, print.

This package is the top floor: the one place that sees every other package. ``train`` and
``list`` live here, ``diagnose`` in ``ganbench/diagnose.py``, ``sweep``/``regress``/
``compare-batch`` in ``ganbench/bench.py``, ``report``/``bench-report``/``index`` in
``ganbench/reports.py``. Each module exposes ``add_commands(subparsers)``.
Every user mistake prints one line ``ganbench: error: …`` and exits with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
from typing import Any, Sequence

from gans.base import UserError

__all__ = ["main", "build_parser", "add_data_args", "parse_overrides"]

COMMAND_MODULES = ("ganbench.diagnose", "ganbench.bench", "ganbench.reports")


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line and exit 2 (argparse's own code too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"ganbench: error: {message} (see `{self.prog} --help`)\n")


def add_data_args(p: argparse.ArgumentParser) -> None:
    """The data flags shared by train, compare-batch and sweep."""
    from gans.data import list_datasets

    p.add_argument(
        "--dataset", metavar="NAME", help=f"data source (default: the GAN's own); one of: {', '.join(list_datasets())}"
    )
    p.add_argument(
        "--data-root", metavar="PATH", help="folder (mnist, fashion-mnist, image-folder) or h5 file (celeba-h5)"
    )
    p.add_argument("--download", action="store_true", help="allow downloading mnist / fashion-mnist (never by default)")
    p.add_argument(
        "--skip-corrupt",
        action="store_true",
        help="image-folder: skip unreadable images (counted in config.json) instead of stopping",
    )
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers for streamed data (default 0)")


def parse_overrides(items: Sequence[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _cmd_list(args: argparse.Namespace) -> int:
    from gans.data import list_dataset_entries
    from gans.models import iter_entries

    gans = [
        {
            "name": e.name,
            "seed_section": e.seed_section,
            "summary": e.summary,
            "kind": e.cls.kind,
            "default_dataset": e.cls.default_dataset,
            "default_batch_size": e.cls.default_batch_size,
            "default_epochs": e.cls.default_epochs,
            "data_shape": list(e.cls.data_shape),
        }
        for e in iter_entries()
    ]
    datasets = [{"name": d.name, "kind": d.kind, "summary": d.summary} for d in list_dataset_entries()]
    if args.json:
        print(json.dumps({"gans": gans, "datasets": datasets}, indent=2, ensure_ascii=False))
        return 0
    print("GANs:")
    for g in gans:
        print(
            f"  {g['name']:<12} {g['summary']}  [default data: {g['default_dataset']}, batch "
            f"{g['default_batch_size']}, {g['default_epochs']} epochs]"
        )
    print("\nData sets:")
    for d in datasets:
        print(f"  {d['name']:<14} {d['summary']}")
    return 0


def _train_config(args: argparse.Namespace):
    from gans.training import TrainConfig

    return TrainConfig(
        gan=args.gan,
        dataset=args.dataset,
        data_root=args.data_root,
        download=args.download,
        batch_size=args.batch_size,
        epochs=args.epochs,
        steps=args.steps,
        device=args.device,
        seed=args.seed,
        precision=args.precision,
        log_every=args.log_every,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every,
        overrides=parse_overrides(args.set),
        skip_corrupt=args.skip_corrupt,
        workers=args.workers,
    )


def _cmd_train(args: argparse.Namespace) -> int:
    from diagnostics.live import training_callbacks
    from gans.models import get_gan_entry
    from gans.training import train

    if args.resume is None and args.gan is None:
        raise UserError("train needs a GAN name (see `ganbench list`) or --resume RUN_DIR")
    if args.nproc is not None:
        from ganbench.launch import launch_train
        from gans.training.distributed import DistContext

        if args.batch_size is not None and args.nproc > 0:
            DistContext(world=args.nproc).check_batch(args.batch_size)  # one line, before any process starts

        return launch_train(args.nproc, sys.argv[1:] if argv_of(args) is None else argv_of(args))
    from gans.training.distributed import DistContext, context, env_world_size

    if args.batch_size is not None:
        DistContext(world=env_world_size()).check_batch(args.batch_size)  # before joining the group
    dctx = context(args.device)  # joins the process group when launched by torchrun
    callbacks = []
    if args.resume is not None:
        out = args.resume
        args.gan = args.gan or "pattern1010"  # placeholder: the saved config wins
    else:
        get_gan_entry(args.gan)  # unknown names fail before anything is written
        if args.dry_run:
            args.dataset, args.steps, args.log_every = "fake", args.steps or 2, 1
            args.batch_size = args.batch_size or 2
        out = args.out or (
            tempfile.mkdtemp(prefix="ganbench-dry-")
            if args.dry_run
            else os.path.join("runs", f"{args.gan}-{_timestamp()}")
        )
        out = dctx.broadcast_object(out)  # one run directory: rank 0's name
    if not args.no_diagnostics:
        callbacks = training_callbacks(eval_samples=args.eval_samples, features=args.features)
    cfg = _train_config(args)
    result = train(cfg, out, resume=args.resume is not None, callbacks=callbacks, progress=not args.quiet)
    if not dctx.is_writer:
        return result.exit_code  # rank 0 reports
    summary = {
        "out": str(result.out),
        "status": result.status,
        "step": result.step,
        "total_steps": result.total_steps,
        "dataset": result.data_name,
        "last": result.last,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        last = result.last
        fmt = lambda k: f"{last[k]:.4f}" if k in last else "–"  # noqa: E731
        print(
            f"{result.status}: {args.gan if args.resume is None else ''} {result.step}/{result.total_steps} "
            f"steps on {result.data_name} → {result.out}"
        )
        print(
            f"  D(x)={fmt('d/real')}  D(G(z))={fmt('d/fake')}  loss/d={fmt('loss/d')}  loss/g={fmt('loss/g')} "
            f" images/s={fmt('time/images_per_s')}"
        )
        if result.status == "diverged":
            print(f"  diverged: see {result.out}/metrics.jsonl; the last good checkpoint is kept", file=sys.stderr)
        if result.status == "interrupted":
            print(
                f"  interrupted: checkpoint saved; continue with `ganbench train --resume {result.out}`",
                file=sys.stderr,
            )
    return result.exit_code


def argv_of(args: argparse.Namespace) -> list[str] | None:
    return getattr(args, "_argv", None)


def _timestamp() -> str:
    import time

    return time.strftime("%Y%m%d-%H%M%S")


def build_parser() -> argparse.ArgumentParser:
    from gans.models import list_gans

    parser = _Parser(
        prog="ganbench",
        description="GAN benchmark and diagnostics: train the course notes' GANs, time their steps, "
        "watch the D/G equilibrium, detect mode collapse, and write self-contained HTML reports.",
        epilog="Start with `ganbench list`, then e.g. `ganbench train mnist_mlp --dataset digits --epochs 5`.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser(
        "list", help="list the GANs and data sets", description="List the registered GANs and data sources."
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser(
        "train",
        help="train a GAN into a run directory",
        description="Train a GAN with the course notes' defaults (change them with --batch-size, --epochs, --set). "
        "Writes RUN_DIR/config.json, metrics.jsonl, samples/*.png and checkpoint.pt. Ctrl-C saves a checkpoint; "
        "--resume RUN_DIR continues the same run exactly. Exit codes: 0 finished, 2 bad input, 3 diverged "
        "(non-finite loss), 130 interrupted. Data-parallel (DDP) training: launch with torchrun or --nproc N; "
        "--batch-size is then the GLOBAL batch, split evenly among the N processes (each trains on B/N per step; "
        "B must divide by N).",
        epilog="example: ganbench train mnist_mlp --dataset fashion-mnist --epochs 1 --batch-size 96 "
        "--out runs/fmnist\n"
        "one machine, 2 processes (GPUs: NCCL, one per process; CPU: gloo):\n"
        "  torchrun --standalone --nproc-per-node 2 -m ganbench train dcgan --batch-size 64 --out runs/d2\n"
        "  ganbench train dcgan --nproc 2 --batch-size 64 --out runs/d2   (the same, via torch.distributed.run)\n"
        "several machines (run on each; --node-rank is not needed with c10d):\n"
        "  torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 --rdzv-id job1 \\\n"
        "      -m ganbench train dcgan --batch-size 256 --out /shared/runs/d8\n"
        "BatchNorm families use SyncBatchNorm under DDP; --set sync_bn=false keeps per-process BatchNorm. "
        "Only rank 0 writes RUN_DIR; --resume at the same number of processes continues bit for bit on the CPU.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("gan", nargs="?", metavar="GAN", help=f"one of: {', '.join(list_gans())}")
    add_data_args(p)
    p.add_argument(
        "--batch-size",
        type=int,
        help="batch size (default: the seed's, e.g. 96 for mnist_mlp); under torchrun/--nproc N the GLOBAL batch: "
        "each of the N processes trains on B/N per step (B must divide by N)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--epochs", type=int, help="epochs over the data (default: the seed's)")
    g.add_argument("--steps", type=int, help="total training steps (instead of --epochs)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N (default auto)")
    p.add_argument(
        "--precision", default="fp32", choices=["fp32", "bf16"], help="bf16 runs forward passes under autocast"
    )
    p.add_argument("--seed", type=int, default=0, help="seeds every RNG, the data order and the sample z (default 0)")
    p.add_argument("--out", metavar="RUN_DIR", help="run directory (default runs/GAN-TIMESTAMP)")
    p.add_argument(
        "--resume", metavar="RUN_DIR", help="continue this run from its checkpoint (with --steps/--epochs to extend it)"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="two steps on fake data into a temporary folder: checks the install"
    )
    p.add_argument(
        "--log-every", type=int, default=50, help="steps between logged scalars (the only GPU sync; default 50)"
    )
    p.add_argument("--sample-every", type=int, default=0, help="steps between sample grids (default: 8 per run)")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=1000,
        help="steps between checkpoints (default 1000; also at the end and on Ctrl-C)",
    )
    p.add_argument(
        "--eval-every",
        type=int,
        default=0,
        help="steps between quality evaluations (FID, coverage, …; default: at the end)",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a GAN config field, e.g. --set lr=2e-4 (repeatable)",
    )
    p.add_argument(
        "--eval-samples", type=int, default=2000, help="generated samples per quality evaluation (default 2000)"
    )
    p.add_argument(
        "--features",
        default="auto",
        help="feature extractor for FID/PRDC: auto, classifier, inception, raw (default auto)",
    )
    p.add_argument("--no-diagnostics", action="store_true", help="skip equilibrium tracking and quality evaluation")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train on N processes of this machine with DDP (runs torch.distributed.run --standalone "
        "--nproc-per-node N); --batch-size is the global batch",
    )
    p.set_defaults(func=_cmd_train)

    for mod_name in COMMAND_MODULES:
        importlib.import_module(mod_name).add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args._argv = list(argv) if argv is not None else None
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"ganbench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
