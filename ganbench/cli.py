"""``ganbench`` — the command line. A thin shell over the library: parse, call, print.

This package is the top floor: the one place that sees every other package. ``train`` and
``list`` live here, ``diagnose`` in ``ganbench/diagnose.py``, ``sweep``/``sweep-merge``/``regress`` in
``ganbench/bench.py``, ``report``/``index``/``compare-batch``/``bench-report`` in
``ganbench/reports.py``, ``zoo`` in ``ganbench/zoo.py``. Each module exposes ``add_commands(subparsers)``;
the Python API (``import ganbench``) is ``ganbench/__init__.py``.
Every user mistake prints one line ``ganbench: error: …`` and exits with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
from typing import Any, Sequence

from gans.base import UserError

__all__ = ["main", "build_parser", "add_data_args", "parse_overrides", "gan_help", "load_typed_families"]

COMMAND_MODULES = ("ganbench.diagnose", "ganbench.bench", "ganbench.reports", "ganbench.zoo")


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line and exit 2 (argparse's own code too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"ganbench: error: {message} (see `{self.prog} --help`)\n")


def add_data_args(p: argparse.ArgumentParser) -> None:
    """The data flags shared by train, compare-batch and sweep."""
    from gans.base import DATASET_NAMES

    p.add_argument(
        "--dataset", metavar="NAME", help=f"data source (default: the GAN's own); one of: {', '.join(DATASET_NAMES)}"
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


def gan_help(what: str = "the GAN") -> str:
    """The help text of a GAN argument: the installed names (read from entry-point metadata, no torch) and
    the two spec forms."""
    from gans.families import family_names

    return (
        f"{what}: a registered name ({', '.join(family_names())}; `ganbench list` says where each comes from), "
        "or your own family as PATH.py:CLASS or MODULE:CLASS (a subclass of ganbench.GAN)"
    )


def load_typed_families(args: argparse.Namespace) -> None:
    """Load the GANs named on the command line as PATH.py:CLASS or MODULE:CLASS, and write their canonical
    names back (files by absolute path). This is the one place a command imports a user's family from a
    spec: what the user typed. Names read back from a run folder, sweep file or baseline are never imported."""
    from gans.families import is_spec

    for attr in ("gan", "gans"):
        value = getattr(args, attr, None)
        values = value if isinstance(value, list) else [value]
        if not any(isinstance(v, str) and is_spec(v) for v in values):
            continue
        from gans.models import load_family

        names = [load_family(v).name if isinstance(v, str) and is_spec(v) else v for v in values]
        setattr(args, attr, names if isinstance(value, list) else names[0])


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


def _explicit_fields(args: argparse.Namespace) -> frozenset[str]:
    """The TrainConfig fields whose flags were given on the command line (so ``--seed 0`` on a resumed run of
    seed 3 is a conflict, though 0 is the default)."""
    argv = argv_of(args)
    tokens = sys.argv[1:] if argv is None else argv
    train_parser = next(
        a.choices["train"] for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    given = set()
    for action in train_parser._actions:
        for opt in action.option_strings:
            if any(t == opt or t.startswith(opt + "=") for t in tokens):
                given.add({"set": "overrides"}.get(action.dest, action.dest))
    return frozenset(given)


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
        if args.dry_run:
            raise UserError("--resume and --dry-run cannot be combined (a dry run never touches a real run)")
        if args.out is not None and os.path.realpath(args.out) != os.path.realpath(args.resume):
            raise UserError(f"--out {args.out} conflicts with --resume {args.resume}; drop --out")
        out = args.resume
        args.gan = args.gan or ""  # the saved config wins; a different name is a conflict
    else:
        entry = get_gan_entry(args.gan)  # unknown names fail before anything is written
        if args.dry_run:
            args.dataset, args.steps, args.log_every = "fake", args.steps or 2, 1
            args.batch_size = args.batch_size or 2
            given = parse_overrides(args.set)
            short = [f"{k}={v}" for k, v in entry.cls.dry_run_overrides.items() if k not in given]
            args.set = short + list(args.set or [])
        out = args.out or (
            tempfile.mkdtemp(prefix="ganbench-dry-")
            if args.dry_run
            else os.path.join("runs", f"{args.gan}-{_timestamp()}")
        )
        _check_train_out(out)
        out = dctx.broadcast_object(out)  # one run directory: rank 0's name
    if not args.no_diagnostics:
        callbacks = training_callbacks(eval_samples=args.eval_samples, features=args.features)
    cfg = _train_config(args)
    temporary = args.dry_run and args.resume is None and args.out is None
    explicit = _explicit_fields(args) if args.resume is not None else frozenset()
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


def _check_train_out(out: str) -> None:
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

    others = any(q.name != LOCK_NAME for q in p.iterdir())  # a live writer's lock file: train names its PID
    if others and not ((p / "config.json").is_file() and (p / "metrics.jsonl").is_file()):
        raise UserError(f"--out {p}: holds files that are not a ganbench run; choose an empty or new folder")


# Flag bounds, checked before any command runs: attribute → (flag, kind, low, high).
_BOUNDS: dict[str, tuple[str, str, float, float]] = {
    "n": ("--n", "int", 1, 100_000),
    "eval_samples": ("--eval-samples", "int", 1, 100_000),
    "workers": ("--workers", "int", 0, 64),
    "memory_cap_mb": ("--memory-cap-mb", "float", 256, 2**40),  # below this a cell cannot even start torch
    "cell_timeout": ("--cell-timeout", "float", 1e-3, 7 * 24 * 3600),
    "seed": ("--seed", "int", 0, 2**63 - 1),
    "seeds": ("--seeds", "int", 0, 2**63 - 1),
    "batch_size": ("--batch-size", "int", 1, 2**24),
    "steps": ("--steps", "int", 1, 2**40),
    "epochs": ("--epochs", "int", 1, 2**24),
    "time_budget": ("--time-budget", "float", 1e-3, 365 * 24 * 3600),
    "threads": ("--threads", "int", 0, 4096),  # 0: torch's default (sweep, regress)
    "rounds": ("--rounds", "int", 1, 10_000),
    "warmup": ("--warmup", "int", 0, 2**24),
    "max_seconds": ("--max-seconds", "float", 1e-3, 365 * 24 * 3600),
    "evals": ("--evals", "int", 1, 10_000),
    "log_every": ("--log-every", "int", 0, 2**40),
    "sample_every": ("--sample-every", "int", 0, 2**40),
    "checkpoint_every": ("--checkpoint-every", "int", 0, 2**40),
    "eval_every": ("--eval-every", "int", 0, 2**40),
    "noise_k": ("--noise-k", "float", 0, 1e6),
    "rel_threshold": ("--rel-threshold", "float", 0, 1e6),
    "threshold": ("--threshold", "float", 0, 1e6),
}


def check_bounds(args: argparse.Namespace) -> None:
    """Every numeric flag in range (and finite) before anything runs; one line naming the flag otherwise."""
    import math

    for attr, (flag, kind, lo, hi) in _BOUNDS.items():
        v = getattr(args, attr, None)
        if v is None or isinstance(v, bool):
            continue
        for x in v if isinstance(v, (list, tuple)) else [v]:
            if not isinstance(x, (int, float)):
                continue
            if not math.isfinite(x):
                raise UserError(f"{flag} must be a finite number, got {x}")
            if x < lo:
                need = "positive" if lo in (1, 1e-3) else "≥ 0" if lo == 0 else f"at least {lo:g}"
                raise UserError(f"{flag} must be {need}, got {x}")
            if x > hi:
                raise UserError(f"{flag} must be at most {hi:,.0f}, got {x}")


def _internal_error(exc: BaseException) -> int:
    """A genuine bug: one short line on stderr, the traceback in a log file."""
    import time
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log = None
    for folder in (_log_folder(), tempfile.gettempdir()):
        if folder is None:
            continue
        try:
            fd, log = tempfile.mkstemp(
                prefix=f"internal-error-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".log", dir=folder
            )
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(f"ganbench {' '.join(sys.argv)}\n{text}")
            break
        except OSError:
            log = None
    msg = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    where = f"; details in {log}" if log else ""
    print(f"ganbench: internal error: {type(exc).__name__}{': ' + msg if msg else ''}{where}", file=sys.stderr)
    return 1


def _log_folder() -> str | None:
    try:
        from gans.base import cache_dir

        folder = cache_dir() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder)
    except Exception:
        return None


def _user_error_line(e: BaseException) -> str:
    if isinstance(e, OSError):
        what = e.strerror or str(e) or type(e).__name__
        name = e.filename if e.filename is not None else ""
        if isinstance(e, PermissionError) or e.errno in (30,):  # EROFS
            what = f"{what} (cannot write or read here)"
        if e.errno == 28:  # ENOSPC
            what = f"{what} (the disk is full)"
        return f"{os.fsdecode(name) + ': ' if name != '' else ''}{what}"
    if isinstance(e, UnicodeError):
        return f"a file or argument is not valid UTF-8 ({str(e)[:200]})"
    text = str(e).strip().splitlines()
    return f"{type(e).__name__ if not text else text[0][:300]}"


def argv_of(args: argparse.Namespace) -> list[str] | None:
    return getattr(args, "_argv", None)


def _timestamp() -> str:
    import time

    return time.strftime("%Y%m%d-%H%M%S")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ganbench",
        description="GAN benchmark and diagnostics: train the course notes' GANs, time their steps, "
        "watch the D/G equilibrium, detect mode collapse, and write self-contained HTML reports.",
        epilog="Start with `ganbench list`, then e.g. `ganbench train mnist_mlp --dataset glyphs --epochs 1`.",
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
    p.set_defaults(func=_cmd_train)

    for mod_name in COMMAND_MODULES:
        importlib.import_module(mod_name).add_commands(sub)
    return parser


class _ImportSafeInterrupt:
    """Ctrl-C outside the training loop (which stops gracefully on its own): KeyboardInterrupt, but never in the
    middle of a module import. An import cut short leaves numpy/scipy half-initialised; measured here, Ctrl-C
    1–1.5 s into ``ganbench train`` then ended in a RecursionError inside numpy or in death by SIGINT. A signal
    that lands inside an import is held, and delivered again every 20 ms until the import is done."""

    def __init__(self) -> None:
        self.previous: Any = None

    def __enter__(self) -> _ImportSafeInterrupt:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    @staticmethod
    def _in_import(frame: Any) -> bool:
        while frame is not None:
            if frame.f_code.co_filename.startswith("<frozen importlib"):
                return True
            frame = frame.f_back
        return False

    def _handle(self, signum: int, frame: Any) -> None:
        if not self._in_import(frame):
            raise KeyboardInterrupt
        import _thread
        import threading

        def again() -> None:
            _thread.interrupt_main(signum)  # runs this handler once more in the main thread

        timer = threading.Timer(0.02, again)
        timer.daemon = True
        timer.start()


def main(argv: Sequence[str] | None = None) -> int:
    _printable_streams()
    with _ImportSafeInterrupt():
        return _main(argv)


def _printable_streams() -> None:
    """Under any output encoding (``PYTHONIOENCODING=ascii``, a C locale) text that it cannot hold ("→", "×")
    prints as a backslash escape instead of failing the command after its work is done."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):  # replaced or closed streams (tests, pipes)
            pass


def _main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Exit codes: 0 done, 2 a user mistake (one line), 1 an internal error (one line and
    a log file), 3 diverged, 130/143 interrupted by SIGINT/SIGTERM (checkpoint saved); a closed pipe is quiet."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args._argv = list(argv) if argv is not None else None
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        check_bounds(args)
        load_typed_families(args)
        return int(args.func(args) or 0)
    except UserError as e:
        return _error(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
    except KeyboardInterrupt as e:  # gans.signals.Interrupted carries the signal (SIGTERM: 143) and what was kept
        _quiet_print(f"ganbench: {getattr(e, 'message', '') or 'interrupted'}")
        return 128 + getattr(e, "signum", 2)
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except MemoryError:
        return _error("out of memory; use smaller sizes (--n, --eval-samples, --batch-size)")
    except (OSError, ValueError, UnicodeError, OverflowError) as e:  # json.JSONDecodeError is a ValueError
        return _error(_user_error_line(e))
    except SystemExit:
        raise
    except Exception as e:
        return _internal_error(e)


def _error(line: str) -> int:
    _quiet_print(f"ganbench: error: {line}")
    return 2


def _quiet_print(line: str) -> None:
    try:
        print(line, file=sys.stderr)
    except (OSError, ValueError):
        pass


def _silence_stdout() -> None:
    """After a closed pipe (``ganbench list | head``) point stdout at /dev/null so exit flushes quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())
