"""``ganbench train --nproc N``: the single-machine shortcut for torchrun.

It runs ``torch.distributed.run --standalone --nproc-per-node N -m ganbench train ...`` in this
process (torch's own launcher; ganbench has none of its own) with the same arguments less
``--nproc``. The exit code is the workers' (0 finished, 2 bad input, 3 diverged, 130 interrupted), and
128 + the signal when the launcher itself is stopped by SIGTERM/SIGINT (143/130; torch stops the ranks).
The launcher's log folder (its per-rank error files) is a temporary folder removed afterwards;
left to itself, torchrun leaves a ``torchelastic_*`` folder in the temp folder on every launch.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile

from gans.base import UserError
from gans.signals import Interrupted

__all__ = ["launch_train", "strip_nproc", "check_nproc"]


def strip_nproc(argv: list[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N``."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        out.append(a)
    return out


def check_nproc(nproc: int, device: str = "auto") -> None:
    """``--nproc`` at most the GPUs there are (training on CUDA: one per process) or the CPU cores (gloo)."""
    import torch

    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        have, what = torch.cuda.device_count(), "CUDA GPU(s)"
    else:
        have, what = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, \
            "CPU core(s) available to this process"
    if nproc > have:
        raise UserError(f"--nproc {nproc}: this machine has {have} {what}; --nproc may be at most {have}")


def _device_of(argv: list[str]) -> str:
    for i, a in enumerate(argv):
        if a == "--device" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--device="):
            return a.split("=", 1)[1]
    return "auto"


def launch_train(nproc: int, argv: list[str]) -> int:
    """Run ``ganbench <argv less --nproc>`` on ``nproc`` local processes through torch.distributed.run."""
    if nproc < 1:
        raise UserError(f"--nproc must be ≥ 1, got {nproc}")
    check_nproc(nproc, _device_of(argv))
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    with tempfile.TemporaryDirectory(prefix="ganbench-torchrun-") as logs:
        cmd = ["--standalone", "--nproc-per-node", str(nproc), "--log-dir", logs, "-m", "ganbench", *strip_nproc(argv)]
        try:
            run(get_args_parser().parse_args(cmd))
        except ChildFailedError as e:
            codes = [f.exitcode for _, f in sorted(e.failures.items())]
        except SignalException as e:  # SIGTERM/SIGINT to the launcher: torch has stopped the ranks (checkpoints)
            raise Interrupted(int(e.sigval), f"interrupted ({signal.Signals(int(e.sigval)).name}); "
                              "the ranks were stopped; resume with `ganbench train --resume RUN_DIR`") from None
        else:
            return 0
    code = next((c for c in codes if c in (2, 3, 130)), codes[0] if codes else 1)
    print(f"ganbench: {len(codes)} of {nproc} processes failed (exit {code})", file=sys.stderr)
    return code if code > 0 else 1
