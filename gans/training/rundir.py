"""The run directory's torch side: the live run the loop writes, checkpoints, and the GAN read back.

The format itself (file names, status, config.json and metrics.jsonl) is ``gans/runfolder.py``, which needs
no torch; its names are re-exported here. A run directory holds::

    config.json      fully resolved: GAN config, training options, data set actually used, versions
    metrics.jsonl    append-only, flushed per line: {"type": "scalars" | "event" | "eval" | ...}
    samples/         PNG sample grids from a fixed z, named by step
    checkpoint.pt    the last good state (weights, optimisers, RNG states, data position),
                     written atomically; ``--resume`` continues from it bit for bit
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import torch

from ..base import UserError, atomic_torch_save, atomic_write_bytes, safe_torch_load
from ..data import Data
from ..lock import still_written_note
from ..models import GAN, build_gan
from ..runfolder import CHECKPOINT, CONFIG, METRICS, MetricsLog, event_record, read_metrics, read_run_config
from .render import render_samples
from .runtime import resolve_device, rng_state

__all__ = [
    "Run",
    "SilentRun",
    "read_metrics",
    "load_checkpoint",
    "load_gan_state",
    "read_run_config",
    "save_checkpoint",
    "load_run_gan",
    "write_samples",
    "fixed_sample_inputs",
    "CHECKPOINT",
    "METRICS",
    "CONFIG",
]


class Run:
    """A live run directory: metrics file, events, samples, checkpoints."""

    def __init__(self, out: Path, gan: GAN, data: Data, cfg: Any, device: torch.device):
        self.dir, self.gan, self.data, self.cfg, self.device = out, gan, data, cfg, device
        self.step = 0
        self.status = "running"
        self.postfix: dict[str, str] = {}  # extra progress-bar fields (e.g. the verdict)
        self._metrics = MetricsLog(out)

    def write(self, record: dict[str, Any]) -> None:
        """Append one JSON line to metrics.jsonl and flush it to the OS."""
        self._metrics.write(record)

    def event(self, event: str, message: str = "", **fields: Any) -> None:
        self.write(event_record(self.step, event, message, **fields))

    def close(self) -> None:
        self._metrics.close()


class SilentRun(Run):
    """A rank other than 0 of a DDP run: the same run state, nothing written."""

    def __init__(self, out, gan, data, cfg, device):  # noqa: D107 - no metrics file is opened
        self.dir, self.gan, self.data, self.cfg, self.device = out, gan, data, cfg, device
        self.step = 0
        self.status = "running"
        self.postfix = {}

    def write(self, record):
        pass

    def close(self):
        pass


def save_checkpoint(run: Run, wall: float, train_s: float | None = None, extra: dict[str, Any] | None = None) -> None:
    """Write the run's state atomically: weights, optimisers, RNG states, step and clocks (+ ``extra``)."""
    gan = run.gan
    atomic_torch_save(
        {
            "step": run.step,
            "gan": gan.state_dict(),
            "optim": gan.optimizer_state(),
            "rng": rng_state(),
            "wall": wall,
            "train_s": wall if train_s is None else train_s,
            "train_config": dataclasses.asdict(run.cfg),
            **(extra or {}),
        },
        run.dir / CHECKPOINT,
    )


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint's state, loaded with ``weights_only=True`` (data only: a file that holds code is refused)."""
    ckpt = safe_torch_load(path, "checkpoint")
    if not isinstance(ckpt, dict) or not {"step", "gan", "optim", "rng"} <= set(ckpt):
        raise UserError(f"{path}: not a ganbench checkpoint (expected step, gan, optim and rng entries)")
    if not isinstance(ckpt["step"], int) or isinstance(ckpt["step"], bool) or ckpt["step"] < 0:
        raise UserError(f"{path}: not a ganbench checkpoint (step is {ckpt['step']!r})")
    return ckpt


def load_gan_state(gan: GAN, ckpt: dict[str, Any], path: str | os.PathLike, *, optimizer: bool = True) -> None:
    """Load a checkpoint's weights (and optimiser state) into ``gan``; a mismatch names the file."""
    try:
        gan.load_state_dict(ckpt["gan"])
        if optimizer:
            gan.load_optimizer_state(ckpt["optim"])
    except (RuntimeError, KeyError, ValueError, TypeError, AttributeError, IndexError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path}: this checkpoint does not fit the run's GAN ({first[:200]})") from None


def load_run_gan(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[GAN, dict[str, Any]]:
    """The generator of a run directory's last checkpoint, ready to sample, and its config."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    note = still_written_note(run_dir)  # readers never take the writer's lock; they say what they read
    if note:
        print(f"ganbench: note: {note}", file=sys.stderr)
    ckpt = load_checkpoint(run_dir / CHECKPOINT)
    try:
        gan = build_gan(config["gan"], config.get("gan_config") or {}, device=resolve_device(device))
    except (TypeError, ValueError, KeyError, RuntimeError) as e:  # RuntimeError: sizes no allocator can serve
        if isinstance(e, UserError):
            raise
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"{run_dir / CONFIG}: its GAN configuration does not build ({first})") from None
    load_gan_state(gan, ckpt, run_dir / CHECKPOINT, optimizer=False)
    gan.eval()
    return gan, config


def fixed_sample_inputs(gan: GAN, seed: int, n: int = 64) -> tuple[torch.Tensor, torch.Tensor | None]:
    g = torch.Generator(device="cpu").manual_seed(seed + 12_345)
    if gan.conditional and gan.num_classes:
        per = max(1, n // gan.num_classes)
        labels = torch.arange(gan.num_classes).repeat_interleave(per)  # one row per class
        return gan.latent(len(labels), device=torch.device("cpu"), generator=g), labels
    return gan.latent(n, device=torch.device("cpu"), generator=g), None


def write_samples(run: Run, z: torch.Tensor, labels: torch.Tensor | None, real: torch.Tensor | None) -> None:
    gan = run.gan
    was = gan.training
    gan.eval()
    with torch.no_grad():
        y = None if labels is None else labels.to(run.device)
        fake = gan.to_data(gan.generate(z.to(run.device), y)).float().cpu()
    gan.train(was)
    nrow = int(len(labels) // gan.num_classes) if labels is not None and gan.num_classes else 8
    png = render_samples(fake, real, nrow=nrow, title=f"step {run.step}")
    atomic_write_bytes(run.dir / "samples" / f"step_{run.step:08d}.png", png)
