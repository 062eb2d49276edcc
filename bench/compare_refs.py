"""ganbench's step against the ``minimal`` and ``seed`` reference loops, interleaved, one process.

    python -m bench.compare_refs --gans mnist_mlp --batch-sizes 96 512 [--rounds 15] [--threads N]

For each GAN and batch size the three variants are built once and warmed up, then timed in
blocks of about ``--block-s`` seconds, interleaved A B C A B C … for ``--rounds`` rounds, so
that background load falls on all of them alike. Each block gives ms/step (block time ÷ loop
iterations); the table shows the median over rounds with the min–max spread, images/s, and the
ratios ganbench/minimal and ganbench/seed in images/s — each the median of the per-round ratios
(one round's three blocks ran back to back) with their min–max. The load average is printed
before and after.

What is timed: ganbench's ``train_step`` on a prepared batch on the device (:mod:`bench.timing`,
the same step the sweep and the pytest-benchmark suites time, logging grad norms every
``LOG_EVERY`` steps as training does), and each reference's ``step()`` (:mod:`bench.references`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import time
from typing import Any, Sequence

import torch

from .cells import Cell
from .references import build_reference, references_for
from .timing import prepare_step, time_steps

__all__ = ["compare", "format_markdown", "main"]


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def compare(
    gan: str, batch_size: int, *, rounds: int = 15, block_s: float = 0.5, device: str = "cpu"
) -> dict[str, Any]:
    """Interleaved step times of ganbench and its references for one GAN and batch size."""
    variants: dict[str, Any] = {"ganbench": prepare_step(Cell(gan, batch_size, device))}
    for kind in ("minimal", "seed"):
        if kind in references_for(gan):
            variants[kind] = build_reference(gan, kind, batch_size, device)
    blocks: dict[str, int] = {}
    for name, v in variants.items():
        for _ in range(2):
            v.run_cycle()
        probe = min(time_steps(v.run_cycle, 2, device)) / 1000.0
        blocks[name] = max(1, min(200, math.ceil(block_s / max(probe, 1e-6))))
    ms: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, v in variants.items():
            n = blocks[name]
            t = sum(time_steps(v.run_cycle, n, device))
            ms[name].append(t / (n * v.cycle))
    check = variants["ganbench"].check()
    if check:
        raise RuntimeError(f"{gan}: ganbench step failed its check: {check}")
    out: dict[str, Any] = {"gan": gan, "batch_size": batch_size, "rounds": rounds, "variants": {}}
    for name, xs in ms.items():
        med = statistics.median(xs)
        out["variants"][name] = {
            "ms_median": med,
            "ms_min": min(xs),
            "ms_max": max(xs),
            "images_per_s": batch_size / (med / 1000.0),
            "steps_per_block": blocks[name] * variants[name].cycle,
            "ms": xs,
        }
    for ref in ("minimal", "seed"):
        if ref in ms:
            r = [b / a for a, b in zip(ms["ganbench"], ms[ref])]  # images/s ratio ganbench : ref
            out[f"vs_{ref}"] = {"median": statistics.median(r), "min": min(r), "max": max(r)}
    return out


def compare_epochs(batch_sizes: Sequence[int], *, rounds: int = 2, workers: int = 4) -> list[dict[str, Any]]:
    """mnist_mlp, one epoch of Fashion-MNIST per run, whole training loops, interleaved.

    ``ganbench``: ``gans.training.loop.train`` (the loop behind ``ganbench train``: its data
    source, scalar stream, sample grids, final checkpoint) — its training time as the loop
    reports it (``train_s`` of the ``finished`` event: evaluations excluded, none run here).
    ``minimal``: :func:`bench.references.mnist_mlp_minimal.train` on the preloaded set.
    ``seed``: the notes' loop (:func:`bench.references.mnist_mlp_seed.train`) over the notes'
    loader (:func:`bench.references.mnist_mlp_seed.load_dataset`: torchvision's dataset class
    with ``transforms.ToTensor()``, ``shuffle=True, num_workers=4``), reading the same images
    written out in torchvision's layout; ``drop_last=True`` where the batch size does not divide
    the set, because the notes' ``view(BATCH_SIZE, 784)`` fails on a partial last batch. Wall time
    of the epoch loop, as the notes time it.
    """
    import tempfile

    from gans.data import DataOptions, load_data
    from gans.training.loop import TrainConfig, train

    from .references import mnist_mlp_minimal, mnist_mlp_seed

    cpu = torch.device("cpu")
    data = load_data("fashion-mnist", (1, 28, 28), options=DataOptions(), device=cpu)
    x01, y = data.real(int(data.info["n_train"]), "train")
    xte, yte = data.real(int(data.info["n_test"]), "test")
    to_u8 = lambda x: (x * 255).round().to(torch.uint8)  # noqa: E731
    tv_root = tempfile.mkdtemp(prefix="ganbench-refs-tv-")
    mnist_mlp_seed.write_torchvision_layout(tv_root, to_u8(x01), y, to_u8(xte), yte)
    results = []
    try:
        for bs in batch_sizes:
            n_img = (x01.shape[0] // bs) * bs
            s: dict[str, list[float]] = {"ganbench": [], "minimal": [], "seed": []}
            for r in range(rounds):
                with tempfile.TemporaryDirectory(prefix="ganbench-refs-") as tmp:
                    cfg = TrainConfig(gan="mnist_mlp", dataset="fashion-mnist", batch_size=bs, epochs=1, seed=r)
                    train(cfg, os.path.join(tmp, "run"), progress=False)
                    with open(os.path.join(tmp, "run", "metrics.jsonl"), encoding="utf-8") as f:
                        ev = [json.loads(line) for line in f if '"finished"' in line]
                    s["ganbench"].append(float(ev[-1]["train_s"]))
                t0 = time.perf_counter()
                mnist_mlp_minimal.train(x01, bs, cpu)
                s["minimal"].append(time.perf_counter() - t0)
                partial = x01.shape[0] % bs != 0
                loader = mnist_mlp_seed.load_dataset(bs, tv_root, num_workers=workers, drop_last=partial)
                t0 = time.perf_counter()
                mnist_mlp_seed.train(loader, cpu)
                s["seed"].append(time.perf_counter() - t0)
                took = ", ".join(f"{k} {v[-1]:.1f} s" for k, v in s.items())
                print(f"  bs {bs} round {r + 1}: {took}", file=sys.stderr)
            out: dict[str, Any] = {"gan": "mnist_mlp (epoch of fashion-mnist)", "batch_size": bs, "rounds": rounds}
            out["variants"] = {
                k: {
                    "ms_median": statistics.median(v) * 1000 / (n_img // bs),
                    "ms_min": min(v) * 1000 / (n_img // bs),
                    "ms_max": max(v) * 1000 / (n_img // bs),
                    "images_per_s": n_img / statistics.median(v),
                    "epoch_s": v,
                }
                for k, v in s.items()
            }
            for ref in ("minimal", "seed"):
                q = [b / a for a, b in zip(s["ganbench"], s[ref])]
                out[f"vs_{ref}"] = {"median": statistics.median(q), "min": min(q), "max": max(q)}
            results.append(out)
    finally:
        shutil.rmtree(tv_root, ignore_errors=True)
    return results


def format_markdown(results: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| GAN | batch | code | ms/step median (min–max) | images/s | ganbench ÷ this, images/s (min–max) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        for name, v in r["variants"].items():
            ratio = "–"
            if name != "ganbench":
                q = r[f"vs_{name}"]
                ratio = f"{q['median']:.2f}× ({q['min']:.2f}–{q['max']:.2f})"
            spread = f"{v['ms_median']:.2f} ({v['ms_min']:.2f}–{v['ms_max']:.2f})"
            lines.append(f"| {r['gan']} | {r['batch_size']} | {name} | {spread} | {v['images_per_s']:,.0f} | {ratio} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.compare_refs", description=__doc__.split("\n\n")[0])
    p.add_argument("--gans", nargs="+", default=["mnist_mlp"])
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[96, 512])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--block-s", type=float, default=0.5, help="seconds per timed block (default 0.5)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument(
        "--epoch", action="store_true", help="mnist_mlp only: whole loops over one Fashion-MNIST epoch (compare_epochs)"
    )
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"load average before: {_load()}; torch threads {torch.get_num_threads()}", file=sys.stderr)
    t0 = time.perf_counter()
    results = compare_epochs(a.batch_sizes, rounds=a.rounds) if a.epoch else []
    for gan in [] if a.epoch else a.gans:
        for bs in a.batch_sizes:
            results.append(compare(gan, bs, rounds=a.rounds, block_s=a.block_s, device=a.device))
            print("\n".join(format_markdown(results[-1:]).splitlines()[2:]), f"(load {_load()})", file=sys.stderr)
    print(f"load average after: {_load()}; {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print(format_markdown(results))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"load_after": _load(), "threads": torch.get_num_threads(), "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
