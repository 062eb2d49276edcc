"""One side of ``ganbench regress --against``: a timing server for the GANs of one source tree.

:mod:`bench.ab_gate` copies this file out of the head's tree and runs it as a script, with the
working directory and ``PYTHONPATH`` set to one side's tree, so that it imports *that* side's
``gans`` (and ``bench``) and times that side's code. The base side may be older code that never
had this file, so the script uses only long-standing APIs: ``bench.timing.prepare_step`` and
``bench.cells.Cell`` where they exist, else ``gans.models.core.build_gan`` and ``train_step``
(and ``gans.models.load_family`` for a GAN named by a ``PATH.py:CLASS`` or ``MODULE:CLASS`` spec).
It imports nothing else of ganbench's.

Protocol: one JSON object per line on stdin, one reply per line on stdout prefixed with
``@ab `` (other output on stdout is ignored by the parent; errors go to stderr).

* ``{"op": "prepare", "gans": {NAME: {"batch_size": B, "overrides": {...}}}, "device": D,
  "threads": T}`` builds every GAN on a random prepared batch, runs two warm-up cycles and one
  probe cycle each; replies ``{"ok": {NAME: {"probe_ms": ms per step, "cycle": steps}},
  "errors": {NAME: message}}`` (a GAN this side cannot build is an error for it alone).
* ``{"op": "time", "gan": NAME, "n": N}``: N samples of one phase cycle each; replies
  ``{"ms": [wall-clock ms per step of each sample], "cpu_ms": [the main thread's CPU ms per step]}``.
  On CUDA each sample ends with a synchronize (this is the benchmark, not the training loop).
* ``{"op": "check"}``: replies ``{"problems": {NAME: message}}`` for GANs whose last losses are
  not finite (one host read per GAN, after all timing).
* ``{"op": "quit"}`` ends the process.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback

PREFIX = "@ab "


class _Fallback:
    """build_gan + train_step on a random batch: the step as old trees without bench.timing define it."""

    def __init__(self, name, batch_size, overrides, device):
        import torch

        from gans.models.core import build_gan, get_gan_entry, train_step

        self._train_step = train_step
        torch.manual_seed(0)
        entry = get_gan_entry(name)
        self.gan = build_gan(name, overrides, device=device)
        self.gan.train()
        shape = tuple(getattr(self.gan, "data_shape", None) or entry.cls.data_shape)
        g = torch.Generator().manual_seed(0)
        self.real = self.gan.prepare(torch.rand((batch_size, *shape), generator=g).to(device))
        self.labels = self.gan.sample_labels(batch_size, device=device) if self.gan.conditional else None
        phases = self.gan.cached_phases()
        self.cycle = math.lcm(*[max(1, p.every) for p in phases]) if phases else 1
        self.i = 0
        self.last = {}

    def run_cycle(self):
        for _ in range(self.cycle):
            self.last = self._train_step(self.gan, self.real, self.labels, step=self.i, log=False)
            self.i += 1


def _prepare(name, batch_size, overrides, device):
    if ":" in name:  # PATH.py:CLASS (relative to this side's tree) or MODULE:CLASS (on its PYTHONPATH)
        from gans.models import load_family  # trees without external families cannot run one: an error for it

        name = load_family(name).name
    try:
        from bench.cells import Cell
        from bench.timing import prepare_step
    except ImportError:
        return _Fallback(name, batch_size, overrides, device)
    cell = Cell(name, int(batch_size), device, "fp32", False, None, tuple(sorted(overrides.items())))
    return prepare_step(cell)


def _sync(device):
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def _block(prep, n, device):
    """Wall-clock and this thread's CPU milliseconds per step of each of n samples."""
    wall, cpu = [], []
    clock, cpu_clock = time.perf_counter, time.thread_time
    _sync(device)
    for _ in range(n):
        t0, c0 = clock(), cpu_clock()
        prep.run_cycle()
        _sync(device)
        wall.append((clock() - t0) * 1000.0 / prep.cycle)
        cpu.append((cpu_clock() - c0) * 1000.0 / prep.cycle)
    return wall, cpu


def _reply(obj):
    sys.stdout.write(PREFIX + json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    preps = {}
    device = "cpu"
    for line in sys.stdin:
        msg = json.loads(line)
        op = msg.get("op")
        if op == "quit":
            break
        if op == "prepare":
            import torch

            device = msg.get("device", "cpu")
            if msg.get("threads"):
                torch.set_num_threads(int(msg["threads"]))
            ok, errors = {}, {}
            for name, s in msg["gans"].items():
                try:
                    prep = _prepare(name, s["batch_size"], dict(s.get("overrides") or {}), device)
                    for _ in range(2):
                        prep.run_cycle()
                    probe = min(_block(prep, 1, device)[0])
                    preps[name] = prep
                    ok[name] = {"probe_ms": probe, "cycle": prep.cycle}
                except Exception as e:  # this side cannot run this GAN (e.g. a family it does not have)
                    traceback.print_exc(file=sys.stderr)
                    errors[name] = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            _reply({"ok": ok, "errors": errors, "threads": torch.get_num_threads(), "cwd": os.getcwd()})
        elif op == "time":
            wall, cpu = _block(preps[msg["gan"]], int(msg["n"]), device)
            _reply({"ms": wall, "cpu_ms": cpu})
        elif op == "check":
            problems = {}
            for name, prep in preps.items():
                last = getattr(prep, "last", None) or {}
                bad = {k: float(v) for k, v in last.items() if k.startswith("loss/") and not math.isfinite(float(v))}
                if bad:
                    problems[name] = f"non-finite losses {bad}"
            _reply({"problems": problems})
        else:
            _reply({"error": f"unknown op {op!r}"})


if __name__ == "__main__":
    main()
