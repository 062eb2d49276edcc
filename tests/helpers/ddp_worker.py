"""Run under torchrun by tests/test_distributed.py: trains through the CLI on every rank.

``python -m torch.distributed.run --standalone --nproc-per-node 2 tests/helpers/ddp_worker.py WORK JOB``

Each job records, per rank, every step's local scalars (``WORK/NAME.rank{r}.json``), the final
weights (``WORK/NAME.rank{r}.pt``) and the exit code, so the test can compare ranks with each other,
with the run directory rank 0 wrote, and with a single-process reference.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

# run as a script, this folder is sys.path[0], where helpers/reports.py would shadow the reports package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402

import gans.training.loop as loop  # noqa: E402
from ganbench.cli import main  # noqa: E402

#: (name, GAN, data set, global batch, extra CLI args)
EQUIVALENCE = [
    ("mnist_mlp", "mnist_mlp", "digits", 32, []),
    ("wgan_gp", "wgan_gp", "digits", 32, ["--set", "hidden=64", "--set", "n_critic=2"]),
    ("dcgan", "dcgan", "fake", 8, ["--set", "ngf=8", "--set", "ndf=8"]),
    ("wgan", "wgan", "digits", 32, ["--set", "hidden=64", "--set", "n_critic=2"]),
]
#: runs in float64 on both sides: BatchNorm over 4 samples per rank under Adam amplifies float32
#: rounding of the different reduction order (about 1e-6 after one step, 2e-4 after twenty)
FLOAT64 = {"dcgan"}
SEED, STEPS = 3, 20


def run(work: Path, name: str, argv: list[str], *, signal_at: int | None = None, nan_at: int | None = None) -> int:
    rank = int(os.environ["RANK"])
    steps: list[dict[str, float]] = []
    held: dict[str, object] = {}
    orig = loop.train_step

    def recording_step(gan, real, labels=None, *, step=0, **kw):
        held["gan"] = gan
        out = orig(gan, real, labels, step=step, **kw)
        if nan_at is not None and rank == 1 and step == nan_at:
            out = {**out, "loss/d": torch.tensor(float("nan"))}
        steps.append({"step": step, "batch": real.shape[0], **{k: float(v) for k, v in out.items()}})
        if signal_at is not None and rank == 1 and step == signal_at:
            os.kill(os.getpid(), signal.SIGTERM)  # as torchrun forwards it: on one rank only
        return out

    loop.train_step = recording_step
    dtype = torch.get_default_dtype()
    if name in FLOAT64:
        torch.set_default_dtype(torch.float64)
    try:
        code = main(argv)
    finally:
        loop.train_step = orig
        torch.set_default_dtype(dtype)
    (work / f"{name}.rank{rank}.json").write_text(json.dumps({"code": code, "steps": steps}))
    if "gan" in held:
        torch.save(held["gan"].state_dict(), work / f"{name}.rank{rank}.pt")
    return code


def main_worker(work: Path, job: str) -> None:
    common = ["--quiet", "--no-diagnostics", "--seed", str(SEED), "--log-every", "5"]
    if job == "all":
        for name, gan, data, bs, extra in EQUIVALENCE:
            argv = ["train", gan, "--dataset", data, "--batch-size", str(bs), "--steps", str(STEPS)]
            run(work, name, argv + extra + common + ["--out", str(work / "runs" / name)])
        # interrupted by SIGTERM on rank 1 after step 6 → every rank stops at the flush of step 10
        first = ["train", "mnist_mlp", "--dataset", "digits", "--batch-size", "32", "--steps", str(STEPS)]
        run(work, "interrupted", first + common + ["--out", str(work / "runs" / "resumed")], signal_at=6)
        resume = ["train", "--resume", str(work / "runs" / "resumed"), "--quiet", "--no-diagnostics"]
        run(work, "resumed", resume)
        # a non-finite loss on rank 1 only: every rank stops
        run(work, "diverged", first + common + ["--out", str(work / "runs" / "diverged")], nan_at=7)
    elif job == "nodes":  # a 2-"node" rendezvous: one process per launch
        argv = ["train", "mnist_mlp", "--dataset", "digits", "--batch-size", "16", "--steps", "6"]
        run(work, "nodes", argv + common + ["--out", str(work / "runs" / "nodes")])
    else:
        raise SystemExit(f"unknown job {job}")


if __name__ == "__main__":
    import faulthandler

    faulthandler.dump_traceback_later(400, exit=True)  # a hung collective fails the test with stacks
    main_worker(Path(sys.argv[1]), sys.argv[2])
    faulthandler.cancel_dump_traceback_later()
    from gans.training.distributed import leave_group

    # leave the process group before the interpreter ends: torch's gloo threads torn down at exit with the group
    # still alive aborted rank 0 once ("terminate called without an active exception", exit -6)
    leave_group()
