"""``ganbench`` — the command line. A thin shell over the library: parse, call, print.

This package is the top floor: the one place that sees every other package. This module is the parser
shell (the shared flags, bounds and error handling); ``train`` and ``list`` live in ``ganbench/train.py``,
``diagnose`` in ``ganbench/diagnose.py``, ``sweep``/``sweep-merge``/``regress`` in
``ganbench/bench.py``, ``report``/``index``/``compare-batch``/``bench-report`` in
``ganbench/reports.py``, ``zoo`` in ``ganbench/zoo.py``. Each module exposes ``add_commands(subparsers)``;
the Python API (``import ganbench``) is ``ganbench/__init__.py``.
Every user mistake prints one line ``ganbench: error: …`` and exits with code 2.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import tempfile
from typing import Any, Sequence

from gans.base import UserError

__all__ = ["main", "build_parser", "add_data_args", "parse_overrides", "gan_help", "load_typed_families"]

COMMAND_MODULES = ("ganbench.train", "ganbench.diagnose", "ganbench.bench", "ganbench.reports", "ganbench.zoo")


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


#: OSErrors of the user's machine, never of ganbench: a full disk or quota, no permission, a read-only file
#: system, too many open files, a file too large or a name too long for the file system, a link loop
ENVIRONMENT_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EDQUOT", "EACCES", "EPERM", "EROFS", "EMFILE", "ENFILE", "EFBIG", "ENAMETOOLONG", "ELOOP")
    if hasattr(errno, name)
)
#: OSErrors that are the user's when they concern a path the user named (or a file inside it)
PATH_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENOTEMPTY})


def users_os_error(e: OSError, args: argparse.Namespace | None) -> bool:
    """Whether an OSError is the user's: their machine's (``ENVIRONMENT_ERRNOS``), or a missing file, a file
    that is a folder or the like (``PATH_ERRNOS``) on a path named on the command line. Any other is a bug."""
    if e.errno in ENVIRONMENT_ERRNOS:
        return True
    if e.errno not in PATH_ERRNOS or args is None:
        return False
    named = _named_paths(args)
    for f in (e.filename, e.filename2):
        if f is None or isinstance(f, int):
            continue
        path = os.path.abspath(os.fsdecode(f))
        if any(path == p or path.startswith(p.rstrip(os.sep) + os.sep) for p in named):
            return True
    return False


def _named_paths(args: argparse.Namespace) -> list[str]:
    """Every argument that may be a path, made absolute (a PATH.py:CLASS spec counts by its file)."""
    out: list[str] = []
    for value in vars(args).values():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, (str, os.PathLike)) and str(v).strip():
                v = os.fspath(v)
                out.append(os.path.abspath(v))
                if ".py:" in v:
                    out.append(os.path.abspath(v.rsplit(":", 1)[0]))
    return out


def _user_error_line(e: BaseException) -> str:
    if isinstance(e, OSError):
        what = e.strerror or str(e) or type(e).__name__
        name = e.filename if e.filename is not None else ""
        if isinstance(e, PermissionError) or e.errno == errno.EROFS:
            what = f"{what} (cannot write or read here)"
        if e.errno == errno.ENOSPC:
            what = f"{what} (the disk is full)"
        return f"{os.fsdecode(name) + ': ' if name != '' else ''}{what}"
    if isinstance(e, UnicodeError):
        return f"a file or argument is not valid UTF-8 ({str(e)[:200]})"
    text = str(e).strip().splitlines()
    return f"{type(e).__name__ if not text else text[0][:300]}"


def argv_of(args: argparse.Namespace) -> list[str] | None:
    return getattr(args, "_argv", None)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ganbench",
        description="GAN benchmark and diagnostics: train the course notes' GANs, time their steps, "
        "watch the D/G equilibrium, detect mode collapse, and write self-contained HTML reports.",
        epilog="Start with `ganbench list`, then e.g. `ganbench train mnist_mlp --dataset glyphs --epochs 1`.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

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
    args = None
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
    except OSError as e:  # the user's machine (a full disk, no permission, …) or a path they named; else a bug
        return _error(_user_error_line(e)) if users_os_error(e, args) else _internal_error(e)
    except UnicodeError as e:  # a file or an argument that is not valid UTF-8
        return _error(_user_error_line(e))
    except SystemExit:
        raise
    except Exception as e:  # a ValueError too: a mistake that is known is raised as UserError where it is known
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
