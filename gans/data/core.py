"""Data sources: a registry of named sources, each delivering batches on the training device.

Every source yields ``(x, y)`` batches with images as float ``(B, C, H, W)`` in [0, 1] (the
GAN maps them to its own range) and toy data as float ``(B, D)`` vectors; ``y`` holds class
labels (or a conditioning signal) or ``None``. Sources that fit in memory live on the device as
tensors, so the hot loop does no per-item PIL work; folders and h5 files stream through a
``DataLoader``. Epoch order is a pure function of ``(seed, epoch)``, so a resumed run sees the
same batches as an uninterrupted one. Nothing is downloaded unless ``download=True``.

This module holds the registry and the building blocks; the sources live by kind in
``toys.py``, ``mnist.py``, ``images.py`` and ``speech_source.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F

from ..base import DataError, UserError, unknown_name

__all__ = [
    "Data",
    "DataOptions",
    "DataEntry",
    "list_datasets",
    "list_dataset_entries",
    "get_dataset_entry",
    "load_data",
    "register_dataset",
    "synthetic_data",
    "tensor_data",
    "epoch_perm",
]


@dataclass
class DataOptions:
    """How to find and prepare a data set (the CLI's data flags)."""

    root: str | None = None  # --data-root: folder, h5 file, or image folder
    download: bool = False  # allow torchvision to download mnist / fashion-mnist
    seed: int = 0  # epoch order and synthetic samples derive from it
    skip_corrupt: bool = False  # image-folder: skip unreadable files (counted) instead of failing
    workers: int = 0  # DataLoader workers for streamed sources
    epoch_size: int | None = None  # synthetic sources: samples per epoch


@dataclass
class Data:
    """A resolved data set on a device. ``info`` goes into the run's config.json."""

    name: str
    shape: tuple[int, ...]
    kind: str  # "image" | "vector" | "audio"
    num_classes: int | None
    n_train: int
    info: dict[str, Any]
    _epoch: Callable[[int, int, int, torch.device], Iterator[tuple[torch.Tensor, torch.Tensor | None]]]
    _real: Callable[[int, str, int], tuple[torch.Tensor, torch.Tensor | None]]
    finite: bool = True  # False for synthetic sources (no batch-size limit)
    extra: dict[str, Any] = field(default_factory=dict)

    def steps_per_epoch(self, batch_size: int) -> int:
        return max(1, self.n_train // batch_size)

    def check_batch_size(self, batch_size: int) -> None:
        """A batch that fits the data (that it is a positive integer is checked once, by ``TrainConfig.checked``)."""
        if self.finite and batch_size > self.n_train:
            raise UserError(
                f"batch size {batch_size} is larger than the data: {self.name} has "
                f"{self.n_train} training samples; use --batch-size {self.n_train} or less"
            )

    def epoch(
        self, batch_size: int, epoch: int, *, device: torch.device, skip: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """The batches of one epoch (partial last batch dropped), skipping the first ``skip``."""
        self.check_batch_size(batch_size)
        return self._epoch(batch_size, epoch, skip, device)

    def real(self, n: int, split: str = "test", seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` real samples on the CPU from ``split`` ("train" or "test"), for diagnostics."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        return self._real(n, split, seed)


# --------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class DataEntry:
    name: str
    kind: str  # image | vector | audio | any
    summary: str
    build: Callable[[DataOptions, tuple[int, ...], torch.device], Data]


_SOURCES: dict[str, DataEntry] = {}


def register_dataset(name: str, kind: str, summary: str):
    """Decorator: register ``build(options, shape, device) -> Data`` under ``name``."""

    def deco(fn):
        if name in _SOURCES:
            raise RuntimeError(f"data source {name!r} registered twice")
        _SOURCES[name] = DataEntry(name, kind, summary, fn)
        return fn

    return deco


def list_datasets() -> list[str]:
    return sorted(_SOURCES)


def list_dataset_entries() -> list[DataEntry]:
    return [_SOURCES[k] for k in sorted(_SOURCES)]


def get_dataset_entry(name: str) -> DataEntry:
    if name not in _SOURCES:
        raise unknown_name("data set", name, list(_SOURCES))
    return _SOURCES[name]


def load_data(
    name: str, shape: tuple[int, ...], *, options: DataOptions | None = None, device: torch.device | str = "cpu"
) -> Data:
    """Resolve data set ``name`` for a model that takes samples of ``shape``."""
    options = options or DataOptions()
    entry = get_dataset_entry(name)
    if (
        options.root is not None
        and name not in ("auto",)
        and entry.kind != "vector"
        and name not in ("digits", "photos", "fake")
    ):
        if not os.path.exists(options.root):
            raise DataError(f"data root {options.root} does not exist")
    is_vector = len(shape) == 1
    if entry.kind == "image" and is_vector:
        raise UserError(
            f"data set {name!r} holds images but this GAN takes {shape[0]}-vectors; use one of: "
            f"{', '.join(_vector_sources(shape[0]))}"
        )
    if entry.kind == "vector" and not is_vector:
        raise UserError(
            f"data set {name!r} holds 2-/4-D points but this GAN takes images of shape {shape}; use an image data set"
        )
    return entry.build(options, tuple(shape), torch.device(device))


def _vector_sources(dim: int) -> list[str]:
    return {4: ["pattern1010", "fake"], 2: ["ring8", "grid25", "fake"]}.get(dim, ["fake"])


# --------------------------------------------------------------------------------------------
# Building blocks


def epoch_perm(n: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def _fit_images(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """uint8 (N, C, H, W) → uint8 of ``shape``: channels repeated/averaged, size resized."""
    c, h, w = shape
    if x.shape[1] != c:
        if x.shape[1] == 1:
            x = x.expand(-1, c, -1, -1)
        elif c == 1:
            x = x.float().mean(1, keepdim=True).round().to(torch.uint8)
        else:
            raise UserError(f"cannot turn {x.shape[1]}-channel images into {c} channels")
    if tuple(x.shape[2:]) != (h, w):
        out = []
        for i in range(0, x.shape[0], 2048):
            chunk = x[i : i + 2048].float()
            chunk = F.interpolate(chunk, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
            out.append(chunk.round().clamp(0, 255).to(torch.uint8))
        x = torch.cat(out)
    return x.contiguous()


def tensor_data(
    name: str,
    shape,
    device,
    opts: DataOptions,
    train_x: torch.Tensor,
    train_y,
    test_x: torch.Tensor,
    test_y,
    num_classes,
    info,
) -> Data:
    """Data held as uint8 tensors on ``device``; batches are converted to float there."""
    train_x = _fit_images(train_x, shape).to(device)
    test_x = _fit_images(test_x, shape)
    train_y = None if train_y is None else train_y.to(device)
    n = train_x.shape[0]

    def epoch(bs: int, ep: int, skip: int, dev: torch.device):
        perm = epoch_perm(n, opts.seed, ep).to(train_x.device)
        for b in range(skip, n // bs):
            idx = perm[b * bs : (b + 1) * bs]
            x = train_x.index_select(0, idx).to(dev, non_blocking=True).float().div_(255.0)
            y = None if train_y is None else train_y.index_select(0, idx).to(dev, non_blocking=True)
            yield x, y

    def real(k: int, split: str, seed: int):
        xs, ys = (train_x.cpu(), None if train_y is None else train_y.cpu()) if split == "train" else (test_x, test_y)
        if k > xs.shape[0]:
            raise UserError(f"asked for {k} real {split} samples but {name} has {xs.shape[0]}")
        idx = torch.randperm(xs.shape[0], generator=torch.Generator().manual_seed(seed))[:k]
        return xs[idx].float() / 255.0, None if ys is None else ys[idx]

    info = {"name": name, "n_train": n, "n_test": int(test_x.shape[0]), **info}
    return Data(name, tuple(shape), "image", num_classes, n, info, epoch, real)


def synthetic_data(
    name: str,
    shape,
    device,
    opts: DataOptions,
    sampler: Callable[[int, torch.Generator], torch.Tensor],
    epoch_size: int,
    info,
    kind="vector",
) -> Data:
    """Fresh samples per batch from ``sampler(n, generator)``, seeded by (seed, epoch, batch)."""
    n = opts.epoch_size or epoch_size

    def epoch(bs: int, ep: int, skip: int, dev: torch.device):
        for b in range(skip, max(1, n // bs)):
            g = torch.Generator().manual_seed((opts.seed * 1_000_003 + ep) * 100_003 + b)
            yield sampler(bs, g).to(dev, non_blocking=True), None

    def real(k: int, split: str, seed: int):
        g = torch.Generator().manual_seed(seed + (7_919 if split == "test" else 0) + 1)
        return sampler(k, g), None

    return Data(
        name,
        tuple(shape),
        kind,
        None,
        n,
        {"name": name, "epoch_size": n, "synthetic": True, **info},
        epoch,
        real,
        finite=False,
    )
