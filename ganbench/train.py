"""``ganbench train`` and ``ganbench list``: train a GAN into a run directory, and list what can be trained.

``train`` builds one :class:`gans.training.TrainConfig` from the flags the user typed (``CONFIG_FLAGS``: they
carry no argparse default, so the namespace holds a flag only when it was given, and every other field takes
the dataclass's default) and hands it to :func:`gans.training.train`, which checks it once
(``TrainConfig.checked``). A dry run is a derived config (:func:`dry_run_config`), never an edit of the
parsed arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from typing import Any

from gans.base import UserError
from gans.families import folder_name

from .cli import add_data_args, argv_of, gan_help, parse_overrides

__all__ = ["add_commands", "train_config", "typed_fields", "dry_run_config", "check_train_out", "CONFIG_FLAGS"]


def _cmd_list(args: argparse.Namespace) -> int:
    from gans.data import list_dataset_entries
    from gans.families import entry_point_table
    from gans.models import get_gan_entry

    gans = []
    for name, info in entry_point_table().items():
        row: dict[str, Any] = {"name": name, "source": info.value, "distribution": f"{info.dist} {info.version}"}
        try:
            e = get_gan_entry(name)
        except UserError as err:  # a broken plug-in is listed with its error, not a traceback
            gans.append({**row, "origin": "entry point (does not load)", "error": str(err)})
            continue
        row.update(
            origin=e.origin,
            seed_section=e.seed_section,
            summary=e.summary,
            kind=e.cls.kind,
            default_dataset=e.cls.default_dataset,
            default_batch_size=e.cls.default_batch_size,
            default_epochs=e.cls.default_epochs,
            data_shape=list(e.cls.data_shape),
        )
        gans.append(row)
    datasets = [{"name": d.name, "kind": d.kind, "summary": d.summary} for d in list_dataset_entries()]
    if args.json:
        print(json.dumps({"gans": gans, "datasets": datasets}, indent=2, ensure_ascii=False))
        return 0
    print("GANs (also accepted anywhere a GAN is named: PATH.py:CLASS or MODULE:CLASS, your own ganbench.GAN):")
    for g in gans:
        if "error" in g:
            print(f"  {g['name']:<12} [{g['origin']}: {g['distribution']}] {g['error']}")
            continue
        where = f"  ({g['origin']})" if g["origin"] == "built-in" else f"  ({g['origin']}: {g['source']})"
        print(
            f"  {g['name']:<12} {g['summary']}  [default data: {g['default_dataset']}, batch "
            f"{g['default_batch_size']}, {g['default_epochs']} epochs]{where}"
        )
    print("\nData sets:")
    for d in datasets:
        print(f"  {d['name']:<14} {d['summary']}")
    return 0


#: train's flags that set a TrainConfig field (argparse dest → field). They have no argparse default
#: (``argparse.SUPPRESS``): a flag is in the namespace only when it was typed, and every other field takes
#: TrainConfig's own default, declared once on the dataclass.
CONFIG_FLAGS = {
    "dataset": "dataset",
    "data_root": "data_root",
    "download": "download",
    "batch_size": "batch_size",
    "epochs": "epochs",
    "steps": "steps",
    "device": "device",
    "seed": "seed",
    "precision": "precision",
    "log_every": "log_every",
    "sample_every": "sample_every",
    "checkpoint_every": "checkpoint_every",
    "eval_every": "eval_every",
    "set": "overrides",
    "skip_corrupt": "skip_corrupt",
    "workers": "workers",
}


def typed_fields(args: argparse.Namespace) -> frozenset[str]:
    """The TrainConfig fields whose flags were typed (so ``--seed 0`` on a resumed run of seed 3 is a
    conflict, though 0 is the default)."""
    return frozenset(f for dest, f in CONFIG_FLAGS.items() if hasattr(args, dest))


def train_config(args: argparse.Namespace):
    """The TrainConfig of ``ganbench train``'s arguments: the typed flags, TrainConfig's defaults for the rest."""
    from gans.training import TrainConfig

    values = {f: getattr(args, dest) for dest, f in CONFIG_FLAGS.items() if hasattr(args, dest)}
    if "overrides" in values:
        values["overrides"] = parse_overrides(values["overrides"])
    return TrainConfig(gan=args.gan or "", **values)


def dry_run_config(cfg: Any, entry: Any) -> Any:
    """A dry run: two steps on fake data, logged every step, with the family's shortened warm-up
    (``dry_run_overrides``) unless ``--set`` names the same field."""
    short = {k: str(v) for k, v in entry.cls.dry_run_overrides.items() if k not in cfg.overrides}
    return dataclasses.replace(
        cfg,
        dataset="fake",
        steps=cfg.steps or 2,
        log_every=1,
        batch_size=cfg.batch_size or 2,
        overrides={**short, **cfg.overrides},
    )


def _cmd_train(args: argparse.Namespace) -> int:
    from diagnostics.live import training_callbacks
    from gans.models import get_gan_entry
    from gans.training import train

    if args.resume is None and args.gan is None:
        raise UserError("train needs a GAN name (see `ganbench list`) or --resume RUN_DIR")
    cfg = train_config(args)
    if args.nproc is not None:
        from ganbench.launch import launch_train
        from gans.training.distributed import DistContext

        if cfg.batch_size is not None and args.nproc > 0:
            DistContext(world=args.nproc).check_batch(cfg.batch_size)  # one line, before any process starts

        return launch_train(args.nproc, sys.argv[1:] if argv_of(args) is None else argv_of(args))
    from gans.training.distributed import DistContext, context, env_world_size

    if cfg.batch_size is not None:
        DistContext(world=env_world_size()).check_batch(cfg.batch_size)  # before joining the group
    dctx = context(cfg.device)  # joins the process group when launched by torchrun
    callbacks = []
    if args.resume is not None:
        if args.dry_run:
            raise UserError("--resume and --dry-run cannot be combined (a dry run never touches a real run)")
        if args.out is not None and os.path.realpath(args.out) != os.path.realpath(args.resume):
            raise UserError(f"--out {args.out} conflicts with --resume {args.resume}; drop --out")
        out = args.resume  # the saved config wins; a different GAN name is a conflict
    else:
        entry = get_gan_entry(args.gan)  # unknown names fail before anything is written
        if args.dry_run:
            cfg = dry_run_config(cfg, entry)
        out = args.out or (
            tempfile.mkdtemp(prefix="ganbench-dry-")
            if args.dry_run
            else os.path.join("runs", f"{folder_name(args.gan)}-{_timestamp()}")
        )
        check_train_out(out)
        out = dctx.broadcast_object(out)  # one run directory: rank 0's name
    if not args.no_diagnostics:
        callbacks = training_callbacks(eval_samples=args.eval_samples, features=args.features)
    temporary = args.dry_run and args.resume is None and args.out is None
    explicit = typed_fields(args) if args.resume is not None else frozenset()
    try:
        result = train(
            cfg, out, resume=args.resume is not None, callbacks=callbacks, progress=not args.quiet, explicit=explicit
        )
    finally:
        if temporary:  # a dry run checks the install; it leaves nothing behind
            shutil.rmtree(out, ignore_errors=True)
    if not dctx.is_writer:
        return result.exit_code  # rank 0 reports
    from reports.load import load_run

    # the machine while it trained (gans.contention's limits): a disturbed run's images/s is not a clean figure
    tm = {} if temporary else load_run(result.out).timing()
    summary = {
        "out": str(result.out),
        "status": result.status,
        "step": result.step,
        "total_steps": result.total_steps,
        "gan": result.gan,
        "dataset": result.data_name,
        "train_s": result.train_s,
        "images_per_s": result.images_per_s,
        "contention": tm.get("contention"),  # clean | disturbed | null (not known)
        "contention_why": tm.get("contention_why") or [],
        "last": result.last,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        last = result.last
        fmt = lambda k: f"{last[k]:.4f}" if k in last else "–"  # noqa: E731
        ips = "–" if result.images_per_s is None else f"{result.images_per_s:.1f}"
        print(
            f"{result.status}: {result.gan} {result.step}/{result.total_steps} "
            f"steps on {result.data_name} → {result.out}{' (temporary, removed)' if temporary else ''}"
        )
        print(
            f"  D(x)={fmt('d/real')}  D(G(z))={fmt('d/fake')}  loss/d={fmt('loss/d')}  loss/g={fmt('loss/g')} "
            f" images/s={ips} (training images ÷ {result.train_s or 0:.1f} s of training, evaluations excluded)"
        )
        if tm.get("contention") == "disturbed":
            print(
                f"  images/s DISTURBED: other work shared the machine ({'; '.join(tm['contention_why'])}); "
                "not a clean figure, rerun on a quieter machine to time it"
            )
        if result.status == "diverged":
            print(f"  diverged: see {result.out}/metrics.jsonl; the last good checkpoint is kept", file=sys.stderr)
        if result.status == "interrupted":
            print(
                f"  interrupted: checkpoint saved; continue with `ganbench train --resume {result.out}`",
                file=sys.stderr,
            )
    return result.exit_code


def check_train_out(out: str) -> None:
    """``--out`` must be absent, an empty folder, or a run directory (which train refuses without --resume)."""
    from pathlib import Path

    p = Path(out)
    if p.is_symlink() and not p.exists():
        raise UserError(f"--out {p}: a broken link")
    if not p.exists():
        for parent in p.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise UserError(f"--out {p}: {parent} is a file, not a folder")
                if not os.access(parent, os.W_OK):
                    raise UserError(f"--out {p}: cannot create it ({parent} is not writable)")
                break
        return
    if not p.is_dir():
        raise UserError(f"--out {p}: exists and is not a folder")
    from gans.lock import LOCK_NAME
    from gans.runfolder import is_run_folder

    others = any(q.name != LOCK_NAME for q in p.iterdir())  # a live writer's lock file: train names its PID
    if others and not is_run_folder(p):
        raise UserError(f"--out {p}: holds files that are not a ganbench run; choose an empty or new folder")


def _timestamp() -> str:
    import time

    return time.strftime("%Y%m%d-%H%M%S")


def add_commands(sub: Any) -> None:
    """``list`` and ``train``."""
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
        "(non-finite loss), 130 interrupted by Ctrl-C, 143 by SIGTERM (both write a checkpoint first). "
        "Data-parallel (DDP) training: launch with torchrun or --nproc N; "
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
        "Only rank 0 writes RUN_DIR; --resume at the same number of processes continues bit for bit on the CPU.\n"
        "Every rank must be launched with the same settings (checked before the first step: exit 2 naming the one "
        "that differs); a rank that waits GANBENCH_DIST_TIMEOUT seconds (default 1800) for another exits 2 naming "
        "it; ranks end with their launcher. --nproc is at most the GPUs (CUDA) or CPU cores there are.\n"
        "One writer per RUN_DIR: while a train or --resume writes it (it holds RUN_DIR/.ganbench.lock), a second "
        "one exits 2 naming the first one's PID; report and diagnose read it anyway and say it is unfinished.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("gan", nargs="?", metavar="GAN", help=gan_help())
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
        "--dry-run",
        action="store_true",
        help=(
            "two steps on fake data into a temporary folder (warm-up schedules such as pattern1010's D "
            "pre-training shortened too): checks the install"
        ),
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
    p.add_argument(
        "--json",
        action="store_true",
        help="print the summary as JSON (out, status, step, total_steps, gan, dataset, train_s, images_per_s, "
        "contention: clean/disturbed/null with contention_why, the machine while it trained, last)",
    )
    p.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train on N processes of this machine with DDP (runs torch.distributed.run --standalone "
        "--nproc-per-node N); --batch-size is the global batch",
    )
    for action in p._actions:  # a config flag is in the namespace only when typed (see CONFIG_FLAGS)
        if action.dest in CONFIG_FLAGS:
            action.default = argparse.SUPPRESS
    p.set_defaults(func=_cmd_train)
