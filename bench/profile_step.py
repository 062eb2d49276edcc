"""Profile one GAN's training step on the CPU (or CUDA) with torch.profiler, beside its minimal reference.

    python -m bench.profile_step --gan mnist_mlp --batch-size 96 [--steps 50] [--threads 1] [--trace FILE]

Prints torch.profiler's operator table (self CPU time) for ``--steps`` steps of ganbench's
``train_step`` (the step the loop trains with and the benchmarks time) and, when the GAN has
one, for the same number of steps of its ``minimal`` reference loop, so that the operators
ganbench adds (casts, reductions, norms, optimiser kernels) stand out. ``--trace`` writes a
Chrome trace of the ganbench steps (open it in chrome://tracing or Perfetto).
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

import torch
from torch.profiler import ProfilerActivity, profile

from .cells import Cell
from .references import build_reference, references_for
from .timing import prepare_step


def profile_steps(fn: Callable[[], None], steps: int, *, cuda: bool = False, trace: str | None = None) -> str:
    """torch.profiler's table for ``steps`` calls of ``fn`` after 5 warm-up calls."""
    for _ in range(5):
        fn()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities, record_shapes=False) as prof:
        for _ in range(steps):
            fn()
        if cuda:
            torch.cuda.synchronize()
    if trace:
        prof.export_chrome_trace(trace)
    key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=25)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile_step", description=__doc__.split("\n\n")[0])
    p.add_argument("--gan", default="mnist_mlp")
    p.add_argument("--batch-size", type=int, default=96)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--trace", metavar="FILE", help="Chrome trace of the ganbench steps")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    cuda = a.device.startswith("cuda")
    prep = prepare_step(Cell(a.gan, a.batch_size, a.device))
    print(f"== ganbench train_step: {a.gan}, batch {a.batch_size}, {a.steps} steps, {torch.get_num_threads()} threads")
    print(profile_steps(prep.step, a.steps, cuda=cuda, trace=a.trace))
    if "minimal" in references_for(a.gan):
        ref = build_reference(a.gan, "minimal", a.batch_size, a.device)
        print(f"== minimal reference: {a.steps // ref.cycle} calls of {ref.cycle} step(s)")
        print(profile_steps(ref.step, max(1, a.steps // ref.cycle), cuda=cuda))
    return 0


if __name__ == "__main__":
    sys.exit(main())
