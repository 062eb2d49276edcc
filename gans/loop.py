"""The one training loop, and the run directory it writes.

A run directory holds::

    config.json      fully resolved: GAN config, training options, data set actually used, versions
    metrics.jsonl    append-only, flushed per line: {"type": "scalars" | "event" | "eval" | ...}
    samples/         PNG sample grids from a fixed z, named by step
    checkpoint.pt    the last good state (weights, optimisers, RNG states, data position),
                     written atomically; ``--resume`` continues from it bit for bit

The loop (1) builds the GAN and data, (2) runs ``train_step`` — the same function the benchmarks
time — feeding the scalar stream, (3) flushes the stream every ``log_every`` steps (the only GPU
sync), (4) writes samples, checkpoints and callbacks' evaluations on their schedules, and
(5) stops cleanly on Ctrl-C (checkpoint written) or on a non-finite loss (the last good checkpoint
is kept and the run says so).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from diagnostics.stream import ScalarStream

from .core import GAN, build_gan, get_gan_entry, train_step
from .data import Data, DataOptions, load_data
from .errors import UserError
from .render import render_samples
from .utils import atomic_torch_save, atomic_write_bytes, atomic_write_json, resolve_device, rng_state, seed_everything, set_rng_state, versions

__all__ = ["TrainConfig", "Run", "RunResult", "Callback", "train", "EXIT_DIVERGED", "EXIT_INTERRUPTED", "read_metrics"]

EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130
CHECKPOINT = "checkpoint.pt"
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


@dataclass
class TrainConfig:
    """Everything that decides a training run besides the GAN's own config."""

    gan: str  # registered GAN name
    dataset: str | None = None  # data source; None → the family's default
    data_root: str | None = None  # folder / file for on-disk data sets
    download: bool = False  # allow downloading mnist / fashion-mnist
    batch_size: int | None = None  # None → the seed's batch size for this GAN
    epochs: int | None = None  # None → the seed's epoch count (ignored when steps is set)
    steps: int | None = None  # total training steps; overrides epochs
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    seed: int = 0  # seeds Python, NumPy, torch, the data order and the sample z
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    log_every: int = 50  # steps between scalar flushes (the only GPU sync)
    sample_every: int = 0  # steps between sample grids; 0 → about 8 grids per run
    checkpoint_every: int = 1000  # steps between checkpoints (also at the end and on Ctrl-C)
    eval_every: int = 0  # steps between evaluations by callbacks; 0 → at the end only
    overrides: dict[str, Any] = field(default_factory=dict)  # GAN config fields (--set k=v)
    skip_corrupt: bool = False  # image-folder: skip unreadable images instead of failing
    workers: int = 0  # DataLoader workers for streamed data sets
    epoch_size: int | None = None  # synthetic data sets: samples per epoch


@dataclass
class RunResult:
    out: Path
    status: str  # finished | interrupted | diverged
    step: int
    total_steps: int
    last: dict[str, float]
    data_name: str

    @property
    def exit_code(self) -> int:
        return {"finished": 0, "interrupted": EXIT_INTERRUPTED, "diverged": EXIT_DIVERGED}[self.status]


class Callback(Protocol):
    """Optional hooks a diagnostic plugs into the loop (all methods optional)."""

    def on_start(self, run: "Run") -> None: ...
    def on_scalars(self, run: "Run", step: int, means: dict[str, float]) -> None: ...
    def on_eval(self, run: "Run", step: int) -> None: ...
    def on_end(self, run: "Run") -> None: ...


class Run:
    """A live run directory: metrics file, events, samples, checkpoints."""

    def __init__(self, out: Path, gan: GAN, data: Data, cfg: TrainConfig, device: torch.device):
        self.dir, self.gan, self.data, self.cfg, self.device = out, gan, data, cfg, device
        self.step = 0
        self.status = "running"
        self.postfix: dict[str, str] = {}  # extra progress-bar fields (e.g. the verdict)
        self._metrics = open(out / "metrics.jsonl", "a", buffering=1, encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        """Append one JSON line to metrics.jsonl and flush it to the OS."""
        self._metrics.write(json.dumps(record, default=_json_default, allow_nan=True) + "\n")
        self._metrics.flush()

    def event(self, event: str, message: str = "", **fields: Any) -> None:
        self.write({"type": "event", "step": self.step, "event": event, "message": message, "time": time.time(), **fields})

    def close(self) -> None:
        self._metrics.close()


def _json_default(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if dataclasses.is_dataclass(o):
        return dataclasses.asdict(o)
    if isinstance(o, Path):
        return str(o)
    return str(o)


def read_metrics(run_dir: str | os.PathLike, type_: str | None = None) -> list[dict[str, Any]]:
    """The records of a run's metrics.jsonl (a torn last line from a crash is skipped)."""
    out = []
    with open(Path(run_dir) / "metrics.jsonl", encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if type_ is None or rec.get("type") == type_:
                out.append(rec)
    return out


def _resolve(cfg: TrainConfig) -> TrainConfig:
    entry = get_gan_entry(cfg.gan)
    cls = entry.cls
    cfg = dataclasses.replace(
        cfg,
        dataset=cfg.dataset or cls.default_dataset,
        batch_size=cfg.batch_size if cfg.batch_size is not None else cls.default_batch_size,
        epochs=cfg.epochs if cfg.epochs is not None else cls.default_epochs,
    )
    if cfg.precision not in PRECISIONS:
        raise UserError(f"unknown precision {cfg.precision!r}; valid: {', '.join(PRECISIONS)}")
    for name in ("log_every", "checkpoint_every", "sample_every", "eval_every"):
        if getattr(cfg, name) < 0:
            raise UserError(f"--{name.replace('_', '-')} must be ≥ 0")
    if cfg.log_every == 0:
        cfg = dataclasses.replace(cfg, log_every=50)
    if cfg.steps is not None and cfg.steps <= 0:
        raise UserError(f"--steps must be a positive integer, got {cfg.steps}")
    if cfg.epochs is not None and cfg.epochs <= 0:
        raise UserError(f"--epochs must be a positive integer, got {cfg.epochs}")
    if cfg.batch_size is not None and cfg.batch_size <= 0:
        raise UserError(f"batch size must be a positive integer, got {cfg.batch_size}")
    return cfg


def _save_checkpoint(run: Run, wall: float) -> None:
    gan = run.gan
    atomic_torch_save(
        {
            "step": run.step,
            "gan": gan.state_dict(),
            "optim": gan.optimizer_state(),
            "rng": rng_state(),
            "wall": wall,
            "train_config": dataclasses.asdict(run.cfg),
        },
        run.dir / CHECKPOINT,
    )


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise UserError(f"{path}: no checkpoint here") from None
    except Exception as e:
        raise UserError(f"{path}: unreadable checkpoint ({type(e).__name__}: {e})") from None


def load_run_gan(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[GAN, dict[str, Any]]:
    """The generator of a run directory's last checkpoint, ready to sample, and its config."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise UserError(f"{run_dir}: not a run directory (no config.json)")
    config = json.loads((run_dir / "config.json").read_text())
    ckpt = load_checkpoint(run_dir / CHECKPOINT)
    gan = build_gan(config["gan"], config["gan_config"], device=resolve_device(device))
    gan.load_state_dict(ckpt["gan"])
    gan.eval()
    return gan, config


def _fixed_sample_inputs(gan: GAN, seed: int, n: int = 64) -> tuple[torch.Tensor, torch.Tensor | None]:
    g = torch.Generator(device="cpu").manual_seed(seed + 12_345)
    if gan.conditional and gan.num_classes:
        per = max(1, n // gan.num_classes)
        labels = torch.arange(gan.num_classes).repeat_interleave(per)  # one row per class
        return gan.latent(len(labels), device=torch.device("cpu"), generator=g), labels
    return gan.latent(n, device=torch.device("cpu"), generator=g), None


def _write_samples(run: Run, z: torch.Tensor, labels: torch.Tensor | None, real: torch.Tensor | None) -> None:
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


def train(cfg: TrainConfig, out: str | os.PathLike, *, resume: bool = False, callbacks: list[Any] | None = None, progress: bool = True) -> RunResult:
    """Train ``cfg.gan`` into run directory ``out`` (or continue it with ``resume=True``)."""
    out = Path(out)
    callbacks = list(callbacks or [])
    ckpt = None
    if resume:
        if not (out / "config.json").is_file():
            raise UserError(f"--resume {out}: not a run directory (no config.json)")
        saved = json.loads((out / "config.json").read_text())
        new_steps, new_epochs = cfg.steps, cfg.epochs
        cfg = TrainConfig(**saved["train"])
        if new_steps is not None or new_epochs is not None:  # resume may extend the run
            cfg = dataclasses.replace(cfg, steps=new_steps, epochs=new_epochs if new_steps is None else cfg.epochs)
        if (out / CHECKPOINT).is_file():
            ckpt = load_checkpoint(out / CHECKPOINT)
    else:
        if (out / CHECKPOINT).exists() or (out / "metrics.jsonl").exists():
            raise UserError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    cfg = _resolve(cfg)

    # (1) device, seeds, GAN, data ------------------------------------------------------------
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    gan = build_gan(cfg.gan, cfg.overrides, device=device)
    data = load_data(cfg.dataset, gan.data_shape, options=DataOptions(root=cfg.data_root, download=cfg.download, seed=cfg.seed, skip_corrupt=cfg.skip_corrupt, workers=cfg.workers, epoch_size=cfg.epoch_size), device=device)
    data.check_batch_size(cfg.batch_size)
    if gan.conditional and data.num_classes is None and data.name != "fake":  # fake: the family draws labels
        raise UserError(f"{cfg.gan} is conditional and needs a labelled data set; {data.name} has no labels")
    spe = data.steps_per_epoch(cfg.batch_size)
    total = cfg.steps if cfg.steps is not None else cfg.epochs * spe
    sample_every = cfg.sample_every or max(1, total // 8)

    out.mkdir(parents=True, exist_ok=True)
    config = {
        "gan": cfg.gan,
        "gan_config": dataclasses.asdict(gan.config),
        "gan_kind": gan.kind,
        "loss_kind": gan.loss_kind,
        "seed_section": get_gan_entry(cfg.gan).seed_section,
        "train": dataclasses.asdict(cfg),
        "dataset": data.name,
        "data": data.info,
        "device": str(device),
        "steps_per_epoch": spe,
        "total_steps": total,
        "versions": versions(),
        "command": sys.argv,
    }
    atomic_write_json(out / "config.json", config)
    run = Run(out, gan, data, cfg, device)
    wall_offset = 0.0
    if ckpt is not None:
        gan.load_state_dict(ckpt["gan"])
        gan.load_optimizer_state(ckpt["optim"])
        set_rng_state(ckpt["rng"])
        run.step = int(ckpt["step"])
        wall_offset = float(ckpt.get("wall", 0.0))
        run.event("resume", f"resumed at step {run.step} of {total}")
    else:
        run.event("start", f"{cfg.gan} on {data.name}, batch {cfg.batch_size}, {total} steps on {device}", dataset=data.name)
    autocast = PRECISIONS[cfg.precision]
    gan.train()

    stream = ScalarStream()
    z_fixed, labels_fixed = _fixed_sample_inputs(gan, cfg.seed)
    real_ref = data.real(512, "test")[0] if data.kind == "vector" else None
    for cb in callbacks:
        getattr(cb, "on_start", lambda r: None)(run)

    # (2) the loop -----------------------------------------------------------------------------
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=run.step, desc=f"{cfg.gan}/{data.name} bs{cfg.batch_size}", unit="step", dynamic_ncols=True, file=sys.stderr)
    t_start = time.perf_counter()
    t_interval, steps_interval = time.perf_counter(), 0
    last: dict[str, float] = {}
    last_good_step = run.step

    def flush() -> bool:
        """Flush the stream; False when a scalar is non-finite (the run has diverged)."""
        nonlocal t_interval, steps_interval, last
        if not stream.pending:
            return True
        means = stream.flush(run.step)  # the one GPU sync of the interval
        now = time.perf_counter()
        dt = now - t_interval
        if steps_interval:
            means["time/ms_per_step"] = 1000.0 * dt / steps_interval
            means["time/images_per_s"] = steps_interval * cfg.batch_size / dt if dt > 0 else float("nan")
        t_interval, steps_interval = now, 0
        record = {"type": "scalars", "step": run.step, "epoch": run.step / spe, "wall_s": wall_offset + now - t_start, "images": run.step * cfg.batch_size, **means}
        run.write(record)
        last = means
        for cb in callbacks:
            getattr(cb, "on_scalars", lambda *a: None)(run, run.step, means)
        if bar is not None:
            bar.set_postfix({"D(x)": f"{means.get('d/real', float('nan')):.3f}", "D(G(z))": f"{means.get('d/fake', float('nan')):.3f}", "L_D": f"{means.get('loss/d', float('nan')):.3f}", "L_G": f"{means.get('loss/g', float('nan')):.3f}", **run.postfix}, refresh=False)
        return ScalarStream.finite({k: v for k, v in means.items() if not k.startswith("time/")})

    def evaluate() -> None:
        state = rng_state()  # evaluation must not change the training random stream
        try:
            for cb in callbacks:
                getattr(cb, "on_eval", lambda *a: None)(run, run.step)
        finally:
            set_rng_state(state)
            gan.train()

    try:
        first = True
        while run.step < total:
            epoch, skip = divmod(run.step, spe)
            for x, y in data.epoch(cfg.batch_size, epoch, device=device, skip=skip):
                real = gan.prepare(x)
                if first and ckpt is None:
                    gan.before_training(real, y)
                first = False
                scalars = train_step(gan, real, y, step=run.step, autocast_dtype=autocast)
                stream.add(scalars)
                run.step += 1
                steps_interval += 1
                if bar is not None:
                    bar.update(1)
                at_end = run.step >= total
                if run.step % cfg.log_every == 0 or at_end or (cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0):
                    if not flush():
                        run.status = "diverged"
                        break
                if cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0 and not at_end:
                    _save_checkpoint(run, wall_offset + time.perf_counter() - t_start)
                    last_good_step = run.step
                if run.step % sample_every == 0 or at_end:
                    _write_samples(run, z_fixed, labels_fixed, real_ref)
                if cfg.eval_every and run.step % cfg.eval_every == 0 and not at_end:
                    evaluate()
                if at_end:
                    break
            if run.status == "diverged":
                break
        if run.status == "diverged":
            bad = {k: v for k, v in last.items() if not math.isfinite(v)}
            msg = (f"non-finite loss at step ≤ {run.step} ({', '.join(f'{k}={v}' for k, v in bad.items())}); "
                   f"training stopped; the last good checkpoint (step {last_good_step}) is kept in {out / CHECKPOINT}"
                   if (out / CHECKPOINT).exists() else
                   f"non-finite loss at step ≤ {run.step} ({', '.join(f'{k}={v}' for k, v in bad.items())}); training stopped before any checkpoint was written")
            run.event("diverged", msg, last_good_step=last_good_step if (out / CHECKPOINT).exists() else None)
        else:
            run.status = "finished"
            _save_checkpoint(run, wall_offset + time.perf_counter() - t_start)
            evaluate()
            run.event("finished", f"finished {run.step} steps", wall_s=wall_offset + time.perf_counter() - t_start)
    except KeyboardInterrupt:
        run.status = "interrupted"
        if flush():
            _save_checkpoint(run, wall_offset + time.perf_counter() - t_start)
            run.event("interrupted", f"interrupted at step {run.step}; checkpoint saved; continue with: ganbench train --resume {out}")
        else:
            run.event("interrupted", f"interrupted at step {run.step} after a non-finite loss; the last good checkpoint (step {last_good_step}) is kept")
    finally:
        if bar is not None:
            bar.close()
        for cb in callbacks:
            getattr(cb, "on_end", lambda r: None)(run)
        run.close()
    return RunResult(out, run.status, run.step, total, last, data.name)
